/* BaseException and its subclasses (exceptions.c BaseException_traverse): the dict, args,
 * 3.11+ notes, traceback, context and cause. No exported symbol of the static types names
 * BaseException: it is found by tp_name. */
#include "heap/kinds/kind.h"

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    const struct pyh_layout *L = &w->heap->rt->layout;
    pyh_walk_field(w, obj, L->exc_dict, "__dict__");
    pyh_walk_field(w, obj, L->exc_args, "args");
    pyh_walk_field(w, obj, L->exc_notes, "__notes__");
    pyh_walk_field(w, obj, L->exc_traceback, "__traceback__");
    pyh_walk_field(w, obj, L->exc_context, "__context__");
    pyh_walk_field(w, obj, L->exc_cause, "__cause__");
}

const struct pyh_kind pyh_kind_exception = {
    .name = "BaseException",
    .c_names = {"BaseException"},
    .referents = referents,
};
