/* The dominator tree (Lengauer and Tarjan, "A Fast Algorithm for Finding Dominators in a
 * Flowgraph", with path compression) and retained sizes.
 *
 * Why not Cooper-Harvey-Kennedy: its intersect walks idom chains, and a heap has both very
 * deep chains (linked lists) and nodes with huge fan-in (a class every instance refers to):
 * together they make it quadratic. Lengauer-Tarjan is near-linear whatever the shape.
 * Everything is iterative — the depth-first numbering and the path compression use explicit
 * stacks — so a chain of millions of objects needs no recursion. */
#include <stdlib.h>
#include <string.h>

#include "analysis/paths.h"
#include "util/interrupt.h"

#define NONE UINT32_MAX

/* Preorder numbering from the root: vertex[i] is the node numbered i, parent[i] the number
 * of its DFS parent, dfnum[node] its number (NONE when unreachable). */
static struct pyh_error *number(const struct pyh_graph *g, uint32_t *dfnum, uint32_t *vertex,
                                uint32_t *parent, uint32_t *count)
{
    size_t n = (size_t)g->n + 1;
    struct frame {
        uint32_t node;
        uint64_t next;
    } *stack = malloc(n * sizeof(*stack));
    if (!stack) return pyh_error_nomem();
    memset(dfnum, 0xff, n * sizeof(uint32_t));
    uint32_t c = 0;
    size_t top = 0;
    dfnum[g->n] = c;
    vertex[c] = g->n;
    parent[c++] = NONE;
    stack[top++] = (struct frame){g->n, g->offsets[g->n]};
    while (top > 0) {
        struct frame *f = &stack[top - 1];
        if (f->next == g->offsets[f->node + 1]) {
            top--;
            continue;
        }
        uint32_t w = PYH_EDGE_INDEX(g->targets[f->next++]);
        if (dfnum[w] != NONE) continue;
        dfnum[w] = c;
        vertex[c] = w;
        parent[c++] = dfnum[f->node];
        stack[top++] = (struct frame){w, g->offsets[w]};
        if ((c & 0xfffff) == 0 && pyh_interrupted()) {
            free(stack);
            return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
        }
    }
    free(stack);
    *count = c;
    return NULL;
}

struct lt {
    uint32_t *semi, *ancestor, *label, *path; /* in DFS numbers */
};

/* The node with the least semidominator on the compressed path from v up its forest. */
static uint32_t eval(struct lt *s, uint32_t v)
{
    if (s->ancestor[v] == NONE) return v;
    /* Compress: collect v and its ancestors up to the child of a forest root, then fold
     * the labels down from the top, as the recursive compress would. */
    size_t k = 0;
    for (uint32_t y = v; s->ancestor[s->ancestor[y]] != NONE; y = s->ancestor[y]) s->path[k++] = y;
    while (k-- > 0) {
        uint32_t y = s->path[k], a = s->ancestor[y];
        if (s->semi[s->label[a]] < s->semi[s->label[y]]) s->label[y] = s->label[a];
        s->ancestor[y] = s->ancestor[a];
    }
    return s->label[v];
}

struct pyh_error *pyh_dominators_compute(const struct pyh_graph *g, struct pyh_dominators *d)
{
    memset(d, 0, sizeof(*d));
    size_t n = (size_t)g->n + 1;
    uint32_t *dfnum = malloc(n * 4), *vertex = malloc(n * 4), *parent = malloc(n * 4), count = 0;
    uint32_t *idom = malloc(n * 4), *bucket = malloc(n * 4), *next = malloc(n * 4);
    struct lt s = {malloc(n * 4), malloc(n * 4), malloc(n * 4), malloc(n * 4)};
    uint64_t *pred_off = NULL;
    uint32_t *preds = NULL;
    struct pyh_error *err = (!dfnum || !vertex || !parent || !idom || !bucket || !next || !s.semi ||
                             !s.ancestor || !s.label || !s.path)
                                ? pyh_error_nomem() : NULL;
    if (!err) err = number(g, dfnum, vertex, parent, &count);
    if (!err) err = pyh_graph_predecessors(g, &pred_off, &preds);
    if (err) goto done;
    for (uint32_t i = 0; i < count; i++) {
        s.semi[i] = s.label[i] = i;
        s.ancestor[i] = bucket[i] = NONE;
    }
    for (uint32_t w = count; w-- > 1;) {
        uint32_t node = vertex[w];
        for (uint64_t e = pred_off[node]; e < pred_off[node + 1]; e++) {
            uint32_t v = dfnum[preds[e]];
            if (v == NONE) continue; /* a referrer no root reaches */
            uint32_t u = eval(&s, v);
            if (s.semi[u] < s.semi[w]) s.semi[w] = s.semi[u];
        }
        next[w] = bucket[s.semi[w]];
        bucket[s.semi[w]] = w;
        uint32_t p = parent[w];
        s.ancestor[w] = p; /* link */
        for (uint32_t v = bucket[p]; v != NONE; v = next[v]) {
            uint32_t u = eval(&s, v);
            idom[v] = s.semi[u] < s.semi[v] ? u : p;
        }
        bucket[p] = NONE;
        if ((w & 0xfffff) == 0 && (err = pyh_check_interrupt())) goto done;
    }
    idom[0] = 0;
    for (uint32_t w = 1; w < count; w++)
        if (idom[w] != s.semi[w]) idom[w] = idom[idom[w]];

    /* Back to node numbers, and the retained sizes: each node's own size added up into its
     * dominators in reverse preorder (a dominator is numbered before what it dominates). */
    d->idom = malloc(n * sizeof(uint32_t));
    d->retained = calloc(n, sizeof(uint64_t));
    d->retained_count = calloc(n, sizeof(uint32_t));
    if (!d->idom || !d->retained || !d->retained_count) {
        err = pyh_error_nomem();
        goto done;
    }
    memset(d->idom, 0xff, n * sizeof(uint32_t));
    for (uint32_t w = 0; w < count; w++) {
        uint32_t node = vertex[w];
        d->idom[node] = vertex[idom[w]];
        if (node != g->n) {
            d->retained[node] = pyh_heap_object_size(g->heap, node);
            d->retained_count[node] = 1;
        }
    }
    for (uint32_t w = count; w-- > 1;) {
        uint32_t node = vertex[w], dom = vertex[idom[w]];
        d->retained[dom] += d->retained[node];
        d->retained_count[dom] += d->retained_count[node];
    }
done:
    free(dfnum);
    free(vertex);
    free(parent);
    free(idom);
    free(bucket);
    free(next);
    free(s.semi);
    free(s.ancestor);
    free(s.label);
    free(s.path);
    free(pred_off);
    free(preds);
    if (err) pyh_dominators_free(d);
    return err;
}

void pyh_dominators_free(struct pyh_dominators *d)
{
    free(d->idom);
    free(d->retained);
    free(d->retained_count);
    memset(d, 0, sizeof(*d));
}
