/* The dominator tree (Lengauer and Tarjan, "A Fast Algorithm for Finding Dominators in a
 * Flowgraph", with path compression) and retained sizes.
 *
 * Why not Cooper-Harvey-Kennedy: its intersect walks idom chains, and a heap has both very
 * deep chains (linked lists) and nodes with huge fan-in (a class every instance refers to):
 * together they make it quadratic. Lengauer-Tarjan is near-linear whatever the shape.
 * Everything is iterative — the depth-first numbering walks back up through the DFS parents,
 * the path compression reverses the pointers it climbs — so a chain of millions of objects
 * needs neither recursion nor a stack.
 *
 * Memory is what limits the size of heap this can do (a 10-million-object heap must fit in
 * a few hundred MiB with its object table and graph), hence:
 *   - Leaves referred to once (a str, int, float or bytes held by one object: more than half
 *     of a typical heap) are left out: their immediate dominator is that one referrer (their
 *     BFS parent), they dominate nothing, and removing them changes no other dominator. The
 *     others, the "kept" nodes, are found by a bitmap and numbered by their rank in it
 *     (slot), and only they get arrays.
 *   - Lengauer-Tarjan runs in DFS numbers over the kept nodes with four arrays that change
 *     meaning as they go (see lt()), the predecessors in DFS numbers (so the inner loop reads
 *     no translation table), and the results are written over the arrays that are done. */
#include <stdlib.h>
#include <string.h>

#include "analysis/paths.h"
#include "util/interrupt.h"

#define NONE UINT32_MAX

/* Set bits in a byte: the rank of a node in the kept bitmap is the count kept before its
 * byte plus this of the bits below it (no popcount instruction needed). */
#define B2(k) k, k + 1, k + 1, k + 2
#define B4(k) B2(k), B2(k + 1), B2(k + 1), B2(k + 2)
#define B6(k) B4(k), B4(k + 1), B4(k + 1), B4(k + 2)
const uint8_t pyh_dom_pop8[256] = {B6(0), B6(1), B6(1), B6(2)};

static inline bool bit(const uint64_t *bits, uint32_t v) { return bits[v >> 6] >> (v & 63) & 1; }

static inline bool is_leaf(const struct pyh_graph *g, uint32_t v)
{
    return v != g->n && g->offsets[v] == g->offsets[v + 1];
}

/* The kept bitmap and its ranks: reachable nodes that are not leaves with one reference. */
static struct pyh_error *classify(const struct pyh_graph *g, const struct pyh_reach *r, struct pyh_dominators *d)
{
    size_t words = (size_t)g->n / 64 + 1, nbytes = (size_t)g->n / 8 + 1;
    /* once: referred to by at least one reachable node; twice: by two (or twice by one). */
    uint64_t *once = calloc(words, sizeof(uint64_t)), *twice = calloc(words, sizeof(uint64_t));
    d->kept = calloc(nbytes, 1);
    d->rank = malloc(nbytes * sizeof(uint32_t));
    if (!once || !twice || !d->kept || !d->rank) {
        free(once);
        free(twice);
        return pyh_error_nomem();
    }
    for (uint32_t v = 0; v <= g->n; v++) {
        if (r->parent[v] == PYH_UNREACHED) continue;
        for (uint64_t e = g->offsets[v]; e < g->offsets[v + 1]; e++) {
            uint32_t w = PYH_EDGE_INDEX(g->targets[e]);
            uint64_t m = 1ULL << (w & 63);
            if (once[w >> 6] & m) twice[w >> 6] |= m;
            else once[w >> 6] |= m;
        }
        if ((v & 0xfffff) == 0 && pyh_interrupted()) {
            free(once);
            free(twice);
            return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
        }
    }
    free(once);
    uint8_t *kept = d->kept;
    for (uint32_t v = 0; v <= g->n; v++)
        if (r->parent[v] != PYH_UNREACHED && (!is_leaf(g, v) || bit(twice, v)))
            kept[v >> 3] |= (uint8_t)(1u << (v & 7));
    free(twice);
    uint32_t c = 0;
    for (size_t i = 0; i < nbytes; i++) {
        d->rank[i] = c;
        c += pyh_dom_pop8[kept[i]];
    }
    d->nkept = c;
    return NULL;
}

/* Preorder numbering of the kept nodes from the root. vertex[i] is the node numbered i,
 * parent[i] the number of its DFS parent, dfnum[slot] a kept node's number. No stack: the
 * walk goes back up through parent, and cursor[i] says how many of node i's edges it has
 * followed (relative to its first: 32 bits suffice). */
static struct pyh_error *number(const struct pyh_graph *g, const struct pyh_dominators *d, uint32_t *dfnum,
                                uint32_t *vertex, uint32_t *parent, uint32_t *cursor)
{
    memset(dfnum, 0xff, (size_t)d->nkept * sizeof(uint32_t));
    uint32_t c = 0, cur = 0;
    dfnum[pyh_dom_slot(d, g->n)] = c;
    vertex[c] = g->n;
    parent[c] = NONE;
    cursor[c++] = 0;
    for (;;) {
        uint32_t node = vertex[cur];
        uint64_t e = g->offsets[node] + (uint64_t)cursor[cur];
        if (e == g->offsets[node + 1]) {
            if (cur == 0) break;
            cur = parent[cur];
            continue;
        }
        cursor[cur]++;
        uint32_t w = PYH_EDGE_INDEX(g->targets[e]), s = pyh_dom_slot(d, w);
        if (s == NONE || dfnum[s] != NONE) continue; /* a leaf left out, or seen */
        dfnum[s] = c;
        vertex[c] = w;
        parent[c] = cur;
        cursor[c] = 0;
        cur = c++;
        if ((c & 0xfffff) == 0 && pyh_interrupted()) return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
    }
    /* Every kept node is reachable through kept nodes (a leaf is on no path to another
     * node), so the walk numbers them all. */
    return c == d->nkept ? NULL : pyh_error_create(PYH_ERR_CORRUPT, "dominators: %u of %u nodes numbered",
                                                   c, d->nkept);
}

/* The predecessors of each DFS number, as DFS numbers (CSR: pred_off has count + 1 entries).
 * fill is scratch of count entries. */
static struct pyh_error *predecessors(const struct pyh_graph *g, const struct pyh_dominators *d,
                                      const uint32_t *dfnum, const uint32_t *vertex, uint32_t count,
                                      uint32_t *pred_off, uint32_t *fill, uint32_t **preds_out)
{
    memset(pred_off, 0, ((size_t)count + 1) * sizeof(uint32_t));
    for (uint32_t v = 0; v < count; v++) {
        uint32_t node = vertex[v];
        for (uint64_t e = g->offsets[node]; e < g->offsets[node + 1]; e++) {
            uint32_t s = pyh_dom_slot(d, PYH_EDGE_INDEX(g->targets[e]));
            if (s != NONE) pred_off[dfnum[s] + 1]++;
        }
        if ((v & 0xfffff) == 0 && pyh_interrupted()) return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
    }
    for (uint32_t i = 0; i < count; i++) pred_off[i + 1] += pred_off[i];
    uint32_t *preds = malloc((pred_off[count] ? pred_off[count] : 1) * sizeof(uint32_t));
    if (!preds) return pyh_error_nomem();
    memcpy(fill, pred_off, (size_t)count * sizeof(uint32_t));
    for (uint32_t v = 0; v < count; v++) {
        uint32_t node = vertex[v];
        for (uint64_t e = g->offsets[node]; e < g->offsets[node + 1]; e++) {
            uint32_t s = pyh_dom_slot(d, PYH_EDGE_INDEX(g->targets[e]));
            if (s != NONE) preds[fill[dfnum[s]]++] = v;
        }
    }
    *preds_out = preds;
    return NULL;
}

/* The node with the least semidominator on the compressed path from v up its forest.
 * Compresses as the recursive version would: climb to the child of the forest root,
 * reversing the ancestor pointers on the way (so no stack), then come back down folding
 * each node's label with its old ancestor's and pointing it at the root. */
static uint32_t eval(const uint32_t *semi, uint32_t *ancestor, uint32_t *label, uint32_t v)
{
    if (ancestor[v] == NONE) return v;
    uint32_t down = NONE, y = v;
    while (ancestor[ancestor[y]] != NONE) {
        uint32_t up = ancestor[y];
        ancestor[y] = down;
        down = y;
        y = up;
    }
    /* y is the top of the path (its ancestor, the root, stays); down the node below it. */
    for (uint32_t a = y, x = down; x != NONE;) {
        uint32_t next = ancestor[x];
        if (semi[label[a]] < semi[label[x]]) label[x] = label[a];
        ancestor[x] = ancestor[a];
        a = x;
        x = next;
    }
    return label[v];
}

/* Lengauer-Tarjan over DFS numbers 0 .. count-1 (0 the root). On entry pd holds the DFS
 * parents; on return the immediate dominators (pd[0] = 0). Each array is one of:
 *   semi      the semidominator;
 *   ancestor  the link-eval forest (NONE: a tree root);
 *   lb        a node's bucket head (the nodes whose semidominator it is) while it is not
 *             linked, its label once it is: a bucket is emptied for good when the node's
 *             first child (its number + 1) is processed, before the node itself is linked,
 *             and a label is only read for linked nodes;
 *   pd        the DFS parent until the node is processed, then its next in the bucket it
 *             waits in, then (when that bucket is emptied) its relative dominator: each
 *             value is last read before the next is written. */
static struct pyh_error *lt(uint32_t count, const uint32_t *pred_off, const uint32_t *preds, uint32_t *semi,
                            uint32_t *ancestor, uint32_t *lb, uint32_t *pd)
{
    for (uint32_t i = 0; i < count; i++) {
        semi[i] = i;
        ancestor[i] = lb[i] = NONE;
    }
    for (uint32_t w = count; w-- > 1;) {
        for (uint32_t e = pred_off[w]; e < pred_off[w + 1]; e++) {
            uint32_t u = eval(semi, ancestor, lb, preds[e]);
            if (semi[u] < semi[w]) semi[w] = semi[u];
        }
        uint32_t p = pd[w];
        pd[w] = lb[semi[w]]; /* into the bucket of its semidominator (semi[w] < w: unlinked) */
        lb[semi[w]] = w;
        ancestor[w] = p; /* link; its bucket is empty (see above): now its label */
        lb[w] = w;
        for (uint32_t v = lb[p]; v != NONE;) {
            uint32_t next = pd[v], u = eval(semi, ancestor, lb, v);
            pd[v] = semi[u] < semi[v] ? u : p;
            v = next;
        }
        lb[p] = NONE;
        if ((w & 0xfffff) == 0 && pyh_interrupted()) return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
    }
    pd[0] = 0;
    for (uint32_t w = 1; w < count; w++)
        if (pd[w] != semi[w]) pd[w] = pd[pd[w]];
    return NULL;
}

struct pyh_error *pyh_dominators_compute(const struct pyh_graph *g, const struct pyh_reach *r,
                                         struct pyh_dominators *d)
{
    memset(d, 0, sizeof(*d));
    d->n = g->n;
    d->parent = r->parent;
    d->heap = g->heap;
    struct pyh_error *err = classify(g, r, d);
    if (err) goto fail;
    uint32_t m = d->nkept;
    size_t bytes = (size_t)m * sizeof(uint32_t);
    /* ab: semi and ancestor, then the retained sizes (8 bytes a slot); c: bucket heads and
     * labels, then the retained counts; pd: see lt(). */
    uint32_t *ab = malloc(2 * bytes), *c = malloc(bytes), *pd = malloc(bytes), *vertex = malloc(bytes);
    uint32_t *dfnum = malloc(bytes), *pred_off = malloc(bytes + sizeof(uint32_t)), *preds = NULL;
    if (!ab || !c || !pd || !vertex || !dfnum || !pred_off) err = pyh_error_nomem();
    if (!err) err = number(g, d, dfnum, vertex, pd, ab);
    if (!err) err = predecessors(g, d, dfnum, vertex, m, pred_off, ab + m, &preds);
    free(dfnum);
    if (!err) err = lt(m, pred_off, preds, ab, ab + m, c, pd);
    free(preds);
    free(pred_off);
    if (!err && !(d->idom = malloc(bytes))) err = pyh_error_nomem();
    if (err) {
        free(ab);
        free(c);
        free(pd);
        free(vertex);
        goto fail;
    }
    /* To slots, over the arrays lt() is done with: each kept node's own size and idom. */
    d->retained = (uint64_t *)(void *)ab;
    d->retained_count = c;
    for (uint32_t w = 0; w < m; w++) {
        uint32_t node = vertex[w], s = pyh_dom_slot(d, node);
        d->idom[s] = vertex[pd[w]];
        d->retained[s] = node == g->n ? 0 : pyh_heap_object_size(g->heap, node);
        d->retained_count[s] = node != g->n;
    }
    free(pd);
    /* The leaves left out, into their one referrer; then each kept node into its immediate
     * dominator in reverse preorder (a dominator is numbered before what it dominates). */
    for (uint32_t v = 0; v < g->n; v++) {
        if (r->parent[v] == PYH_UNREACHED || pyh_dom_slot(d, v) != NONE) continue;
        uint32_t s = pyh_dom_slot(d, r->parent[v]);
        d->retained[s] += pyh_heap_object_size(g->heap, v);
        d->retained_count[s]++;
    }
    for (uint32_t w = m; w-- > 1;) {
        uint32_t s = pyh_dom_slot(d, vertex[w]), ps = pyh_dom_slot(d, d->idom[s]);
        d->retained[ps] += d->retained[s];
        d->retained_count[ps] += d->retained_count[s];
    }
    free(vertex);
    return NULL;
fail:
    pyh_dominators_free(d);
    return err;
}

void pyh_dominators_free(struct pyh_dominators *d)
{
    free(d->kept);
    free(d->rank);
    free(d->idom);
    free(d->retained);
    free(d->retained_count);
    memset(d, 0, sizeof(*d));
}
