/* sys.getsizeof() as the target's own Python version computes it: the type's __sizeof__
 * (object.__sizeof__: the basic size plus ob_size items, or the kind's own rule,
 * heap/kinds/), what an extension type's C __sizeof__ adds (heap/kinds/c_sizeof.c), plus
 * the pre-header getsizeof adds — the GC head for GC objects, and from 3.11 the
 * managed-dict/weakref words — with each version's exceptions for type objects:
 *   3.8-3.10  GC head only when the object itself is GC (tp_is_gc: static types are not);
 *   3.11-3.12 the GC head of every type object, static ones included;
 *   3.13      nothing for static type objects.
 * (Measured with sys.getsizeof on every interpreter; tests/integration checks it.) */
#include "heap/kinds/kind.h"
#include "runtime/objects.h"

#define MANAGED_WEAKREF (1UL << 3)

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

/* object.__sizeof__: the basic size plus ob_size items. Inline: most objects of a census
 * (tuples, bytes, floats, class instances) are sized by it. */
static inline struct pyh_error *size_items(const struct pyh_heap *heap, const struct pyh_type *t,
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
static inline uint64_t preheader(const struct pyh_heap *heap, const struct pyh_type *t, uint64_t obj,
                                 const uint8_t *bytes, size_t avail)
{
    int minor = heap->rt->minor;
    bool gc = (t->flags & PYH_TPFLAGS_HAVE_GC) != 0;
    if (t->kind == PYH_KIND_TYPE) {
        /* Is the object itself a static type? */
        uint64_t flags = 0;
        struct pyh_error *err = pyh_kind_field(heap, obj, bytes, avail, heap->rt->layout.type_flags, 8, &flags);
        pyh_error_free(err);
        bool is_static = !(flags & PYH_TPFLAGS_HEAPTYPE);
        if (is_static && (minor <= 10 || minor >= 13)) return 0;
    }
    uint64_t pre = gc ? 16 : 0;
    if (minor == 11 && (t->flags & PYH_TPFLAGS_MANAGED_DICT)) pre += 16;
    if (minor >= 12 && (t->flags & (PYH_TPFLAGS_MANAGED_DICT | MANAGED_WEAKREF))) pre += 16;
    return pre;
}

struct pyh_error *pyh_heap_sizeof(const struct pyh_heap *heap, uint64_t obj, uint32_t ti,
                                  const uint8_t *bytes, size_t avail, uint64_t *size)
{
    const struct pyh_type *t = &heap->types[ti];
    const struct pyh_kind *k = pyh_kinds[t->kind];
    struct pyh_error *err = k->size ? k->size(heap, t, obj, bytes, avail, size)
                                    : size_items(heap, t, obj, bytes, avail, size);
    if (!err && t->sizeof_rule) err = pyh_sizeof_rule_extra(heap, t, obj, bytes, avail, size);
    if (err) return err;
    *size += preheader(heap, t, obj, bytes, avail);
    return NULL;
}

struct pyh_error *pyh_object_sizeof(struct pyh_heap *heap, uint64_t addr, uint32_t t,
                                    uint64_t *size)
{
    return pyh_heap_sizeof(heap, addr, t, NULL, 0, size);
}
