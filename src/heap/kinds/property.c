/* property (descrobject.c property_traverse: fget, fset, fdel, doc, from 3.10 the name). */
#include "heap/kinds/kind.h"

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    const struct pyh_layout *L = &w->heap->rt->layout;
    pyh_walk_field(w, obj, L->property_get, "fget");
    pyh_walk_field(w, obj, L->property_get + 8, "fset");
    pyh_walk_field(w, obj, L->property_get + 16, "fdel");
    pyh_walk_field(w, obj, L->property_get + 24, "__doc__");
    pyh_walk_field(w, obj, L->property_name, "__name__");
}

const struct pyh_kind pyh_kind_property = {
    .name = "property",
    .statics = {PYH_KIND_STATIC(property)},
    .referents = referents,
};
