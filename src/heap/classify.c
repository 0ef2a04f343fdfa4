/* Telling objects from other memory in an in-use block; see heap_internal.h.
 *
 * At each header position the version allows — 0 (no GC head), 16 (after the GC head), 32
 * (after the 3.11+ pre-header of managed dicts and weak references) — the candidate must have
 * a live reference count, a registered type whose flags call for exactly that position, and
 * a size that fits in the block. Free-list objects (reference count 0) and freed blocks
 * (the allocators say so) are never objects.
 *
 * Arrays of object pointers (list items, 3.11's dict values) are the usual impostors: their
 * second pointer can be a type, and in a non-PIE executable the first — the address of a
 * static object in the executable's data, or of a chunk of the brk heap — is a number small
 * enough to pass for a reference count. Two rules, true of every version, reject them: a
 * count is never the address of an object, and a GC object follows a valid GC head. */
#include <string.h>

#include "heap/kinds/kind.h"
#include "runtime/objects.h"
#include "runtime/refcount.h"

#define MANAGED_WEAKREF (1UL << 3)
#define USER_SPACE_END (1ULL << 47) /* x86-64: no user-space address is above */
#define MAX_ITEMS (1ULL << 40)      /* a count above this is not a count */
#define MAX_MODULE_INDEX (1 << 20)  /* PyModuleDef.m_index: one per module ever initialized */
/* 3.11's statically allocated objects (the _Py_ID strings, small ints, singletons of
 * _PyRuntime) start at 999999999 (_PyObject_IMMORTAL_INIT) and move by what references come
 * and go: in a non-PIE executable, whose brk heap starts near 2^30, such a count is also an
 * address of the heap, and the word after it there may be a type. */
#define STATIC_311_MIN 999999999ULL
#define STATIC_311_SPAN (1ULL << 30)


size_t pyh_heap_header_position(const struct pyh_runtime *rt, uint64_t flags)
{
    size_t pos = (flags & PYH_TPFLAGS_HAVE_GC) ? 16 : 0;
    if (rt->minor == 11 && (flags & PYH_TPFLAGS_MANAGED_DICT)) pos += 16;
    if (rt->minor >= 12 && (flags & (PYH_TPFLAGS_MANAGED_DICT | MANAGED_WEAKREF))) pos += 16;
    return pos;
}

/* The basic size plus ob_size items. Inline: most objects of a census have no rule of their
 * kind. */
static inline uint64_t least_size_items(const struct pyh_heap *heap, const struct pyh_type *t,
                                        const uint8_t *obj, size_t avail)
{
    if (t->itemsize <= 0) return (uint64_t)t->basicsize;
    if (avail < 24) return UINT64_MAX;
    int64_t n = (int64_t)pyh_kind_word(obj, (size_t)heap->rt->layout.var_size);
    uint64_t items = n < 0 ? (uint64_t)-n : (uint64_t)n;
    if (items >= MAX_ITEMS) return UINT64_MAX;
    return (uint64_t)t->basicsize + items * (uint64_t)t->itemsize;
}

uint64_t pyh_kind_least_size_items(const struct pyh_heap *heap, const struct pyh_type *t,
                                   const uint8_t *obj, size_t avail)
{
    return least_size_items(heap, t, obj, avail);
}

/* The least memory the object at `at` (in bytes) occupies, from its type and own fields
 * (its kind's rule, heap/kinds/); UINT64_MAX when its fields are implausible. */
static inline uint64_t least_size(const struct pyh_heap *heap, const struct pyh_type *t,
                                  const uint8_t *obj, size_t avail)
{
    const struct pyh_kind *k = pyh_kinds[t->kind];
    return k->least_size ? k->least_size(heap, t, obj, avail)
                         : least_size_items(heap, t, obj, avail);
}

static inline bool object_fits(const struct pyh_heap *heap, uint32_t ti, const uint8_t *obj,
                               size_t avail, uint64_t room)
{
    uint64_t need = least_size(heap, &heap->types[ti], obj, avail);
    return need != UINT64_MAX && need <= room;
}

bool pyh_heap_object_fits(const struct pyh_heap *heap, uint32_t ti, const uint8_t *obj,
                          size_t avail, uint64_t room)
{
    return object_fits(heap, ti, obj, avail, room);
}

/* Whether count lies below every mapping of the target: a count, not an address. The same
 * first test as pyh_target_mapping_at's, inline here so that the census's usual case (most
 * counts of the heap are small) makes no call at all. */
static inline bool below_mappings(const struct pyh_heap *heap, uint64_t count)
{
    const struct pyh_target *t = heap->rt->target;
    return !t->nmaps || count < t->maps[0].start;
}

bool pyh_heap_count_is_address(const struct pyh_heap *heap, uint64_t count)
{
    struct pyh_target *target = heap->rt->target;
    if (!pyh_target_mapping_at(target, count)) return false;
    uint64_t tp;
    struct pyh_error *err = pyh_read_u64(target, count + 8, &tp);
    if (err) {
        pyh_error_free(err);
        return false;
    }
    return pyh_heap_type_at(heap, tp) != UINT32_MAX;
}

/* Whether the 16 bytes before a GC object are a GC head (PyGC_Head, 3.8-3.13): untracked,
 * _gc_next is 0 and _gc_prev keeps at most the FINALIZED bit (allocation zeroes both,
 * untracking clears all but that bit); tracked, _gc_next is the next head (bit 0 may be
 * NEXT_MASK_UNREACHABLE during a collection) and _gc_prev the previous one with two flag bits
 * (or, during a collection, a count shifted by two): both within user space. The next head of
 * the last object of a list is the list's head in the GC state, only 4-byte aligned where a
 * vendor aligns PyGC_Head to 4 bytes (Debian's 3.13.5+: heads at +20/44/68). */
static inline bool gc_head_plausible(const uint8_t *head)
{
    uint64_t next = pyh_kind_word(head, 0), prev = pyh_kind_word(head, 8);
    if (next == 0) return prev <= 1;
    next &= ~1ULL;
    return next != 0 && (next & 3) == 0 && next < USER_SPACE_END && prev < USER_SPACE_END;
}

bool pyh_heap_static_object_plausible(const struct pyh_heap *heap, uint32_t ti, const uint8_t *obj,
                                      size_t avail)
{
    const struct pyh_type *t = &heap->types[ti];
    const struct pyh_static_types *st = &heap->rt->types;
    struct pyh_refcnt rc = pyh_refcnt_decode(heap->rt, pyh_kind_word(obj, 0));
    uint64_t refcnt = rc.count;
    /* A C initializer can name only a type that exists when the binary is built. */
    if (t->heap) return false;
    if (st->moduledef && t->addr == st->moduledef) {
        /* PyModuleDef_Init gives a def its type and its index together. */
        uint64_t index = avail >= 32 ? pyh_kind_word(obj, 24) : 0;
        if (index < 1 || index > MAX_MODULE_INDEX) return false;
    } else if (heap->rt->minor >= 12 && !rc.immortal) {
        /* 3.12+: PyObject_HEAD_INIT makes a statically allocated object immortal (2^32 - 1;
         * 3.14: 3 << 30 with the static flag; an extension built for an older stable ABI,
         * whose Py_INCREF adds without the check, may move it by a few). Only a module def
         * may have been set to 1, by PyModuleDef_Init. */
        return false;
    }
    if (heap->rt->minor == 11 && refcnt - STATIC_311_MIN < STATIC_311_SPAN) return true;
    return !pyh_heap_count_is_address(heap, refcnt);
}

/* Whether the block holds, at its start, an object of a non-GC type parked on one of the
 * interpreter's free lists: 3.14+'s _PyFreeList_Push writes the list's link over ob_refcnt
 * (NULL at the end of the list, else the next free object of the same type), the rest of
 * the object stays as it was. Such a block is pymalloc-used but no object — and its old
 * contents are no header: a free int whose value is a type's address (id(type), in a
 * non-PIE executable one 30-bit digit) reads at +16 as (count, type). */
static bool free_list_object(const struct pyh_heap *heap, const uint8_t *bytes, size_t avail)
{
    if (heap->rt->minor < 14 || avail < 16) return false;
    uint64_t link = pyh_kind_word(bytes, 0), tp = pyh_kind_word(bytes, 8);
    if (!tp || (tp & 7)) return false;
    uint32_t ti = pyh_heap_type_at(heap, tp);
    if (ti == UINT32_MAX || heap->types[ti].header_pos != 0) return false;
    if (!link) return true;
    if (link & 7) return false;
    uint64_t next_tp;
    struct pyh_error *err = pyh_read_u64(heap->rt->target, link + 8, &next_tp);
    if (err) {
        pyh_error_free(err);
        return false;
    }
    return next_tp == tp;
}

uint64_t pyh_heap_classify(const struct pyh_heap *heap, uint64_t block, const uint8_t *bytes,
                           size_t avail, uint64_t usable, uint32_t *type, uint64_t *misfit)
{
    static const size_t positions[] = {0, 16, 32};
    int npositions = heap->rt->minor >= 11 ? 3 : 2;
    uint64_t damaged = 0;
    uint32_t damaged_type = 0;
    for (int i = 0; i < npositions; i++) {
        size_t pos = positions[i];
        if (pos + 16 > avail || pos + 16 > usable) break;
        struct pyh_refcnt rc = pyh_refcnt_decode(heap->rt, pyh_kind_word(bytes, pos));
        uint64_t refcnt = rc.count, tp = pyh_kind_word(bytes, pos + 8);
        if (!rc.plausible || !tp || (tp & 7)) continue;
        uint32_t ti = pyh_heap_type_at(heap, tp);
        if (ti == UINT32_MAX) continue;
        const struct pyh_type *t = &heap->types[ti];
        /* A type the registry holds at the block's start was made without a GC head by C
         * code (numpy's DType classes): a type, whatever its metatype's flags call for. */
        bool bare_type = pos == 0 && t->is_metatype && pyh_heap_type_at(heap, block) != UINT32_MAX;
        if (t->header_pos != pos && !bare_type) continue;
        if ((t->flags & PYH_TPFLAGS_HAVE_GC) && !bare_type && !gc_head_plausible(bytes + pos - 16))
            continue;
        if (!below_mappings(heap, refcnt) && pyh_heap_count_is_address(heap, refcnt)) continue;
        if (!object_fits(heap, ti, bytes + pos, avail - pos, usable - pos)) {
            /* Everything but the size: a variable-size object whose count was damaged. */
            if (t->itemsize > 0 && !damaged) {
                damaged = block + pos;
                damaged_type = ti;
            }
            continue;
        }
        *type = ti;
        return block + pos;
    }
    if (misfit) {
        *misfit = damaged && !free_list_object(heap, bytes, avail) ? damaged : 0;
        if (*misfit) *type = damaged_type;
    }
    return 0;
}
