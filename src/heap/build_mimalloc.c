/* Objects in mimalloc's pages (see heap_internal.h): a free-threaded build keeps every
 * object there and none on a GC list, so this walk is how its objects are found — as the
 * collector itself finds them (gc_visit_heaps, Python/gc_free_threading.c 3.14.7), by the
 * heap a page belongs to:
 *   OBJECT  PyObject_Malloc's: objects without GC, at the block's start (and the odd
 *           buffer C code asks of PyObject_Malloc);
 *   GC      objects with GC, at the block's start;
 *   GC_PRE  objects with a pre-header (managed dict, managed weakref), 16 bytes in: the
 *           words before the object are its weakref list and its dict (or inline values);
 *   MEM     PyMem_Malloc's: no object, the buffers of objects and native memory.
 * A GIL build run with PYTHONMALLOC=mimalloc allocates everything from one untagged heap:
 * its blocks are classified as pymalloc's are (every header position). */
#include <stdlib.h>
#include <string.h>

#include "heap/classify.h"
#include "heap/heap_internal.h"
#include "heap/kinds/kind.h"
#include "runtime/gc.h"
#include "runtime/objects.h"
#include "runtime/refcount.h"
#include "util/interrupt.h"

#define MAX_PAGE_READ (4u << 20) /* a page read whole up to this; past it, block by block */
#define BLOCK_HEAD 1024          /* bytes of a block read alone: every header and count */

/* The free-threaded header at pos of bytes (avail of them): an object of a registered type
 * whose flags call for that position, with a live count, that fits in room bytes. */
static uint32_t ft_object_at(const struct pyh_heap *heap, const uint8_t *bytes, size_t avail,
                             size_t pos, uint64_t room)
{
    const struct pyh_layout *L = &heap->rt->layout;
    if (pos + (size_t)L->object_size > avail || pos + (uint64_t)L->object_size > room)
        return UINT32_MAX;
    if (!pyh_refcnt_decode_ft(bytes + pos).plausible) return UINT32_MAX;
    uint64_t tp = pyh_kind_word(bytes, pos + (size_t)L->object_type);
    if (!tp || (tp & 7)) return UINT32_MAX;
    uint32_t ti = pyh_heap_type_at(heap, tp);
    if (ti == UINT32_MAX || heap->types[ti].header_pos != pos) return UINT32_MAX;
    if (!pyh_heap_object_fits(heap, ti, bytes + pos, avail - pos, room - pos)) return UINT32_MAX;
    return ti;
}

uint64_t pyh_heap_classify_ft(const struct pyh_heap *heap, uint64_t block, const uint8_t *bytes,
                              size_t avail, uint64_t usable, int tag, uint32_t *type)
{
    /* By the page's heap when it is known; a glibc chunk may hold either. */
    static const size_t positions[] = {0, 16};
    for (int i = 0; i < 2; i++) {
        size_t pos = positions[i];
        if (tag >= 0 && (pos == 16) != (tag == PYH_MI_TAG_GC_PRE)) continue;
        uint32_t ti = ft_object_at(heap, bytes, avail, pos, usable);
        if (ti == UINT32_MAX) continue;
        bool gc = (heap->types[ti].flags & PYH_TPFLAGS_HAVE_GC) != 0;
        /* A GC object is never in the OBJECT heap, nor a plain one in GC's. */
        if ((tag == PYH_MI_TAG_OBJECT && gc) || (tag == PYH_MI_TAG_GC && !gc)) continue;
        *type = ti;
        return block + pos;
    }
    return 0;
}

struct visit {
    struct pyh_heap *heap;
    const struct pyh_heap_mimalloc_sink *sink;
    struct pyh_error *err;
};

/* One live block, its first avail bytes in bytes. */
static void visit_block(struct visit *v, const struct pyh_mimalloc_page *pg, uint64_t addr,
                        const uint8_t *bytes, size_t avail)
{
    struct pyh_heap *heap = v->heap;
    uint64_t obj = 0;
    uint32_t type = 0;
    if (!heap->rt->free_threaded)
        obj = pyh_heap_classify(heap, addr, bytes, avail, pg->block_size, &type, NULL);
    else if (pg->tag != PYH_MI_TAG_MEM)
        obj = pyh_heap_classify_ft(heap, addr, bytes, avail, pg->block_size, pg->tag, &type);
    if (!obj) {
        /* A GC block flagged tracked, with a type, that is no object we know: the collector
         * would visit it, so the census misses it (said, as a GC object on no list is). */
        size_t pos = pg->tag == PYH_MI_TAG_GC_PRE ? 16 : 0;
        const struct pyh_layout *L = &heap->rt->layout;
        if (heap->rt->free_threaded && pg->tag >= PYH_MI_TAG_GC &&
            pos + (size_t)L->object_size <= avail &&
            (bytes[pos + PYH_GC_BITS_OFFSET] & PYH_GC_BITS_TRACKED) &&
            pyh_kind_word(bytes, pos + (size_t)L->object_type)) {
            if (heap->gc_missing < 8) heap->gc_missing_sample[heap->gc_missing] = addr + pos;
            heap->gc_missing++;
            heap->gc_tracked++;
        }
        v->err = v->sink->block(v->sink->ctx, addr, pg->block_size);
        return;
    }
    size_t off = (size_t)(obj - addr);
    if (heap->rt->free_threaded && (heap->types[type].flags & PYH_TPFLAGS_HAVE_GC) &&
        (bytes[off + PYH_GC_BITS_OFFSET] & PYH_GC_BITS_TRACKED))
        heap->gc_tracked++;
    v->err = v->sink->object(v->sink->ctx, obj, type, bytes + off, avail - off, pg->block_size);
}

/* Reads what the page's live blocks need: the whole carved area when it is small enough,
 * else (or when part of it is unreadable: a core without some of its pages) each live
 * block's head; an unreadable block gives nothing. */
static void visit_page(struct visit *v, const struct pyh_mimalloc_page *pg, uint8_t *buf)
{
    struct pyh_target *t = v->heap->rt->target;
    uint64_t bytes = (uint64_t)pg->capacity * pg->block_size;
    bool whole = bytes <= MAX_PAGE_READ;
    if (whole) {
        struct pyh_error *err = pyh_target_read(t, pg->start, buf, (size_t)bytes);
        if (err && err->code == PYH_ERR_INTERRUPTED) {
            v->err = err;
            return;
        }
        whole = !err;
        pyh_error_free(err);
    }
    for (uint32_t i = 0; i < pg->capacity && !v->err; i++) {
        if (pg->free_map[i / 64] & (1ull << (i % 64))) continue;
        uint64_t addr = pg->start + (uint64_t)i * pg->block_size;
        if (whole) {
            visit_block(v, pg, addr, buf + (size_t)i * pg->block_size, (size_t)pg->block_size);
            continue;
        }
        size_t avail = pg->block_size < BLOCK_HEAD ? (size_t)pg->block_size : BLOCK_HEAD;
        struct pyh_error *err = pyh_target_read(t, addr, buf, avail);
        if (err) {
            if (err->code == PYH_ERR_INTERRUPTED) v->err = err;
            else pyh_error_free(err);
            continue;
        }
        visit_block(v, pg, addr, buf, avail);
    }
}

struct pyh_error *pyh_heap_mimalloc_visit(struct pyh_heap *heap, const struct pyh_mimalloc *mi,
                                          const struct pyh_heap_mimalloc_sink *sink)
{
    uint8_t *buf = malloc(MAX_PAGE_READ);
    if (!buf) return pyh_error_nomem();
    struct visit v = {heap, sink, NULL};
    for (size_t p = 0; p < mi->npages && !v.err; p++) {
        visit_page(&v, &mi->pages[p], buf);
        if ((p & 63) == 0 && !v.err) v.err = pyh_check_interrupt();
    }
    free(buf);
    return v.err;
}

struct pyh_error *pyh_heap_mimalloc_type_candidates(
    struct pyh_heap *heap, const struct pyh_mimalloc *mi,
    struct pyh_error *(*add)(void *ctx, uint64_t obj, uint64_t metatype), void *ctx)
{
    const struct pyh_layout *L = &heap->rt->layout;
    /* A type is a GC object without a pre-header: at the block's start in a free-threaded
     * build (a GC page), after its 16-byte GC head in a GIL build's untagged pages. */
    bool ft = heap->rt->free_threaded;
    uint64_t pos = ft ? 0 : 16;
    size_t head = (size_t)L->object_type + 8; /* the count and ob_type */
    uint8_t hdr[32];
    if (head > sizeof(hdr)) return NULL; /* no header py-heap reads (debug_offsets.c checks) */
    struct pyh_error *err = NULL;
    for (size_t p = 0; p < mi->npages && !err; p++) {
        const struct pyh_mimalloc_page *pg = &mi->pages[p];
        if ((ft && pg->tag != PYH_MI_TAG_GC) || pg->block_size < pos + (uint64_t)L->type_size)
            continue;
        for (uint32_t i = 0; i < pg->capacity && !err; i++) {
            if (pg->free_map[i / 64] & (1ull << (i % 64))) continue;
            uint64_t obj = pg->start + (uint64_t)i * pg->block_size + pos;
            struct pyh_error *rerr = pyh_target_read(heap->rt->target, obj, hdr, head);
            if (rerr) {
                if (rerr->code == PYH_ERR_INTERRUPTED) err = rerr;
                else pyh_error_free(rerr);
                continue;
            }
            uint64_t metatype = pyh_kind_word(hdr, (size_t)L->object_type);
            if (!pyh_refcnt_of(heap->rt, hdr).plausible || !metatype || (metatype & 7)) continue;
            err = add(ctx, obj, metatype);
        }
    }
    return err;
}
