/* datetime.time and datetime.datetime (_datetimemodule.c): hastzinfo, the byte after the
 * header and the hash, says whether the last field, tzinfo, exists: a naive one is allocated
 * without it, 8 bytes short of its basic size. */
#include "heap/kinds/kind.h"

#define HASTZINFO 24 /* _PyDateTime_TIMEHEAD: after the object header and the hash */

static uint64_t least_size(const struct pyh_heap *heap, const struct pyh_type *t,
                           const uint8_t *obj, size_t avail)
{
    if (avail > HASTZINFO && !obj[HASTZINFO]) return (uint64_t)t->basicsize - 8;
    return pyh_kind_least_size_items(heap, t, obj, avail);
}

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    uint8_t aware = 0;
    pyh_error_free(pyh_read_u8(w->heap->rt->target, obj + HASTZINFO, &aware));
    if (aware) pyh_walk_field(w, obj, (int32_t)t->basicsize - 8, "tzinfo");
}

const struct pyh_kind pyh_kind_datetime = {
    .name = "datetime.datetime",
    .c_names = {"datetime.time", "datetime.datetime"},
    .least_size = least_size,
    .referents = referents,
};
