/* sys.getsizeof(): the part of heap/sizeof.c that runs once per object of a census, inline in
 * the pass over every block (heap/build.c); the rules are described in sizeof.c. */
#ifndef PYH_HEAP_SIZEOF_H
#define PYH_HEAP_SIZEOF_H

#include "heap/heap_internal.h"
#include "heap/kinds/kind.h"
#include "runtime/objects.h"

/* object.__sizeof__: the basic size plus ob_size items. Inline: most objects of a census
 * (tuples, bytes, floats, class instances) are sized by it. */
static inline struct pyh_error *sizeof_items(const struct pyh_heap *heap, const struct pyh_type *t,
                                           uint64_t obj, const uint8_t *bytes, size_t avail,
                                           uint64_t *size)
{
    uint64_t v = 0;
    struct pyh_error *err = NULL;
    *size = (uint64_t)t->basicsize;
    if (t->itemsize > 0) {
        err = pyh_kind_field(heap, obj, bytes, avail, heap->rt->layout.var_size, 8, &v);
        int64_t n = (int64_t)v;
        *size += (uint64_t)(n < 0 ? -n : n) * (uint64_t)t->itemsize;
    }
    return err;
}

/* The pre-header sys.getsizeof adds to __sizeof__. */
static inline uint64_t sizeof_preheader(const struct pyh_heap *heap, const struct pyh_type *t, uint64_t obj,
                                 const uint8_t *bytes, size_t avail)
{
    int minor = heap->rt->minor;
    if (t->kind == PYH_KIND_TYPE) {
        /* Is the object itself a static type? */
        uint64_t flags = 0;
        struct pyh_error *err = pyh_kind_field(heap, obj, bytes, avail, heap->rt->layout.type_flags, 8, &flags);
        pyh_error_free(err);
        bool is_static = !(flags & PYH_TPFLAGS_HEAPTYPE);
        if (is_static && (minor <= 10 || minor >= 13)) return 0;
    }
    /* The GC head, and the 3.11+ managed-dict and weakref words: what the object's block
     * holds before it (pyh_heap_header_position). */
    return t->header_pos;
}

static inline __attribute__((always_inline)) struct pyh_error *
pyh_heap_sizeof_inline(const struct pyh_heap *heap, uint64_t obj, uint32_t ti, const uint8_t *bytes,
                       size_t avail, uint64_t *size)
{
    const struct pyh_type *t = &heap->types[ti];
    const struct pyh_kind *k = pyh_kinds[t->kind];
    struct pyh_error *err = k->size ? k->size(heap, t, obj, bytes, avail, size)
                                    : sizeof_items(heap, t, obj, bytes, avail, size);
    if (!err && t->sizeof_rule) err = pyh_sizeof_rule_extra(heap, t, obj, bytes, avail, size);
    if (err) return err;
    *size += sizeof_preheader(heap, t, obj, bytes, avail);
    return NULL;
}

#endif
