/* module (moduleobject.c module_traverse: md_dict, and what md_state holds when it is the
 * module's alone). */
#include "heap/kinds/kind.h"

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    pyh_walk_field(w, obj, L->module_dict, "__dict__");
    pyh_walk_field(w, obj, L->module_name, "__name__");
    pyh_walk_native_block(w, obj, t, (uint64_t)L->module_state,
                          pyh_walk_read(w, obj + (uint64_t)L->module_state));
}

static void preview(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr, int depth,
                    char *buf, size_t cap, size_t *len)
{
    (void)t, (void)depth;
    char name[256];
    pyh_str_field(heap, addr, heap->rt->layout.module_name, name, sizeof(name));
    pyh_put(buf, cap, len, "<module '%s'>", name);
}

const struct pyh_kind pyh_kind_module = {
    .name = "module",
    .statics = {PYH_KIND_STATIC(module)},
    .native_pointers = true,
    .referents = referents,
    .preview = preview,
};
