/* The first minute's verdict; see verdict.h. */
#include "analysis/verdict.h"

#include <stdlib.h>
#include <string.h>

#include "analysis/retention.h"
#include "util/interrupt.h"

static const char *const names[PYH_CAUSE_COUNT] = {
    [PYH_CAUSE_LIVE] = "live Python objects",
    [PYH_CAUSE_GARBAGE] = "cyclic garbage waiting for the collector",
    [PYH_CAUSE_NATIVE_OWNED] = "native memory owned by Python objects",
    [PYH_CAUSE_NATIVE_OTHER] = "native allocations no Python object owns",
    [PYH_CAUSE_PYMALLOC_FREE] = "free space inside pymalloc's arenas",
    [PYH_CAUSE_MALLOC_FREE] = "free space inside malloc's arenas",
    [PYH_CAUSE_STACKS] = "thread stacks",
    [PYH_CAUSE_OTHER] = "binaries, their data and other mappings",
};

static const char *const keys[PYH_CAUSE_COUNT] = {
    [PYH_CAUSE_LIVE] = "live_objects",
    [PYH_CAUSE_GARBAGE] = "cyclic_garbage",
    [PYH_CAUSE_NATIVE_OWNED] = "native_owned",
    [PYH_CAUSE_NATIVE_OTHER] = "native_unowned",
    [PYH_CAUSE_PYMALLOC_FREE] = "pymalloc_free",
    [PYH_CAUSE_MALLOC_FREE] = "malloc_free",
    [PYH_CAUSE_STACKS] = "stacks",
    [PYH_CAUSE_OTHER] = "other",
};

const char *pyh_cause_name(enum pyh_cause_kind kind) { return names[kind]; }
const char *pyh_cause_key(enum pyh_cause_kind kind) { return keys[kind]; }

/* a * b / c without overflow for the sizes of a process (128-bit intermediate). */
static uint64_t scale(uint64_t a, uint64_t b, uint64_t c)
{
    return c ? (uint64_t)((unsigned __int128)a * b / c) : 0;
}

/* The type that retains the most among the objects h dominates directly (its values, its
 * items, its attributes): what to ask `path --type` for. */
#define LEADING_TYPES 64
static void leading_type(const struct pyh_graph *g, const struct pyh_dominators *d,
                         struct pyh_holder *h)
{
    struct { uint32_t type; uint64_t bytes, count; } seen[LEADING_TYPES];
    size_t nseen = 0;
    for (uint32_t e = g->offsets[h->node]; e < g->offsets[h->node + 1]; e++) {
        uint32_t t = g->targets[e];
        if (t >= g->n || pyh_dom_idom(d, t) != h->node) continue;
        uint32_t type = g->heap->objects[t].type;
        size_t k = 0;
        while (k < nseen && seen[k].type != type) k++;
        if (k == nseen) {
            if (nseen == LEADING_TYPES) continue;
            seen[nseen++] = (typeof(seen[0])){type, 0, 0};
        }
        seen[k].bytes += pyh_dom_retained(d, t);
        seen[k].count++;
    }
    h->leading_type = UINT32_MAX;
    uint64_t best = 0;
    for (size_t k = 0; k < nseen; k++)
        if (seen[k].bytes > best) {
            best = seen[k].bytes;
            h->leading_type = seen[k].type;
            h->leading_count = seen[k].count;
        }
}

static struct pyh_error *find_holders(const struct pyh_graph *g, const struct pyh_reach *r,
                                      const struct pyh_dominators *d, struct pyh_verdict *v)
{
    struct pyh_retention ret;
    struct pyh_error *err = pyh_retention_compute(g, d, 0, &ret);
    if (err) return err;
    for (size_t i = 0; i < ret.nsuspects && v->nholders < PYH_VERDICT_HOLDERS && !err; i++) {
        struct pyh_holder *h = &v->holders[v->nholders++];
        h->node = ret.suspects[i].node;
        h->retained = ret.suspects[i].retained;
        h->count = ret.suspects[i].count;
        leading_type(g, d, h);
        struct pyh_error *e = pyh_path_expression(g, r, h->node, false, &h->expression);
        if (e && e->code == PYH_ERR_INTERRUPTED) err = e;
        else pyh_error_free(e); /* no expression: the report gives the address */
    }
    pyh_retention_free(&ret);
    return err;
}

static int by_bytes(const void *a, const void *b)
{
    const struct pyh_cause *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return (int)x->kind - (int)y->kind;
}

struct pyh_error *pyh_verdict_compute(const struct pyh_census *census,
                                      const struct pyh_fragmentation *frag,
                                      const struct pyh_garbage *known_garbage,
                                      const struct pyh_graph *g, const struct pyh_reach *r,
                                      const struct pyh_dominators *d,
                                      const struct pyh_native_owners *native,
                                      struct pyh_verdict *out)
{
    memset(out, 0, sizeof(*out));
    out->top_type = census->nrows ? census->rows[0].type : UINT32_MAX;
    out->top_garbage_type = UINT32_MAX;
    out->trim_releasable = frag->trim_releasable;
    out->resident = frag->resident_known;
    const struct pyh_memory_split *s = frag->resident_known ? &frag->split : &frag->mapped_split;

    struct pyh_error *err = NULL;
    uint64_t garbage = 0;
    struct pyh_garbage own = {0};
    const struct pyh_garbage *gb = known_garbage;
    if (!gb && g && r) {
        if ((err = pyh_garbage_compute(g, r, &own))) return err;
        gb = &own;
    }
    if (gb) {
        garbage = gb->bytes;
        out->garbage_count = gb->count;
        if (gb->ntypes) out->top_garbage_type = gb->types[0].type;
    }
    pyh_garbage_free(&own);
    if (g && r && d && (err = find_holders(g, r, d, out))) return err;

    /* The allocators' live blocks by what holds them, in allocator bytes (census). */
    uint64_t objects = census->rounding >= 0 ? census->size + (uint64_t)census->rounding
                       : census->size > (uint64_t)-census->rounding
                           ? census->size - (uint64_t)-census->rounding : 0;
    uint64_t garbage_alloc = scale(garbage, objects, census->size);
    if (garbage_alloc > objects) garbage_alloc = objects;
    uint64_t owned = native ? native->owned_bytes : 0;
    if (owned > census->native_bytes) owned = census->native_bytes;
    uint64_t alloc[4] = {objects - garbage_alloc, garbage_alloc, owned, census->native_bytes - owned};
    uint64_t alloc_total = alloc[0] + alloc[1] + alloc[2] + alloc[3];
    /* ... divided among the resident live bytes of the split, the remainder to live objects. */
    uint64_t used = s->pymalloc_used + s->glibc_used, given = 0;
    uint64_t part[4];
    for (int k = 1; k < 4; k++) given += part[k] = scale(used, alloc[k], alloc_total);
    part[0] = alloc_total ? used - given : 0;
    uint64_t unexplained = alloc_total ? 0 : used; /* no census: nothing to divide by */

    uint64_t bytes[PYH_CAUSE_COUNT] = {
        [PYH_CAUSE_LIVE] = part[0],
        [PYH_CAUSE_GARBAGE] = part[1],
        [PYH_CAUSE_NATIVE_OWNED] = part[2],
        [PYH_CAUSE_NATIVE_OTHER] = part[3] + unexplained,
        [PYH_CAUSE_PYMALLOC_FREE] = s->pymalloc_free,
        [PYH_CAUSE_MALLOC_FREE] = s->glibc_free,
        [PYH_CAUSE_STACKS] = s->stacks,
        [PYH_CAUSE_OTHER] = s->other,
    };
    for (int k = 0; k < PYH_CAUSE_COUNT; k++) out->total += bytes[k];
    for (int k = 0; k < PYH_CAUSE_COUNT; k++) {
        struct pyh_cause *c = &out->causes[k];
        c->kind = (enum pyh_cause_kind)k;
        c->bytes = bytes[k];
        c->share = out->total ? (double)bytes[k] / (double)out->total : 0;
        c->matters = c->bytes && c->share >= PYH_VERDICT_MATTERS;
    }
    qsort(out->causes, PYH_CAUSE_COUNT, sizeof(out->causes[0]), by_bytes);
    return pyh_check_interrupt();
}

void pyh_verdict_free(struct pyh_verdict *v)
{
    for (size_t i = 0; i < v->nholders; i++) free(v->holders[i].expression);
    v->nholders = 0;
}
