/* Cyclic garbage; see garbage.h. */
#include "analysis/garbage.h"

#include <stdlib.h>
#include <string.h>

#include "analysis/retention.h"
#include "runtime/refcount.h"
#include "util/interrupt.h"

#define HELD UINT32_MAX /* ext[v]: held by a reference not followed (or not to be trusted) */
#define REACHED (UINT32_MAX - 1) /* ext[v]: reached from a root (or a static object) */

static int more_bytes(const void *a, const void *b)
{
    const struct pyh_garbage_type *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    return x->type < y->type ? -1 : x->type > y->type;
}

struct pyh_error *pyh_garbage_compute(const struct pyh_graph *g, const struct pyh_reach *r,
                                      struct pyh_garbage *out)
{
    memset(out, 0, sizeof(*out));
    const struct pyh_heap *heap = g->heap;
    uint32_t n = g->n;
    out->n = n;
    out->bits = calloc((size_t)n / 64 + 1, sizeof(uint64_t));
    /* ext[v] for an unreachable object: its references from unreachable objects, counted
     * with multiplicity (a tuple (x, x) holds x twice, as its count does), then its count
     * minus those; REACHED and HELD mark the others. Reached objects refer to no unreachable
     * one (else it would be reached): their edges need no look. */
    uint32_t *ext = calloc((size_t)n + 1, sizeof(uint32_t));
    uint32_t *queue = NULL;
    struct pyh_error *err = out->bits && ext ? NULL : pyh_error_nomem();
    for (uint32_t v = 0; v < n && !err; v++)
        if (r->parent[v] != PYH_UNREACHED || heap->locations[v] == PYH_LOC_STATIC) ext[v] = REACHED;
    for (uint32_t v = 0; v < n && !err; v++) {
        if (ext[v] == REACHED) continue;
        for (uint64_t e = g->offsets[v]; e < g->offsets[v + 1]; e++) {
            uint32_t w = PYH_EDGE_INDEX(g->targets[e]);
            if (ext[w] < REACHED - 1) ext[w]++;
        }
    }
    /* The count against the references found: equal, the object may be garbage; above,
     * something not followed holds it; below, an edge was wrong: trust nothing. */
    size_t nq = 0;
    if (!err && !(queue = malloc(((size_t)n + 1) * sizeof(uint32_t)))) err = pyh_error_nomem();
    for (uint32_t v = 0; v < n && !err; v++) {
        if (ext[v] == REACHED) continue;
        struct pyh_refcnt rc;
        struct pyh_error *e = pyh_refcnt_read(heap->rt, heap->objects[v].addr, &rc);
        bool immortal = rc.immortal;
        int64_t refcnt = (int64_t)rc.count;
        if (e) {
            if (e->code == PYH_ERR_INTERRUPTED)
                err = e;
            else
                pyh_error_free(e);
        }
        if (e || immortal || refcnt != (int64_t)ext[v]) {
            ext[v] = HELD;
            queue[nq++] = v;
        } else {
            ext[v] = 0;
        }
        if (!err && (v & 0xffff) == 0) err = pyh_check_interrupt();
    }
    /* What a held object refers to is held too. */
    for (size_t head = 0; head < nq && !err; head++) {
        uint32_t v = queue[head];
        for (uint64_t e = g->offsets[v]; e < g->offsets[v + 1]; e++) {
            uint32_t w = PYH_EDGE_INDEX(g->targets[e]);
            if (ext[w] != 0) continue;
            ext[w] = HELD;
            queue[nq++] = w;
        }
    }
    free(queue);
    size_t ntypes = heap->ntypes ? heap->ntypes : 1;
    struct pyh_garbage_type *types = err ? NULL : calloc(ntypes, sizeof(*types));
    if (!err && !types) err = pyh_error_nomem();
    for (uint32_t v = 0; v < n && !err; v++) {
        if (ext[v] == REACHED) continue;
        uint64_t size = pyh_heap_object_size(heap, v);
        if (ext[v] == HELD) {
            out->held_count++;
            out->held_bytes += size;
            continue;
        }
        out->bits[v >> 6] |= 1ULL << (v & 63);
        out->count++;
        out->bytes += size;
        types[heap->objects[v].type].count++;
        types[heap->objects[v].type].bytes += size;
    }
    free(ext);
    if (err) {
        free(types);
        pyh_garbage_free(out);
        return err;
    }
    size_t k = 0;
    for (size_t i = 0; i < heap->ntypes; i++) {
        types[i].type = (uint32_t)i;
        if (types[i].count) types[k++] = types[i];
    }
    qsort(types, k, sizeof(*types), more_bytes);
    out->types = types;
    out->ntypes = k;
    return NULL;
}

void pyh_garbage_free(struct pyh_garbage *gb)
{
    free(gb->bits);
    free(gb->types);
    memset(gb, 0, sizeof(*gb));
}
