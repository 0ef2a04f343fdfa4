/* Every other type: class instances and C types without a reader of their own. Their
 * references are found generically (graph/referents.c: instance __dict__ and __slots__, a
 * conservative scan of C fields); `show` lists a class instance's attributes. */
#include "heap/kinds/kind.h"
#include "runtime/objects.h"

/* The attributes of an instance: __slots__ members (ht_slots names; the members follow the
 * base type's size in the same order) and its __dict__ as the version stores it. */
static void details(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr,
                    struct pyh_details *d)
{
    if (!t->heap) return;
    struct pyh_runtime *rt = heap->rt;
    d->items_are_attributes = true;
    uint64_t type, names;
    struct pyh_error *err = pyh_obj_type(rt, addr, &type);
    if (pyh_ok(err) && pyh_ok(pyh_rt_read_ptr(rt, type, rt->layout.heaptype_slots, &names)) && names) {
        uint64_t nslots = 0, base_type, base_size = 16;
        pyh_error_free(pyh_read_u64(rt->target, names + (uint64_t)rt->layout.var_size, &nslots));
        if (pyh_ok(pyh_rt_read_ptr(rt, type, rt->layout.type_base, &base_type)) && base_type)
            pyh_error_free(pyh_read_u64(rt->target, base_type + (uint64_t)rt->layout.type_basicsize, &base_size));
        for (uint64_t i = 0; i < nslots && i < 64; i++) {
            uint64_t name_obj, value;
            char name[256];
            if (!pyh_ok(pyh_tuple_item(rt, names, i, &name_obj)) ||
                !pyh_ok(pyh_str_read(rt, name_obj, name, sizeof(name), NULL)))
                break;
            if (!strcmp(name, "__dict__") || !strcmp(name, "__weakref__")) continue;
            if (!pyh_ok(pyh_read_u64(rt->target, addr + base_size + 8 * i, &value)) || !value) continue;
            pyh_details_add(heap, d, name, value);
        }
    }
    struct pyh_dict_iter it;
    uint64_t k, v;
    if (pyh_ok(pyh_instance_dict_iter(rt, addr, &it))) {
        while (d->nitems < 20 && pyh_dict_iter_next(&it, &k, &v)) {
            char name[256];
            struct pyh_error *e = pyh_str_read(rt, k, name, sizeof(name), NULL);
            if (!e) pyh_details_add(heap, d, name, v);
            pyh_error_free(e);
        }
        pyh_error_free(it.err);
    }
}

const struct pyh_kind pyh_kind_other = {
    .name = "object",
    .native_pointers = true,
    .details = details,
};
