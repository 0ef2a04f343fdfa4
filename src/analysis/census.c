/* The census; see census.h. */
#include "analysis/census.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/objects.h"

static int compare_rows(const void *a, const void *b, void *arg)
{
    const struct pyh_census_row *x = a, *y = b;
    enum pyh_census_sort sort_key = *(const enum pyh_census_sort *)arg;
    uint64_t kx = sort_key == PYH_SORT_COUNT ? x->count : x->size;
    uint64_t ky = sort_key == PYH_SORT_COUNT ? y->count : y->size;
    if (kx != ky) return kx > ky ? -1 : 1;
    uint64_t sx = sort_key == PYH_SORT_COUNT ? x->size : x->count;
    uint64_t sy = sort_key == PYH_SORT_COUNT ? y->size : y->count;
    if (sx != sy) return sx > sy ? -1 : 1;
    return x->type < y->type ? -1 : x->type > y->type;
}

/* The census by interpreter (c->rows sorted already). */
static struct pyh_error *by_interpreter(struct pyh_heap *heap, const uint8_t *interp_of,
                                        struct pyh_census *c)
{
    struct pyh_runtime *rt = heap->rt;
    size_t n = rt->ninterps + 1, last = rt->ninterps;
    uint32_t *row_of = malloc((heap->ntypes ? heap->ntypes : 1) * sizeof(*row_of));
    c->interps = calloc(n, sizeof(*c->interps));
    c->row_interps = calloc(c->nrows * n + 1, sizeof(*c->row_interps));
    if (!row_of || !c->interps || !c->row_interps) {
        free(row_of);
        return pyh_error_nomem();
    }
    c->ninterps = n;
    for (size_t k = 0; k < n; k++) c->interps[k].id = k < last ? pyh_interp_id(rt, k) : -1;
    for (size_t r = 0; r < c->nrows; r++) row_of[c->rows[r].type] = (uint32_t)r;
    for (size_t i = 0; i < heap->nobjects; i++) {
        if (heap->locations[i] == PYH_LOC_STATIC) continue;
        size_t k = interp_of[i] < last ? interp_of[i] : last;
        uint64_t size = pyh_heap_object_size(heap, i);
        c->interps[k].count++;
        c->interps[k].size += size;
        c->row_interps[(size_t)row_of[heap->objects[i].type] * n + k]++;
    }
    free(row_of);
    return NULL;
}

struct pyh_error *pyh_census_gather(struct pyh_heap *heap, const struct pyh_fragmentation *frag,
                                    enum pyh_census_sort sort, const uint8_t *interp_of,
                                    struct pyh_census *c)
{
    memset(c, 0, sizeof(*c));
    c->heap = heap;
    struct pyh_census_row *by_type = calloc(heap->ntypes ? heap->ntypes : 1, sizeof(*by_type));
    if (!by_type) return pyh_error_nomem();
    for (size_t i = 0; i < heap->nobjects; i++) {
        uint64_t size = pyh_heap_object_size(heap, i);
        if (heap->locations[i] == PYH_LOC_STATIC) {
            c->static_count++;
            c->static_size += size;
            continue;
        }
        struct pyh_census_row *r = &by_type[heap->objects[i].type];
        r->count++;
        r->size += size;
        c->objects++;
        c->size += size;
    }
    for (size_t t = 0; heap->tally && t < heap->ntypes; t++) { /* counted, not listed */
        by_type[t].count += heap->tally[t].count;
        by_type[t].size += heap->tally[t].size;
        c->objects += heap->tally[t].count;
        c->size += heap->tally[t].size;
    }
    for (size_t t = 0; t < heap->ntypes; t++) {
        if (!by_type[t].count) continue;
        by_type[t].type = (uint32_t)t;
        by_type[c->nrows++] = by_type[t];
    }
    qsort_r(by_type, c->nrows, sizeof(*by_type), compare_rows, &sort);
    c->rows = by_type;

    c->heap_total = pyh_fragmentation_heap_total(frag);
    c->native_bytes = heap->native.bytes;
    c->native_blocks = heap->native.count;
    uint64_t blocks = heap->object_block_bytes + heap->buffers.bytes;
    c->rounding = (int64_t)blocks - (int64_t)c->size;
    uint64_t used = blocks + heap->native.bytes;
    c->free_bytes = c->heap_total > used ? c->heap_total - used : 0;
    return interp_of ? by_interpreter(heap, interp_of, c) : NULL;
}

void pyh_census_free(struct pyh_census *c)
{
    free(c->rows);
    free(c->interps);
    free(c->row_interps);
    free(c->native_owners);
    memset(c, 0, sizeof(*c));
}
