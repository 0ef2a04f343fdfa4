/* Building the objects table: every in-use block of both allocators classified, the static
 * objects of the binaries' data added, the table sorted by address, the buffers objects own
 * told apart from native allocations, and the result checked against the GC lists. */
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "heap/classify.h"
#include "heap/sizeof.h"
#include "heap/kinds/kind.h"
#include "heap/object_sort.h"
#include "runtime/gc.h"
#include "runtime/objects.h"
#include "runtime/refcount.h"
#include "util/progress.h"
#include "util/chain.h"
#include "util/interrupt.h"
#include "util/mem.h"


/* An in-use block that holds no object (yet): a buffer or a native allocation. */
struct block {
    uint64_t addr;
    uint64_t size : 63;
    uint64_t owned : 1;
};

struct builder {
    struct pyh_heap *heap;
    struct block *blocks;
    size_t nblocks, blocks_cap;
    struct pyh_error *err;
    uint64_t *pymalloc_arenas; /* sorted: glibc chunks holding them are skipped */
    size_t npymalloc_arenas;
    uint64_t arena_size;
    uint64_t *static_types; /* sorted: addresses of the static type objects */
    size_t nstatic_types;
    /* The GC heads of the tracked GC objects of pymalloc, recorded as the visit copies
     * them, so that check_gc_lists follows the GC lists in memory instead of reading again
     * most of the heap through the block cache (a tuple's next is in another pool: every
     * 64 KiB block of the heap holds some). gc_next[k] is the _gc_next word (bit 0
     * cleared) of the k-th object flagged GC_NEXT in table order; their addresses must come
     * strictly increasing (last_gc_node), else recording stops and the lists are read from
     * the target as before. */
    uint64_t *gc_next;
    size_t ngc_next, gc_next_cap;
    uint64_t last_gc_node;
    bool gc_recording;
    /* After sort_objects, when the records held: per 64 objects of the table, which are
     * flagged and how many flagged objects come before (the rank of a flagged object). */
    struct gc_rank {
        uint64_t flagged, before;
    } *gc_rank;
    size_t gc_rank_cap;
    /* PYH_LIST_CENSUS: per type, 1 when its objects are counted in heap->tally instead of
     * listed (choose_tallied); NULL when every object is listed. */
    uint8_t *tallied;
    /* The tracked GC objects counted and not listed, with their _gc_next (bit 0 cleared), in
     * the order found (by address: arenas are visited in address order, chunks too), so that
     * check_gc_lists finds them and follows their lists in memory as it does the table's. */
    struct tallied_gc {
        uint64_t obj, next;
    } *tallied_gc;
    size_t ntallied_gc, tallied_gc_cap;
};

/* While the table is built, an object's location rides in the top bits of its type index
 * (sort_objects splits it out): one array to sort, and no second one grown beside it; bit 31
 * flags an object whose GC head is recorded (gc_next). */
#define LOC_SHIFT 28
#define LOC_MASK 7u
#define MAX_TYPES (1u << LOC_SHIFT)
#define GC_NEXT (1u << 31)

/* Whether sys.getsizeof() of t's objects is all inside their own allocator block. */
static bool self_contained(const struct pyh_type *t)
{
    return !t->sizeof_rule && pyh_kinds[t->kind]->self_contained;
}

void pyh_read_failure(struct pyh_read_failures *f, uint64_t object, uint64_t address,
                      const char *message)
{
    if (f->count++ == 0) {
        f->object = object;
        f->address = address;
        snprintf(f->message, sizeof(f->message), "%.159s", message ? message : "");
    }
}

/* A failure of object obj of type `type`: the type is kept with the first, as the object
 * may be one the table does not list (PYH_LIST_CENSUS). */
static void typed_failure(struct pyh_read_failures *f, uint64_t obj, uint32_t type, const char *message)
{
    pyh_read_failure(f, obj, 0, message);
    if (f->count == 1) {
        f->type = type;
        f->typed = true;
    }
}

/* sys.getsizeof() of the object found at obj (bytes: its copy, avail bytes of it; block_size:
 * its block's usable bytes, 0 for a static object). */
static inline __attribute__((always_inline)) struct pyh_error *
object_size(struct pyh_heap *heap, uint64_t obj, uint32_t type, const uint8_t *bytes, size_t avail,
            uint64_t block_size, uint64_t *out)
{
    uint64_t size = 0;
    struct pyh_error *err = pyh_heap_sizeof_inline(heap, obj, type, bytes, avail, &size);
    if (err) { /* a size we cannot read is the basic size: the object is still counted */
        if (err->code == PYH_ERR_INTERRUPTED || err->code == PYH_ERR_NOMEM) return err;
        typed_failure(&heap->size_unread, obj, type, pyh_error_message(err));
        pyh_error_free(err);
        size = (uint64_t)heap->types[type].basicsize;
    }
    /* An object whose size holds nothing outside its own block (an int's digits, a
     * tuple's items, a bytes' bytes) fits in that block, pre-header included. */
    if (block_size && size > block_size && self_contained(&heap->types[type])) {
        char msg[160];
        snprintf(msg, sizeof(msg), "it claims %llu bytes in a block of %llu",
                 (unsigned long long)size, (unsigned long long)block_size);
        typed_failure(&heap->size_bounded, obj, type, msg);
        size = block_size;
    }
    *out = size;
    return NULL;
}

static struct pyh_error *add_object(struct builder *b, uint64_t obj, uint32_t type,
                                    enum pyh_location loc, const uint8_t *bytes, size_t avail,
                                    uint64_t block_size)
{
    struct pyh_heap *heap = b->heap;
    uint64_t size;
    struct pyh_error *err = object_size(heap, obj, type, bytes, avail, block_size, &size);
    if (err) return err;
    if (size >= UINT32_MAX && (err = pyh_u64map_put(&heap->big_sizes, obj, size))) return err;
    if (heap->nobjects == heap->objects_cap &&
        (err = PYH_BIG_GROW(heap->objects, heap->objects_cap, heap->nobjects + 1)))
        return err;
    heap->objects[heap->nobjects++] = (struct pyh_object){
        obj, type | (uint32_t)loc << LOC_SHIFT, size >= UINT32_MAX ? UINT32_MAX : (uint32_t)size};
    heap->object_block_bytes += block_size;
    return NULL;
}

/* Records the GC head of the object just added, when it is tracked (see builder.gc_next).
 * A GC object sits at least 16 bytes into its block: head is inside the block's copy. */
static void record_gc_head(struct builder *b, uint64_t obj, const uint8_t *head)
{
    uint64_t next;
    memcpy(&next, head, 8);
    if (!next) return; /* untracked: in no list */
    struct pyh_error *err = NULL;
    if (obj - 16 <= b->last_gc_node ||
        (b->ngc_next == b->gc_next_cap && (err = PYH_BIG_GROW(b->gc_next, b->gc_next_cap, b->ngc_next + 1)))) {
        pyh_error_free(err);
        b->gc_recording = false;
        return;
    }
    b->last_gc_node = obj - 16;
    b->gc_next[b->ngc_next++] = next & ~(uint64_t)1;
    b->heap->objects[b->heap->nobjects - 1].type |= GC_NEXT;
}

/* Counts the object found at obj (of a tallied type) in heap->tally instead of listing it;
 * head: its GC head's copy, NULL when the block holds none before it. A tracked GC object
 * without one is listed (add_object), for check_gc_lists to find — in a GIL build: a
 * free-threaded one keeps no lists, and its GC objects are counted like the rest. */
static inline __attribute__((always_inline)) struct pyh_error *
tally_object(struct builder *b, uint64_t obj, uint32_t type, enum pyh_location loc,
             const uint8_t *bytes, size_t avail, uint64_t block_size, const uint8_t *head)
{
    struct pyh_heap *heap = b->heap;
    uint64_t next = 0;
    if ((heap->types[type].flags & PYH_TPFLAGS_HAVE_GC) && !heap->rt->free_threaded) {
        if (!head) return add_object(b, obj, type, loc, bytes, avail, block_size);
        next = pyh_kind_word(head, 0) & ~(uint64_t)1;
    }
    uint64_t size;
    struct pyh_error *err = object_size(heap, obj, type, bytes, avail, block_size, &size);
    if (err) return err;
    heap->tally[type].count++;
    heap->tally[type].size += size;
    heap->object_block_bytes += block_size;
    if (!next) return NULL; /* untracked, or no GC object: in no list */
    struct tallied_gc g = {obj, next};
    /* Big (16 bytes per tracked GC object): grown in place, not copied (pyh_big_grow). */
    err = b->ntallied_gc < b->tallied_gc_cap ? NULL
                                             : PYH_BIG_GROW(b->tallied_gc, b->tallied_gc_cap, b->ntallied_gc + 1);
    if (!err) b->tallied_gc[b->ntallied_gc++] = g;
    return err;
}

/* A block that is no object but holds an object's header with a count that does not fit
 * it: an object whose count was damaged, left out of the census — and said. */
static void note_misfit(struct pyh_heap *heap, uint64_t obj, uint32_t type, uint64_t usable)
{
    if (!obj) return;
    char msg[160];
    snprintf(msg, sizeof(msg), "a %s header whose item count does not fit its %llu-byte block",
             pyh_heap_type_name(heap, type), (unsigned long long)usable);
    pyh_read_failure(&heap->misfits, obj, 0, msg);
}

static inline __attribute__((always_inline)) bool visit_block(struct builder *b, uint64_t addr, uint32_t size,
                                                             const uint8_t *bytes)
{
    uint32_t type;
    uint64_t misfit = 0;
    uint64_t obj = pyh_heap_classify(b->heap, addr, bytes, size, size, &type, &misfit);
    if (obj && b->tallied && b->tallied[type]) {
        b->err = tally_object(b, obj, type, PYH_LOC_PYMALLOC, bytes + (obj - addr), size - (obj - addr), size,
                              obj - addr >= 16 ? bytes + (obj - addr) - 16 : NULL);
    } else if (obj) {
        b->err = add_object(b, obj, type, PYH_LOC_PYMALLOC, bytes + (obj - addr), size - (obj - addr), size);
        if (!b->err && b->gc_recording && (b->heap->types[type].flags & PYH_TPFLAGS_HAVE_GC))
            record_gc_head(b, obj, bytes + (obj - addr) - 16);
    } else {
        note_misfit(b->heap, misfit, type, size);
        struct block blk = {addr, size, 0};
        b->err = PYH_APPEND(b->blocks, b->nblocks, b->blocks_cap, &blk);
    }
    return !b->err;
}

static bool visit_pool(void *ctx, const struct pyh_pymalloc_pool *p)
{
    struct builder *b = ctx;
    for (uint32_t i = 0; i < p->nblocks; i++) {
        if (pyh_pymalloc_pool_block_free(p, i)) continue;
        uint64_t off = (uint64_t)i * p->block_size;
        if (!visit_block(b, p->first + off, p->block_size, p->bytes + off)) return false;
    }
    return true;
}

/* What the mimalloc walk (build_mimalloc.c) finds: objects, and blocks that are none. A GC
 * object of a tallied type is listed in a GIL build under PYTHONMALLOC=mimalloc (tally_object
 * without its GC head), whose GC check looks for it in the table; counted in a free-threaded
 * one, which has no lists to check. */
static struct pyh_error *mimalloc_object(void *ctx, uint64_t obj, uint32_t type, const uint8_t *bytes,
                                         size_t avail, uint64_t block_size)
{
    struct builder *b = ctx;
    if (b->tallied && b->tallied[type])
        return tally_object(b, obj, type, PYH_LOC_MIMALLOC, bytes, avail, block_size, NULL);
    return add_object(b, obj, type, PYH_LOC_MIMALLOC, bytes, avail, block_size);
}

static struct pyh_error *mimalloc_block(void *ctx, uint64_t addr, uint64_t size)
{
    struct builder *b = ctx;
    struct block blk = {addr, size, 0};
    return PYH_APPEND(b->blocks, b->nblocks, b->blocks_cap, &blk);
}

static bool holds_pymalloc_arena(const struct builder *b, uint64_t start, uint64_t end)
{
    size_t lo = 0, hi = b->npymalloc_arenas;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->pymalloc_arenas[mid] < start) lo = mid + 1;
        else hi = mid;
    }
    return lo < b->npymalloc_arenas && b->pymalloc_arenas[lo] < end;
}

static struct pyh_error *visit_chunk(const struct pyh_glibc_chunk *c, void *ctx)
{
    struct builder *b = ctx;
    if (c->kind != PYH_GLIBC_INUSE && c->kind != PYH_GLIBC_MMAPPED) return NULL;
    uint64_t user = c->address + 16;
    /* In-use heap chunks lend their last 8 bytes to the next chunk's prev_size... as their
     * own: usable = size - 8; mmapped chunks have no neighbour: size - 16. */
    uint64_t usable = c->kind == PYH_GLIBC_MMAPPED ? c->size - 16 : c->size - 8;
    if (c->size < 32 || holds_pymalloc_arena(b, user, c->address + c->size)) return NULL;
    uint8_t bytes[256];
    size_t avail = usable < sizeof(bytes) ? (size_t)usable : sizeof(bytes);
    struct pyh_error *err = pyh_target_read(b->heap->rt->target, user, bytes, avail);
    if (err) {
        if (err->code == PYH_ERR_INTERRUPTED) return err;
        pyh_error_free(err);
        return NULL;
    }
    uint32_t type;
    uint64_t misfit = 0;
    uint64_t obj = b->heap->rt->free_threaded
                       ? pyh_heap_classify_ft(b->heap, user, bytes, avail, usable, -1, &type)
                       : pyh_heap_classify(b->heap, user, bytes, avail, usable, &type, &misfit);
    enum pyh_location loc = c->kind == PYH_GLIBC_MMAPPED ? PYH_LOC_MMAPPED : PYH_LOC_MALLOC;
    if (obj && b->tallied && b->tallied[type])
        return tally_object(b, obj, type, loc, bytes + (obj - user), avail - (obj - user), c->size,
                            obj - user >= 16 && !b->heap->rt->free_threaded
                                ? bytes + (obj - user) - 16 : NULL);
    if (obj)
        return add_object(b, obj, type, loc, bytes + (obj - user), avail - (obj - user), c->size);
    note_misfit(b->heap, misfit, type, usable);
    struct block blk = {user, usable, 0};
    return PYH_APPEND(b->blocks, b->nblocks, b->blocks_cap, &blk);
}

/* Whether addr lies inside a static type object, past its start: objects do not overlap,
 * and a type's slots (tp_getset then tp_base, ...) read as (count, type) in a non-PIE
 * executable, whose addresses are small. */
static bool inside_static_type(const struct builder *b, uint64_t addr)
{
    size_t lo = 0, hi = b->nstatic_types;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->static_types[mid] <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) return false;
    uint64_t type = b->static_types[lo - 1];
    return type < addr && addr < type + (uint64_t)b->heap->rt->layout.type_size;
}

/* Static objects: in the binaries' data, objects of registered types with a plausible
 * count (static types themselves, None, True, 3.12+ static strings and small ints). */
/* Whether a static object of type ti (bytes: a copy of it, avail bytes) is a type object
 * flagged as a heap type: a template that C code copies to make a heap type (mypyc's) carries
 * `type` as its type and a heap type's flags, but no heap type's struct: read as a type it
 * was 2 TiB. A static object is no heap type. (A static type not readied yet is a type.) */
static bool heap_type_template(const struct pyh_heap *heap, uint32_t ti, const uint8_t *bytes, size_t avail)
{
    size_t at = (size_t)heap->rt->layout.type_flags;
    uint64_t flags;
    if (!heap->types[ti].is_metatype || at + 8 > avail) return false;
    memcpy(&flags, bytes + at, 8);
    return (flags & PYH_TPFLAGS_HEAPTYPE) != 0;
}

static struct pyh_error *scan_static(struct pyh_heap *heap, uint64_t start, uint64_t end, void *ctx)
{
    struct builder *b = ctx;
    size_t len = (size_t)(end - start);
    if (len > (256u << 20)) return NULL; /* not a binary's data */
    uint8_t *buf = malloc(len);
    if (!buf) return pyh_error_nomem();
    struct pyh_error *err = pyh_target_read(heap->rt->target, start, buf, len);
    if (err) {
        pyh_error_free(err);
        free(buf);
        return NULL;
    }
    size_t at = (size_t)heap->rt->layout.object_type;
    for (size_t off = 0; off + at + 8 <= len && !err; off += 8) {
        uint64_t tp;
        memcpy(&tp, buf + off + at, 8);
        if (!pyh_refcnt_of(heap->rt, buf + off).plausible || !tp || (tp & 7)) continue;
        uint32_t ti = pyh_heap_type_at(heap, tp);
        if (ti == UINT32_MAX) continue;
        /* The whole object must be in this region, with room for its pre-header. */
        if (off < pyh_heap_header_position(heap->rt, heap->types[ti].flags) ||
            !pyh_heap_object_fits(heap, ti, buf + off, len - off, len - off) ||
            !pyh_heap_static_object_plausible(heap, ti, buf + off, len - off) ||
            inside_static_type(b, start + off) || heap_type_template(heap, ti, buf + off, len - off))
            continue;
        err = add_object(b, start + off, ti, PYH_LOC_STATIC, buf + off, len - off, 0);
        if (!err) heap->static_objects++;
    }
    free(buf);
    return err;
}

static int compare_blocks(const void *a, const void *b)
{
    uint64_t x = ((const struct block *)a)->addr, y = ((const struct block *)b)->addr;
    return x < y ? -1 : x > y;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The sorted addresses of the static types, for inside_static_type. */
static struct pyh_error *collect_static_types(struct builder *b)
{
    struct pyh_heap *heap = b->heap;
    b->static_types = malloc((heap->ntypes + 1) * sizeof(uint64_t));
    if (!b->static_types) return pyh_error_nomem();
    for (size_t i = 0; i < heap->ntypes; i++)
        if (!heap->types[i].heap) b->static_types[b->nstatic_types++] = heap->types[i].addr;
    qsort(b->static_types, b->nstatic_types, sizeof(uint64_t), compare_u64);
    return NULL;
}

/* Sorts the objects and drops duplicates (the first kept). The GC heads recorded stay
 * usable when the flagged objects are as many as the records (none dropped as a duplicate):
 * they came in strictly increasing order, so the table's order is theirs; their ranks are
 * then indexed. Locations stay in the type indices (split_locations). */
static struct pyh_error *sort_objects(struct builder *b)
{
    struct pyh_heap *heap = b->heap;
    size_t n = heap->nobjects;
    if (!pyh_objects_sort(heap->objects, n)) return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept && heap->objects[kept - 1].addr == heap->objects[i].addr) continue; /* dup */
        if (kept != i) heap->objects[kept] = heap->objects[i];
        kept++;
    }
    heap->nobjects = kept;
    if (b->gc_recording) {
        struct pyh_error *err = b->ngc_next ? PYH_BIG_GROW(b->gc_rank, b->gc_rank_cap, kept / 64 + 1) : NULL;
        pyh_error_free(err);
        b->gc_recording = b->ngc_next && !err;
    }
    if (!b->gc_recording) return NULL;
    uint64_t flagged = 0;
    for (size_t i = 0; i < kept; i++) {
        struct gc_rank *r = &b->gc_rank[i / 64];
        if (i % 64 == 0) *r = (struct gc_rank){0, flagged};
        if (heap->objects[i].type & GC_NEXT) {
            r->flagged |= 1ULL << (i % 64);
            flagged++;
        }
    }
    if (flagged != b->ngc_next) b->gc_recording = false;
    return NULL;
}

/* Moves the locations out of the type indices into their own array. Last: it is memory
 * the GC records need not share the peak with. */
static struct pyh_error *split_locations(struct pyh_heap *heap)
{
    size_t n = heap->nobjects;
    struct pyh_error *err = PYH_BIG_GROW(heap->locations, heap->locations_cap, n ? n : 1);
    if (err) return err;
    for (size_t i = 0; i < n; i++) {
        uint32_t type = heap->objects[i].type;
        heap->locations[i] = (uint8_t)((type >> LOC_SHIFT) & LOC_MASK);
        heap->objects[i].type = type & (MAX_TYPES - 1);
    }
    return NULL;
}

/* The recorded _gc_next of object i, when there is one. */
static bool recorded_gc_next(const struct builder *b, size_t i, uint64_t *next)
{
    if (!b->gc_recording) return false;
    const struct gc_rank *r = &b->gc_rank[i / 64];
    uint64_t below = r->flagged & ((1ULL << (i % 64)) - 1);
    if (!(r->flagged >> (i % 64) & 1)) return false;
    *next = b->gc_next[r->before + (uint64_t)__builtin_popcountll(below)];
    return true;
}

/* The block holding addr (its start <= addr < its end), or NULL. */
static struct block *block_at(struct builder *b, uint64_t addr)
{
    size_t lo = 0, hi = b->nblocks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->blocks[mid].addr <= addr) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return NULL;
    struct block *blk = &b->blocks[lo - 1];
    return addr < blk->addr + blk->size ? blk : NULL;
}

/* Marks the blocks objects own: list item arrays, dict keys and values, set tables,
 * bytearray buffers. */
static void mark_buffers(struct builder *b)
{
    struct pyh_heap *heap = b->heap;
    const struct pyh_layout *L = &heap->rt->layout;
    struct pyh_target *t = heap->rt->target;
    for (size_t i = 0; i < heap->nobjects; i++) {
        if ((i & 0xffff) == 0 && pyh_interrupted()) break;
        if ((i & 0xffff) == 0) pyh_progress("sizing objects", PYH_PROGRESS_OBJECTS, i, heap->nobjects);
        const struct pyh_object *o = &heap->objects[i];
        /* Before split_locations: the location is in the type index's top bits. */
        if (((o->type >> LOC_SHIFT) & LOC_MASK) == PYH_LOC_STATIC) continue;
        int32_t fields[2] = {-1, -1};
        const struct pyh_type *type = &heap->types[o->type & (MAX_TYPES - 1)];
        const struct pyh_kind *kind = pyh_kinds[type->kind];
        if (kind->buffers) kind->buffers(L, fields);
        /* The blocks a C __sizeof__ counts (kinds/c_sizeof.c) are the object's buffers too. */
        pyh_sizeof_rule_buffers((enum pyh_sizeof_rule)type->sizeof_rule, fields);
        if (fields[0] < 0 && fields[1] < 0) continue;
        /* A core container's size is its struct (with its pre-header) and its buffers:
         * when every buffer is an allocator block, their sizes bound it. */
        bool core = kind->buffers != NULL, bounded = core && !type->sizeof_rule;
        uint64_t bound = (uint64_t)type->basicsize + 64; /* pre-header and rounding */
        for (int k = 0; k < 2; k++) {
            uint64_t p;
            if (fields[k] < 0) continue;
            struct pyh_error *err = pyh_read_u64(t, o->addr + (uint64_t)fields[k], &p);
            if (err) {
                pyh_error_free(err);
                bounded = false;
                continue;
            }
            struct block *blk = p ? block_at(b, p) : NULL;
            if (blk) {
                blk->owned = 1;
                bound += blk->addr + blk->size - p;
            } else if (p) {
                bounded = false; /* in the object itself, static data, or no block known */
                uint8_t byte;
                struct pyh_error *unreadable = core ? pyh_target_read(t, p, &byte, 1) : NULL;
                if (unreadable) {
                    char msg[160];
                    snprintf(msg, sizeof(msg), "its buffer pointer (at +%d) is 0x%llx: %s",
                             fields[k], (unsigned long long)p, pyh_error_message(unreadable));
                    pyh_read_failure(&heap->buffers_unread, o->addr, 0, msg);
                    pyh_error_free(unreadable);
                }
            }
        }
        if (bounded) {
            uint64_t size = pyh_heap_object_size(heap, i);
            if (size > bound) {
                char msg[200];
                snprintf(msg, sizeof(msg),
                         "it claims %llu bytes, more than the %llu bytes of the blocks holding "
                         "it and its buffers",
                         (unsigned long long)size, (unsigned long long)bound);
                pyh_read_failure(&heap->size_bounded, o->addr, 0, msg);
                /* A bound of 2^32 or more implies a size that is already in big_sizes. */
                if (bound < UINT32_MAX)
                    heap->objects[i].size = (uint32_t)bound;
                else
                    pyh_error_free(pyh_u64map_put(&heap->big_sizes, o->addr, bound));
            }
        }
    }
    for (size_t i = 0; i < b->nblocks; i++) {
        struct pyh_block_stats *s = b->blocks[i].owned ? &heap->buffers : &heap->native;
        s->count++;
        s->bytes += b->blocks[i].size;
    }
}

/* Keeps the native blocks (in address order, as the blocks are) for the referents of C
 * fields and the native memory objects own. */
static struct pyh_error *keep_native_blocks(struct builder *b)
{
    struct pyh_heap *heap = b->heap;
    if (!heap->native.count) return NULL;
    heap->native_blocks = malloc(heap->native.count * sizeof(*heap->native_blocks));
    if (!heap->native_blocks) return pyh_error_nomem();
    for (size_t i = 0; i < b->nblocks; i++)
        if (!b->blocks[i].owned)
            heap->native_blocks[heap->nnative_blocks++] =
                (struct pyh_native_block){b->blocks[i].addr, b->blocks[i].size};
    return NULL;
}

/* The index of the element whose first word (an address) is key, or SIZE_MAX, among n
 * elements of stride bytes sorted by it, searched from *finger outwards (the GC lists go
 * mostly in address order: most steps are short); *finger becomes where it ended. For the
 * table (struct pyh_object) and the counted GC objects (struct tallied_gc) alike. */
static size_t near(const void *elements, size_t n, size_t stride, uint64_t key, size_t *finger)
{
#define AT(k) (*(const uint64_t *)((const char *)elements + (k) * stride))
    size_t lo, hi;
    if (!n) return SIZE_MAX;
    size_t f = *finger < n ? *finger : n - 1;
    if (AT(f) < key) { /* in (f, n): gallop up */
        size_t step = 1;
        lo = f + 1;
        while (lo + step < n && AT(lo + step) < key) lo += step, step *= 2;
        hi = lo + step < n ? lo + step + 1 : n;
    } else { /* in [0, f]: gallop down */
        size_t step = 1;
        hi = f + 1;
        while (hi > step && AT(hi - 1 - step) >= key) hi -= step, step *= 2;
        lo = hi > step ? hi - 1 - step : 0;
    }
    while (lo < hi) { /* the first at or above key in [lo, hi) */
        size_t mid = lo + (hi - lo) / 2;
        if (AT(mid) < key) lo = mid + 1;
        else hi = mid;
    }
    *finger = lo;
    return lo < n && AT(lo) == key ? lo : SIZE_MAX;
#undef AT
}
_Static_assert(offsetof(struct pyh_object, addr) == 0, "near() keys on the first word");
_Static_assert(offsetof(struct tallied_gc, obj) == 0, "near() keys on the first word");

/* Every GC-tracked object must be among the objects found. A node that is an object whose
 * GC head was recorded is followed in memory, any other read from the target. */
struct gc_check {
    struct builder *b;
    size_t finger, tallied_finger;
};

/* Inlined into pyh_gc_visit's loop (always_inline: it runs once per GC object; called
 * through the pointer, 2% more instructions for a whole `types`). */
static inline __attribute__((always_inline)) struct pyh_error *
check_gc_head(uint64_t node, size_t interp, int generation, uint64_t *next, bool *stop, void *ctx)
{
    (void)interp, (void)generation, (void)stop;
    struct gc_check *c = ctx;
    struct pyh_heap *heap = c->b->heap;
    heap->gc_tracked++;
    /* The object follows its GC head. */
    /* Counted ones first: where there are any, most GC objects are (tuples, instances). */
    size_t i, k = near(c->b->tallied_gc, c->b->ntallied_gc, sizeof(struct tallied_gc), node + 16,
                        &c->tallied_finger);
    if (k != SIZE_MAX) {
        *next = c->b->tallied_gc[k].next;
    } else if ((i = near(heap->objects, heap->nobjects, sizeof(struct pyh_object), node + 16, &c->finger)) !=
               SIZE_MAX) {
        recorded_gc_next(c->b, i, next);
    } else {
        if (heap->gc_missing < 8) heap->gc_missing_sample[heap->gc_missing] = node + 16;
        heap->gc_missing++;
    }
    return NULL;
}

static struct pyh_error *check_gc_lists(struct builder *b)
{
    struct pyh_heap *heap = b->heap;
    struct pyh_runtime *rt = heap->rt;
    struct gc_check c = {b, 0, 0};
    struct pyh_error *err = pyh_gc_visit(rt, true, check_gc_head, &c);
    if (err) return err;
    if (heap->gc_missing)
        pyh_diag_warn(rt->diag, "%llu of %llu GC-tracked objects are not in any allocator block "
                                "(the first at 0x%llx): they are not counted",
                      (unsigned long long)heap->gc_missing, (unsigned long long)heap->gc_tracked,
                      (unsigned long long)heap->gc_missing_sample[0]);
    return NULL;
}

static int compare_tallied_gc(const void *a, const void *b)
{
    uint64_t x = ((const struct tallied_gc *)a)->obj, y = ((const struct tallied_gc *)b)->obj;
    return x < y ? -1 : x > y;
}

/* PYH_LIST_CENSUS: which types' objects are counted instead of listed — those the census
 * needs no more of than their count and size: no buffer of theirs is marked (mark_buffers),
 * no C field of theirs is followed to native memory (the census's native owners), and no
 * size of theirs is bounded by their buffers. Then heap->tally to count them in. */
static struct pyh_error *choose_tallied(struct builder *b)
{
    struct pyh_heap *heap = b->heap;
    size_t n = heap->ntypes ? heap->ntypes : 1;
    b->tallied = calloc(n, 1);
    heap->tally = calloc(n, sizeof(*heap->tally));
    if (!b->tallied || !heap->tally) return pyh_error_nomem();
    for (size_t i = 0; i < heap->ntypes; i++) {
        const struct pyh_type *t = &heap->types[i];
        b->tallied[i] = !pyh_kinds[t->kind]->buffers && !t->sizeof_rule && !pyh_type_holds_native_pointers(t);
    }
    return NULL;
}

/* The tallied GC objects in address order, for check_gc_head's search (near). pymalloc's come in address
 * order, then glibc's (arena by arena, below or above them): the rest after the first run in
 * order is sorted and merged into it from the end, not the whole sorted again. */
static struct pyh_error *sort_tallied_gc(struct builder *b)
{
    struct tallied_gc *g = b->tallied_gc;
    size_t n = b->ntallied_gc, run = 1;
    while (run < n && g[run - 1].obj < g[run].obj) run++;
    if (run >= n) return NULL;
    size_t nrest = n - run;
    struct tallied_gc *rest = malloc(nrest * sizeof(*rest));
    if (!rest) return pyh_error_nomem();
    memcpy(rest, g + run, nrest * sizeof(*rest));
    qsort(rest, nrest, sizeof(*rest), compare_tallied_gc);
    size_t i = run, j = nrest, k = n;
    while (j > 0) g[--k] = i > 0 && g[i - 1].obj > rest[j - 1].obj ? g[--i] : rest[--j];
    free(rest);
    return NULL;
}

/* Frees what the builder owns (twice is fine). */
static void free_builder(struct builder *b)
{
    free(b->blocks);
    free(b->pymalloc_arenas);
    free(b->static_types);
    pyh_big_free(b->gc_next, b->gc_next_cap, sizeof(*b->gc_next));
    pyh_big_free(b->gc_rank, b->gc_rank_cap, sizeof(*b->gc_rank));
    free(b->tallied);
    pyh_big_free(b->tallied_gc, b->tallied_gc_cap, sizeof(*b->tallied_gc));
    b->tallied = NULL;
    b->tallied_gc = NULL;
    b->blocks = NULL;
    b->pymalloc_arenas = b->static_types = b->gc_next = NULL;
    b->gc_rank = NULL;
}

struct pyh_error *pyh_heap_build(struct pyh_runtime *rt, const struct pyh_pymalloc *pm,
                                 const struct pyh_mimalloc *mi, struct pyh_glibc *glibc,
                                 enum pyh_heap_listing listing,
                                 struct pyh_heap **out)
{
    *out = NULL;
    struct pyh_heap *heap = calloc(1, sizeof(*heap));
    if (!heap) return pyh_error_nomem();
    heap->rt = rt;
    heap->tables_mapped = true;
    struct builder b = {.heap = heap, .gc_recording = true};
    struct pyh_error *err = pyh_heap_find_types(heap, glibc, mi);
    if (err) goto fail;
    pyh_heap_assign_kinds(heap);
    if (heap->ntypes > MAX_TYPES) {
        err = pyh_error_create(PYH_ERR_CORRUPT, "%zu types registered: no heap has that many",
                               heap->ntypes);
        goto fail;
    }

    if (listing == PYH_LIST_CENSUS && (err = choose_tallied(&b))) goto fail;
    if (pm) {
        /* Room for every block pymalloc counts in use, an object or not: the table is not
         * regrown (and copied, when realloc cannot move pages) while its bulk is found. Pages
         * of it never written cost nothing; without the memory, it grows as it goes. */
        if (listing == PYH_LIST_ALL && pm->blocks_used && pm->blocks_used < SIZE_MAX / sizeof(*heap->objects)) {
            struct pyh_error *grow = PYH_BIG_GROW(heap->objects, heap->objects_cap, (size_t)pm->blocks_used);
            pyh_error_free(grow);
        }
        b.npymalloc_arenas = pm->narenas;
        b.arena_size = pm->arena_size;
        b.pymalloc_arenas = malloc((pm->narenas + 1) * sizeof(uint64_t));
        if (!b.pymalloc_arenas) {
            err = pyh_error_nomem();
            goto fail;
        }
        for (size_t i = 0; i < pm->narenas; i++) b.pymalloc_arenas[i] = pm->arenas[i].address;
        qsort(b.pymalloc_arenas, pm->narenas, sizeof(uint64_t), compare_u64);
        if ((err = pyh_pymalloc_visit(rt, pm, visit_pool, &b))) goto fail;
        if ((err = b.err)) goto fail;
    }
    struct pyh_heap_mimalloc_sink sink = {mimalloc_object, mimalloc_block, &b};
    if (mi && (err = pyh_heap_mimalloc_visit(heap, mi, &sink))) goto fail;
    if (glibc && (err = pyh_glibc_visit(glibc, visit_chunk, &b))) goto fail;
    if ((err = sort_tallied_gc(&b))) goto fail;
    if ((err = collect_static_types(&b))) goto fail;
    if ((err = pyh_heap_for_each_data_region(heap, scan_static, &b))) goto fail;
    if ((err = sort_objects(&b))) goto fail;
    if (b.nblocks > 1) qsort(b.blocks, b.nblocks, sizeof(*b.blocks), compare_blocks);
    mark_buffers(&b);
    if ((err = keep_native_blocks(&b))) goto fail;
    if ((err = pyh_check_interrupt())) goto fail;
    if ((err = check_gc_lists(&b))) goto fail;
    free_builder(&b);
    if ((err = split_locations(heap))) goto fail;
    *out = heap;
    return NULL;
fail:
    free_builder(&b);
    pyh_heap_free(heap);
    return err;
}

void pyh_heap_free(struct pyh_heap *heap)
{
    if (!heap) return;
    for (size_t i = 0; i < heap->ntypes; i++) free(heap->types[i].name);
    free(heap->types);
    pyh_u64map_free(&heap->type_index);
    if (heap->tables_mapped) {
        pyh_big_free(heap->objects, heap->objects_cap, sizeof(*heap->objects));
        pyh_big_free(heap->locations, heap->locations_cap, sizeof(*heap->locations));
    } else {
        free(heap->objects);
        free(heap->locations);
    }
    pyh_u64map_free(&heap->big_sizes);
    free(heap->tally);
    free(heap->native_blocks);
    free(heap->native_refs);
    free(heap);
}

size_t pyh_heap_native_at(const struct pyh_heap *heap, uint64_t addr)
{
    size_t lo = 0, hi = heap->nnative_blocks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (heap->native_blocks[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < heap->nnative_blocks && heap->native_blocks[lo].addr == addr ? lo : SIZE_MAX;
}

size_t pyh_heap_object_in(const struct pyh_heap *heap, size_t lo, size_t hi, uint64_t addr)
{
    size_t end = hi;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (heap->objects[mid].addr < addr) lo = mid + 1;
        else hi = mid;
    }
    return lo < end && heap->objects[lo].addr == addr ? lo : SIZE_MAX;
}

size_t pyh_heap_object_at(const struct pyh_heap *heap, uint64_t addr)
{
    return pyh_heap_object_in(heap, 0, heap->nobjects, addr);
}

uint64_t pyh_heap_object_size(const struct pyh_heap *heap, size_t i)
{
    uint64_t size = heap->objects[i].size;
    if (size == UINT32_MAX) pyh_u64map_get(&heap->big_sizes, heap->objects[i].addr, &size);
    return size;
}
