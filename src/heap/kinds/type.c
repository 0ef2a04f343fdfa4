/* type and its metatypes: a static type (PyTypeObject) or a heap type (PyHeapTypeObject,
 * with its cached keys of instance dicts). */
#include "heap/kinds/kind.h"
#include "runtime/objects.h"

static struct pyh_error *size(const struct pyh_heap *heap, const struct pyh_type *t, uint64_t obj,
                              const uint8_t *bytes, size_t avail, uint64_t *size)
{
    (void)t;
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t flags = 0, keys = 0, ksize = 0, refcnt;
    struct pyh_error *err = pyh_kind_field(heap, obj, bytes, avail, L->type_flags, 8, &flags);
    if (!err && (flags & PYH_TPFLAGS_HEAPTYPE)) {
        *size = (uint64_t)L->heaptype_size;
        err = pyh_kind_field(heap, obj, bytes, avail, L->heaptype_cached_keys, 8, &keys);
        if (!err && keys && !(err = pyh_dict_keys_size(heap, keys, &ksize, &refcnt, NULL)))
            *size += ksize;
    } else {
        *size = (uint64_t)L->type_size;
    }
    return err;
}

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    const struct pyh_layout *L = &w->heap->rt->layout;
    uint64_t flags = pyh_walk_read(w, obj + (uint64_t)L->type_flags);
    pyh_walk_field(w, obj, L->type_dict, "__dict__");
    pyh_walk_field(w, obj, L->type_mro, "__mro__");
    pyh_walk_field(w, obj, L->type_bases, "__bases__");
    pyh_walk_field(w, obj, L->type_base, "__base__");
    if (!(flags & PYH_TPFLAGS_HEAPTYPE)) return;
    pyh_walk_field(w, obj, L->heaptype_name, "__name__");
    pyh_walk_field(w, obj, L->heaptype_qualname, "__qualname__");
    pyh_walk_field(w, obj, L->heaptype_slots, "__slots__");
    pyh_walk_field(w, obj, L->heaptype_module, "__module__");
    struct pyh_ref ref = {.kind = PYH_REF_TYPE};
    pyh_walk_emit(w, pyh_walk_read(w, obj + (uint64_t)L->object_type), &ref); /* its metatype */
}

static void preview(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr, int depth,
                    char *buf, size_t cap, size_t *len)
{
    (void)t, (void)depth;
    uint32_t ci = pyh_heap_type_at(heap, addr);
    pyh_put(buf, cap, len, "<class '%s'>", ci != UINT32_MAX ? pyh_heap_type_name(heap, ci) : "?");
}

const struct pyh_kind pyh_kind_type = {
    .name = "type",
    .statics = {PYH_KIND_STATIC(type)},
    .size = size,
    .referents = referents,
    .preview = preview,
};
