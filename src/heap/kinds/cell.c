/* cell: a closure's variable (cellobject.c cell_traverse: ob_ref). */
#include "heap/kinds/kind.h"

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    pyh_walk_field(w, obj, w->heap->rt->layout.cell_ref, "cell_contents");
}

const struct pyh_kind pyh_kind_cell = {
    .name = "cell",
    .statics = {PYH_KIND_STATIC(cell)},
    .referents = referents,
};
