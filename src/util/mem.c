/* Growable arrays; see mem.h. */
#include "util/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pyh_error *pyh_grow(void **array, size_t *cap, size_t need, size_t elem_size)
{
    if (need <= *cap) return NULL;
    size_t new_cap = *cap ? *cap : 8;
    while (new_cap < need) {
        if (new_cap > SIZE_MAX / 2) return pyh_error_nomem();
        new_cap *= 2;
    }
    if (new_cap > SIZE_MAX / elem_size) return pyh_error_nomem();
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

char *pyh_strdup(const char *s) { return s ? strdup(s) : NULL; }
