/* list: ob_size items in a buffer of `allocated` slots (its own block). */
#include "heap/kinds/kind.h"

static void buffers(const struct pyh_layout *L, int32_t fields[2])
{
    fields[0] = L->list_items;
}

/* allocated >= ob_size, both counts. */
static uint64_t least_size(const struct pyh_heap *heap, const struct pyh_type *t,
                           const uint8_t *obj, size_t avail)
{
    const struct pyh_layout *L = &heap->rt->layout;
    if (avail < (size_t)L->list_allocated + 8 || avail < (size_t)L->var_size + 8) return UINT64_MAX;
    uint64_t n = pyh_kind_word(obj, (size_t)L->list_allocated), size = pyh_kind_word(obj, (size_t)L->var_size);
    return n < PYH_KIND_MAX_ITEMS && size <= n ? (uint64_t)t->basicsize : UINT64_MAX;
}

static struct pyh_error *size(const struct pyh_heap *heap, const struct pyh_type *t, uint64_t obj,
                              const uint8_t *bytes, size_t avail, uint64_t *size)
{
    uint64_t v = 0;
    struct pyh_error *err = pyh_kind_field(heap, obj, bytes, avail, heap->rt->layout.list_allocated, 8, &v);
    *size = (uint64_t)t->basicsize + 8 * v;
    return err;
}

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    const struct pyh_layout *L = &w->heap->rt->layout;
    pyh_walk_items(w, pyh_walk_own(w, obj + (uint64_t)L->list_items),
                   pyh_walk_own(w, obj + (uint64_t)L->var_size), PYH_REF_ITEM, 0, 0);
}

static void preview(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr, int depth,
                    char *buf, size_t cap, size_t *len)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t n = 0, items = 0;
    struct pyh_error *err = pyh_read_u64(heap->rt->target, addr + (uint64_t)L->var_size, &n);
    if (!err) err = pyh_read_u64(heap->rt->target, addr + (uint64_t)L->list_items, &items);
    pyh_preview_sequence(heap, t, addr, err, n, items, depth, "[", "]", buf, cap, len);
}

static void details(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr,
                    struct pyh_details *d)
{
    (void)t;
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t n = 0, items;
    if (!pyh_ok(pyh_read_u64(heap->rt->target, addr + (uint64_t)L->var_size, &n)) ||
        n >= PYH_KIND_MAX_ITEMS)
        return;
    if (pyh_ok(pyh_read_u64(heap->rt->target, addr + (uint64_t)L->list_items, &items)))
        pyh_details_items(heap, d, items, n);
    else
        d->length = (int64_t)n;
}

const struct pyh_kind pyh_kind_list = {
    .name = "list",
    .statics = {PYH_KIND_STATIC(list)},
    .literal = true,
    .any_step = "[*]",
    .buffers = buffers,
    .least_size = least_size,
    .size = size,
    .referents = referents,
    .preview = preview,
    .details = details,
};
