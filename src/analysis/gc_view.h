/* The garbage collector's view: is it on, how full each generation is against its threshold,
 * how often it has run, and the GC backlog — the cyclic garbage present now (garbage.h: what
 * a gc.collect() would free), by type and bytes.
 *
 * "Memory grows" is often not a leak but a backlog: reference cycles nothing holds, waiting
 * for a collection that has not come (the collector disabled, thresholds raised, or a young
 * generation that fills slowly). The generation state is read from the interpreter's
 * _gc_runtime_state (the main interpreter's; 3.8's one shared state); the runtime layer's
 * layout table gives its offsets. */
#ifndef PYH_ANALYSIS_GC_VIEW_H
#define PYH_ANALYSIS_GC_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "analysis/garbage.h"
#include "runtime/runtime.h"

#define PYH_GC_GENERATIONS 3

struct pyh_gc_generation {
    uint64_t objects;         /* len(gc.get_objects(g)) */
    int32_t count, threshold; /* gc.get_count()[g], gc.get_threshold()[g] */
    int64_t collections;      /* gc.get_stats()[g]: collections, collected, uncollectable */
    int64_t collected, uncollectable;
};

struct pyh_gc_view {
    bool known; /* the state was read; else what follows is zero and why says why */
    char why[160];
    bool enabled;    /* gc.isenabled() */
    bool collecting; /* a collection was running when the heap was read */
    bool stats_known; /* collections, collected, uncollectable: 3.8-3.14 (3.15 keeps a ring of
                       * samples behind a pointer, not read here) */
    bool incremental; /* 3.14.0-3.14.4: gen[] is young, the visited old space, the other
                       * (runtime/gc.h) */
    struct pyh_gc_generation gen[PYH_GC_GENERATIONS];
    uint64_t permanent; /* objects frozen by gc.freeze() */
    bool garbage_known;
    struct pyh_garbage garbage; /* the backlog, by type and bytes; owned */
};

/* Reads the generations of rt's main interpreter (never fails: an unreadable state is
 * reported in out->why). */
void pyh_gc_view_read(struct pyh_runtime *rt, struct pyh_gc_view *out);

/* Whether the backlog is worth a line in `summary`: at least 64 KiB, and 1 MiB or 5 % of
 * the objects' bytes. */
bool pyh_gc_backlog_matters(const struct pyh_gc_view *v, uint64_t objects_bytes);

/* The one line: "41.0 MiB of cyclic garbage (12,000 objects, most in dict) is waiting for a
 * collection: a gc.collect() would free it; the collector is disabled (gc.disable())". */
void pyh_gc_backlog_line(const struct pyh_gc_view *v, const char *top_type, char *buf, size_t cap);

void pyh_gc_view_free(struct pyh_gc_view *v);

#endif
