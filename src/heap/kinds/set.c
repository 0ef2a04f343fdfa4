/* set and frozenset: a table of (key, hash) entries, the small table inside the object until
 * it outgrows it (mask + 1 a power of two of at least 8). */
#include "heap/kinds/kind.h"

static void buffers(const struct pyh_layout *L, int32_t fields[2])
{
    fields[0] = L->set_table;
}

static uint64_t least_size(const struct pyh_heap *heap, const struct pyh_type *t,
                           const uint8_t *obj, size_t avail)
{
    const struct pyh_layout *L = &heap->rt->layout;
    if (avail < (size_t)L->set_mask + 8 || avail < (size_t)L->var_size + 8) return UINT64_MAX;
    uint64_t n = pyh_kind_word(obj, (size_t)L->set_mask);
    return n < PYH_KIND_MAX_ITEMS && n >= 7 && ((n + 1) & n) == 0 ? (uint64_t)t->basicsize
                                                                  : UINT64_MAX;
}

static struct pyh_error *size(const struct pyh_heap *heap, const struct pyh_type *t, uint64_t obj,
                              const uint8_t *bytes, size_t avail, uint64_t *size)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t table, v = 0;
    struct pyh_error *err = pyh_kind_field(heap, obj, bytes, avail, L->set_table, 8, &table);
    if (!err) err = pyh_kind_field(heap, obj, bytes, avail, L->set_mask, 8, &v);
    *size = (uint64_t)t->basicsize + (table != obj + (uint64_t)L->set_smalltable ? (v + 1) * 16 : 0);
    return err;
}

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    const struct pyh_layout *L = &w->heap->rt->layout;
    uint64_t mask = pyh_walk_read(w, obj + (uint64_t)L->set_mask);
    uint64_t table = pyh_walk_read(w, obj + (uint64_t)L->set_table);
    if (!table || mask >= PYH_WALK_MAX_ITEMS) return;
    uint64_t buf[2 * PYH_WALK_CHUNK];
    for (uint64_t i = 0; i <= mask && !w->stop; i += PYH_WALK_CHUNK) {
        size_t k = mask + 1 - i < PYH_WALK_CHUNK ? (size_t)(mask + 1 - i) : PYH_WALK_CHUNK;
        struct pyh_error *err = pyh_target_read(w->heap->rt->target, table + 16 * i, buf, 16 * k);
        if (err) {
            pyh_walk_lost(w, table + 16 * i, err);
            pyh_error_free(err);
            return;
        }
        for (size_t j = 0; j < k; j++) { /* (key, hash); hash -1 marks a deleted entry's dummy */
            if (!buf[2 * j] || (int64_t)buf[2 * j + 1] == -1) continue;
            struct pyh_ref ref = {.kind = PYH_REF_SET_ITEM};
            pyh_walk_emit(w, buf[2 * j], &ref);
        }
    }
}

void pyh_set_each_key(struct pyh_heap *heap, uint64_t addr, bool (*fn)(void *, uint64_t), void *ctx)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t mask, table;
    struct pyh_error *err = pyh_read_u64(heap->rt->target, addr + (uint64_t)L->set_mask, &mask);
    if (!err) err = pyh_read_u64(heap->rt->target, addr + (uint64_t)L->set_table, &table);
    if (err || mask >= (1ULL << 32)) {
        pyh_error_free(err);
        return;
    }
    for (uint64_t i = 0; i <= mask; i++) {
        uint64_t entry[2];
        if ((err = pyh_target_read(heap->rt->target, table + 16 * i, entry, 16))) {
            pyh_error_free(err);
            return;
        }
        if (entry[0] && (int64_t)entry[1] != -1 && !fn(ctx, entry[0])) return;
    }
}

struct set_preview {
    struct pyh_heap *heap;
    int depth;
    char *buf;
    size_t cap, *len, shown;
};

static bool put_key(void *ctx, uint64_t key)
{
    struct set_preview *sp = ctx;
    char inner[256];
    pyh_preview(sp->heap, key, sp->depth - 1, inner, sizeof(inner));
    pyh_put(sp->buf, sp->cap, sp->len, "%s%s", sp->shown++ ? ", " : "", inner);
    return sp->shown < PYH_PREVIEW_ITEMS;
}

static void preview(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr, int depth,
                    char *buf, size_t cap, size_t *len)
{
    bool frozen = t->addr == heap->rt->types.frozenset;
    struct set_preview sp = {heap, depth, buf, cap, len, 0};
    if (depth < 0) {
        pyh_put(buf, cap, len, "<%s>", pyh_heap_type_name(heap, (uint32_t)(t - heap->types)));
        return;
    }
    size_t start = *len;
    pyh_put(buf, cap, len, frozen ? "frozenset({" : "{");
    pyh_set_each_key(heap, addr, put_key, &sp);
    if (!sp.shown) { /* Python writes empty sets as set() and frozenset() */
        *len = start;
        buf[*len] = '\0';
        pyh_put(buf, cap, len, frozen ? "frozenset()" : "set()");
    } else {
        pyh_put(buf, cap, len, frozen ? "})" : "}");
    }
}

struct collect {
    struct pyh_heap *heap;
    struct pyh_details *d;
};

static bool add_key(void *ctx, uint64_t key)
{
    struct collect *c = ctx;
    pyh_details_add(c->heap, c->d, "", key);
    return c->d->nitems < sizeof(c->d->items) / sizeof(c->d->items[0]);
}

static void details(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr,
                    struct pyh_details *d)
{
    (void)t;
    struct collect c = {heap, d};
    uint64_t n = 0;
    if (pyh_ok(pyh_read_u64(heap->rt->target, addr + 24, &n))) d->length = (int64_t)n; /* used */
    pyh_set_each_key(heap, addr, add_key, &c);
}

const struct pyh_kind pyh_kind_set = {
    .name = "set",
    .statics = {PYH_KIND_STATIC(set), PYH_KIND_STATIC(frozenset)},
    .literal = true,
    .any_step = " {member}",
    .buffers = buffers,
    .least_size = least_size,
    .size = size,
    .referents = referents,
    .preview = preview,
    .details = details,
};
