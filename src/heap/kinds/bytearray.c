/* bytearray: its bytes in a buffer of its own (3.15: a bytes object, ob_bytes_object). No
 * references. */
#include "heap/kinds/kind.h"

static void buffers(const struct pyh_layout *L, int32_t fields[2])
{
    fields[0] = L->bytearray_bytes;
}

/* ob_alloc > ob_size (room for the trailing NUL), or both 0 without a buffer (3.15: ob_alloc,
 * the size of the bytes object that holds the buffer, NUL outside the count, >= ob_size). */
static uint64_t least_size(const struct pyh_heap *heap, const struct pyh_type *t,
                           const uint8_t *obj, size_t avail)
{
    const struct pyh_layout *L = &heap->rt->layout;
    if (avail < (size_t)L->bytearray_alloc + 8 || avail < (size_t)L->var_size + 8) return UINT64_MAX;
    uint64_t n = pyh_kind_word(obj, (size_t)L->bytearray_alloc), size = pyh_kind_word(obj, (size_t)L->var_size);
    if (n >= PYH_KIND_MAX_ITEMS) return UINT64_MAX;
    bool plausible = L->bytearray_bytes_object >= 0 ? size <= n : n ? size < n : size == 0;
    return plausible ? (uint64_t)t->basicsize : UINT64_MAX;
}

static struct pyh_error *size(const struct pyh_heap *heap, const struct pyh_type *t, uint64_t obj,
                              const uint8_t *bytes, size_t avail, uint64_t *size)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t v = 0, base = (uint64_t)t->basicsize;
    struct pyh_error *err = pyh_kind_field(heap, obj, bytes, avail, L->bytearray_alloc, 8, &v);
    /* 3.15: the buffer is a bytes object of ob_alloc bytes (ob_bytes_object), counted
     * whole — its header and NUL too — unless it is the empty one (measured:
     * getsizeof(bytearray(n)) = 64 + 33 + n for n > 0, 64 for n = 0). */
    if (L->bytearray_bytes_object >= 0)
        *size = base + (v ? (uint64_t)L->bytes_sval + 1 + v : 0);
    else
        *size = base + v;
    return err;
}

const struct pyh_kind pyh_kind_bytearray = {
    .name = "bytearray",
    .statics = {PYH_KIND_STATIC(bytearray)},
    .buffers = buffers,
    .least_size = least_size,
    .size = size,
};
