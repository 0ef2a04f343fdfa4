/* The helpers of the per-type referent readers; see walk.h. */
#include "heap/walk.h"

#include "heap/heap_internal.h"
#include "runtime/stackref.h"

#define BLOCK_SCAN_MAX 16384 /* bytes of a native block read one level down */

void pyh_walk_lost(struct pyh_walk *w, uint64_t addr, const struct pyh_error *err)
{
    /* "has no __dict__": nothing to follow, not a failure. */
    if (err && pyh_error_code(err) == PYH_ERR_NOT_FOUND) return;
    if (w->obj) pyh_read_failure(&w->heap->refs_unread, w->obj, addr, err ? pyh_error_message(err) : NULL);
}

bool pyh_walk_emit(struct pyh_walk *w, uint64_t target, const struct pyh_ref *ref)
{
    if (w->stop || !target) return !w->stop;
    if (!w->visit(w->ctx, target, ref)) w->stop = true;
    return !w->stop;
}

uint64_t pyh_walk_read(struct pyh_walk *w, uint64_t addr)
{
    uint64_t v = 0;
    struct pyh_error *err = pyh_read_u64(w->heap->rt->target, addr, &v);
    if (err) {
        pyh_error_free(err);
        return 0;
    }
    return v;
}

uint64_t pyh_walk_own(struct pyh_walk *w, uint64_t addr)
{
    uint64_t v = 0;
    struct pyh_error *err = pyh_read_u64(w->heap->rt->target, addr, &v);
    if (err) {
        pyh_walk_lost(w, addr, err);
        pyh_error_free(err);
        return 0;
    }
    return v;
}

void pyh_walk_field(struct pyh_walk *w, uint64_t obj, int32_t off, const char *name)
{
    if (off < 0) return;
    struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = name};
    pyh_walk_emit(w, pyh_walk_own(w, obj + (uint64_t)off), &ref);
}

/* n pointers at addr, read in chunks: items [first, first + n); stackrefs: frame slots
 * (3.14+: tagged _PyStackRefs, see runtime/stackref.h). */
static void words(struct pyh_walk *w, uint64_t addr, uint64_t n, enum pyh_ref_kind kind,
                  uint64_t first, uint64_t code, bool stackrefs)
{
    if (n >= PYH_WALK_MAX_ITEMS) {
        struct pyh_error *err = pyh_error_create(PYH_ERR_CORRUPT, "%llu items",
                                                 (unsigned long long)n);
        pyh_walk_lost(w, addr, err);
        pyh_error_free(err);
        return;
    }
    uint64_t buf[PYH_WALK_CHUNK];
    for (uint64_t i = 0; i < n && !w->stop; i += PYH_WALK_CHUNK) {
        size_t k = n - i < PYH_WALK_CHUNK ? (size_t)(n - i) : PYH_WALK_CHUNK;
        struct pyh_error *err = pyh_target_read(w->heap->rt->target, addr + 8 * i, buf, 8 * k);
        if (err) {
            pyh_walk_lost(w, addr + 8 * i, err);
            pyh_error_free(err);
            return;
        }
        for (size_t j = 0; j < k && !w->stop; j++) {
            struct pyh_ref ref = {.kind = kind, .index = first + i + j, .code = code};
            pyh_walk_emit(w, stackrefs ? pyh_stackref_object(w->heap->rt, buf[j]) : buf[j], &ref);
        }
    }
}

void pyh_walk_items(struct pyh_walk *w, uint64_t addr, uint64_t n, enum pyh_ref_kind kind,
                    uint64_t first, uint64_t code)
{
    words(w, addr, n, kind, first, code, false);
}

void pyh_walk_frame_slots(struct pyh_walk *w, uint64_t addr, uint64_t n, enum pyh_ref_kind kind,
                          uint64_t code)
{
    words(w, addr, n, kind, 0, code, true);
}

void pyh_walk_slot_field(struct pyh_walk *w, uint64_t f, int32_t off, const char *name)
{
    if (off < 0) return;
    struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = name};
    pyh_walk_emit(w, pyh_stackref_object(w->heap->rt, pyh_walk_read(w, f + (uint64_t)off)), &ref);
}

bool pyh_walk_is_object(const struct pyh_heap *heap, uint64_t v)
{
    return v && !(v & 7) && pyh_heap_object_at(heap, v) != SIZE_MAX;
}

void pyh_walk_native_block(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t, uint64_t off,
                           uint64_t block)
{
    const struct pyh_heap *heap = w->heap;
    if (!heap->native_refs) return;
    size_t b = pyh_heap_native_at(heap, block);
    if (b == SIZE_MAX || heap->native_refs[b] != 1) return;
    uint64_t size =
        heap->native_blocks[b].size < BLOCK_SCAN_MAX ? heap->native_blocks[b].size : BLOCK_SCAN_MAX;
    uint64_t buf[PYH_WALK_CHUNK];
    for (uint64_t at = 0; at + 8 <= size && !w->stop; at += sizeof(buf)) {
        size_t k = size - at < sizeof(buf) ? (size_t)((size - at) / 8) : PYH_WALK_CHUNK;
        struct pyh_error *err = pyh_target_read(heap->rt->target, block + at, buf, 8 * k);
        if (err) {
            pyh_error_free(err);
            return;
        }
        for (size_t j = 0; j < k && !w->stop; j++) {
            if (buf[j] == obj || !pyh_walk_is_object(heap, buf[j])) continue;
            struct pyh_ref ref = {
                .kind = PYH_REF_OFFSET, .index = off, .key = t->addr, .code = at + 8 * j + 1};
            pyh_walk_emit(w, buf[j], &ref);
        }
    }
}
