/* method: a bound method (classobject.c method_traverse: im_func, im_self). */
#include "heap/kinds/kind.h"

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    const struct pyh_layout *L = &w->heap->rt->layout;
    pyh_walk_field(w, obj, L->method_func, "__func__");
    pyh_walk_field(w, obj, L->method_self, "__self__");
}

const struct pyh_kind pyh_kind_method = {
    .name = "method",
    .statics = {PYH_KIND_STATIC(method)},
    .referents = referents,
};
