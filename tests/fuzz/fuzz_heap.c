/* See fuzz_heap.h. */
#include "fuzz_heap.h"

#include <stdlib.h>
#include <string.h>

#include "heap/classify.h"
#include "util/mem.h"

#define MAX_TYPES 4096
#define MAX_BLOCKS 65536
#define TYPE_ROUNDS 4

static uint64_t word_at(const struct fuzz_region *r, size_t off)
{
    uint64_t v = 0;
    if (off + 8 <= r->datalen) memcpy(&v, r->data + off, 8);
    return v;
}

/* One round of the type scan: candidates whose ob_type is `type` or a known metatype. */
static bool scan_types(struct fuzz_heap *fh, struct fuzz_image *img)
{
    struct pyh_heap *heap = fh->heap;
    bool progress = false;
    for (size_t i = 0; i < img->nregions; i++) {
        const struct fuzz_region *r = &img->regions[i];
        for (size_t off = 0; off + 16 <= r->datalen && heap->ntypes < MAX_TYPES; off += 8) {
            uint64_t meta = word_at(r, off + 8);
            if (!meta) continue;
            uint32_t mi = pyh_heap_type_at(heap, meta);
            if (meta != fh->fr.rt->types.type && (mi == UINT32_MAX || !heap->types[mi].is_metatype))
                continue;
            bool added = false;
            struct pyh_error *err = pyh_heap_add_type(heap, r->addr + off, &added);
            if (err) {
                pyh_error_free(err);
                return false;
            }
            progress |= added;
        }
    }
    return progress;
}

static int compare_objects(const void *a, const void *b)
{
    uint64_t x = ((const struct pyh_object *)a)->addr, y = ((const struct pyh_object *)b)->addr;
    return x < y ? -1 : x > y;
}

static void add_object(struct pyh_heap *heap, uint64_t obj, uint32_t ti, uint64_t size)
{
    struct pyh_object o = {obj, ti, size >= UINT32_MAX ? UINT32_MAX : (uint32_t)size};
    if (size >= UINT32_MAX) fuzz_ignore(pyh_u64map_put(&heap->big_sizes, obj, size));
    fuzz_ignore(PYH_APPEND(heap->objects, heap->nobjects, heap->objects_cap, &o));
}

static void classify_blocks(struct fuzz_heap *fh, struct fuzz_image *img)
{
    struct pyh_heap *heap = fh->heap;
    struct pyh_target *t = fh->fr.target;
    size_t nblocks = 0;
    uint8_t bytes[512];
    for (size_t i = 0; i < img->nregions && nblocks < MAX_BLOCKS; i++) {
        const struct fuzz_region *r = &img->regions[i];
        unsigned k = r->flags >> 3;
        if (k == 0) continue;
        uint64_t bsize = k == 31 ? r->size : 16u * k;
        if (bsize < 16) continue;
        for (uint64_t off = 0; off + bsize <= r->size && nblocks < MAX_BLOCKS; off += bsize, nblocks++) {
            uint64_t block = r->addr + off;
            /* pymalloc blocks are copied whole; of a chunk (the region is its usable
             * part) the first 256 bytes are copied, as the heap layer does. */
            uint64_t usable = bsize, cap = k == 31 ? 256 : sizeof(bytes);
            size_t avail = (size_t)(usable < cap ? usable : cap);
            struct pyh_error *err = pyh_target_read(t, block, bytes, avail);
            if (err) {
                pyh_error_free(err);
                continue;
            }
            uint32_t ti = 0;
            uint64_t obj = pyh_heap_classify(heap, block, bytes, avail, usable, &ti, NULL);
            if (!obj) continue;
            uint64_t size = 0, size2 = 0;
            err = pyh_heap_sizeof(heap, obj, ti, bytes + (obj - block), avail - (obj - block), &size);
            if (err) {
                pyh_error_free(err);
                size = (uint64_t)heap->types[ti].basicsize;
            }
            fuzz_ignore(pyh_object_sizeof(heap, obj, ti, &size2));
            add_object(heap, obj, ti, size);
        }
    }
    if (heap->nobjects > 1) qsort(heap->objects, heap->nobjects, sizeof(*heap->objects), compare_objects);
    size_t kept = 0;
    for (size_t i = 0; i < heap->nobjects; i++)
        if (!kept || heap->objects[kept - 1].addr != heap->objects[i].addr) heap->objects[kept++] = heap->objects[i];
    heap->nobjects = kept;
}

bool fuzz_heap_open(struct fuzz_heap *fh, struct fuzz_image *img)
{
    memset(fh, 0, sizeof(*fh));
    if (img->nregions == 0) return false;
    int minor = 8 + img->selector % 6;
    if (!fuzz_runtime_open(&fh->fr, img, minor, false)) return false;
    struct pyh_runtime *rt = fh->fr.rt;
    uint64_t h = img->header;
    uint64_t *types = (uint64_t *)&rt->types;
    for (size_t i = 0; i < sizeof(rt->types) / 8; i++) (void)fuzz_image_u64(img, h + 8 * i, &types[i]);
    (void)fuzz_image_u64(img, h + 256, &fh->iframe);
    fh->heap = calloc(1, sizeof(*fh->heap));
    if (!fh->heap) {
        fuzz_runtime_close(&fh->fr);
        return false;
    }
    fh->heap->rt = rt;
    for (int round = 0; round < TYPE_ROUNDS && scan_types(fh, img); round++) {
    }
    pyh_heap_assign_kinds(fh->heap);
    classify_blocks(fh, img);
    return true;
}

void fuzz_heap_close(struct fuzz_heap *fh)
{
    pyh_heap_free(fh->heap);
    fuzz_runtime_close(&fh->fr);
    memset(fh, 0, sizeof(*fh));
}
