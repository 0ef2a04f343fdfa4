/* What holds the most (retained sizes from the dominator tree: top retainers, retained size
 * per type, leak suspects) and what nothing holds (objects alive but unreachable from the
 * roots: held by native code, leaked, or garbage cycles not yet collected). */
#ifndef PYH_ANALYSIS_RETENTION_H
#define PYH_ANALYSIS_RETENTION_H

#include <stdint.h>

#include "analysis/garbage.h"
#include "analysis/paths.h"

struct pyh_retainer {
    uint32_t node;
    uint64_t retained;
    uint32_t count;
};

struct pyh_type_retained {
    uint32_t type;
    uint64_t retained, count; /* over instances not dominated by another of their type */
    uint64_t instances;
};

struct pyh_retention {
    uint64_t live_bytes; /* reachable from the roots, with the native memory they own */
    uint64_t live_objects;
    uint64_t native_bytes; /* of live_bytes, native blocks with an owner (analysis/native.h) */
    struct pyh_retainer *top;      /* largest retained first; owned */
    size_t ntop;
    struct pyh_type_retained *types; /* largest first; owned */
    size_t ntypes;
    struct pyh_retainer *suspects; /* where retained memory fans out; owned */
    size_t nsuspects;
};

/* Top limit retainers, per-type retained sizes and leak suspects: objects retaining at least
 * 10% of live bytes none of whose dominated children retains 90% of that. */
struct pyh_error *pyh_retention_compute(const struct pyh_graph *g, const struct pyh_dominators *d,
                                        size_t limit, struct pyh_retention *out);
void pyh_retention_free(struct pyh_retention *r);

struct pyh_unreachable_type {
    uint32_t type;
    uint64_t count, size;
    uint64_t native_refs; /* refcounts minus the references found, summed */
    uint64_t garbage;     /* objects a collection would free (analysis/garbage.h) */
    uint64_t garbage_size;
    uint64_t immortal;    /* 3.12+ immortal objects (no meaningful count) */
};

struct pyh_unreachable {
    struct pyh_unreachable_type *types; /* most objects first; owned */
    size_t ntypes;
    uint64_t count, size;
    uint64_t garbage, garbage_size; /* of those, cyclic garbage; the rest is held by
                                       references py-heap could not follow */
};

/* Objects no root reaches, by type, with their native reference counts, told apart: cyclic
 * garbage (analysis/garbage.h) and objects held by references not followed. garbage: when
 * the caller has it already (computed over g and r), else NULL: computed here. */
struct pyh_error *pyh_unreachable_compute(const struct pyh_graph *g, const struct pyh_reach *r,
                                          const struct pyh_garbage *garbage,
                                          struct pyh_unreachable *out);
void pyh_unreachable_free(struct pyh_unreachable *u);

/* refcount minus the references the graph found to node (never negative); *immortal is set
 * for 3.12+ immortal counts. */
struct pyh_error *pyh_native_refs(const struct pyh_graph *g, uint32_t node, uint64_t indegree,
                                  uint64_t *native, bool *immortal);

#endif
