/* Cyclic garbage: the objects a collection (gc.collect()) would free now.
 *
 * Among the objects no root reaches, an object is garbage when its reference count is
 * explained, exactly, by the references the graph found from other garbage objects: the
 * collector's own rule (gc_refs = ob_refcnt minus the references from the candidates, then
 * everything reachable from an object with gc_refs > 0 survives). Such a set always holds a
 * cycle (every member has a referrer inside it): reference cycles nothing outside holds, and
 * what hangs only from them. Everything else no root reaches is "held": by a reference
 * py-heap could not follow (native code, a leaked Py_INCREF, a C field without a reader),
 * or reachable from such an object. An object whose count is below the references found
 * (a sign of a wrong edge) and a 3.12+ immortal object are held, never garbage: an object
 * is called garbage only when the numbers prove it.
 *
 * Used by `unreachable` (garbage apart from held objects) and by the GC backlog (what a
 * collection would free, by type and bytes). */
#ifndef PYH_ANALYSIS_GARBAGE_H
#define PYH_ANALYSIS_GARBAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "analysis/paths.h"

/* Garbage of one type. */
struct pyh_garbage_type {
    uint32_t type;
    uint64_t count, bytes; /* bytes: sys.getsizeof summed */
};

struct pyh_garbage {
    uint32_t n;                      /* the graph's objects */
    uint64_t *bits;                  /* bitmap over the n objects: set for garbage; owned */
    uint64_t count, bytes;           /* garbage */
    uint64_t held_count, held_bytes; /* unreachable, not garbage (static objects left out) */
    struct pyh_garbage_type *types;  /* garbage by type, most bytes first; owned */
    size_t ntypes;
};

/* Computes the garbage among the objects r does not reach. Reads the reference count of
 * every unreachable object (one read each); memory: 4 bytes per object while it runs, a bit
 * per object kept. */
struct pyh_error *pyh_garbage_compute(const struct pyh_graph *g, const struct pyh_reach *r,
                                      struct pyh_garbage *out);

/* Whether object v is garbage. */
static inline bool pyh_garbage_is(const struct pyh_garbage *gb, uint32_t v)
{
    return v < gb->n && (gb->bits[v >> 6] >> (v & 63) & 1);
}

void pyh_garbage_free(struct pyh_garbage *gb);

#endif
