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

#define HUGE_PAGE (2u << 20)

/* The bytes of the mapping of an array of cap elements: whole huge pages. */
static size_t big_bytes(size_t cap, size_t elem_size)
{
    return (cap * elem_size + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
}

/* A mapping of bytes (a multiple of HUGE_PAGE) aligned to HUGE_PAGE, or NULL. */
static void *map_aligned(size_t bytes)
{
    if (bytes > SIZE_MAX - HUGE_PAGE) return NULL;
    uint8_t *p = mmap(NULL, bytes + HUGE_PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return NULL;
    size_t lead = (size_t)(-(uintptr_t)p & (HUGE_PAGE - 1));
    if (lead) munmap(p, lead);
    if (HUGE_PAGE - lead) munmap(p + lead + bytes, HUGE_PAGE - lead);
    /* Only a hint: without transparent huge pages the mapping works the same. */
    madvise(p + lead, bytes, MADV_HUGEPAGE);
    return p + lead;
}

struct pyh_error *pyh_big_grow(void **array, size_t *cap, size_t need, size_t elem_size)
{
    size_t new_cap;
    if (need <= *cap) return NULL;
    if (!doubled_capacity(*cap, 1, need, &new_cap) || new_cap > (SIZE_MAX - HUGE_PAGE) / elem_size)
        return pyh_error_nomem();
    size_t bytes = big_bytes(new_cap, elem_size), old = *array ? big_bytes(*cap, elem_size) : 0;
    uint8_t *p = map_aligned(bytes);
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
