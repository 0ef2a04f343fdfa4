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

/* strdup that returns NULL only for a NULL argument or when memory runs out. */
char *pyh_strdup(const char *s);

#define PYH_GROW(arr, cap, need) pyh_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))
#define PYH_APPEND(arr, len, cap, item)                                                        \
    pyh_append((void **)&(arr), &(len), &(cap), (item), sizeof(*(arr)))

#endif
