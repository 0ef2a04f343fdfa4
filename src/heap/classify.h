/* Telling objects from other memory in an in-use block: the part of it that runs once per
 * block of the heap, inline in the one pass that calls it (heap/build.c: the call and its
 * arguments were a tenth of a census's instructions); the rules are described in
 * classify.c, with the rest of it. */
#ifndef PYH_HEAP_CLASSIFY_H
#define PYH_HEAP_CLASSIFY_H

#include "heap/heap_internal.h"
#include "heap/kinds/kind.h"
#include "runtime/objects.h"
#include "runtime/refcount.h"

#define PYH_USER_SPACE_END (1ULL << 47) /* x86-64: no user-space address is above */
#define PYH_MAX_ITEMS (1ULL << 40)      /* a count above this is not a count */

/* Whether the block holds, at its start, a non-GC object parked on one of 3.14+'s free lists
 * (classify.c). */
bool pyh_heap_free_list_object(const struct pyh_heap *heap, const uint8_t *bytes, size_t avail);

/* The basic size plus ob_size items. Inline: most objects of a census have no rule of their
 * kind. */
static inline uint64_t classify_least_size_items(const struct pyh_heap *heap, const struct pyh_type *t,
                                        const uint8_t *obj, size_t avail)
{
    if (t->itemsize <= 0) return (uint64_t)t->basicsize;
    if (avail < (size_t)heap->rt->layout.var_size + 8) return UINT64_MAX; /* ob_size */
    int64_t n = (int64_t)pyh_kind_word(obj, (size_t)heap->rt->layout.var_size);
    uint64_t items = n < 0 ? (uint64_t)-n : (uint64_t)n;
    if (items >= PYH_MAX_ITEMS) return UINT64_MAX;
    return (uint64_t)t->basicsize + items * (uint64_t)t->itemsize;
}

/* The least memory the object at `at` (in bytes) occupies, from its type and own fields
 * (its kind's rule, heap/kinds/); UINT64_MAX when its fields are implausible. */
static inline uint64_t classify_least_size(const struct pyh_heap *heap, const struct pyh_type *t,
                                  const uint8_t *obj, size_t avail)
{
    const struct pyh_kind *k = pyh_kinds[t->kind];
    return k->least_size ? k->least_size(heap, t, obj, avail)
                         : classify_least_size_items(heap, t, obj, avail);
}

static inline bool classify_object_fits(const struct pyh_heap *heap, uint32_t ti, const uint8_t *obj,
                               size_t avail, uint64_t room)
{
    uint64_t need = classify_least_size(heap, &heap->types[ti], obj, avail);
    return need != UINT64_MAX && need <= room;
}

/* Whether count lies below every mapping of the target: a count, not an address. The same
 * first test as pyh_target_mapping_at's, inline here so that the census's usual case (most
 * counts of the heap are small) makes no call at all. */
static inline bool classify_below_mappings(const struct pyh_heap *heap, uint64_t count)
{
    const struct pyh_target *t = heap->rt->target;
    return !t->nmaps || count < t->maps[0].start;
}

/* Whether the 16 bytes before a GC object are a GC head (PyGC_Head, 3.8-3.13): untracked,
 * _gc_next is 0 and _gc_prev keeps at most the FINALIZED bit (allocation zeroes both,
 * untracking clears all but that bit); tracked, _gc_next is the next head (bit 0 may be
 * NEXT_MASK_UNREACHABLE during a collection) and _gc_prev the previous one with two flag bits
 * (or, during a collection, a count shifted by two): both within user space. The next head of
 * the last object of a list is the list's head in the GC state, only 4-byte aligned where a
 * vendor aligns PyGC_Head to 4 bytes (Debian's 3.13.5+: heads at +20/44/68). */
static inline bool classify_gc_head_plausible(const uint8_t *head)
{
    uint64_t next = pyh_kind_word(head, 0), prev = pyh_kind_word(head, 8);
    if (next == 0) return prev <= 1;
    next &= ~1ULL;
    return next != 0 && (next & 3) == 0 && next < PYH_USER_SPACE_END && prev < PYH_USER_SPACE_END;
}

/* Whether bytes (avail of them, a copy of the block at block) hold an object at one of the
 * header positions the version allows; returns the object's address and type index, or 0.
 * usable: the bytes of the block the object may use. When it returns 0 and misfit is not
 * NULL, *misfit is the address of what passed every test but the size (a header of a
 * variable-size type whose item count does not fit the block: damage), with its type in
 * *type, or 0 when nothing did. */
static inline __attribute__((always_inline)) uint64_t pyh_heap_classify(const struct pyh_heap *heap, uint64_t block, const uint8_t *bytes,
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
        if ((t->flags & PYH_TPFLAGS_HAVE_GC) && !bare_type && !classify_gc_head_plausible(bytes + pos - 16))
            continue;
        if (!classify_below_mappings(heap, refcnt) && pyh_heap_count_is_address(heap, refcnt)) continue;
        if (!classify_object_fits(heap, ti, bytes + pos, avail - pos, usable - pos)) {
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
        *misfit = damaged && !pyh_heap_free_list_object(heap, bytes, avail) ? damaged : 0;
        if (*misfit) *type = damaged_type;
    }
    return 0;
}

#endif
