/* mimalloc, the allocator of free-threaded CPython (3.13t+: every object and PyMem block) and
 * of a GIL build run with PYTHONMALLOC=mimalloc: its segments, the pages in them and the
 * state of every block.
 *
 * What the walker reads (x86-64, release builds of the mimalloc CPython bundles):
 *   segment  32 MiB aligned (MI_SEGMENT_SIZE), a header `mi_segment_t` at its start whose
 *            `slices[]` array describes its 64 KiB slices; a page is a run of slices whose
 *            first entry has slice_count > 0, slice_offset 0 and a block size > 0 (a run with
 *            block size 0 is a free span; the first segment_info_slices hold the header).
 *   page     `mi_page_t` = the slice entry: capacity blocks carved of block_size bytes from
 *            page_start; `used` counts the blocks handed out and not yet collected: a block
 *            freed by its own thread goes to `local_free` and leaves `used` at once; one freed
 *            by another thread goes to `xthread_free` (low 2 bits: delayed-free state) and
 *            stays in `used` until the owner collects it. So
 *                free + local_free = capacity - used,  live = used - xthread_free.
 *   tag      the heap that owns the page: CPython gives each kind of memory its own heap
 *            (0 MEM, 1 OBJECT, 2 GC, 3 GC_PRE: GC objects with the 16-byte pre-header,
 *            whose object starts 16 bytes into the block).
 * Two versions: mimalloc 2.1.2 (CPython 3.13, 3.14.0-3.14.7: mi_page_t 96 bytes) and 2.5.2
 * (3.14.10 and 3.15: 112 bytes, fields moved, page_start stored), each in a free-threaded
 * and a GIL build (mi_page_t 16 bytes shorter: no QSBR fields); a segment is read with the
 * layout whose header checks out and whose slice runs chain to its end (pyh_mimalloc_probe).
 *
 * Target data is untrusted: a page whose header is impossible, or whose free lists leave the
 * page, point between blocks, repeat a block or loop, is rejected with a warning naming it
 * (its blocks are neither counted nor visited) and the results are marked partial. */
#ifndef PYH_ALLOCATORS_MIMALLOC_H
#define PYH_ALLOCATORS_MIMALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "target/target.h"
#include "util/diag.h"
#include "util/error.h"

#define PYH_MI_SEGMENT_SIZE (32ull << 20)
#define PYH_MI_SLICE_SIZE (64ull << 10)
#define PYH_MI_SLICES_PER_SEGMENT 512u

/* CPython's heap tags (pycore_mimalloc.h _Py_mimalloc_heap_id). */
enum pyh_mi_tag { PYH_MI_TAG_MEM, PYH_MI_TAG_OBJECT, PYH_MI_TAG_GC, PYH_MI_TAG_GC_PRE,
                  PYH_MI_NTAGS };

/* "mem", "object", "gc", "gc_pre"; "?" past them. */
const char *pyh_mi_tag_name(unsigned tag);

/* Where the fields are: one table per mimalloc version. */
struct pyh_mimalloc_layout {
    const char *version;     /* "2.1.2" */
    uint32_t version_number; /* MI_MALLOC_VERSION: 212, 20502 */
    bool free_threaded;      /* mi_page_t ends with CPython's QSBR fields (Py_GIL_DISABLED) */
    /* mi_segment_t */
    uint32_t segment_header; /* sizeof(mi_segment_t) */
    uint32_t seg_segment_size, seg_used, seg_segment_slices, seg_info_slices, seg_kind,
        seg_slice_entries, seg_thread_id, seg_commit_mask, seg_slices;
    /* mi_page_t (= mi_slice_t) */
    uint32_t page_size; /* sizeof(mi_page_t) */
    uint32_t pg_slice_count, pg_slice_offset, pg_capacity, pg_reserved, pg_free,
        pg_local_free, pg_xthread_free, pg_used, pg_xheap;
    uint8_t used_width;       /* bytes of `used`: 4 (2.1.2) or 2 */
    uint32_t pg_block_size;   /* xblock_size (u32) in 2.1.2, block_size (size_t) after */
    uint8_t block_size_width; /* 4 or 8 */
    uint32_t pg_page_start;   /* 0: computed from the slice (2.1.2) */
    uint32_t pg_tag;          /* byte holding the tag */
    uint8_t tag_shift, tag_mask;
};

/* Free-threaded builds, and GIL builds (PYTHONMALLOC=mimalloc: a page 16 bytes shorter). */
extern const struct pyh_mimalloc_layout pyh_mimalloc_layout_212, pyh_mimalloc_layout_252,
    pyh_mimalloc_layout_212_gil, pyh_mimalloc_layout_252_gil;

/* One page in use. */
struct pyh_mimalloc_page {
    uint64_t segment;    /* its segment */
    uint64_t address;    /* its mi_page_t (slice entry) */
    uint64_t start;      /* first block */
    uint64_t block_size;
    uint32_t slice_index, slice_count;
    uint32_t capacity, reserved; /* blocks carved, blocks room for */
    uint32_t used;       /* the field as stored */
    uint32_t nfree, nlocal_free, nthread_free; /* lengths of the three lists */
    uint32_t live;       /* capacity - the three lists */
    uint8_t tag;
    bool consistent;     /* free + local_free == capacity - used, thread_free <= used */
    uint64_t *free_map;  /* bit i set: block i is in one of the lists (capacity bits) */
};

/* One segment. */
struct pyh_mimalloc_segment {
    uint64_t address;
    uint64_t size;           /* segment_size */
    uint32_t kind;           /* 0 normal, 1 huge */
    uint32_t slice_entries, info_slices;
    uint64_t committed;      /* bytes the commit mask says are committed */
    uint64_t thread_id;      /* owning thread (0: abandoned) */
    uint32_t pages, free_slices;
    const struct pyh_mimalloc_layout *layout;
};

/* Blocks of one size (mimalloc's bins are sizes: one line per block size seen). */
struct pyh_mimalloc_class {
    uint64_t block_size;
    uint64_t pages, blocks_live, blocks_free;
    uint64_t empty_pages; /* pages in use by a heap with no live block */
};

struct pyh_mimalloc {
    const struct pyh_mimalloc_layout *layout; /* of the segments (the first one's) */
    bool mixed_layouts;                       /* segments disagree (a warning was given) */
    struct pyh_mimalloc_segment *segments;
    size_t nsegments, segments_cap;
    struct pyh_mimalloc_page *pages; /* by segment, then slice */
    size_t npages, pages_cap;
    struct pyh_mimalloc_class *classes; /* by block size */
    size_t nclasses, classes_cap;

    uint64_t blocks_live, blocks_free, bytes_live, bytes_free_in_pages;
    uint64_t tag_live[PYH_MI_NTAGS], tag_bytes[PYH_MI_NTAGS], tag_pages[PYH_MI_NTAGS];
    uint64_t empty_pages;    /* pages with capacity but no live block */
    uint64_t free_slices;    /* slices in free spans */
    uint64_t committed;      /* segments' committed bytes */
    uint64_t bad_pages;      /* rejected (warned) */

    /* Resident bytes (pyh_mimalloc_resident), from page-level evidence only. */
    bool resident_known;
    uint64_t resident_live;     /* of the live blocks */
    uint64_t resident_segments; /* of the segments, their headers and free slices included */
};

/* Which layout reads the segment header hdr (len bytes from a 32 MiB-aligned address, the
 * whole header for the slice table to be checked): NULL when none, or more than one,
 * checks out. */
const struct pyh_mimalloc_layout *pyh_mimalloc_probe(const uint8_t *hdr, size_t len);

/* Walks the segment at addr with layout l (NULL: probed) and adds it to m. An unreadable
 * or implausible header is an error (nothing added); bad pages are warnings. */
struct pyh_error *pyh_mimalloc_add_segment(struct pyh_target *t, struct pyh_mimalloc *m,
                                           uint64_t addr, const struct pyh_mimalloc_layout *l,
                                           struct pyh_diag *diag);

/* Finds the segments by structure: every 32 MiB-aligned address of a writable anonymous
 * mapping whose header checks out with one of the layouts, and walks them. *out is NULL
 * when none was found (no mimalloc in use). */
struct pyh_error *pyh_mimalloc_open(struct pyh_target *t, struct pyh_diag *diag,
                                    struct pyh_mimalloc **out);

void pyh_mimalloc_free(struct pyh_mimalloc *m);

/* Fills m's resident figures from r when it tells pages apart (r->by_page); else leaves
 * them unknown. A page whose blocks are all resident costs one lookup, others one per live
 * block. */
void pyh_mimalloc_resident(struct pyh_mimalloc *m, const struct pyh_residency *r);

/* Called for every carved block of every page accepted, in page order. The object of a
 * GC_PRE block is at addr + 16. Return false to stop. */
typedef bool (*pyh_mimalloc_visitor)(void *ctx, const struct pyh_mimalloc_page *page,
                                     uint64_t addr, bool live);

void pyh_mimalloc_visit(const struct pyh_mimalloc *m, pyh_mimalloc_visitor visit, void *ctx);

#endif
