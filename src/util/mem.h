/* Small memory helpers: growable arrays without a per-element allocation. */
#ifndef PYH_UTIL_MEM_H
#define PYH_UTIL_MEM_H

#include <stddef.h>

#include "util/error.h"

/* Makes *array (of elem_size items, capacity *cap) hold at least need items, doubling.
 * On failure *array is untouched and the out-of-memory error is returned. */
struct pyh_error *pyh_grow(void **array, size_t *cap, size_t need, size_t elem_size);

/* Appends one item (elem_size bytes at item) to *array of *len items, growing it. */
struct pyh_error *pyh_append(void **array, size_t *len, size_t *cap, const void *item,
                             size_t elem_size);

/* Arrays of tens to hundreds of MiB written once (the object table: 16 bytes an object) are
 * mapped on their own, 2 MiB aligned and marked MADV_HUGEPAGE: where the kernel gives
 * transparent huge pages on request (the default "madvise" mode), a fault then brings 2 MiB
 * instead of 4 KiB, and first touches of fresh memory — measured 2.9 s/GiB in a VM, ~40% of
 * a census — cost a fraction. Growing moves the pages (mremap), it never copies them.
 * *array must be NULL or come from pyh_big_grow; *cap counts elements; on failure *array is
 * untouched. Free with pyh_big_free. */
struct pyh_error *pyh_big_grow(void **array, size_t *cap, size_t need, size_t elem_size);

#define PYH_HUGE_PAGE (2u << 20) /* x86-64's transparent huge page */

/* bytes (a multiple of 4 KiB) of anonymous memory, zero until written, costing memory only
 * where written (MAP_NORESERVE), 2 MiB aligned and asking for transparent huge pages (a fault
 * per 2 MiB rather than per 4 KiB); NULL when it cannot be mapped. Free with munmap. */
void *pyh_map_huge(size_t bytes);

/* Unmaps an array of pyh_big_grow (NULL is fine). */
void pyh_big_free(void *array, size_t cap, size_t elem_size);

/* strdup that returns NULL only for a NULL argument or when memory runs out. */
char *pyh_strdup(const char *s);

#define PYH_GROW(arr, cap, need) pyh_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))
#define PYH_BIG_GROW(arr, cap, need) pyh_big_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))
#define PYH_APPEND(arr, len, cap, item)                                                        \
    pyh_append((void **)&(arr), &(len), &(cap), (item), sizeof(*(arr)))

#endif
