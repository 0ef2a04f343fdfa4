/* Native memory with an owner: the malloc blocks (heap->native_blocks: no object, no buffer
 * of a core type) that belong to one Python object, counted in its retained size.
 *
 * A block belongs to the object that dominates every way to it: it is reached from the C
 * fields of objects (pyh_referents_native_fields) and from the words of other such blocks
 * (a libxml2 tree's nodes, an ndarray's data, a module's state and what it points to), and
 * its owner is the nearest common dominator of all the objects it is reached from — the
 * object whose freeing frees it. A block reached from objects that only the virtual root
 * dominates together has no owner. An owner that is a leaf of the dominator tree left out
 * of its arrays (a leaf referred to once) gives its blocks to its one referrer.
 *
 * What is not seen: references to a block from memory no object's C field leads to (a C
 * library's globals, a thread's stack), and the words of a block past its first 4 KiB.
 * A block such memory also holds is still given to the object (it holds it too). */
#ifndef PYH_ANALYSIS_NATIVE_H
#define PYH_ANALYSIS_NATIVE_H

#include <stdint.h>

#include "analysis/paths.h"
#include "util/hashmap.h"

struct pyh_native_owners {
    struct pyh_u64map bytes; /* owner node -> bytes of the blocks it owns */
    uint64_t owned_bytes, owned_blocks;
    uint64_t shared_bytes, shared_blocks; /* reached from objects, no single owner */
};

/* Finds the owner of every native block reached from the objects d covers, and adds each
 * owner's blocks to its retained size and its dominators' (d->retained: call once). Memory:
 * 4 bytes per native block while it runs. */
struct pyh_error *pyh_native_owners_compute(const struct pyh_graph *g, struct pyh_dominators *d,
                                            struct pyh_native_owners *out);

void pyh_native_owners_free(struct pyh_native_owners *o);

/* Native memory by the type of its owner, without the graph (for `types`): the strict rule,
 * a block all of whose ways in come from one object (its C fields, or blocks only it
 * reaches). A block two objects reach has no owner here even when one holds the other
 * (`retained`'s dominators give it to the one that holds). */
struct pyh_native_type {
    uint32_t type;
    uint64_t bytes, blocks;
};

/* *out (malloc'ed, most bytes first, n of them) and the owned total. */
struct pyh_error *pyh_native_by_type(struct pyh_heap *heap, struct pyh_native_type **out, size_t *n,
                                     uint64_t *owned_bytes);

#endif
