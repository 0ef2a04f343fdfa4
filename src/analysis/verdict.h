/* The first minute's verdict (`summary`): every cause of the process's memory that matters,
 * largest first, each with its bytes and share of the resident total, the holders of the
 * live objects as Python expressions, and the command that shows more.
 *
 * The causes partition the resident total (struct pyh_fragmentation's split), so that the
 * shares add up to 100 %:
 *   - the allocators' live blocks (pymalloc_used + glibc_used) are divided among live Python
 *     objects, cyclic garbage waiting for the collector (analysis/garbage.h), native memory
 *     a Python object owns (analysis/native.h) and native memory no object owns, in
 *     proportion to their allocator bytes (census: getsizeof plus the rounding of their
 *     blocks; the division is exact when every live block is resident, and otherwise
 *     assumes the non-resident part is spread evenly);
 *   - free space in pymalloc's arenas, free space in malloc's arenas (with what
 *     malloc_trim(0) could give back), thread stacks: their resident bytes;
 *   - the rest: the binaries, their data and other mappings. */
#ifndef PYH_ANALYSIS_VERDICT_H
#define PYH_ANALYSIS_VERDICT_H

#include <stdbool.h>
#include <stdint.h>

#include "analysis/census.h"
#include "analysis/fragmentation.h"
#include "analysis/garbage.h"
#include "analysis/native.h"
#include "analysis/paths.h"

enum pyh_cause_kind {
    PYH_CAUSE_LIVE,           /* live Python objects */
    PYH_CAUSE_GARBAGE,        /* cyclic garbage a gc.collect() would free */
    PYH_CAUSE_NATIVE_OWNED,   /* native memory owned by Python objects */
    PYH_CAUSE_NATIVE_OTHER,   /* native allocations no Python object owns */
    PYH_CAUSE_PYMALLOC_FREE,  /* free space inside pymalloc's arenas */
    PYH_CAUSE_MALLOC_FREE,    /* free space inside malloc's arenas */
    PYH_CAUSE_STACKS,         /* thread stacks */
    PYH_CAUSE_OTHER,          /* binaries, their data, other mappings */
    PYH_CAUSE_COUNT
};

struct pyh_cause {
    enum pyh_cause_kind kind;
    uint64_t bytes;
    double share;  /* of the total */
    bool matters;  /* at least PYH_VERDICT_MATTERS of the total */
};

/* A cause matters from this share of the total on. */
#define PYH_VERDICT_MATTERS 0.03

/* A holder of live objects: a leak suspect of the dominator tree (analysis/retention.h). */
struct pyh_holder {
    uint32_t node;
    uint64_t retained;
    uint32_t count;
    uint32_t leading_type;   /* the type that retains the most directly under it (index into
                                heap->types), UINT32_MAX when none */
    uint64_t leading_count;  /* its instances directly under the holder */
    char *expression;        /* the holder as a Python expression; owned, NULL if none */
};

#define PYH_VERDICT_HOLDERS 3

struct pyh_verdict {
    uint64_t total;       /* the resident total (or the mapped bytes when residency is unknown) */
    bool resident;        /* total is resident bytes */
    struct pyh_cause causes[PYH_CAUSE_COUNT]; /* largest first */
    uint64_t garbage_count;   /* objects in cyclic garbage */
    uint64_t trim_releasable; /* what malloc_trim(0) could give back at most */
    uint32_t top_type;        /* the type with the most bytes (census), UINT32_MAX when none */
    uint32_t top_garbage_type;/* the garbage type with the most bytes, UINT32_MAX when none */
    struct pyh_holder holders[PYH_VERDICT_HOLDERS];
    size_t nholders;
};

/* The verdict over the results of the other analyses. g, r, d and native may be NULL (no
 * graph: no holders, no garbage); census and frag are required; garbage, when the caller
 * has it already (the GC view's), else NULL: computed here from g and r. Only an
 * interruption or lack of memory is an error. */
struct pyh_error *pyh_verdict_compute(const struct pyh_census *census,
                                      const struct pyh_fragmentation *frag,
                                      const struct pyh_garbage *garbage,
                                      const struct pyh_graph *g, const struct pyh_reach *r,
                                      const struct pyh_dominators *d,
                                      const struct pyh_native_owners *native,
                                      struct pyh_verdict *out);

void pyh_verdict_free(struct pyh_verdict *v);

/* Words for a cause ("live Python objects") and the command that shows more of it. */
const char *pyh_cause_name(enum pyh_cause_kind kind);
const char *pyh_cause_key(enum pyh_cause_kind kind); /* JSON: "live_objects", ... */

#endif
