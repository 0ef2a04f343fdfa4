/* numpy.ndarray (PyArrayObject_fields, numpy 1.x): its base and dtype, the memory handler
 * capsule (numpy >= 1.22) and, for an object array that owns its data, the elements. */
#include "heap/kinds/kind.h"

#define NDARRAY_DATA 16
#define NDARRAY_ND 24
#define NDARRAY_DIMS 32
#define NDARRAY_BASE 48
#define NDARRAY_DESCR 56
#define NDARRAY_FLAGS 64
#define NDARRAY_MEM_HANDLER 88
#define NDARRAY_OWNDATA 0x4
#define NDARRAY_C_CONTIGUOUS 0x1
#define NDARRAY_OBJECT 17 /* NPY_OBJECT: the type number of object arrays */
#define DESCR_TYPE_NUM 28
#define NDARRAY_MAX_DIMS 64

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = "base"};
    pyh_walk_emit(w, pyh_walk_read(w, obj + NDARRAY_BASE), &ref);
    uint64_t descr = pyh_walk_read(w, obj + NDARRAY_DESCR);
    ref.name = "dtype";
    pyh_walk_emit(w, descr, &ref);
    if (t->basicsize >= NDARRAY_MEM_HANDLER + 8) {
        ref.name = "<mem_handler>";
        uint64_t h = pyh_walk_read(w, obj + NDARRAY_MEM_HANDLER);
        if (pyh_walk_is_object(w->heap, h)) pyh_walk_emit(w, h, &ref);
    }
    int32_t type_num = 0, nd = 0, flags = 0;
    pyh_error_free(pyh_target_read(w->heap->rt->target, descr + DESCR_TYPE_NUM, &type_num, 4));
    pyh_error_free(pyh_target_read(w->heap->rt->target, obj + NDARRAY_ND, &nd, 4));
    pyh_error_free(pyh_target_read(w->heap->rt->target, obj + NDARRAY_FLAGS, &flags, 4));
    if (type_num != NDARRAY_OBJECT || !(flags & NDARRAY_OWNDATA) ||
        !(flags & NDARRAY_C_CONTIGUOUS) || nd < 0 || nd > NDARRAY_MAX_DIMS)
        return;
    uint64_t dims = pyh_walk_read(w, obj + NDARRAY_DIMS), n = 1;
    for (int k = 0; k < nd && n < PYH_WALK_MAX_ITEMS; k++) {
        uint64_t d = pyh_walk_read(w, dims + 8 * (uint64_t)k);
        n = d >= PYH_WALK_MAX_ITEMS ? PYH_WALK_MAX_ITEMS : n * d;
    }
    pyh_walk_items(w, pyh_walk_read(w, obj + NDARRAY_DATA), n, PYH_REF_ITEM, 0, 0);
}

const struct pyh_kind pyh_kind_ndarray = {
    .name = "numpy.ndarray",
    .c_names = {"numpy.ndarray"},
    .native_pointers = true,
    .referents = referents,
};
