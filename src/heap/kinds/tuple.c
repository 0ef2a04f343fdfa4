/* tuple, and struct sequences (os.stat_result, time.struct_time ...), which have fields past
 * ob_size. 3.14+ caches the hash before the items (ob_item at +32). */
#include "heap/kinds/kind.h"
#include "runtime/objects.h"

/* A struct sequence type: its n_fields, the items each instance has (ob_size counts only the
 * visible ones); 0 for another tuple type. */
static void type_setup(struct pyh_heap *heap, struct pyh_type *t)
{
    if (t->c_size != t->basicsize || t->addr == heap->rt->types.tuple) return;
    uint64_t dict, value, n = 0;
    struct pyh_error *err = pyh_rt_read_ptr(heap->rt, t->addr, heap->rt->layout.type_dict, &dict);
    if (!err && dict) err = pyh_dict_get_str(heap->rt, dict, "n_fields", &value);
    if (!err && dict) err = pyh_long_read(heap->rt, value, (int64_t *)&n);
    pyh_error_free(err);
    t->structseq_fields = !err && dict && n < 1024 ? (uint32_t)n : 0;
}

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    uint64_t n = pyh_walk_read(w, obj + (uint64_t)L->var_size);
    pyh_walk_items(w, obj + (uint64_t)L->tuple_items,
                   n > t->structseq_fields ? n : t->structseq_fields, PYH_REF_ITEM, 0, 0);
}

static void preview(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr, int depth,
                    char *buf, size_t cap, size_t *len)
{
    uint64_t n = 0;
    struct pyh_error *err = pyh_read_u64(heap->rt->target, addr + (uint64_t)heap->rt->layout.var_size, &n);
    pyh_preview_sequence(heap, t, addr, err, n, addr + (uint64_t)heap->rt->layout.tuple_items,
                         depth, "(", ")", buf, cap, len);
}

static void details(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr,
                    struct pyh_details *d)
{
    (void)t;
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t n = 0;
    if (pyh_ok(pyh_read_u64(heap->rt->target, addr + (uint64_t)L->var_size, &n)) &&
        n < PYH_KIND_MAX_ITEMS)
        pyh_details_items(heap, d, addr + (uint64_t)L->tuple_items, n);
}

const struct pyh_kind pyh_kind_tuple = {
    .name = "tuple",
    .statics = {PYH_KIND_STATIC(tuple)},
    .literal = true,
    .self_contained = true,
    .any_step = "[*]",
    .type_setup = type_setup,
    .referents = referents,
    .preview = preview,
    .details = details,
};
