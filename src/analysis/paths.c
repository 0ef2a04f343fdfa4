/* Reachability, paths and referrers; see paths.h. */
#include "analysis/paths.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hashmap.h"
#include "util/interrupt.h"
#include "util/mem.h"

#define LABEL 768
#define SHOWN_STEPS 60 /* of a long path: this many at each end */
#define MAX_PREFIX_WALK 4096

/* Breadth first, one root phase at a time (see graph.h): the queue is order, and each phase
 * starts with its roots' targets not reached yet. A bitmap marks what is reached (it stays in
 * cache where the parent array would not); parent, when given, gets each BFS parent. */
static struct pyh_error *bfs(const struct pyh_graph *g, uint32_t *parent, uint32_t *order, uint32_t *norder)
{
    uint64_t *seen = calloc((size_t)g->n / 64 + 1, sizeof(uint64_t));
    if (!seen) return pyh_error_nomem();
#define SEEN(v) (seen[(v) >> 6] >> ((v) & 63) & 1)
#define MARK(v) (seen[(v) >> 6] |= 1ULL << ((v) & 63))
    uint32_t n = 0;
    MARK(g->n);
    if (parent) parent[g->n] = g->n;
    order[n++] = g->n;
    uint32_t head = 1;
    size_t root_first = 0;
    for (int phase = 0; phase < 3; phase++) {
        for (size_t k = root_first; k < g->phase_end[phase]; k++) {
            uint32_t w = g->roots[k].target;
            if (SEEN(w)) continue;
            MARK(w);
            if (parent) parent[w] = g->n;
            order[n++] = w;
        }
        root_first = g->phase_end[phase];
        for (; head < n; head++) {
            uint32_t v = order[head];
            if ((head & 0xffff) == 0 && pyh_interrupted()) {
                free(seen);
                return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
            }
            for (uint64_t e = g->offsets[v]; e < g->offsets[v + 1]; e++) {
                uint32_t w = PYH_EDGE_INDEX(g->targets[e]);
                if (SEEN(w)) continue;
                MARK(w);
                if (parent) parent[w] = v;
                order[n++] = w;
            }
        }
    }
#undef SEEN
#undef MARK
    free(seen);
    *norder = n;
    return NULL;
}

struct pyh_error *pyh_reach_compute(const struct pyh_graph *g, struct pyh_reach *r)
{
    memset(r, 0, sizeof(*r));
    r->parent = malloc(((size_t)g->n + 1) * sizeof(uint32_t));
    uint32_t *queue = malloc(((size_t)g->n + 1) * sizeof(uint32_t)), nq;
    struct pyh_error *err = r->parent && queue ? NULL : pyh_error_nomem();
    if (!err) {
        memset(r->parent, 0xff, ((size_t)g->n + 1) * sizeof(uint32_t));
        err = bfs(g, r->parent, queue, &nq);
    }
    free(queue);
    if (err) pyh_reach_free(r);
    return err;
}

struct pyh_error *pyh_reach_order(const struct pyh_graph *g, uint32_t **order, uint32_t *norder)
{
    *order = malloc(((size_t)g->n + 1) * sizeof(uint32_t));
    if (!*order) return pyh_error_nomem();
    struct pyh_error *err = bfs(g, NULL, *order, norder);
    if (err) {
        free(*order);
        *order = NULL;
    }
    return err;
}

void pyh_reach_free(struct pyh_reach *r)
{
    free(r->parent);
    memset(r, 0, sizeof(*r));
}

void pyh_path_groups_free(struct pyh_path_group *groups, size_t n)
{
    for (size_t i = 0; i < n; i++) free(groups[i].expression);
    free(groups);
}

/* ---- Labels and expressions ---------------------------------------------------------- */

/* True for "['name']" with name a Python identifier: the key of a __dict__. */
static bool identifier_key(const char *label, char *name, size_t cap)
{
    size_t n = strlen(label);
    if (n < 5 || strncmp(label, "['", 2) != 0 || strcmp(label + n - 2, "']") != 0) return false;
    if (n - 4 >= cap || !(isalpha((unsigned char)label[2]) || label[2] == '_')) return false;
    for (size_t i = 2; i < n - 2; i++)
        if (!isalnum((unsigned char)label[i]) && label[i] != '_') return false;
    memcpy(name, label + 2, n - 4);
    name[n - 4] = '\0';
    return true;
}

/* Replaces the subscripts of a label by [*] (not those of sys.modules, which name
 * modules). */
static void generalize_label(char *label, size_t cap, bool after_modules)
{
    if (after_modules) return;
    if (label[0] == '[') snprintf(label, cap, "[*]");
    else if (!strncmp(label, ", stack[", 8)) snprintf(label, cap, ", stack[*]");
    else if (!strncmp(label, ".keys() {", 9)) snprintf(label, cap, ".keys() {*}");
}

/* The label of parent -> child. When generalizing, edges out of containers that are not a
 * __dict__ need no key (it becomes [*]), which spares reading big dicts again. */
static void step_label(const struct pyh_graph *g, uint32_t parent, uint32_t child, bool generalize,
                       bool parent_is_dict_attr, bool after_modules, char *buf, size_t cap)
{
    if (generalize && parent != g->n && !parent_is_dict_attr && !after_modules) {
        const char *any = pyh_kind_any_step(g->heap->types[g->heap->objects[parent].type].kind);
        if (any) {
            snprintf(buf, cap, "%s", any);
            return;
        }
    }
    pyh_graph_edge_label(g, parent, child, SIZE_MAX, buf, cap);
    /* Keys of a __dict__ are attribute names: they stay. */
    if (generalize && !parent_is_dict_attr) generalize_label(buf, cap, after_modules);
}

/* Appends label to expr, folding ".__dict__['name']" into ".name". */
static struct pyh_error *append_label(char **expr, size_t *len, size_t *cap, const char *label)
{
    char name[256];
    const char *tail = ".__dict__";
    size_t tn = strlen(tail);
    const char *add = label;
    char folded[300];
    if (*len >= tn && strcmp(*expr + *len - tn, tail) == 0 && identifier_key(label, name, sizeof(name))) {
        *len -= tn;
        snprintf(folded, sizeof(folded), ".%s", name);
        add = folded;
    }
    size_t n = strlen(add);
    struct pyh_error *err = pyh_grow((void **)expr, cap, *len + n + 1, 1);
    if (err) return err;
    memcpy(*expr + *len, add, n + 1);
    *len += n;
    return NULL;
}

struct pyh_error *pyh_path_expression(const struct pyh_graph *g, const struct pyh_reach *r,
                                      uint32_t node, bool generalize, char **out)
{
    *out = NULL;
    if (r->parent[node] == PYH_UNREACHED)
        return pyh_error_create(PYH_ERR_NOT_FOUND, "no root reaches object 0x%llx",
                                (unsigned long long)g->heap->objects[node].addr);
    /* The nodes from the root down to node. */
    uint32_t *chain = NULL;
    size_t n = 0, ccap = 0;
    struct pyh_error *err = NULL;
    for (uint32_t v = node; !err; v = r->parent[v]) {
        err = PYH_APPEND(chain, n, ccap, &v);
        if (v == g->n) break;
    }
    char *expr = NULL;
    size_t len = 0, cap = 0;
    char label[LABEL];
    bool after_modules = false, dict_attr = false;
    for (size_t i = n - 1; !err && i > 0; i--) {
        size_t step = n - 1 - i; /* 0 for the root's edge */
        if (n > 2 * SHOWN_STEPS + 2 && step == SHOWN_STEPS) {
            snprintf(label, sizeof(label), " ...(%zu steps)... ", n - 1 - 2 * SHOWN_STEPS);
            err = append_label(&expr, &len, &cap, label);
            i = SHOWN_STEPS + 1;
            continue;
        }
        step_label(g, chain[i], chain[i - 1], generalize, dict_attr, after_modules, label, sizeof(label));
        after_modules = chain[i] == g->n && !strcmp(label, "sys.modules");
        dict_attr = !strcmp(label, ".__dict__");
        err = append_label(&expr, &len, &cap, label);
    }
    free(chain);
    if (err) {
        free(expr);
        return err;
    }
    *out = expr;
    return NULL;
}

/* ---- Paths to one object ------------------------------------------------------------- */

static int shorter_first(const void *a, const void *b)
{
    const struct pyh_path_group *x = a, *y = b;
    return x->length < y->length ? -1 : x->length > y->length;
}

static uint32_t depth_of(const struct pyh_reach *r, uint32_t v, uint32_t root)
{
    uint32_t d = 0;
    while (v != root && r->parent[v] != PYH_UNREACHED && d < UINT32_MAX) {
        v = r->parent[v];
        d++;
    }
    return d;
}

struct pyh_error *pyh_paths_to_object(const struct pyh_graph *g, const struct pyh_reach *r,
                                      uint32_t node, size_t max, struct pyh_path_group **groups,
                                      size_t *n)
{
    *groups = NULL;
    *n = 0;
    struct pyh_referrer *refs = NULL;
    size_t nrefs = 0, cap = 0;
    struct pyh_error *err = pyh_referrers(g, node, &refs, &nrefs);
    for (size_t i = 0; i < nrefs && !err; i++) {
        uint32_t from = refs[i].from;
        if (r->parent[from] == PYH_UNREACHED) continue;
        char *prefix = NULL;
        struct pyh_path_group pg = {.count = 1, .example = node};
        if (from == g->n) {
            pg.expression = strdup(refs[i].how);
            pg.length = 1;
            if (!pg.expression) err = pyh_error_nomem();
        } else if (!(err = pyh_path_expression(g, r, from, false, &prefix))) {
            size_t len = strlen(prefix), c = len + 1;
            pg.expression = prefix;
            err = append_label(&pg.expression, &len, &c, refs[i].how);
            pg.length = depth_of(r, from, g->n) + 1;
        }
        if (!err) err = PYH_APPEND(*groups, *n, cap, &pg);
        else free(pg.expression);
    }
    free(refs);
    if (err) {
        pyh_path_groups_free(*groups, *n);
        *groups = NULL;
        *n = 0;
        return err;
    }
    /* No group (no root reaches the object) leaves *groups NULL, which qsort must not get. */
    if (*n > 1) qsort(*groups, *n, sizeof(**groups), shorter_first);
    if (*n > max) {
        for (size_t i = max; i < *n; i++) free((*groups)[i].expression);
        *n = max;
    }
    return NULL;
}

/* ---- Paths to every instance of a type ----------------------------------------------- */

/* Generalized path prefixes, memoized per node: instances held by one container share all
 * but their last step. */
struct memo {
    const struct pyh_graph *g;
    const struct pyh_reach *r;
    struct pyh_u64map index; /* node -> strings[] index */
    char **strings;
    size_t nstrings, cap;
};

static const char *memo_get(struct memo *m, uint32_t v)
{
    uint64_t i;
    return pyh_u64map_get(&m->index, v, &i) ? m->strings[i] : NULL;
}

/* The generalized expression of v, computing unmemoized ancestors top-down. */
static struct pyh_error *memo_expression(struct memo *m, uint32_t v, const char **out)
{
    const struct pyh_graph *g = m->g;
    uint32_t stack[MAX_PREFIX_WALK];
    size_t depth = 0;
    uint32_t a = v;
    while (a != g->n && !memo_get(m, a) && depth < MAX_PREFIX_WALK) {
        stack[depth++] = a;
        a = m->r->parent[a];
    }
    const char *base = a == g->n ? "" : memo_get(m, a);
    if (!base) base = "...";
    struct pyh_error *err = NULL;
    uint32_t parent = a;
    char label[LABEL];
    while (depth > 0 && !err) {
        uint32_t c = stack[--depth];
        size_t bl = strlen(base);
        bool dict_attr = bl >= 9 && !strcmp(base + bl - 9, ".__dict__");
        bool after_modules = parent == g->n ? false : !strcmp(base, "sys.modules");
        step_label(g, parent, c, true, dict_attr, after_modules, label, sizeof(label));
        char *s = strdup(base);
        size_t len = bl, cap = bl + 1;
        if (!s) err = pyh_error_nomem();
        if (!err) err = append_label(&s, &len, &cap, label);
        if (!err) err = PYH_APPEND(m->strings, m->nstrings, m->cap, &s);
        if (!err) err = pyh_u64map_put(&m->index, c, m->nstrings - 1);
        if (err) break;
        base = s;
        parent = c;
    }
    *out = base;
    return err;
}

static int most_first(const void *a, const void *b)
{
    const struct pyh_path_group *x = a, *y = b;
    return x->count > y->count ? -1 : x->count < y->count;
}

struct pyh_error *pyh_paths_to_type(const struct pyh_graph *g, const struct pyh_reach *r,
                                    const char *name, size_t max, struct pyh_path_group **groups,
                                    size_t *n, uint64_t *instances, uint64_t *unreached)
{
    struct pyh_heap *heap = g->heap;
    *groups = NULL;
    *n = 0;
    *instances = *unreached = 0;
    bool *wanted = calloc(heap->ntypes ? heap->ntypes : 1, sizeof(bool));
    if (!wanted) return pyh_error_nomem();
    bool any = false;
    for (size_t t = 0; t < heap->ntypes; t++)
        any |= wanted[t] = strcmp(pyh_heap_type_name(heap, (uint32_t)t), name) == 0;
    if (!any) {
        free(wanted);
        return pyh_error_create(PYH_ERR_USAGE, "no type named '%s' (see `types` for the names)", name);
    }
    struct memo m = {.g = g, .r = r};
    struct pyh_u64map group_of = {0}; /* instance -> group */
    struct pyh_strmap by_expression = {0};
    size_t cap = 0;
    uint32_t *order, norder = 0;
    struct pyh_error *err = pyh_reach_order(g, &order, &norder);
    for (uint32_t k = 0; k < norder && !err; k++) {
        uint32_t v = order[k];
        if (v == g->n || !wanted[heap->objects[v].type]) continue;
        ++*instances;
        if ((k & 1023) == 0 && (err = pyh_check_interrupt())) break;
        uint32_t p = r->parent[v];
        uint64_t gi;
        /* A run of instances (a linked list) belongs to the group of its head. */
        if (p != g->n && wanted[heap->objects[p].type] && pyh_u64map_get(&group_of, p, &gi)) {
            struct pyh_path_group *pg = &(*groups)[gi];
            if (!pg->chain[0]) step_label(g, p, v, false, false, false, pg->chain, sizeof(pg->chain));
            pg->count++;
            err = pyh_u64map_put(&group_of, v, gi);
            continue;
        }
        const char *expr;
        if ((err = memo_expression(&m, v, &expr))) break;
        if (!pyh_strmap_get(&by_expression, expr, &gi)) {
            struct pyh_path_group pg = {.expression = strdup(expr), .count = 0, .example = v};
            if (!pg.expression) {
                err = pyh_error_nomem();
                break;
            }
            if ((err = PYH_APPEND(*groups, *n, cap, &pg))) {
                free(pg.expression);
                break;
            }
            gi = *n - 1;
            err = pyh_strmap_put(&by_expression, (*groups)[gi].expression, gi, false);
        }
        if (!err) {
            (*groups)[gi].count++;
            err = pyh_u64map_put(&group_of, v, gi);
        }
    }
    for (size_t i = 0; i < heap->nobjects; i++)
        if (wanted[heap->objects[i].type] && r->parent[i] == PYH_UNREACHED && heap->locations[i] != PYH_LOC_STATIC)
            ++*unreached;
    *instances += *unreached;
    free(order);
    free(wanted);
    pyh_u64map_free(&group_of);
    pyh_strmap_free(&by_expression);
    for (size_t i = 0; i < m.nstrings; i++) free(m.strings[i]);
    free(m.strings);
    pyh_u64map_free(&m.index);
    if (err) {
        pyh_path_groups_free(*groups, *n);
        *groups = NULL;
        *n = 0;
        return err;
    }
    if (*n > 1) qsort(*groups, *n, sizeof(**groups), most_first); /* *groups NULL when none */
    if (*n > max) {
        for (size_t i = max; i < *n; i++) free((*groups)[i].expression);
        *n = max;
    }
    return NULL;
}

/* ---- Referrers ----------------------------------------------------------------------- */

struct pyh_error *pyh_referrers(const struct pyh_graph *g, uint32_t node,
                                struct pyh_referrer **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    for (uint32_t from = 0; from <= g->n; from++) {
        uint64_t first = g->offsets[from], last = g->offsets[from + 1];
        for (uint64_t e = first; e < last; e++) {
            if (PYH_EDGE_INDEX(g->targets[e]) != node) continue;
            struct pyh_referrer ref = {.from = from, .root_index = from == g->n ? e - first : SIZE_MAX,
                                       .conservative = (g->targets[e] & PYH_EDGE_CONSERVATIVE) != 0};
            pyh_graph_edge_label(g, from, node, ref.root_index, ref.how, sizeof(ref.how));
            struct pyh_error *err = PYH_APPEND(*out, *n, cap, &ref);
            if (err) {
                free(*out);
                *out = NULL;
                *n = 0;
                return err;
            }
            if (from != g->n) break; /* one entry per referrer object */
        }
        if ((from & 0xffff) == 0 && pyh_interrupted()) {
            free(*out);
            *out = NULL;
            *n = 0;
            return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
        }
    }
    return NULL;
}
