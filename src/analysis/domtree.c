/* The cut dominator tree; see domtree.h. */
#include "analysis/domtree.h"

#include <stdlib.h>
#include <string.h>

#include "util/hashmap.h"
#include "util/interrupt.h"
#include "util/mem.h"

/* Larger retained first; equal ones by node (a parent retains strictly more than its
 * children, so parents always come first). */
static int larger(const void *a, const void *b)
{
    const struct pyh_domtree_node *x = a, *y = b;
    if (x->retained != y->retained) return x->retained > y->retained ? -1 : 1;
    return x->node < y->node ? -1 : x->node > y->node;
}

struct pyh_error *pyh_domtree_build(const struct pyh_graph *g, const struct pyh_dominators *d,
                                    uint64_t live_bytes, double share, uint32_t max_depth,
                                    size_t max_nodes, struct pyh_domtree *out)
{
    memset(out, 0, sizeof(*out));
    out->live_bytes = live_bytes;
    double t = share * (double)live_bytes;
    out->threshold = t < 1 ? 1 : (uint64_t)t;
    struct pyh_domtree_node *nodes = NULL;
    size_t n = 0, cap = 0;
    struct pyh_error *err = NULL;
    for (uint32_t v = 0; v < g->n && !err; v++) {
        uint64_t retained;
        uint32_t count, p = pyh_dom_node(d, v, &retained, &count);
        if (p == PYH_UNREACHED || retained < out->threshold) continue;
        struct pyh_domtree_node x = {.node = v,
                                     .retained = retained,
                                     .count = count,
                                     .self = pyh_heap_object_size(g->heap, v)};
        err = PYH_APPEND(nodes, n, cap, &x);
        if (!err && (v & 0xfffff) == 0) err = pyh_check_interrupt();
    }
    if (err) {
        free(nodes);
        return err;
    }
    if (n > 1) qsort(nodes, n, sizeof(*nodes), larger);
    if (n > max_nodes) {
        n = max_nodes;
        out->cut = true;
    }
    /* Parents by look-up of the dominator; depths in order (parents first). A node whose
     * dominator is not listed (only when the sizes contradict the tree: a corrupt heap) or is
     * too deep is left out, and its subtree with it. */
    struct pyh_u64map index = {0};
    size_t kept = 0;
    for (size_t i = 0; i < n && !err; i++) {
        struct pyh_domtree_node x = nodes[i];
        uint32_t p = pyh_dom_idom(d, x.node);
        uint64_t pi;
        if (p == g->n) {
            x.parent = PYH_DOMTREE_TOP;
            x.depth = 0;
        } else if (pyh_u64map_get(&index, p, &pi)) {
            x.parent = (uint32_t)pi;
            x.depth = nodes[pi].depth + 1;
            if (x.depth > max_depth) {
                out->cut = true;
                continue;
            }
        } else {
            continue;
        }
        nodes[kept] = x;
        err = pyh_u64map_put(&index, x.node, kept++);
    }
    n = kept;
    /* What each listed node (and the root) dominates directly that is not listed. */
    for (uint32_t v = 0; v < g->n && !err; v++) {
        uint64_t retained, pi;
        uint32_t count, p = pyh_dom_node(d, v, &retained, &count);
        if (p == PYH_UNREACHED || pyh_u64map_get(&index, v, NULL)) continue;
        if (p == g->n) {
            out->rest_bytes += retained;
            out->rest_objects += count;
            out->rest_children++;
        } else if (pyh_u64map_get(&index, p, &pi)) {
            nodes[pi].rest_bytes += retained;
            nodes[pi].rest_objects += count;
            nodes[pi].rest_children++;
        }
        if ((v & 0xfffff) == 0) err = pyh_check_interrupt();
    }
    pyh_u64map_free(&index);
    if (err) {
        free(nodes);
        return err;
    }
    out->nodes = nodes;
    out->n = n;
    return NULL;
}

void pyh_domtree_free(struct pyh_domtree *t)
{
    free(t->nodes);
    memset(t, 0, sizeof(*t));
}
