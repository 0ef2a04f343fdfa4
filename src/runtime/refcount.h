/* The reference-count word of an object header (its first 8 bytes), as each version keeps
 * it: the one place that knows its format.
 *
 * 3.8-3.11: a plain Py_ssize_t. 3.12-3.13: the same word; a count of 2^31 or more in its low
 * 32 bits is immortal (immortal objects start at 2^32 - 1). 3.14+: a union of
 * `uint32_t ob_refcnt; uint16_t ob_overflow; uint16_t ob_flags` (little-endian): the count is
 * the low 32 bits (Py_INCREF saturates it at 3 << 30, never carrying into ob_overflow), it is
 * immortal from 2^31 (_Py_IsImmortal: (int32_t)ob_refcnt < 0), and ob_flags has bit 0 for an
 * object made immortal at run time and bit 2 for a statically allocated one
 * (_Py_IMMORTAL_FLAGS, _Py_STATICALLY_ALLOCATED_FLAG; Include/object.h, refcount.h 3.14).
 *
 * A free-threaded build (3.14t+) has a header of its own, 32 bytes: ob_tid (8), ob_flags
 * (u16 at 8, the same flags), ob_mutex (u8 at 10), ob_gc_bits (u8 at 11), ob_ref_local (u32
 * at 12) and ob_ref_shared (ssize at 16, the count shifted left by 2 over two state bits:
 * _Py_REF_SHARED_SHIFT). The count is ob_ref_local + (ob_ref_shared >> 2), arithmetic:
 * another thread's decrefs can make the shared part negative; ob_ref_local UINT32_MAX is
 * immortal (_Py_REFCNT, Include/refcount.h 3.14.7). An object with deferred reference
 * counting (functions, code, types, modules: ob_gc_bits bit 6) carries a bias of
 * _Py_REF_DEFERRED (PY_SSIZE_T_MAX / 8) in its shared count, which its references from
 * frames do not add to (Objects/object.c _PyObject_SetDeferredRefcount): the count given is
 * without the bias. pyh_refcnt_of reads either header. */
#ifndef PYH_RUNTIME_REFCOUNT_H
#define PYH_RUNTIME_REFCOUNT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "runtime/runtime.h"
#include "target/target.h"

#define PYH_REFCNT_HEADER 24 /* bytes of a header pyh_refcnt_of reads (either build) */
#define PYH_REFCNT_MAX (1ULL << 40) /* 3.8-3.13: above, a pointer, not a count */
#define PYH_REFCNT_IMMORTAL_MIN (1ULL << 31)
#define PYH_OB_FLAGS_IMMORTAL 1u
#define PYH_OB_FLAGS_STATIC 4u
#define PYH_OB_FLAGS_KNOWN 7u /* bit 1 is unused in release builds; 3 is free-threaded debug */
#define PYH_REF_DEFERRED (INT64_MAX / 8)

/* Free-threaded: ob_gc_bits, the byte at +11 (Include/internal/pycore_gc.h 3.14). */
#define PYH_GC_BITS_OFFSET 11
#define PYH_GC_BITS_TRACKED (1u << 0)
#define PYH_GC_BITS_FINALIZED (1u << 1)
#define PYH_GC_BITS_UNREACHABLE (1u << 2)
#define PYH_GC_BITS_FROZEN (1u << 3)
#define PYH_GC_BITS_SHARED (1u << 4)
#define PYH_GC_BITS_ALIVE (1u << 5)
#define PYH_GC_BITS_DEFERRED (1u << 6)

struct pyh_refcnt {
    uint64_t count; /* the reference count (3.14+: ob_refcnt alone) */
    bool plausible; /* the word can be a live object's: count > 0, no stray high bits */
    bool immortal;  /* 3.12+: an immortal object (the count means nothing) */
    bool is_static; /* 3.14+: ob_flags says statically allocated */
    bool deferred;  /* free-threaded: deferred reference counting (frames' references are
                       not counted) */
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

/* The free-threaded header's count; hdr holds its first PYH_REFCNT_HEADER bytes. */
static inline struct pyh_refcnt pyh_refcnt_decode_ft(const uint8_t *hdr)
{
    struct pyh_refcnt r = {0};
    uint16_t flags;
    uint32_t local;
    int64_t shared;
    memcpy(&flags, hdr + 8, 2);
    memcpy(&local, hdr + 12, 4);
    memcpy(&shared, hdr + 16, 8);
    r.immortal = local == UINT32_MAX;
    r.is_static = (flags & PYH_OB_FLAGS_STATIC) != 0;
    r.deferred = (hdr[PYH_GC_BITS_OFFSET] & PYH_GC_BITS_DEFERRED) != 0;
    int64_t count = (int64_t)local + (shared >> 2); /* >> of a negative: arithmetic in GCC */
    if (r.deferred && !r.immortal) count -= PYH_REF_DEFERRED; /* immortal: shared is 0 */
    r.count = r.immortal ? PYH_REFCNT_IMMORTAL_MIN : count > 0 ? (uint64_t)count : 0;
    /* A deferred object may be held by frames alone: a count of 0 is no sign of death. */
    r.plausible = (flags & ~PYH_OB_FLAGS_KNOWN) == 0 &&
                  (r.immortal || ((count > 0 || (r.deferred && count == 0)) &&
                                  count <= (int64_t)PYH_REFCNT_MAX));
    return r;
}

/* The count of the object whose header's first PYH_REFCNT_HEADER bytes are hdr. */
static inline struct pyh_refcnt pyh_refcnt_of(const struct pyh_runtime *rt, const uint8_t *hdr)
{
    if (rt->free_threaded) return pyh_refcnt_decode_ft(hdr);
    uint64_t word;
    memcpy(&word, hdr, 8);
    return pyh_refcnt_decode(rt, word);
}

/* Reads the header of the object at obj from the target and decodes its count. */
static inline struct pyh_error *pyh_refcnt_read(const struct pyh_runtime *rt, uint64_t obj,
                                                struct pyh_refcnt *out)
{
    uint8_t hdr[PYH_REFCNT_HEADER];
    *out = (struct pyh_refcnt){0};
    struct pyh_error *err = pyh_target_read(rt->target, obj, hdr, rt->free_threaded ? 24 : 8);
    if (!err) *out = pyh_refcnt_of(rt, hdr);
    return err;
}

#endif
