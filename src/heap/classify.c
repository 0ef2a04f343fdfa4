/* Telling objects from other memory in an in-use block; see classify.h (the part of it inline in the pass over every block) and heap_internal.h.
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
#include "heap/classify.h"

#define MAX_MODULE_INDEX (1 << 20)  /* PyModuleDef.m_index: one per module ever initialized */
/* 3.11's statically allocated objects (the _Py_ID strings, small ints, singletons of
 * _PyRuntime) start at 999999999 (_PyObject_IMMORTAL_INIT) and move by what references come
 * and go: in a non-PIE executable, whose brk heap starts near 2^30, such a count is also an
 * address of the heap, and the word after it there may be a type. */
#define STATIC_311_MIN 999999999ULL
#define STATIC_311_SPAN (1ULL << 30)


size_t pyh_heap_header_position(const struct pyh_runtime *rt, uint64_t flags)
{
    /* Free-threaded: no GC head; the pre-header is the dict and weakref words alone. */
    if (rt->free_threaded) return (flags & (PYH_TPFLAGS_MANAGED_DICT | PYH_TPFLAGS_MANAGED_WEAKREF)) ? 16 : 0;
    size_t pos = (flags & PYH_TPFLAGS_HAVE_GC) ? 16 : 0;
    if (rt->minor == 11 && (flags & PYH_TPFLAGS_MANAGED_DICT)) pos += 16;
    if (rt->minor >= 12 && (flags & (PYH_TPFLAGS_MANAGED_DICT | PYH_TPFLAGS_MANAGED_WEAKREF))) pos += 16;
    return pos;
}

uint64_t pyh_kind_least_size_items(const struct pyh_heap *heap, const struct pyh_type *t,
                                   const uint8_t *obj, size_t avail)
{
    return classify_least_size_items(heap, t, obj, avail);
}

bool pyh_heap_object_fits(const struct pyh_heap *heap, uint32_t ti, const uint8_t *obj,
                          size_t avail, uint64_t room)
{
    return classify_object_fits(heap, ti, obj, avail, room);
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

bool pyh_heap_static_object_plausible(const struct pyh_heap *heap, uint32_t ti, const uint8_t *obj,
                                      size_t avail)
{
    const struct pyh_type *t = &heap->types[ti];
    const struct pyh_static_types *st = &heap->rt->types;
    struct pyh_refcnt rc = pyh_refcnt_of(heap->rt, obj);
    uint64_t refcnt = rc.count;
    /* A C initializer can name only a type that exists when the binary is built. */
    if (t->heap) return false;
    if (st->moduledef && t->addr == st->moduledef) {
        /* PyModuleDef_Init gives a def its type and its index together. */
        size_t at = (size_t)heap->rt->layout.object_size + 8; /* after m_init */
        uint64_t index = avail >= at + 8 ? pyh_kind_word(obj, at) : 0;
        if (index < 1 || index > MAX_MODULE_INDEX) return false;
    } else if (heap->rt->minor >= 12 && !rc.immortal) {
        /* 3.12+: PyObject_HEAD_INIT makes a statically allocated object immortal (2^32 - 1;
         * 3.14: 3 << 30 with the static flag; an extension built for an older stable ABI,
         * whose Py_INCREF adds without the check, may move it by a few). Only a module def
         * may have been set to 1, by PyModuleDef_Init. */
        return false;
    }
    if (heap->rt->minor == 11 && refcnt - STATIC_311_MIN < STATIC_311_SPAN) return true;
    return heap->rt->free_threaded || !pyh_heap_count_is_address(heap, refcnt);
}

/* Whether the block holds, at its start, an object of a non-GC type parked on one of the
 * interpreter's free lists: 3.14+'s _PyFreeList_Push writes the list's link over ob_refcnt
 * (NULL at the end of the list, else the next free object of the same type), the rest of
 * the object stays as it was. Such a block is pymalloc-used but no object — and its old
 * contents are no header: a free int whose value is a type's address (id(type), in a
 * non-PIE executable one 30-bit digit) reads at +16 as (count, type). */
bool pyh_heap_free_list_object(const struct pyh_heap *heap, const uint8_t *bytes, size_t avail)
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

