/* weakref.ref and its proxies: the referent is no strong reference; the callback is. */
#include "heap/kinds/kind.h"

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    pyh_walk_field(w, obj, w->heap->rt->layout.weakref_callback, "__callback__");
}

const struct pyh_kind pyh_kind_weakref = {
    .name = "weakref",
    .statics = {PYH_KIND_STATIC(weakref_ref), PYH_KIND_STATIC(weakref_proxy),
                PYH_KIND_STATIC(weakref_callable_proxy)},
    .referents = referents,
};
