/* Dominators, retained sizes and the retention report on graphs built by hand, against
 * the definitions computed the slow way (dominator sets by iteration to a fixed point, the
 * retainers sorted in full): random graphs of every density, with leaves held once (left out
 * of Lengauer-Tarjan), leaves held twice, duplicate edges, self loops, unreachable parts and
 * conservative edges; and a linked list of a million nodes every one of which also refers to
 * one class object (deep and wide: no recursion, no quadratic walk). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analysis/paths.h"
#include "analysis/retention.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A heap of n objects (sizes and types given) and a graph over them; node n is the root. */
struct fixture {
    struct pyh_heap heap;
    struct pyh_graph g;
    struct pyh_reach r;
    struct pyh_dominators d;
};

static void fixture_init(struct fixture *f, uint32_t n, uint32_t ntypes)
{
    memset(f, 0, sizeof(*f));
    f->heap.nobjects = n;
    f->heap.objects = calloc(n ? n : 1, sizeof(struct pyh_object));
    f->heap.ntypes = ntypes;
    f->heap.types = calloc(ntypes, sizeof(struct pyh_type));
    f->heap.locations = calloc(n ? n : 1, 1);
    for (uint32_t i = 0; i < n; i++) {
        f->heap.objects[i].addr = 0x10000 + 16ULL * i;
        f->heap.objects[i].type = (uint32_t)(next_random() % ntypes);
        f->heap.objects[i].size = (uint32_t)(16 + next_random() % 1000);
    }
    f->g.heap = &f->heap;
    f->g.n = n;
    f->g.offsets = calloc((size_t)n + 2, sizeof(uint32_t));
}

/* Edges given as adjacency lists (adj[v] has deg[v] targets; adj[n]: the roots). */
static void fixture_edges(struct fixture *f, uint32_t **adj, const uint32_t *deg)
{
    uint32_t n = f->g.n;
    uint64_t total = 0;
    for (uint32_t v = 0; v <= n; v++) total += deg[v];
    f->g.targets = malloc((total ? total : 1) * sizeof(uint32_t));
    f->g.roots = calloc(deg[n] ? deg[n] : 1, sizeof(struct pyh_root));
    uint64_t e = 0;
    for (uint32_t v = 0; v <= n; v++) {
        f->g.offsets[v] = (uint32_t)e;
        for (uint32_t k = 0; k < deg[v]; k++) {
            uint32_t t = adj[v][k];
            /* Some object edges are conservative: the flag must not change anything. */
            f->g.targets[e++] = v < n && next_random() % 7 == 0 ? t | PYH_EDGE_CONSERVATIVE : t;
            if (v == n) f->g.roots[k].target = t;
        }
    }
    f->g.offsets[n + 1] = (uint32_t)e;
    f->g.nedges = e;
    f->g.nroots = deg[n];
    /* Three root phases over the root list. */
    f->g.phase_end[0] = deg[n] / 3;
    f->g.phase_end[1] = 2 * deg[n] / 3;
    f->g.phase_end[2] = deg[n];
}

static void fixture_free(struct fixture *f)
{
    pyh_dominators_free(&f->d);
    pyh_reach_free(&f->r);
    free(f->g.offsets);
    free(f->g.targets);
    free(f->g.roots);
    free(f->heap.objects);
    free(f->heap.types);
    free(f->heap.locations);
}

/* The dominator sets by iteration (n + 1 <= 128 nodes: two words a set). */
struct set {
    uint64_t w[2];
};

static bool in(const struct set *s, uint32_t v) { return s->w[v >> 6] >> (v & 63) & 1; }

static void check_against_definition(struct fixture *f)
{
    uint32_t n = f->g.n, N = n + 1;
    assert_true(N <= 128);
    struct set dom[128];
    bool reach[128] = {false};
    /* Reachability. */
    uint32_t stack[128 * 128], top = 0;
    reach[n] = true;
    stack[top++] = n;
    while (top) {
        uint32_t v = stack[--top];
        for (uint32_t e = f->g.offsets[v]; e < f->g.offsets[v + 1]; e++) {
            uint32_t w = PYH_EDGE_INDEX(f->g.targets[e]);
            if (!reach[w]) {
                reach[w] = true;
                stack[top++] = w;
            }
        }
    }
    for (uint32_t v = 0; v < N; v++) {
        memset(&dom[v], v == n ? 0 : 0xff, sizeof(dom[v]));
        if (v == n) dom[v].w[n >> 6] |= 1ULL << (n & 63);
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (uint32_t w = 0; w < n; w++) {
            if (!reach[w]) continue;
            struct set s;
            memset(&s, 0xff, sizeof(s));
            for (uint32_t v = 0; v < N; v++) {
                if (!reach[v]) continue;
                for (uint32_t e = f->g.offsets[v]; e < f->g.offsets[v + 1]; e++)
                    if (PYH_EDGE_INDEX(f->g.targets[e]) == w) {
                        s.w[0] &= dom[v].w[0];
                        s.w[1] &= dom[v].w[1];
                    }
            }
            s.w[w >> 6] |= 1ULL << (w & 63);
            if (memcmp(&s, &dom[w], sizeof(s))) {
                dom[w] = s;
                changed = true;
            }
        }
    }
    for (uint32_t w = 0; w < N; w++) {
        if (!reach[w]) {
            assert_int_equal(pyh_dom_idom(&f->d, w), PYH_UNREACHED);
            assert_int_equal(pyh_dom_retained(&f->d, w), 0);
            assert_int_equal(pyh_dom_count(&f->d, w), 0);
            continue;
        }
        /* idom: the strict dominator that all other strict dominators dominate. */
        uint32_t idom = w == n ? n : UINT32_MAX;
        for (uint32_t v = 0; v < N && w != n; v++) {
            if (v == w || !in(&dom[w], v)) continue;
            bool deepest = true;
            for (uint32_t u = 0; u < N; u++)
                if (u != w && u != v && in(&dom[w], u) && !in(&dom[v], u)) deepest = false;
            if (deepest) idom = v;
        }
        assert_int_equal(pyh_dom_idom(&f->d, w), idom);
        uint64_t retained = 0;
        uint32_t count = 0;
        for (uint32_t v = 0; v < n; v++)
            if (reach[v] && in(&dom[v], w)) {
                retained += f->heap.objects[v].size;
                count++;
            }
        assert_int_equal(pyh_dom_retained(&f->d, w), retained);
        assert_int_equal(pyh_dom_count(&f->d, w), count);
    }
}

static int order(const void *a, const void *b)
{
    const struct pyh_retainer *x = a, *y = b;
    if (x->retained != y->retained) return x->retained > y->retained ? -1 : 1;
    return x->node < y->node ? -1 : x->node > y->node;
}

/* The report as it was computed before (every retainer sorted, the heavy child of every
 * node, the per-type walk with an explicit stack), from the accessors. */
static void check_retention(struct fixture *f, size_t limit, bool per_type)
{
    const struct pyh_dominators *d = &f->d;
    uint32_t n = f->g.n;
    struct pyh_retention ret;
    assert_null(pyh_retention_compute(&f->g, d, limit, &ret));
    uint64_t live = pyh_dom_retained(d, n);
    assert_int_equal(ret.live_bytes, live);
    assert_int_equal(ret.live_objects, pyh_dom_count(d, n));
    struct pyh_retainer *all = malloc(((size_t)n + 1) * sizeof(*all));
    uint32_t *heavy = malloc(((size_t)n + 1) * sizeof(uint32_t));
    memset(heavy, 0xff, ((size_t)n + 1) * sizeof(uint32_t));
    size_t nall = 0;
    for (uint32_t v = 0; v < n; v++) {
        uint32_t p = pyh_dom_idom(d, v);
        if (p == PYH_UNREACHED) continue;
        if (heavy[p] == PYH_UNREACHED || pyh_dom_retained(d, v) > pyh_dom_retained(d, heavy[p])) heavy[p] = v;
        if (p != n && f->heap.objects[p].type == f->heap.objects[v].type &&
            (uint64_t)pyh_dom_count(d, v) * 100 >= (uint64_t)pyh_dom_count(d, p) * 95)
            continue;
        all[nall++] = (struct pyh_retainer){v, pyh_dom_retained(d, v), pyh_dom_count(d, v)};
    }
    qsort(all, nall, sizeof(*all), order);
    assert_int_equal(ret.ntop, nall < limit ? nall : limit);
    for (size_t i = 0; i < ret.ntop; i++) {
        assert_int_equal(ret.top[i].node, all[i].node);
        assert_int_equal(ret.top[i].retained, all[i].retained);
        assert_int_equal(ret.top[i].count, all[i].count);
    }
    size_t ns = 0;
    for (size_t i = 0; i < nall && ns < 8; i++) {
        if (all[i].retained * 10 < live) break;
        uint32_t v = all[i].node, c = heavy[v];
        bool infra = false;
        for (size_t k = 0; k < f->g.phase_end[0]; k++) infra |= f->g.roots[k].target == v;
        if (infra) continue;
        if (c != PYH_UNREACHED && pyh_dom_retained(d, c) * 10 >= all[i].retained * 9 &&
            f->heap.objects[c].type != f->heap.objects[v].type)
            continue;
        assert_true(ns < ret.nsuspects);
        assert_int_equal(ret.suspects[ns].node, v);
        ns++;
    }
    assert_int_equal(ret.nsuspects, ns);
    free(all);
    free(heavy);
    if (!per_type) {
        pyh_retention_free(&ret);
        return;
    }
    /* Per type: an instance counts when no dominator above it has its type. */
    uint64_t *tr = calloc(f->heap.ntypes, sizeof(uint64_t)), *tc = calloc(f->heap.ntypes, sizeof(uint64_t));
    uint64_t *ti = calloc(f->heap.ntypes, sizeof(uint64_t));
    for (uint32_t v = 0; v < n; v++) {
        uint32_t p = pyh_dom_idom(d, v), t = f->heap.objects[v].type;
        if (p == PYH_UNREACHED) continue;
        ti[t]++;
        bool nested = false;
        for (; p != n; p = pyh_dom_idom(d, p)) nested |= f->heap.objects[p].type == t;
        if (nested) continue;
        tr[t] += pyh_dom_retained(d, v);
        tc[t] += pyh_dom_count(d, v);
    }
    size_t seen = 0;
    for (size_t i = 0; i < ret.ntypes; i++) {
        uint32_t t = ret.types[i].type;
        assert_int_equal(ret.types[i].retained, tr[t]);
        assert_int_equal(ret.types[i].count, tc[t]);
        assert_int_equal(ret.types[i].instances, ti[t]);
        if (i > 0) {
            const struct pyh_type_retained *a = &ret.types[i - 1], *b = &ret.types[i];
            assert_true(a->retained > b->retained || (a->retained == b->retained && a->type < b->type));
        }
        seen++;
    }
    size_t nonzero = 0;
    for (size_t t = 0; t < f->heap.ntypes; t++) nonzero += tr[t] != 0;
    assert_int_equal(seen, nonzero < limit ? nonzero : limit);
    free(tr);
    free(tc);
    free(ti);
    pyh_retention_free(&ret);
}

static void random_graph(struct fixture *f, uint32_t n, int shape)
{
    fixture_init(f, n, 1 + (uint32_t)(next_random() % 4));
    uint32_t **adj = calloc((size_t)n + 1, sizeof(uint32_t *)), *deg = calloc((size_t)n + 1, sizeof(uint32_t));
    for (uint32_t v = 0; v <= n; v++) {
        uint32_t k;
        switch (shape) {
        case 0: k = (uint32_t)(next_random() % 3); break;          /* sparse */
        case 1: k = (uint32_t)(next_random() % 8); break;          /* dense */
        case 2: k = next_random() % 3 ? 0 : (uint32_t)(next_random() % 6); break; /* leafy */
        default: k = 1; break;                                     /* chains and cycles */
        }
        if (v == n) k = 1 + (uint32_t)(next_random() % 4);
        adj[v] = malloc((k ? k : 1) * sizeof(uint32_t));
        for (uint32_t i = 0; i < k; i++) {
            uint32_t t = (uint32_t)(next_random() % n);
            if (shape == 3 && v < n && next_random() % 4) t = (v + 1) % n;
            if (i > 0 && next_random() % 5 == 0) t = adj[v][i - 1]; /* a duplicate edge */
            adj[v][i] = t;
        }
        deg[v] = k;
    }
    fixture_edges(f, adj, deg);
    for (uint32_t v = 0; v <= n; v++) free(adj[v]);
    free(adj);
    free(deg);
}

static void test_random_graphs(void **state)
{
    (void)state;
    for (int round = 0; round < 4000; round++) {
        struct fixture f;
        uint32_t n = 1 + (uint32_t)(next_random() % 100);
        random_graph(&f, n, round % 4);
        assert_null(pyh_reach_compute(&f.g, &f.r));
        assert_null(pyh_dominators_compute(&f.g, &f.r, &f.d));
        check_against_definition(&f);
        check_retention(&f, 1 + (size_t)(next_random() % 12), true);
        fixture_free(&f);
    }
}

/* head -> n0 -> n1 -> ... -> n(k-1), every node also referring to one class object, which
 * refers back to the head: idoms follow the list, the class is dominated by the root. */
static void test_deep_list(void **state)
{
    (void)state;
    const uint32_t k = 1000000;
    struct fixture f;
    fixture_init(&f, k + 1, 2);
    uint32_t cls = k, n = k + 1;
    for (uint32_t v = 0; v < n; v++) f.heap.objects[v].type = v == cls;
    uint32_t *deg = calloc((size_t)n + 1, sizeof(uint32_t)), **adj = calloc((size_t)n + 1, sizeof(uint32_t *));
    uint32_t *storage = malloc(((size_t)2 * n + 2) * sizeof(uint32_t));
    for (uint32_t v = 0; v < k; v++) {
        adj[v] = storage + 2 * v;
        adj[v][0] = cls;
        deg[v] = 1;
        if (v + 1 < k) adj[v][deg[v]++] = v + 1;
    }
    adj[cls] = storage + 2 * (size_t)cls;
    adj[cls][0] = 0;
    deg[cls] = 1;
    adj[n] = storage + 2 * (size_t)n;
    adj[n][0] = 0;
    adj[n][1] = cls;
    deg[n] = 2;
    fixture_edges(&f, adj, deg);
    free(storage);
    free(adj);
    free(deg);
    assert_null(pyh_reach_compute(&f.g, &f.r));
    assert_null(pyh_dominators_compute(&f.g, &f.r, &f.d));
    uint64_t tail = 0;
    for (uint32_t v = k; v-- > 0;) {
        tail += f.heap.objects[v].size;
        assert_int_equal(pyh_dom_idom(&f.d, v), v == 0 ? n : v - 1);
        assert_int_equal(pyh_dom_retained(&f.d, v), tail);
        assert_int_equal(pyh_dom_count(&f.d, v), k - v);
    }
    assert_int_equal(pyh_dom_idom(&f.d, cls), n);
    check_retention(&f, 20, false);
    /* Per type: the list counts once, at its head (the walk down the million-deep tree). */
    struct pyh_retention ret;
    assert_null(pyh_retention_compute(&f.g, &f.d, 20, &ret));
    assert_int_equal(ret.ntypes, 2);
    assert_int_equal(ret.types[0].type, 0);
    assert_int_equal(ret.types[0].retained, tail);
    assert_int_equal(ret.types[0].count, k);
    assert_int_equal(ret.types[0].instances, k);
    assert_int_equal(ret.types[1].type, 1);
    assert_int_equal(ret.types[1].retained, f.heap.objects[cls].size);
    assert_int_equal(ret.types[1].count, 1);
    pyh_retention_free(&ret);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_graphs),
        cmocka_unit_test(test_deep_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
