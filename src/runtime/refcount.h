/* The reference-count word of an object header (its first 8 bytes), as each version keeps
 * it: the one place that knows its format.
 *
 * 3.8-3.11: a plain Py_ssize_t. 3.12-3.13: the same word; a count of 2^31 or more in its low
 * 32 bits is immortal (immortal objects start at 2^32 - 1). 3.14+: a union of
 * `uint32_t ob_refcnt; uint16_t ob_overflow; uint16_t ob_flags` (little-endian): the count is
 * the low 32 bits (Py_INCREF saturates it at 3 << 30, never carrying into ob_overflow), it is
 * immortal from 2^31 (_Py_IsImmortal: (int32_t)ob_refcnt < 0), and ob_flags has bit 0 for an
 * object made immortal at run time and bit 2 for a statically allocated one
 * (_Py_IMMORTAL_FLAGS, _Py_STATICALLY_ALLOCATED_FLAG; Include/object.h, refcount.h 3.14). */
#ifndef PYH_RUNTIME_REFCOUNT_H
#define PYH_RUNTIME_REFCOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/runtime.h"

#define PYH_REFCNT_MAX (1ULL << 40) /* 3.8-3.13: above, a pointer, not a count */
#define PYH_REFCNT_IMMORTAL_MIN (1ULL << 31)
#define PYH_OB_FLAGS_IMMORTAL 1u
#define PYH_OB_FLAGS_STATIC 4u
#define PYH_OB_FLAGS_KNOWN 7u /* bit 1 is unused in release builds; 3 is free-threaded debug */

struct pyh_refcnt {
    uint64_t count; /* the reference count (3.14+: ob_refcnt alone) */
    bool plausible; /* the word can be a live object's: count > 0, no stray high bits */
    bool immortal;  /* 3.12+: an immortal object (the count means nothing) */
    bool is_static; /* 3.14+: ob_flags says statically allocated */
};

static inline struct pyh_refcnt pyh_refcnt_decode(const struct pyh_runtime *rt, uint64_t word)
{
    struct pyh_refcnt r = {0};
    if (rt->minor >= 14) {
        uint32_t overflow = (uint32_t)(word >> 32) & 0xffff, flags = (uint32_t)(word >> 48);
        r.count = word & 0xffffffffu;
        r.plausible = r.count != 0 && overflow == 0 && (flags & ~PYH_OB_FLAGS_KNOWN) == 0;
        r.immortal = r.count >= PYH_REFCNT_IMMORTAL_MIN;
        r.is_static = (flags & PYH_OB_FLAGS_STATIC) != 0;
        return r;
    }
    r.count = word;
    r.plausible = word != 0 && word <= PYH_REFCNT_MAX;
    r.immortal = rt->minor >= 12 && word >= PYH_REFCNT_IMMORTAL_MIN;
    return r;
}

#endif
