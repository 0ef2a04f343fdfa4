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

/* The dominator tree and what each object retains. */
struct pyh_dominators {
    uint32_t *idom;      /* n + 1: immediate dominator, PYH_UNREACHED when unreachable */
    uint64_t *retained;  /* n + 1: bytes (sys.getsizeof) of the objects it dominates, itself included */
    uint32_t *retained_count;
};

/* Cooper-Harvey-Kennedy over the reverse postorder of an iterative DFS. */
struct pyh_error *pyh_dominators_compute(const struct pyh_graph *g, struct pyh_dominators *d);
void pyh_dominators_free(struct pyh_dominators *d);

#endif
