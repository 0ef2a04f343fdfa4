/* Native memory with an owner; see native.h. */
#include "analysis/native.h"

#include <stdlib.h>
#include <string.h>

#include "graph/referents.h"
#include "util/interrupt.h"
#include "util/mem.h"

#define NONE UINT32_MAX
#define SCAN_MAX 4096        /* bytes of a block read for pointers to other blocks */
#define MAX_CLIMB (1u << 20) /* steps up the dominator tree for one join; past it: the root */

struct flood {
    const struct pyh_graph *g; /* NULL: the strict rule, without dominators */
    const struct pyh_dominators *d;
    uint32_t shared; /* the label of a block with no single owner */
    struct pyh_heap *heap;
    uint32_t *label; /* per native block: its owner so far (a node), NONE when unreached */
    uint32_t *queue; /* blocks whose label changed, to scan */
    size_t nqueue, queue_cap;
    uint32_t seed;           /* the object whose fields are being read */
    struct pyh_u64map marks; /* the ancestors of one side of a join */
    struct pyh_error *err;
};

/* The nearest common dominator of nodes a and b (n, the virtual root, when they have none
 * below it). */
static uint32_t common_dominator(struct flood *f, uint32_t a, uint32_t b)
{
    uint32_t root = f->g->n;
    if (a == b || a == root || b == root) return a == b ? a : root;
    pyh_u64map_free(&f->marks);
    uint32_t steps = 0;
    for (uint32_t v = a; steps < MAX_CLIMB; steps++) {
        if ((f->err = pyh_u64map_put(&f->marks, v, 1))) return root;
        if (v == root) break;
        v = pyh_dom_idom(f->d, v);
        if (v == PYH_UNREACHED) return root;
    }
    for (uint32_t v = b; steps < 2 * MAX_CLIMB; steps++) {
        if (pyh_u64map_get(&f->marks, v, NULL)) return v;
        if (v == root) return root;
        v = pyh_dom_idom(f->d, v);
        if (v == PYH_UNREACHED) return root;
    }
    return root;
}

static void join(struct flood *f, size_t b, uint32_t owner)
{
    uint32_t old = f->label[b];
    uint32_t now = old == NONE || old == owner ? owner
                   : !f->d                     ? f->shared
                                               : common_dominator(f, old, owner);
    if (now == old || f->err) return;
    f->label[b] = now;
    if (f->nqueue == f->queue_cap && (f->err = PYH_GROW(f->queue, f->queue_cap, f->nqueue + 1)))
        return;
    f->queue[f->nqueue++] = (uint32_t)b;
}

static void seed(void *ctx, size_t b)
{
    struct flood *f = ctx;
    join(f, b, f->seed);
}

/* The blocks a block's words point to get its owner too. */
static void scan(struct flood *f, uint32_t b)
{
    const struct pyh_native_block *blk = &f->heap->native_blocks[b];
    uint64_t buf[SCAN_MAX / 8], size = blk->size < SCAN_MAX ? blk->size : SCAN_MAX;
    struct pyh_error *err =
        pyh_target_read(f->heap->rt->target, blk->addr, buf, (size_t)size & ~(size_t)7);
    if (err) {
        pyh_error_free(err);
        return;
    }
    for (uint64_t k = 0; k < size / 8 && !f->err; k++) {
        if (!buf[k] || (buf[k] & 7) || buf[k] == blk->addr) continue;
        size_t c = pyh_heap_native_at(f->heap, buf[k]);
        if (c != SIZE_MAX) join(f, c, f->label[b]);
    }
}

static int more_native(const void *a, const void *b)
{
    const struct pyh_native_type *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    return x->type < y->type ? -1 : x->type > y->type;
}

/* Labels every native block reached from the objects' C fields (all objects, or those d
 * reaches) with its owner, to a fixed point: a label only climbs (the dominator tree, or to
 * shared), so each block is queued a bounded number of times. f->label is the caller's. */
static struct pyh_error *flood(struct flood *f)
{
    struct pyh_heap *heap = f->heap;
    f->label = malloc(heap->nnative_blocks * sizeof(uint32_t));
    if (!f->label) return pyh_error_nomem();
    memset(f->label, 0xff, heap->nnative_blocks * sizeof(uint32_t));
    uint8_t *holds = pyh_referents_native_types(heap);
    if (!holds) f->err = pyh_error_nomem();
    for (size_t v = 0; v < heap->nobjects && !f->err; v++) {
        if (!holds[heap->objects[v].type]) continue;
        if (f->d && pyh_dom_idom(f->d, (uint32_t)v) == PYH_UNREACHED) continue;
        f->seed = (uint32_t)v;
        pyh_referents_native_fields(heap, v, seed, f);
        if (!f->err && pyh_interrupted()) f->err = pyh_check_interrupt(); /* a flag load */
    }
    free(holds);
    while (f->nqueue && !f->err) {
        uint32_t b = f->queue[--f->nqueue];
        scan(f, b);
        if (!f->err && pyh_interrupted()) f->err = pyh_check_interrupt();
    }
    free(f->queue);
    pyh_u64map_free(&f->marks);
    f->queue = NULL;
    if (f->err) {
        free(f->label);
        f->label = NULL;
    }
    return f->err;
}

struct pyh_error *pyh_native_by_type(struct pyh_heap *heap, struct pyh_native_type **out, size_t *n,
                                     uint64_t *owned_bytes)
{
    *out = NULL;
    *n = 0;
    *owned_bytes = 0;
    if (!heap->nnative_blocks) return NULL;
    struct flood f = {.heap = heap, .shared = UINT32_MAX - 1};
    struct pyh_error *err = flood(&f);
    if (err) return err;
    struct pyh_native_type *types = calloc(heap->ntypes ? heap->ntypes : 1, sizeof(*types));
    if (!types) {
        free(f.label);
        return pyh_error_nomem();
    }
    for (size_t b = 0; b < heap->nnative_blocks; b++) {
        uint32_t owner = f.label[b];
        if (owner >= f.shared) continue;
        struct pyh_native_type *t = &types[heap->objects[owner].type];
        t->bytes += heap->native_blocks[b].size;
        t->blocks++;
        *owned_bytes += heap->native_blocks[b].size;
    }
    free(f.label);
    size_t k = 0;
    for (size_t i = 0; i < heap->ntypes; i++) {
        types[i].type = (uint32_t)i;
        if (types[i].blocks) types[k++] = types[i];
    }
    qsort(types, k, sizeof(*types), more_native);
    *out = types;
    *n = k;
    return NULL;
}

struct pyh_error *pyh_native_owners_compute(const struct pyh_graph *g, struct pyh_dominators *d,
                                            struct pyh_native_owners *out)
{
    memset(out, 0, sizeof(*out));
    struct pyh_heap *heap = g->heap;
    if (!heap->nnative_blocks) return NULL;
    struct flood f = {.g = g, .d = d, .heap = heap, .shared = g->n};
    struct pyh_error *err = flood(&f);
    if (err) return err;
    for (size_t b = 0; b < heap->nnative_blocks && !f.err; b++) {
        uint32_t owner = f.label[b];
        uint64_t size = heap->native_blocks[b].size, had = 0;
        if (owner == NONE) continue;
        if (owner == g->n) {
            out->shared_bytes += size;
            out->shared_blocks++;
            continue;
        }
        if (pyh_dom_slot(d, owner) == UINT32_MAX) owner = pyh_dom_idom(d, owner); /* a leaf */
        out->owned_bytes += size;
        out->owned_blocks++;
        pyh_u64map_get(&out->bytes, owner, &had);
        f.err = pyh_u64map_put(&out->bytes, owner, had + size);
    }
    free(f.label);
    if (f.err) {
        pyh_native_owners_free(out);
        return f.err;
    }
    /* Into the retained sizes: the owner's and every dominator's above it. */
    for (size_t k = 0; k < out->bytes.cap; k++) {
        if (out->bytes.keys[k] == UINT64_MAX) continue;
        uint32_t v = (uint32_t)out->bytes.keys[k];
        uint64_t bytes = out->bytes.values[k];
        for (uint32_t steps = 0; steps < UINT32_MAX; steps++) {
            uint32_t s = pyh_dom_slot(d, v);
            if (s != UINT32_MAX) d->retained[s] += bytes;
            if (v == g->n) break;
            v = pyh_dom_idom(d, v);
            if (v == PYH_UNREACHED) break;
        }
    }
    return NULL;
}

void pyh_native_owners_free(struct pyh_native_owners *o)
{
    pyh_u64map_free(&o->bytes);
    memset(o, 0, sizeof(*o));
}
