/* Objects by interpreter; see interpreters.h. */
#include "analysis/interpreters.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/gc.h"

struct gc_attribution {
    struct pyh_heap *heap;
    uint8_t *out;
};

static struct pyh_error *attribute_gc_head(uint64_t node, size_t interp, int generation,
                                           uint64_t *next, bool *stop, void *ctx)
{
    (void)generation, (void)next, (void)stop;
    struct gc_attribution *a = ctx;
    size_t i = pyh_heap_object_at(a->heap, node + 16);
    if (i != SIZE_MAX && interp < PYH_INTERP_NONE) a->out[i] = (uint8_t)interp;
    return NULL;
}

/* A pymalloc arena's span and interpreter, for a search by address. */
struct span {
    uint64_t start, end;
    uint8_t interp;
};

static int compare_spans(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static uint8_t arena_interp(const struct span *spans, size_t n, uint64_t addr)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* the last span starting at or below addr */
        size_t mid = lo + (hi - lo) / 2;
        if (spans[mid].start <= addr) lo = mid + 1;
        else hi = mid;
    }
    return lo && addr < spans[lo - 1].end ? spans[lo - 1].interp : PYH_INTERP_NONE;
}

struct pyh_error *pyh_objects_interpreters(struct pyh_heap *heap, const struct pyh_pymalloc *pm,
                                           uint8_t **out)
{
    struct pyh_runtime *rt = heap->rt;
    *out = malloc(heap->nobjects ? heap->nobjects : 1);
    if (!*out) return pyh_error_nomem();
    memset(*out, PYH_INTERP_NONE, heap->nobjects);
    struct pyh_error *err = NULL;
    if (rt->layout.rt_gc < 0) { /* 3.9+: a GC state per interpreter */
        struct gc_attribution a = {heap, *out};
        err = pyh_gc_visit(rt, true, attribute_gc_head, &a);
    }
    struct span *spans = NULL;
    if (!err && pm && !pm->shared && pm->narenas) {
        spans = malloc(pm->narenas * sizeof(*spans));
        if (!spans) err = pyh_error_nomem();
        for (size_t k = 0; spans && k < pm->narenas; k++)
            spans[k] = (struct span){pm->arenas[k].address, pm->arenas[k].address + pm->arena_size,
                                     pm->arenas[k].interp};
        if (spans) qsort(spans, pm->narenas, sizeof(*spans), compare_spans);
        for (size_t i = 0; spans && i < heap->nobjects; i++)
            if ((*out)[i] == PYH_INTERP_NONE && heap->locations[i] == PYH_LOC_PYMALLOC)
                (*out)[i] = arena_interp(spans, pm->narenas, heap->objects[i].addr);
    }
    free(spans);
    if (err) {
        free(*out);
        *out = NULL;
    }
    return err;
}
