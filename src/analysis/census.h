/* The census: every live object counted and sized by type, and the rest of the heap
 * accounted for on its own lines (native allocations, allocator rounding, free memory) so
 * that the table adds up to the heap the allocators hold. */
#ifndef PYH_ANALYSIS_CENSUS_H
#define PYH_ANALYSIS_CENSUS_H

#include <stdint.h>

#include "analysis/fragmentation.h"
#include "analysis/native.h"
#include "heap/heap.h"

struct pyh_census_row {
    uint32_t type; /* index into heap->types */
    uint64_t count, size;
};

enum pyh_census_sort { PYH_SORT_SIZE, PYH_SORT_COUNT };

struct pyh_census {
    struct pyh_heap *heap; /* borrowed */
    struct pyh_census_row *rows; /* heap objects by type, sorted; owned */
    size_t nrows;
    uint64_t objects, size;      /* heap objects: count, sum of sys.getsizeof */
    uint64_t static_count, static_size; /* objects in the binaries' data */

    /* The rest of the heap, so that size + native + rounding + free == heap_total. */
    uint64_t heap_total;
    uint64_t native_bytes, native_blocks;
    int64_t rounding; /* object and buffer blocks beyond what getsizeof counts */
    uint64_t free_bytes;

    /* With subinterpreters (analysis/interpreters.h): the heap objects of each interpreter
     * (rt->interps order), then those not attributed (id -1); and each row's counts in the
     * same order (row_interps[row * ninterps + k]). NULL with one interpreter; owned. */
    struct pyh_census_interp {
        int64_t id; /* interp->id; -1: not attributed, or unreadable */
        uint64_t count, size;
    } *interps;
    size_t ninterps;
    uint64_t *row_interps;

    /* Of the native allocations, those one object owns, by its type (analysis/native.h:
     * pyh_native_by_type); set by `types`, NULL otherwise; owned. */
    struct pyh_native_type *native_owners;
    size_t nnative_owners;
    uint64_t native_owned_bytes;
};

/* Counts heap by type and accounts for the rest of the allocators' memory (fragmentation
 * gives the heap total); by interpreter too when interp_of (pyh_objects_interpreters) is
 * given. */
struct pyh_error *pyh_census_gather(struct pyh_heap *heap, const struct pyh_fragmentation *frag,
                                    enum pyh_census_sort sort, const uint8_t *interp_of,
                                    struct pyh_census *c);

void pyh_census_free(struct pyh_census *c);

#endif
