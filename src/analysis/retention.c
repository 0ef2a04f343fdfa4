/* Retained sizes, leak suspects and unreachable objects; see retention.h. */
#include "analysis/retention.h"

#include <stdlib.h>
#include <string.h>

#include "analysis/garbage.h"
#include "runtime/refcount.h"
#include "util/interrupt.h"
#include "util/mem.h"


/* The order retainers are listed in: larger retained first, equal ones by node index (the
 * order a stable sort of the nodes in index order gives, which the reports always had). */
static bool comes_before(const struct pyh_retainer *x, const struct pyh_retainer *y)
{
    return x->retained != y->retained ? x->retained > y->retained : x->node < y->node;
}

static int retainer_order(const void *a, const void *b)
{
    return comes_before(a, b) ? -1 : comes_before(b, a);
}

/* The first limit retainers in retainer_order, kept in a binary heap whose root is the last
 * of them: O(n log limit) and limit entries, where sorting every node cost 24 bytes per node
 * twice over (qsort's merge buffer) and most of the command's time. */
struct top {
    struct pyh_retainer *heap;
    size_t len, cap;
};

static void top_offer(struct top *t, const struct pyh_retainer *r)
{
    size_t i;
    if (t->len < t->cap) {
        /* Sift up: the parent must not come before its children. */
        for (i = t->len++; i > 0 && comes_before(&t->heap[(i - 1) / 2], r); i = (i - 1) / 2)
            t->heap[i] = t->heap[(i - 1) / 2];
        t->heap[i] = *r;
        return;
    }
    if (!t->cap || !comes_before(r, &t->heap[0])) return;
    /* Replace the root (the last kept) and sift down. */
    for (i = 0;;) {
        size_t c = 2 * i + 1;
        if (c >= t->len) break;
        if (c + 1 < t->len && comes_before(&t->heap[c], &t->heap[c + 1])) c++;
        if (!comes_before(r, &t->heap[c])) break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    t->heap[i] = *r;
}

/* Larger retained first, equal ones by type index (what a stable sort gave: explicit, so
 * that the order does not depend on qsort's algorithm). */
static int larger_type(const void *a, const void *b)
{
    const struct pyh_type_retained *x = a, *y = b;
    if (x->retained != y->retained) return x->retained > y->retained ? -1 : 1;
    return x->type < y->type ? -1 : x->type > y->type;
}

/* The __dict__ of every module (their addresses), read once: infrastructure() asked every
 * module for each candidate dict, n reads per question. */
struct module_dicts {
    bool done;
    struct pyh_u64map set;
};

static struct pyh_error *read_module_dicts(const struct pyh_graph *g, struct module_dicts *md)
{
    const struct pyh_heap *heap = g->heap;
    md->done = true;
    for (uint32_t m = 0; m < g->n; m++) {
        if (heap->types[heap->objects[m].type].kind != PYH_KIND_MODULE) continue;
        uint64_t dict;
        struct pyh_error *err = pyh_read_u64(heap->rt->target,
                                             heap->objects[m].addr + (uint64_t)heap->rt->layout.module_dict, &dict);
        if (err) {
            pyh_error_free(err);
            continue;
        }
        if (dict != UINT64_MAX && (err = pyh_u64map_put(&md->set, dict, 1))) return err;
    }
    return NULL;
}

/* True for the interpreter's own containers, which hold everything by design: the root
 * dicts (sys.modules, sys, builtins), modules and their __dict__s. They are never suspects. */
static struct pyh_error *infrastructure(const struct pyh_graph *g, struct module_dicts *md, uint32_t v,
                                        bool *yes)
{
    const struct pyh_heap *heap = g->heap;
    enum pyh_type_kind kind = heap->types[heap->objects[v].type].kind;
    *yes = true;
    if (kind == PYH_KIND_MODULE) return NULL;
    for (size_t k = 0; k < g->phase_end[0]; k++)
        if (g->roots[k].target == v) return NULL;
    *yes = false;
    if (kind != PYH_KIND_DICT) return NULL;
    /* A module's __dict__: one of its referrers is a module holding it as md_dict. */
    struct pyh_error *err = md->done ? NULL : read_module_dicts(g, md);
    if (!err) *yes = pyh_u64map_get(&md->set, heap->objects[v].addr, NULL);
    return err;
}

/* Retained size per type without double counting: an instance counts only when no
 * dominator above it is of its type (a dict inside an object inside a dict counts once, at
 * the top). One walk over the dominator tree of the kept nodes (see paths.h) with a count of
 * the types open on the way down; no stack: it climbs back through the idoms. The leaves
 * that are not kept count at once unless their type is that of some inner node of the tree
 * (only then can it be open above them): those are walked as children of their referrer. */
static struct pyh_error *per_type(const struct pyh_graph *g, const struct pyh_dominators *d,
                                  struct pyh_type_retained *types)
{
    const struct pyh_heap *heap = g->heap;
    uint32_t m = d->nkept;
    bool *inner = calloc(heap->ntypes ? heap->ntypes : 1, sizeof(bool));
    uint32_t *open = calloc(heap->ntypes ? heap->ntypes : 1, sizeof(uint32_t));
    /* The children of each kept node (by slot): first[s] .. end[s] in kids, first[] advancing
     * as the walk takes them. */
    uint32_t *first = calloc((size_t)m + 1, sizeof(uint32_t)), *end = malloc((size_t)m * sizeof(uint32_t));
    uint32_t *kids = NULL;
    struct pyh_error *err = inner && open && first && end ? NULL : pyh_error_nomem();
    for (uint32_t v = 0; v < g->n && !err; v++) {
        uint32_t p = pyh_dom_idom(d, v);
        if (p == PYH_UNREACHED) continue;
        types[heap->objects[v].type].instances++;
        if (p != g->n) inner[heap->objects[p].type] = true;
    }
    for (uint32_t v = 0; v < g->n && !err; v++) {
        uint64_t retained;
        uint32_t count, p = pyh_dom_node(d, v, &retained, &count), t = heap->objects[v].type;
        if (p == PYH_UNREACHED) continue;
        if (inner[t] || pyh_dom_slot(d, v) != UINT32_MAX) {
            first[pyh_dom_slot(d, p) + 1]++;
        } else { /* no node of its type is above it: open[t] is 0 */
            types[t].retained += retained;
            types[t].count += count;
        }
    }
    for (uint32_t s = 0; s < m && !err; s++) first[s + 1] += first[s];
    if (!err && !(kids = malloc((first[m] ? first[m] : 1) * sizeof(uint32_t)))) err = pyh_error_nomem();
    if (!err) {
        memcpy(end, first, (size_t)m * sizeof(uint32_t));
        for (uint32_t v = 0; v < g->n; v++) {
            uint32_t p = pyh_dom_idom(d, v);
            if (p != PYH_UNREACHED && (pyh_dom_slot(d, v) != UINT32_MAX || inner[heap->objects[v].type]))
                kids[end[pyh_dom_slot(d, p)]++] = v;
        }
        uint32_t node = g->n, s = pyh_dom_slot(d, node);
        for (;;) {
            if (first[s] < end[s]) {
                uint32_t c = kids[first[s]++], t = heap->objects[c].type, cs = pyh_dom_slot(d, c);
                if (cs == UINT32_MAX) { /* a leaf not kept: opens and closes at once */
                    if (open[t] == 0) {
                        types[t].retained += pyh_heap_object_size(heap, c);
                        types[t].count++;
                    }
                    continue;
                }
                if (open[t]++ == 0) {
                    types[t].retained += d->retained[cs];
                    types[t].count += d->retained_count[cs];
                }
                node = c;
                s = cs;
                continue;
            }
            if (node == g->n) break;
            open[heap->objects[node].type]--;
            node = d->idom[s];
            s = pyh_dom_slot(d, node);
        }
    }
    free(inner);
    free(open);
    free(first);
    free(end);
    free(kids);
    return err;
}

struct pyh_error *pyh_retention_compute(const struct pyh_graph *g, const struct pyh_dominators *d,
                                        size_t limit, struct pyh_retention *out)
{
    memset(out, 0, sizeof(*out));
    const struct pyh_heap *heap = g->heap;
    out->live_bytes = pyh_dom_retained(d, g->n);
    out->live_objects = pyh_dom_count(d, g->n);
    struct top top = {.cap = limit < (size_t)g->n + 1 ? limit : (size_t)g->n + 1};
    top.heap = malloc((top.cap ? top.cap : 1) * sizeof(*top.heap));
    struct pyh_type_retained *types = calloc(heap->ntypes ? heap->ntypes : 1, sizeof(*types));
    /* Suspect candidates: the retainers holding at least 10% of live bytes (few: the top of
     * the dominator tree), in retainer order; heavy: the heaviest dominated child of each
     * node that can be a candidate, the first of equal ones in index order. */
    struct pyh_retainer *cand = NULL, *suspects = NULL;
    size_t ncand = 0, cand_cap = 0, ns = 0;
    struct pyh_u64map heavy = {0};
    struct module_dicts md = {0};
    struct pyh_error *err = top.heap && types ? NULL : pyh_error_nomem();
    for (uint32_t v = 0; v < g->n && !err; v++) {
        uint64_t retained;
        uint32_t count, p = pyh_dom_node(d, v, &retained, &count);
        if (p == PYH_UNREACHED) continue;
        /* The dominator's own sizes, looked up once (it is kept: a slot). */
        uint64_t p_retained = 0;
        uint32_t p_count = 0;
        if (p != g->n) pyh_dom_node(d, p, &p_retained, &p_count);
        if (p != g->n && !(p_retained * 10 < out->live_bytes)) {
            uint64_t h;
            if (!pyh_u64map_get(&heavy, p, &h) || retained > pyh_dom_retained(d, (uint32_t)h))
                err = pyh_u64map_put(&heavy, p, v);
        }
        /* A run of same-type objects each retaining nearly all of the one above (a linked
         * list) is listed once, at its head. A dict or list inside another is no such run:
         * a module-level dict cache holds nearly all of its module's __dict__, and it is the
         * answer, not its module. */
        enum pyh_type_kind kind = heap->types[heap->objects[v].type].kind;
        if (p != g->n && heap->objects[p].type == heap->objects[v].type && kind != PYH_KIND_DICT &&
            kind != PYH_KIND_LIST && (uint64_t)count * 100 >= (uint64_t)p_count * 95)
            continue;
        struct pyh_retainer r = {v, retained, count};
        top_offer(&top, &r);
        if (!err && !(r.retained * 10 < out->live_bytes)) err = PYH_APPEND(cand, ncand, cand_cap, &r);
        if ((v & 0xfffff) == 0 && !err) err = pyh_check_interrupt();
    }
    if (!err) err = per_type(g, d, types);
    if (!err && !(suspects = malloc(8 * sizeof(*suspects)))) err = pyh_error_nomem();
    if (!err) {
        if (ncand > 1) qsort(cand, ncand, sizeof(*cand), retainer_order);
        if (top.len > 1) qsort(top.heap, top.len, sizeof(*top.heap), retainer_order);
    }
    /* Suspects: heavy objects where the weight spreads out — no single dominated child of
     * another type holds 90% of it (a child of the same type continues a run that the object
     * heads). */
    for (size_t i = 0; !err && i < ncand && ns < 8; i++) {
        uint32_t v = cand[i].node;
        uint64_t c;
        bool infra;
        if ((err = infrastructure(g, &md, v, &infra)) || infra) continue;
        if (pyh_u64map_get(&heavy, v, &c) && pyh_dom_retained(d, (uint32_t)c) * 10 >= cand[i].retained * 9 &&
            heap->objects[c].type != heap->objects[v].type)
            continue; /* one child holds it all: the child is the better answer */
        suspects[ns++] = cand[i];
    }
    free(cand);
    pyh_u64map_free(&heavy);
    pyh_u64map_free(&md.set);
    if (err) {
        free(top.heap);
        free(types);
        free(suspects);
        return err;
    }
    for (size_t t = 0; t < heap->ntypes; t++) types[t].type = (uint32_t)t;
    qsort(types, heap->ntypes, sizeof(*types), larger_type);
    size_t nt = 0;
    while (nt < heap->ntypes && types[nt].retained) nt++;
    out->top = top.heap;
    out->ntop = top.len;
    out->types = types;
    out->ntypes = nt < limit ? nt : limit;
    out->suspects = suspects;
    out->nsuspects = ns;
    return NULL;
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
    struct pyh_refcnt rc;
    struct pyh_error *err = pyh_refcnt_read(g->heap->rt, g->heap->objects[node].addr, &rc);
    int64_t refcnt = (int64_t)rc.count;
    if (err) return err;
    *immortal = rc.immortal;
    *native = !*immortal && (uint64_t)refcnt > indegree ? (uint64_t)refcnt - indegree : 0;
    return NULL;
}

static int more_objects(const void *a, const void *b)
{
    const struct pyh_unreachable_type *x = a, *y = b;
    return x->count > y->count ? -1 : x->count < y->count;
}

struct pyh_error *pyh_unreachable_compute(const struct pyh_graph *g, const struct pyh_reach *r,
                                          const struct pyh_garbage *known_garbage,
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
    struct pyh_garbage own = {0};
    const struct pyh_garbage *gb = known_garbage;
    struct pyh_error *err = gb ? NULL : pyh_garbage_compute(g, r, &own);
    if (!gb) gb = &own;
    if (err) {
        free(indegree);
        free(types);
        return err;
    }
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
        if (pyh_garbage_is(gb, v)) {
            t->garbage++;
            t->garbage_size += pyh_heap_object_size(heap, v);
        }
        out->count++;
        out->size += pyh_heap_object_size(heap, v);
        if ((v & 0xffff) == 0) err = pyh_check_interrupt();
    }
    free(indegree);
    out->garbage = gb->count;
    out->garbage_size = gb->bytes;
    pyh_garbage_free(&own);
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
