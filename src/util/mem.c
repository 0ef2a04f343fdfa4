/* Growable arrays; see mem.h. */
#include "util/mem.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* The capacity that holds need: cap (or first, from nothing) doubled as often as it takes;
 * false when that overflows. */
static bool doubled_capacity(size_t cap, size_t first, size_t need, size_t *out)
{
    size_t new_cap = cap ? cap : first;
    while (new_cap < need) {
        if (new_cap > SIZE_MAX / 2) return false;
        new_cap *= 2;
    }
    *out = new_cap;
    return true;
}

struct pyh_error *pyh_grow(void **array, size_t *cap, size_t need, size_t elem_size)
{
    size_t new_cap;
    if (need <= *cap) return NULL;
    if (!doubled_capacity(*cap, 8, need, &new_cap) || new_cap > SIZE_MAX / elem_size)
        return pyh_error_nomem();
    void *p = realloc(*array, new_cap * elem_size);
    if (!p) return pyh_error_nomem();
    *array = p;
    *cap = new_cap;
    return NULL;
}

struct pyh_error *pyh_append(void **array, size_t *len, size_t *cap, const void *item,
                             size_t elem_size)
{
    struct pyh_error *err = pyh_grow(array, cap, *len + 1, elem_size);
    if (err) return err;
    memcpy((char *)*array + *len * elem_size, item, elem_size);
    (*len)++;
    return NULL;
}

#define HUGE_PAGE PYH_HUGE_PAGE

/* The bytes of the mapping of an array of cap elements: whole huge pages. */
static size_t big_bytes(size_t cap, size_t elem_size)
{
    return (cap * elem_size + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
}

void *pyh_map_huge(size_t bytes)
{
    if (bytes > SIZE_MAX - HUGE_PAGE) return NULL;
    size_t span = bytes + HUGE_PAGE;
    uint8_t *p = mmap(NULL, span, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return NULL;
    uint8_t *at = (uint8_t *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (at > p) munmap(p, (size_t)(at - p));
    if (p + span > at + bytes) munmap(at + bytes, (size_t)(p + span - (at + bytes)));
    /* Only a hint: without transparent huge pages the mapping works the same. */
    madvise(at, bytes, MADV_HUGEPAGE);
    return at;
}

struct pyh_error *pyh_big_grow(void **array, size_t *cap, size_t need, size_t elem_size)
{
    size_t new_cap;
    if (need <= *cap) return NULL;
    if (!doubled_capacity(*cap, 1, need, &new_cap) || new_cap > (SIZE_MAX - HUGE_PAGE) / elem_size)
        return pyh_error_nomem();
    size_t bytes = big_bytes(new_cap, elem_size), old = *array ? big_bytes(*cap, elem_size) : 0;
    uint8_t *p = pyh_map_huge(bytes);
    if (!p) return pyh_error_nomem();
    /* The old pages move to the start of the new mapping, huge ones whole (both ends are
     * 2 MiB aligned). */
    if (old && mremap(*array, old, old, MREMAP_MAYMOVE | MREMAP_FIXED, p) == MAP_FAILED) {
        munmap(p, bytes);
        return pyh_error_nomem();
    }
    *array = p;
    *cap = bytes / elem_size;
    return NULL;
}

void pyh_big_free(void *array, size_t cap, size_t elem_size)
{
    if (array) munmap(array, big_bytes(cap, elem_size));
}

char *pyh_strdup(const char *s) { return s ? strdup(s) : NULL; }
