/* Retained sizes, leak suspects and unreachable objects; see retention.h. */
#include "analysis/retention.h"

#include <stdlib.h>
#include <string.h>

#include "util/interrupt.h"

#define IMMORTAL_REFCNT (1ULL << 31) /* 3.12+ immortal objects count from 2^32 - 1 */

static int larger_retained(const void *a, const void *b)
{
    const struct pyh_retainer *x = a, *y = b;
    return x->retained > y->retained ? -1 : x->retained < y->retained;
}

static int larger_type(const void *a, const void *b)
{
    const struct pyh_type_retained *x = a, *y = b;
    return x->retained > y->retained ? -1 : x->retained < y->retained;
}

/* True for the interpreter's own containers, which hold everything by design: the root
 * dicts (sys.modules, sys, builtins), modules and their __dict__s. They are never suspects. */
static bool infrastructure(const struct pyh_graph *g, uint32_t v)
{
    const struct pyh_heap *heap = g->heap;
    enum pyh_type_kind kind = heap->types[heap->objects[v].type].kind;
    if (kind == PYH_KIND_MODULE) return true;
    for (size_t k = 0; k < g->phase_end[0]; k++)
        if (g->roots[k].target == v) return true;
    if (kind != PYH_KIND_DICT) return false;
    /* A module's __dict__: one of its referrers is a module holding it as md_dict. */
    for (uint32_t m = 0; m < g->n; m++) {
        if (heap->types[heap->objects[m].type].kind != PYH_KIND_MODULE) continue;
        uint64_t dict;
        struct pyh_error *err = pyh_read_u64(heap->rt->target,
                                             heap->objects[m].addr + (uint64_t)heap->rt->layout.module_dict, &dict);
        pyh_error_free(err);
        if (!err && dict == heap->objects[v].addr) return true;
    }
    return false;
}

/* Retained size per type without double counting: an instance counts only when no
 * dominator above it is of its type (a dict inside an object inside a dict counts once, at
 * the top). One iterative walk over the dominator tree with a count of the types open on
 * the way down. */
static struct pyh_error *per_type(const struct pyh_graph *g, const struct pyh_dominators *d,
                                  struct pyh_type_retained *types)
{
    const struct pyh_heap *heap = g->heap;
    size_t n = (size_t)g->n + 1;
    uint32_t *first = calloc(n + 1, sizeof(uint32_t)), *kids = malloc(n * sizeof(uint32_t));
    uint32_t *open = calloc(heap->ntypes ? heap->ntypes : 1, sizeof(uint32_t));
    struct frame { uint32_t node, next; } *stack = malloc(n * sizeof(struct frame));
    if (!first || !kids || !open || !stack) {
        free(first);
        free(kids);
        free(open);
        free(stack);
        return pyh_error_nomem();
    }
    for (uint32_t v = 0; v < g->n; v++)
        if (d->idom[v] != PYH_UNREACHED) first[d->idom[v] + 1]++;
    for (size_t i = 0; i < n; i++) first[i + 1] += first[i];
    uint32_t *fill = malloc(n * sizeof(uint32_t));
    if (!fill) {
        free(first);
        free(kids);
        free(open);
        free(stack);
        return pyh_error_nomem();
    }
    memcpy(fill, first, n * sizeof(uint32_t));
    for (uint32_t v = 0; v < g->n; v++)
        if (d->idom[v] != PYH_UNREACHED) kids[fill[d->idom[v]]++] = v;
    free(fill);
    size_t top = 0;
    stack[top++] = (struct frame){g->n, first[g->n]};
    while (top > 0) {
        struct frame *f = &stack[top - 1];
        if (f->next < first[f->node + 1]) {
            uint32_t c = kids[f->next++], t = heap->objects[c].type;
            types[t].instances++;
            if (open[t]++ == 0) {
                types[t].retained += d->retained[c];
                types[t].count += d->retained_count[c];
            }
            stack[top++] = (struct frame){c, first[c]};
            continue;
        }
        if (f->node != g->n) open[heap->objects[f->node].type]--;
        top--;
    }
    free(first);
    free(kids);
    free(open);
    free(stack);
    return NULL;
}

struct pyh_error *pyh_retention_compute(const struct pyh_graph *g, const struct pyh_dominators *d,
                                        size_t limit, struct pyh_retention *out)
{
    memset(out, 0, sizeof(*out));
    const struct pyh_heap *heap = g->heap;
    out->live_bytes = d->retained[g->n];
    out->live_objects = d->retained_count[g->n];
    uint32_t *heavy = malloc(((size_t)g->n + 1) * sizeof(uint32_t)); /* heaviest dominated child */
    struct pyh_type_retained *types = calloc(heap->ntypes ? heap->ntypes : 1, sizeof(*types));
    struct pyh_retainer *all = malloc(((size_t)g->n + 1) * sizeof(*all));
    if (!heavy || !types || !all) {
        free(heavy);
        free(types);
        free(all);
        return pyh_error_nomem();
    }
    memset(heavy, 0xff, ((size_t)g->n + 1) * sizeof(uint32_t));
    size_t nall = 0;
    for (uint32_t v = 0; v < g->n; v++) {
        uint32_t p = d->idom[v];
        if (p == PYH_UNREACHED) continue;
        if (heavy[p] == PYH_UNREACHED || d->retained[v] > d->retained[heavy[p]]) heavy[p] = v;
        /* A run of same-type objects each retaining nearly all of the one above (a linked
         * list) is listed once, at its head; a dict inside a dict is listed. */
        if (p != g->n && heap->objects[p].type == heap->objects[v].type &&
            (uint64_t)d->retained_count[v] * 100 >= (uint64_t)d->retained_count[p] * 95)
            continue;
        all[nall++] = (struct pyh_retainer){v, d->retained[v], d->retained_count[v]};
    }
    struct pyh_error *err = per_type(g, d, types);
    if (err) {
        free(heavy);
        free(types);
        free(all);
        return err;
    }
    qsort(all, nall, sizeof(*all), larger_retained);
    /* Suspects: heavy objects where the weight spreads out — no single dominated child of
     * another type holds 90% of it (a child of the same type continues a run that the object
     * heads). */
    struct pyh_retainer *suspects = malloc(8 * sizeof(*suspects));
    size_t ns = 0;
    for (size_t i = 0; suspects && i < nall && ns < 8; i++) {
        if (all[i].retained * 10 < out->live_bytes) break;
        uint32_t v = all[i].node, c = heavy[v];
        if (infrastructure(g, v)) continue;
        if (c != PYH_UNREACHED && d->retained[c] * 10 >= all[i].retained * 9 &&
            heap->objects[c].type != heap->objects[v].type)
            continue; /* one child holds it all: the child is the better answer */
        suspects[ns++] = all[i];
    }
    for (size_t t = 0; t < heap->ntypes; t++) types[t].type = (uint32_t)t;
    qsort(types, heap->ntypes, sizeof(*types), larger_type);
    size_t nt = 0;
    while (nt < heap->ntypes && types[nt].retained) nt++;
    out->top = all;
    out->ntop = nall < limit ? nall : limit;
    out->types = types;
    out->ntypes = nt < limit ? nt : limit;
    out->suspects = suspects;
    out->nsuspects = ns;
    free(heavy);
    return suspects ? NULL : pyh_error_nomem();
}

void pyh_retention_free(struct pyh_retention *r)
{
    free(r->top);
    free(r->types);
    free(r->suspects);
    memset(r, 0, sizeof(*r));
}

struct pyh_error *pyh_native_refs(const struct pyh_graph *g, uint32_t node, uint64_t indegree,
                                  uint64_t *native, bool *immortal)
{
    int64_t refcnt;
    struct pyh_error *err = pyh_target_read(g->heap->rt->target, g->heap->objects[node].addr, &refcnt, 8);
    if (err) return err;
    *immortal = g->heap->rt->minor >= 12 && (uint64_t)refcnt >= IMMORTAL_REFCNT;
    *native = !*immortal && (uint64_t)refcnt > indegree ? (uint64_t)refcnt - indegree : 0;
    return NULL;
}

static int more_objects(const void *a, const void *b)
{
    const struct pyh_unreachable_type *x = a, *y = b;
    return x->count > y->count ? -1 : x->count < y->count;
}

struct pyh_error *pyh_unreachable_compute(const struct pyh_graph *g, const struct pyh_reach *r,
                                          struct pyh_unreachable *out)
{
    memset(out, 0, sizeof(*out));
    const struct pyh_heap *heap = g->heap;
    uint32_t *indegree = calloc((size_t)g->n + 1, sizeof(uint32_t));
    struct pyh_unreachable_type *types = calloc(heap->ntypes ? heap->ntypes : 1, sizeof(*types));
    if (!indegree || !types) {
        free(indegree);
        free(types);
        return pyh_error_nomem();
    }
    /* References from objects only: a root is not a reference count. */
    for (uint64_t e = 0; e < g->offsets[g->n]; e++) indegree[PYH_EDGE_INDEX(g->targets[e])]++;
    struct pyh_error *err = NULL;
    for (uint32_t v = 0; v < g->n && !err; v++) {
        if (r->parent[v] != PYH_UNREACHED || heap->locations[v] == PYH_LOC_STATIC) continue;
        struct pyh_unreachable_type *t = &types[heap->objects[v].type];
        uint64_t native;
        bool immortal;
        if ((err = pyh_native_refs(g, v, indegree[v], &native, &immortal))) break;
        t->count++;
        t->size += pyh_heap_object_size(heap, v);
        t->native_refs += native;
        t->immortal += immortal;
        t->garbage += !immortal && native == 0;
        out->count++;
        out->size += pyh_heap_object_size(heap, v);
        if ((v & 0xffff) == 0) err = pyh_check_interrupt();
    }
    free(indegree);
    if (err) {
        free(types);
        return err;
    }
    size_t n = 0;
    for (size_t i = 0; i < heap->ntypes; i++) {
        types[i].type = (uint32_t)i;
        if (types[i].count) types[n++] = types[i];
    }
    qsort(types, n, sizeof(*types), more_objects);
    out->types = types;
    out->ntypes = n;
    return NULL;
}

void pyh_unreachable_free(struct pyh_unreachable *u)
{
    free(u->types);
    memset(u, 0, sizeof(*u));
}
