/* The dominator tree cut for people (the HTML report's browsable tree): the objects that
 * retain at least a share of the live heap, down to a depth, at most a number of them, each
 * with what it holds beyond its listed children summarised. Because an object retains more
 * than any object it dominates (its own size is never 0), the objects over a threshold form
 * a tree hanging from the roots: no listed object misses its dominator. */
#ifndef PYH_ANALYSIS_DOMTREE_H
#define PYH_ANALYSIS_DOMTREE_H

#include <stddef.h>
#include <stdint.h>

#include "analysis/paths.h"

#define PYH_DOMTREE_TOP UINT32_MAX /* parent of a node the virtual root dominates */

struct pyh_domtree_node {
    uint32_t node;     /* graph node (object index) */
    uint32_t parent;   /* index in pyh_domtree.nodes, PYH_DOMTREE_TOP at the top */
    uint32_t depth;    /* 0 at the top */
    uint64_t retained; /* bytes it retains, its own included */
    uint32_t count;    /* objects it retains, itself included */
    uint64_t self;     /* its own size */
    /* What it dominates directly that is not listed: objects, their bytes and how many. */
    uint64_t rest_bytes, rest_objects, rest_children;
};

struct pyh_domtree {
    struct pyh_domtree_node *nodes; /* parents before children, larger retained first; owned */
    size_t n;
    uint64_t threshold;  /* bytes a node retains at least */
    uint64_t live_bytes; /* what the shares are of */
    /* What the virtual root dominates directly that is not listed. */
    uint64_t rest_bytes, rest_objects, rest_children;
    bool cut; /* max_nodes or max_depth left out nodes over the threshold */
};

/* Nodes retaining at least share (of live_bytes) down to max_depth (0: the top only) and at
 * most max_nodes, the largest kept. */
struct pyh_error *pyh_domtree_build(const struct pyh_graph *g, const struct pyh_dominators *d,
                                    uint64_t live_bytes, double share, uint32_t max_depth,
                                    size_t max_nodes, struct pyh_domtree *out);

void pyh_domtree_free(struct pyh_domtree *t);

#endif
