/* Single objects; see object_info.h. */
#include "analysis/object_info.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/gc.h"
#include "runtime/objects.h"
#include "runtime/refcount.h"

const char *pyh_location_name(enum pyh_location loc)
{
    static const char *const names[] = {"pymalloc", "malloc", "mmap", "static", "mimalloc"};
    return loc <= PYH_LOC_MIMALLOC ? names[loc] : "?";
}

/* The object containing addr: the last one starting at or before it, if addr is inside. */
static size_t containing(const struct pyh_heap *heap, uint64_t addr)
{
    size_t lo = 0, hi = heap->nobjects;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (heap->objects[mid].addr <= addr) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return SIZE_MAX;
    size_t i = lo - 1;
    uint64_t size = pyh_heap_object_size(heap, i);
    return addr < heap->objects[i].addr + (size ? size : 16) ? i : SIZE_MAX;
}

/* An error saying what addr is when it lies in no binary's data (its writable mappings and
 * the anonymous one right after each, .bss), where no static object can be; NULL otherwise. */
static struct pyh_error *outside_binaries(const struct pyh_heap *heap, uint64_t addr)
{
    const struct pyh_target *t = heap->rt->target;
    const struct pyh_mapping *m = pyh_target_mapping_at(t, addr);
    if (pyh_heap_in_data_region(heap, addr)) return NULL;
    size_t b = heap->nnative_blocks, lo = 0, hi = heap->nnative_blocks;
    while (lo < hi) { /* the last native block starting at or before addr */
        size_t mid = lo + (hi - lo) / 2;
        if (heap->native_blocks[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo) b = lo - 1;
    if (b < heap->nnative_blocks &&
        addr < heap->native_blocks[b].addr + heap->native_blocks[b].size)
        return pyh_error_create(PYH_ERR_NOT_FOUND,
                                "no object at 0x%llx: it is %llu bytes into a native allocation of "
                                "%llu bytes at 0x%llx (no Python object)",
                                (unsigned long long)addr,
                                (unsigned long long)(addr - heap->native_blocks[b].addr),
                                (unsigned long long)heap->native_blocks[b].size,
                                (unsigned long long)heap->native_blocks[b].addr);
    lo = 0, hi = heap->nobjects;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (heap->objects[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo && m)
        return pyh_error_create(
            PYH_ERR_NOT_FOUND,
            "no object at 0x%llx: it is in no object's sys.getsizeof extent nor "
            "in a native allocation (the nearest object before it: 0x%llx, %s, "
            "%llu bytes; a buffer it owns or its block's slack)",
            (unsigned long long)addr, (unsigned long long)heap->objects[lo - 1].addr,
            pyh_heap_type_name((struct pyh_heap *)heap, heap->objects[lo - 1].type),
            (unsigned long long)pyh_heap_object_size(heap, lo - 1));
    return pyh_error_create(PYH_ERR_NOT_FOUND, "no object at 0x%llx: it is in no object%s",
                            (unsigned long long)addr,
                            m ? "" : " (and in no mapping of the target)");
}

struct pyh_error *pyh_object_info(struct pyh_heap *heap, uint64_t addr, struct pyh_object_info *info)
{
    struct pyh_runtime *rt = heap->rt;
    memset(info, 0, sizeof(*info));
    info->generation = -1;
    size_t i = pyh_heap_object_at(heap, addr);
    if (i == SIZE_MAX) i = containing(heap, addr);
    if (i != SIZE_MAX) {
        info->addr = heap->objects[i].addr;
        info->type = heap->objects[i].type;
        info->size = pyh_heap_object_size(heap, i);
        info->location = (enum pyh_location)heap->locations[i];
        info->in_table = true;
    } else {
        /* Not in an object's extent: a static object if addr is in a binary's data, never
         * an object read from the middle of a heap block (what lies past an object's
         * sys.getsizeof extent, a native block, a buffer: its words are no header). */
        struct pyh_error *err = outside_binaries(heap, addr);
        if (err) return err;
        uint64_t type;
        err = pyh_obj_type(rt, addr, &type);
        if (err) return pyh_error_wrap(err, "no object at 0x%llx", (unsigned long long)addr);
        uint32_t ti = pyh_heap_type_at(heap, type);
        if (ti == UINT32_MAX)
            return pyh_error_create(PYH_ERR_NOT_FOUND,
                                    "no object at 0x%llx: not in any allocator block, and what is "
                                    "there has no known type (0x%llx)",
                                    (unsigned long long)addr, (unsigned long long)type);
        info->addr = addr;
        info->type = ti;
        info->location = PYH_LOC_STATIC;
        if ((err = pyh_object_sizeof(heap, addr, ti, &info->size))) return err;
    }
    struct pyh_refcnt rc;
    struct pyh_error *err = pyh_refcnt_read(rt, info->addr, &rc);
    if (err) return err;
    info->refcount = (int64_t)rc.count;
    info->gc_type = (heap->types[info->type].flags & PYH_TPFLAGS_HAVE_GC) != 0;
    if (info->gc_type && info->location != PYH_LOC_STATIC && rt->free_threaded) {
        /* No generations: tracked or not, as ob_gc_bits says (gc.h). */
        uint8_t bits;
        if ((err = pyh_read_u8(rt->target, info->addr + PYH_GC_BITS_OFFSET, &bits))) return err;
        info->tracked = (bits & PYH_GC_BITS_TRACKED) != 0;
    } else if (info->gc_type && info->location != PYH_LOC_STATIC) {
        uint64_t next;
        if (!(err = pyh_read_u64(rt->target, info->addr - 16, &next)) && next) {
            info->tracked = true;
            err = pyh_gc_generation_of(rt, info->addr - 16, &info->generation);
        }
        if (err) return err;
    }
    pyh_details(heap, info->addr, info->type, &info->details);
    return NULL;
}


static int larger_first(const void *a, const void *b, void *arg)
{
    const struct pyh_heap *heap = arg;
    uint64_t x = pyh_heap_object_size(heap, *(const size_t *)a);
    uint64_t y = pyh_heap_object_size(heap, *(const size_t *)b);
    if (x != y) return x > y ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

struct pyh_error *pyh_objects_of_type(struct pyh_heap *heap, const char *name, uint64_t min_size,
                                      size_t limit, size_t **indices, size_t *n, uint64_t *total,
                                      uint64_t *total_size)
{
    *indices = NULL;
    *n = *total = *total_size = 0;
    bool *wanted = calloc(heap->ntypes ? heap->ntypes : 1, sizeof(bool));
    if (!wanted) return pyh_error_nomem();
    bool any = false;
    char *end;
    uint64_t as_addr = strtoull(name, &end, 0);
    for (size_t t = 0; t < heap->ntypes; t++) {
        wanted[t] = strcmp(pyh_heap_type_name(heap, (uint32_t)t), name) == 0 ||
                    (*end == '\0' && heap->types[t].addr == as_addr);
        any |= wanted[t];
    }
    if (!any) {
        free(wanted);
        return pyh_error_create(PYH_ERR_USAGE, "no type named '%s' (see `types` for the names)", name);
    }
    size_t *list = malloc((heap->nobjects ? heap->nobjects : 1) * sizeof(size_t));
    if (!list) {
        free(wanted);
        return pyh_error_nomem();
    }
    for (size_t i = 0; i < heap->nobjects; i++) {
        if (!wanted[heap->objects[i].type] || heap->locations[i] == PYH_LOC_STATIC) continue;
        uint64_t size = pyh_heap_object_size(heap, i);
        ++*total;
        *total_size += size;
        if (size >= min_size) list[(*n)++] = i;
    }
    free(wanted);
    qsort_r(list, *n, sizeof(size_t), larger_first, heap);
    if (limit && *n > limit) *n = limit;
    *indices = list;
    return NULL;
}
