/* Why objects are alive: reachability from the roots (breadth first, so the parent of each
 * object is on a shortest path), paths printed as Python expressions, referrers, the
 * dominator tree and retained sizes, and the objects no root reaches. Everything is
 * iterative: no recursion grows with the data (a linked list of a million nodes is fine). */
#ifndef PYH_ANALYSIS_PATHS_H
#define PYH_ANALYSIS_PATHS_H

#include <stdbool.h>
#include <stdint.h>

#include "graph/graph.h"

#define PYH_UNREACHED UINT32_MAX

/* Shortest-path tree from the virtual root. */
struct pyh_reach {
    uint32_t *parent; /* n + 1 entries: the BFS parent, PYH_UNREACHED when not reachable */
};

struct pyh_error *pyh_reach_compute(const struct pyh_graph *g, struct pyh_reach *r);
void pyh_reach_free(struct pyh_reach *r);

/* The reached nodes in BFS order (parents before children), root first: the same search
 * again, for the one report that needs it (`path --type`), so that the session does not keep
 * 4 bytes per node for it. *order is malloc'ed. */
struct pyh_error *pyh_reach_order(const struct pyh_graph *g, uint32_t **order, uint32_t *norder);

/* The shortest path from a root to node as a Python expression (malloc'ed). generalize
 * replaces subscripts by [*] (for grouping the paths of many objects). Paths longer than a
 * few hundred steps are shortened in the middle ("...(N steps)..."). */
struct pyh_error *pyh_path_expression(const struct pyh_graph *g, const struct pyh_reach *r,
                                      uint32_t node, bool generalize, char **out);

/* A path and how many objects it stands for. */
struct pyh_path_group {
    char *expression; /* owned */
    uint64_t count;
    uint32_t example; /* one object it holds */
    uint32_t length;  /* steps from the root */
    char chain[64];   /* when instances hold each other in runs (a linked list): the step
                         from one to the next, e.g. ".next"; printed as "(.next)*" */
};

/* Paths to one object: the shortest path through each of its referrers, shortest first, at
 * most max of them. *groups is malloc'ed; free with pyh_path_groups_free. */
struct pyh_error *pyh_paths_to_object(const struct pyh_graph *g, const struct pyh_reach *r,
                                      uint32_t node, size_t max, struct pyh_path_group **groups,
                                      size_t *n);

/* Paths to every instance of the types named name, generalized and grouped, most common
 * first; runs of objects of the same type along a path (linked lists) share their group.
 * *unreached counts instances no root reaches. */
struct pyh_error *pyh_paths_to_type(const struct pyh_graph *g, const struct pyh_reach *r,
                                    const char *name, size_t max, struct pyh_path_group **groups,
                                    size_t *n, uint64_t *instances, uint64_t *unreached);

void pyh_path_groups_free(struct pyh_path_group *groups, size_t n);

/* One referrer of an object. */
struct pyh_referrer {
    uint32_t from;       /* object index, or g->n for a root */
    size_t root_index;   /* when from is the root */
    char how[512];       /* the label: "['key']", ".attr", "[3]", or the root's description */
    bool conservative;
};

/* The objects (and roots) that refer to node; *out malloc'ed. */
struct pyh_error *pyh_referrers(const struct pyh_graph *g, uint32_t node,
                                struct pyh_referrer **out, size_t *n);

/* The dominator tree and what each object retains (sizes as sys.getsizeof, the object's
 * own included). Stored only for the "kept" nodes — the reachable ones except leaves that
 * one reference reaches (strings, numbers, bytes held by one object: most of a heap), whose
 * immediate dominator is that referrer (their BFS parent) and which retain themselves alone
 * — in arrays indexed by slot, a kept node's rank in the kept bitmap: 16 bytes per kept node
 * and 5 bits per node. Read through the accessors below. */
struct pyh_dominators {
    uint32_t n;                  /* objects; node n is the virtual root (always kept) */
    const uint32_t *parent;      /* borrowed: the BFS parents of the reach computed from */
    const struct pyh_heap *heap; /* borrowed: the other nodes' sizes */
    uint8_t *kept;               /* bitmap over the n + 1 nodes (byte k: nodes 8k .. 8k+7) */
    uint32_t *rank;              /* kept nodes before each byte of the bitmap */
    uint32_t nkept;
    uint32_t *idom;              /* by slot: the immediate dominator (a node) */
    uint64_t *retained;          /* by slot: bytes retained */
    uint32_t *retained_count;    /* by slot: objects retained */
};

extern const uint8_t pyh_dom_pop8[256];

/* The slot of node v, or UINT32_MAX when v is not kept. */
static inline uint32_t pyh_dom_slot(const struct pyh_dominators *d, uint32_t v)
{
    unsigned b = d->kept[v >> 3], below = v & 7;
    if (!(b >> below & 1)) return UINT32_MAX;
    return d->rank[v >> 3] + pyh_dom_pop8[b & ((1u << below) - 1)];
}

/* Node v's immediate dominator, bytes and objects retained, in one look-up: its idom is
 * PYH_UNREACHED (and the sizes 0) when unreachable, n (the virtual root) for a root. */
static inline uint32_t pyh_dom_node(const struct pyh_dominators *d, uint32_t v, uint64_t *retained,
                                    uint32_t *count)
{
    uint32_t s = pyh_dom_slot(d, v);
    if (s != UINT32_MAX) {
        *retained = d->retained[s];
        *count = d->retained_count[s];
        return d->idom[s];
    }
    uint32_t p = d->parent[v];
    *retained = p == PYH_UNREACHED ? 0 : pyh_heap_object_size(d->heap, v);
    *count = p != PYH_UNREACHED;
    return p;
}

/* Node v's immediate dominator (n: the virtual root), PYH_UNREACHED when unreachable. */
static inline uint32_t pyh_dom_idom(const struct pyh_dominators *d, uint32_t v)
{
    uint32_t s = pyh_dom_slot(d, v);
    return s != UINT32_MAX ? d->idom[s] : d->parent[v];
}

/* Bytes v retains (0 when unreachable). */
static inline uint64_t pyh_dom_retained(const struct pyh_dominators *d, uint32_t v)
{
    uint32_t s = pyh_dom_slot(d, v);
    if (s != UINT32_MAX) return d->retained[s];
    return d->parent[v] == PYH_UNREACHED ? 0 : pyh_heap_object_size(d->heap, v);
}

/* Objects v retains, itself included (0 when unreachable). */
static inline uint32_t pyh_dom_count(const struct pyh_dominators *d, uint32_t v)
{
    uint32_t s = pyh_dom_slot(d, v);
    if (s != UINT32_MAX) return d->retained_count[s];
    return d->parent[v] != PYH_UNREACHED;
}

/* Lengauer-Tarjan over the graph's nodes that r reaches; d borrows r's parents. */
struct pyh_error *pyh_dominators_compute(const struct pyh_graph *g, const struct pyh_reach *r,
                                         struct pyh_dominators *d);
void pyh_dominators_free(struct pyh_dominators *d);

#endif
