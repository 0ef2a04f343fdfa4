/* classmethod and staticmethod (funcobject.c cm_traverse, sm_traverse: the callable, the
 * __dict__). */
#include "heap/kinds/kind.h"

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    const struct pyh_layout *L = &w->heap->rt->layout;
    pyh_walk_field(w, obj, L->classmethod_callable, "__func__");
    pyh_walk_field(w, obj, L->classmethod_dict, "__dict__");
}

const struct pyh_kind pyh_kind_classmethod = {
    .name = "classmethod",
    .statics = {PYH_KIND_STATIC(classmethod), PYH_KIND_STATIC(staticmethod)},
    .referents = referents,
};
