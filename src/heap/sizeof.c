/* sys.getsizeof() as the target's own Python version computes it: the type's __sizeof__
 * (object.__sizeof__: the basic size plus ob_size items, or the kind's own rule,
 * heap/kinds/), what an extension type's C __sizeof__ adds (heap/kinds/c_sizeof.c), plus
 * the pre-header getsizeof adds — the GC head for GC objects, and from 3.11 the
 * managed-dict/weakref words — with each version's exceptions for type objects:
 *   3.8-3.10  GC head only when the object itself is GC (tp_is_gc: static types are not);
 *   3.11-3.12 the GC head of every type object, static ones included;
 *   3.13      nothing for static type objects.
 * (Measured with sys.getsizeof on every interpreter; tests/integration checks it.) */
#include "heap/sizeof.h"

struct pyh_error *pyh_kind_var_len(const struct pyh_heap *heap, uint64_t obj, uint64_t *n)
{
    *n = 0;
    if (!obj) return NULL;
    struct pyh_error *err = pyh_kind_field(heap, obj, NULL, 0, heap->rt->layout.var_size, 8, n);
    if (!err && *n >= PYH_KIND_MAX_ITEMS)
        err = pyh_error_create(PYH_ERR_CORRUPT, "object at 0x%llx has %llu items",
                               (unsigned long long)obj, (unsigned long long)*n);
    return err;
}

struct pyh_error *pyh_heap_sizeof(const struct pyh_heap *heap, uint64_t obj, uint32_t ti,
                                  const uint8_t *bytes, size_t avail, uint64_t *size)
{
    return pyh_heap_sizeof_inline(heap, obj, ti, bytes, avail, size);
}

struct pyh_error *pyh_object_sizeof(struct pyh_heap *heap, uint64_t addr, uint32_t t,
                                    uint64_t *size)
{
    return pyh_heap_sizeof(heap, addr, t, NULL, 0, size);
}
