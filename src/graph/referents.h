/* What an object refers to, and how (the label a path prints): its kind's reader
 * (heap/kinds/, through heap/walk.h) and what every object may add (a heap type's class,
 * instance __dict__ and __slots__, C fields no reader knows). Used to build the graph (labels
 * ignored) and to label the few edges a report prints. */
#ifndef PYH_GRAPH_REFERENTS_H
#define PYH_GRAPH_REFERENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "heap/heap.h"
#include "heap/walk.h" /* struct pyh_ref, pyh_ref_visit, pyh_iframe_referents */

/* Counts, for every native block (heap->native_blocks), how many objects' C fields point to
 * its start, into heap->native_refs: a block one object alone points to is read one level
 * down as part of that object. One pass over the objects of types with C fields no reader
 * knows; called once before the graph is built (pyh_referents then reads no native block
 * without it). */
struct pyh_error *pyh_referents_count_native(struct pyh_heap *heap);

/* Per type (heap->types' order), 1 when its objects' structs may hold pointers to native
 * blocks (what pyh_referents_native_fields reads), else 0: a pass over every object asks
 * this table instead of making a call per object, most of which read nothing. The caller
 * frees it; NULL when out of memory. */
uint8_t *pyh_referents_native_types(const struct pyh_heap *heap);

/* Calls fn once for each native block (an index into heap->native_blocks) whose start a
 * word of object i's struct holds: its C fields pointing to C memory (a module's state, an
 * ndarray's data, an extension's malloc'ed struct). Objects whose kind holds no such field
 * (str, tuple, dict, class instances ...) are not read. */
void pyh_referents_native_fields(struct pyh_heap *heap, size_t i,
                                 void (*fn)(void *ctx, size_t block), void *ctx);

/* Visits the referents of the object at obj of type index type. Unreadable parts are
 * skipped (a corrupt object yields fewer edges, never an error); only an interruption is
 * returned. Edges of C fields that no reader knows are reported with PYH_REF_OFFSET and only
 * when they point at a known object. */
struct pyh_error *pyh_referents(struct pyh_heap *heap, uint64_t obj, uint32_t type,
                                pyh_ref_visit visit, void *ctx);

/* Formats a ref as a Python expression suffix: "[3]", "['key']", ".attr", "<key>",
 * ".f_locals['x']" ... */
void pyh_ref_format(struct pyh_heap *heap, const struct pyh_ref *ref, char *buf, size_t cap);

#endif
