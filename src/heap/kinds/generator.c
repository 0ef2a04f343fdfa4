/* generator, coroutine and async generator (genobject.c gen_traverse): from 3.11 with their
 * frame embedded. */
#include "heap/kinds/kind.h"

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    const struct pyh_layout *L = &w->heap->rt->layout;
    /* What gen_traverse visits besides the frame: the code (to 3.11), the names, the
     * exception being handled. */
    pyh_walk_field(w, obj, L->gen_frame, "gi_frame");
    pyh_walk_field(w, obj, L->gen_code, "gi_code");
    pyh_walk_field(w, obj, L->gen_name, "__name__");
    pyh_walk_field(w, obj, L->gen_qualname, "__qualname__");
    pyh_walk_field(w, obj, L->gen_exc_type, "<exc_type>");
    pyh_walk_field(w, obj, L->gen_exc_value, "<exc_value>");
    pyh_walk_field(w, obj, L->gen_exc_traceback, "<exc_traceback>");
    if (L->gen_iframe < 0) return;
    /* 3.11+: the frame is embedded; gi_frame_state, the byte 5 before it (3.11-3.13), says
     * whether it is cleared (FRAME_CLEARED = 4): then its slots are stale, as gen_traverse
     * knows. */
    uint64_t f = obj + (uint64_t)L->gen_iframe;
    int8_t state = 4;
    pyh_error_free(pyh_target_read(w->heap->rt->target, f - 5, &state, 1));
    if (state < 4) pyh_kind_iframe(w, f, false);
}

const struct pyh_kind pyh_kind_generator = {
    .name = "generator",
    .statics = {PYH_KIND_STATIC(generator), PYH_KIND_STATIC(coroutine),
                PYH_KIND_STATIC(async_generator)},
    .least_size = pyh_kind_frame_least_size,
    .size = pyh_kind_frame_size,
    .referents = referents,
};
