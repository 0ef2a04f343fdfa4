/* Which interpreter each live object belongs to, in a process with subinterpreters. From
 * what the process itself keeps apart:
 *   - a GC-tracked object belongs to the interpreter whose GC lists hold it (from 3.9 each
 *     interpreter has its own GC state; 3.8's is shared);
 *   - another object in a pymalloc arena to the interpreter whose allocator the arena is
 *     (3.12+: an isolated subinterpreter has its own), unless some interpreter allocates
 *     from another's arenas (3.8-3.11, a subinterpreter not made isolated);
 *   - the rest is not attributed: static objects (shared by every interpreter), objects in
 *     glibc chunks the GC does not track (str, bytes, ints over 512 bytes), and non-GC objects
 *     of shared arenas. */
#ifndef PYH_ANALYSIS_INTERPRETERS_H
#define PYH_ANALYSIS_INTERPRETERS_H

#include <stdint.h>

#include "allocators/pymalloc.h"
#include "heap/heap.h"

#define PYH_INTERP_NONE 0xff /* not attributed (also an interpreter at position 255) */

/* *out: one byte per object of heap (malloc'd, the caller frees it): the position in
 * rt->interps of its interpreter, or PYH_INTERP_NONE. pm may be NULL (no pymalloc). */
struct pyh_error *pyh_objects_interpreters(struct pyh_heap *heap, const struct pyh_pymalloc *pm,
                                           uint8_t **out);

#endif
