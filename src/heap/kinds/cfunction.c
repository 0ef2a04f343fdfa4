/* builtin_function_or_method (methodobject.c meth_traverse: m_self, m_module). */
#include "heap/kinds/kind.h"

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    const struct pyh_layout *L = &w->heap->rt->layout;
    pyh_walk_field(w, obj, L->cfunction_self, "__self__");
    pyh_walk_field(w, obj, L->cfunction_module, "__module__");
}

const struct pyh_kind pyh_kind_cfunction = {
    .name = "builtin_function_or_method",
    .statics = {PYH_KIND_STATIC(cfunction)},
    .referents = referents,
};
