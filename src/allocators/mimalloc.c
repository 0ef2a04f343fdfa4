/* The mimalloc walker: segments -> slices -> pages -> blocks (see mimalloc.h). */
#include "allocators/mimalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/mem.h"

/* Offsets measured with offsetof over CPython's bundled headers, built as CPython builds
 * them (NDEBUG, MI_DEBUG 0): 3.14.7's (2.1.2) and Debian's 3.14.10 (2.5.2). mi_page_t ends
 * with the QSBR fields in a free-threaded build (24 bytes) and with one word of padding in a
 * GIL build, so each version has two strides: 96/80 (2.1.2) and 112/96 (2.5.2). */
#define LAYOUT_212(ft)                                                                         \
    .version = "2.1.2", .version_number = 212, .free_threaded = ft,                            \
    .segment_header = 264 + 513 * ((ft) ? 96 : 80), .seg_segment_size = 32,                   \
    .seg_commit_mask = 112, .seg_used = 208, .seg_segment_slices = 224, .seg_info_slices = 232, \
    .seg_kind = 240, .seg_slice_entries = 248, .seg_thread_id = 256, .seg_slices = 264,        \
    .page_size = (ft) ? 96 : 80, .pg_slice_count = 0, .pg_slice_offset = 4, .pg_capacity = 10, \
    .pg_reserved = 12, .pg_free = 16, .pg_used = 24, .used_width = 4, .pg_block_size = 28,    \
    .block_size_width = 4, .pg_local_free = 32, .pg_xthread_free = 40, .pg_xheap = 48,        \
    .pg_page_start = 0, .pg_tag = 8, .tag_shift = 3, .tag_mask = 0xf
#define LAYOUT_252(ft)                                                                         \
    .version = "2.5.2", .version_number = 20502, .free_threaded = ft,                          \
    .segment_header = 288 + 513 * ((ft) ? 112 : 96), .seg_segment_size = 32,                  \
    .seg_commit_mask = 120, .seg_used = 216, .seg_segment_slices = 248, .seg_info_slices = 256, \
    .seg_kind = 264, .seg_slice_entries = 272, .seg_thread_id = 280, .seg_slices = 288,        \
    .page_size = (ft) ? 112 : 96, .pg_slice_count = 0, .pg_slice_offset = 4, .pg_capacity = 10, \
    .pg_reserved = 12, .pg_free = 16, .pg_local_free = 24, .pg_used = 32, .used_width = 2,    \
    .pg_tag = 35, .tag_shift = 0, .tag_mask = 0xff, .pg_block_size = 40,                      \
    .block_size_width = 8, .pg_page_start = 48, .pg_xthread_free = 56, .pg_xheap = 64

const struct pyh_mimalloc_layout pyh_mimalloc_layout_212 = {LAYOUT_212(true)};
const struct pyh_mimalloc_layout pyh_mimalloc_layout_212_gil = {LAYOUT_212(false)};
const struct pyh_mimalloc_layout pyh_mimalloc_layout_252 = {LAYOUT_252(true)};
const struct pyh_mimalloc_layout pyh_mimalloc_layout_252_gil = {LAYOUT_252(false)};

static const struct pyh_mimalloc_layout *const layouts[] = {
    &pyh_mimalloc_layout_212, &pyh_mimalloc_layout_212_gil, &pyh_mimalloc_layout_252,
    &pyh_mimalloc_layout_252_gil};

#define MI_HUGE_BLOCK_SIZE (2ull << 30) /* 2.1.2: xblock_size saturates here */
#define COMMIT_MASK_BYTES 64            /* 512 bits, one per slice */

const char *pyh_mi_tag_name(unsigned tag)
{
    static const char *const names[] = {"mem", "object", "gc", "gc_pre"};
    return tag < PYH_MI_NTAGS ? names[tag] : "?";
}

static uint64_t get(const uint8_t *p, uint32_t off, unsigned width)
{
    uint64_t v = 0;
    memcpy(&v, p + off, width); /* little-endian target on a little-endian host */
    return v;
}

/* The header fields that must hold for a segment to be read with l. */
static bool header_ok(const struct pyh_mimalloc_layout *l, const uint8_t *hdr, size_t len)
{
    if (len < l->seg_slices) return false;
    uint64_t size = get(hdr, l->seg_segment_size, 8);
    uint64_t slices = get(hdr, l->seg_segment_slices, 8);
    uint64_t info = get(hdr, l->seg_info_slices, 8);
    uint64_t kind = get(hdr, l->seg_kind, 4);
    uint64_t entries = get(hdr, l->seg_slice_entries, 8);
    if (kind > 1 || size == 0 || size % PYH_MI_SLICE_SIZE) return false;
    if (kind == 0 && size != PYH_MI_SEGMENT_SIZE) return false;
    if (slices != size / PYH_MI_SLICE_SIZE) return false;
    if (info == 0 || info * PYH_MI_SLICE_SIZE < l->segment_header || info > 4) return false;
    if (entries <= info || entries > PYH_MI_SLICES_PER_SEGMENT || entries > slices) return false;
    /* The header's own run of slices: slices[0] spans the info slices. */
    if (len < l->seg_slices + l->page_size) return false;
    const uint8_t *s0 = hdr + l->seg_slices;
    return get(s0, l->pg_slice_count, 4) == info && get(s0, l->pg_slice_offset, 4) == 0;
}

/* The runs of slices read with l's stride chain from slice 0 to the end of the table: the
 * stride (a GIL or a free-threaded build's mi_page_t) is right. */
static bool chain_ok(const struct pyh_mimalloc_layout *l, const uint8_t *hdr, size_t len)
{
    if (len < l->segment_header) return false;
    uint64_t entries = get(hdr, l->seg_slice_entries, 8);
    uint64_t total = get(hdr, l->seg_segment_slices, 8);
    bool huge = get(hdr, l->seg_kind, 4) != 0;
    for (uint64_t i = 0; i < entries;) {
        const uint8_t *e = hdr + l->seg_slices + i * l->page_size;
        uint64_t count = get(e, l->pg_slice_count, 4);
        if (count == 0 || get(e, l->pg_slice_offset, 4) != 0) return false;
        if (i + count > entries && !(huge && i + count <= total)) return false;
        i += count;
    }
    return true;
}

const struct pyh_mimalloc_layout *pyh_mimalloc_probe(const uint8_t *hdr, size_t len)
{
    const struct pyh_mimalloc_layout *found = NULL;
    for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
        if (!header_ok(layouts[i], hdr, len) || !chain_ok(layouts[i], hdr, len)) continue;
        if (found) return NULL; /* both fit: cannot tell, trust neither */
        found = layouts[i];
    }
    return found;
}

/* Follows one free list of page pg, marking its blocks in map; its length in *n. False
 * (with a warning) when an entry is outside the page's carved blocks, between blocks, a
 * block already listed (a loop or two lists sharing a block) or unreadable. */
static bool follow(struct pyh_target *t, const struct pyh_mimalloc_page *pg, uint64_t head,
                   const char *list, uint64_t *map, uint32_t *n, struct pyh_diag *diag)
{
    uint64_t end = pg->start + (uint64_t)pg->capacity * pg->block_size;
    *n = 0;
    for (uint64_t p = head; p; (*n)++) {
        if (p < pg->start || p >= end || (p - pg->start) % pg->block_size) {
            pyh_diag_partial(diag,
                             "mimalloc page 0x%llx (blocks of %llu at 0x%llx) rejected: its %s "
                             "list points to 0x%llx, not a block of the page",
                             (unsigned long long)pg->address, (unsigned long long)pg->block_size,
                             (unsigned long long)pg->start, list, (unsigned long long)p);
            return false;
        }
        uint64_t i = (p - pg->start) / pg->block_size;
        if (map[i / 64] & (1ull << (i % 64))) {
            pyh_diag_partial(diag,
                             "mimalloc page 0x%llx rejected: its %s list reaches block 0x%llx "
                             "a second time (a loop, or a block in two lists)",
                             (unsigned long long)pg->address, list, (unsigned long long)p);
            return false;
        }
        map[i / 64] |= 1ull << (i % 64);
        struct pyh_error *err = pyh_read_u64(t, p, &p);
        if (err) {
            pyh_diag_partial(diag, "mimalloc page 0x%llx rejected: its %s list: %s",
                             (unsigned long long)pg->address, list, pyh_error_message(err));
            pyh_error_free(err);
            return false;
        }
    }
    return true;
}

static struct pyh_mimalloc_class *class_for(struct pyh_mimalloc *m, uint64_t block_size)
{
    size_t lo = 0, hi = m->nclasses;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->classes[mid].block_size < block_size) lo = mid + 1;
        else hi = mid;
    }
    if (lo < m->nclasses && m->classes[lo].block_size == block_size) return &m->classes[lo];
    if (PYH_GROW(m->classes, m->classes_cap, m->nclasses + 1)) return NULL; /* only nomem */
    memmove(&m->classes[lo + 1], &m->classes[lo], (m->nclasses - lo) * sizeof(*m->classes));
    m->nclasses++;
    memset(&m->classes[lo], 0, sizeof(*m->classes));
    m->classes[lo].block_size = block_size;
    return &m->classes[lo];
}

/* Reads the page whose slice entry e is slices[idx] of segment seg (header fields in hdr)
 * and adds it to m. Only out-of-memory is an error; a bad page is a warning. */
static struct pyh_error *add_page(struct pyh_target *t, struct pyh_mimalloc *m,
                                  const struct pyh_mimalloc_layout *l,
                                  struct pyh_mimalloc_segment *seg, uint32_t idx,
                                  uint32_t count, const uint8_t *e, struct pyh_diag *diag)
{
    struct pyh_mimalloc_page pg = {0};
    pg.segment = seg->address;
    pg.address = seg->address + l->seg_slices + (uint64_t)idx * l->page_size;
    pg.slice_index = idx;
    pg.slice_count = count;
    pg.capacity = (uint32_t)get(e, l->pg_capacity, 2);
    pg.reserved = (uint32_t)get(e, l->pg_reserved, 2);
    pg.used = (uint32_t)get(e, l->pg_used, l->used_width);
    pg.tag = (uint8_t)((e[l->pg_tag] >> l->tag_shift) & l->tag_mask);
    uint64_t area = seg->address + (uint64_t)idx * PYH_MI_SLICE_SIZE;
    uint64_t span = (uint64_t)count * PYH_MI_SLICE_SIZE;
    uint64_t bs = get(e, l->pg_block_size, l->block_size_width);
    if (l->pg_page_start) {
        pg.start = get(e, l->pg_page_start, 8);
    } else {
        /* 2.1.2's _mi_segment_page_start_from_slice: small blocks start a little in. */
        uint64_t off = 0;
        if (bs >= 8) off = bs <= 64 ? 3 * bs : bs <= 512 ? bs : 0;
        pg.start = area + off;
        if (bs >= MI_HUGE_BLOCK_SIZE) bs = span - off;
    }
    pg.block_size = bs;
    const char *why = NULL;
    if (pg.start < area || pg.start >= area + span) why = "its first block lies outside it";
    else if (pg.capacity > pg.reserved) why = "capacity exceeds reserved";
    else if (pg.used > pg.capacity) why = "more blocks used than carved";
    else if ((uint64_t)pg.reserved * bs > area + span - pg.start)
        why = "its blocks overrun its slices";
    else if (pg.tag >= PYH_MI_NTAGS) why = "its heap tag is unknown";
    if (why) {
        pyh_diag_partial(diag, "mimalloc page 0x%llx (segment 0x%llx, slice %u) rejected: %s",
                         (unsigned long long)pg.address, (unsigned long long)seg->address, idx,
                         why);
        m->bad_pages++;
        return NULL;
    }
    pg.free_map = calloc((pg.capacity + 63) / 64 + 1, sizeof(uint64_t));
    if (!pg.free_map) return pyh_error_nomem();
    uint64_t tf = get(e, l->pg_xthread_free, 8) & ~3ull; /* low bits: delayed-free state */
    if (!follow(t, &pg, get(e, l->pg_free, 8), "free", pg.free_map, &pg.nfree, diag) ||
        !follow(t, &pg, get(e, l->pg_local_free, 8), "local_free", pg.free_map,
                &pg.nlocal_free, diag) ||
        !follow(t, &pg, tf, "xthread_free", pg.free_map, &pg.nthread_free, diag)) {
        free(pg.free_map);
        m->bad_pages++;
        return NULL;
    }
    uint32_t nlisted = pg.nfree + pg.nlocal_free + pg.nthread_free;
    pg.live = pg.capacity - nlisted;
    pg.consistent = pg.nfree + pg.nlocal_free == pg.capacity - pg.used &&
                    pg.nthread_free <= pg.used;
    if (!pg.consistent)
        pyh_diag_warn(diag,
                      "mimalloc page 0x%llx: used %u of %u blocks, but its lists hold %u free, "
                      "%u local_free and %u xthread_free (a core taken mid-allocation?); "
                      "counted from the lists",
                      (unsigned long long)pg.address, pg.used, pg.capacity, pg.nfree,
                      pg.nlocal_free, pg.nthread_free);
    struct pyh_error *err = PYH_GROW(m->pages, m->pages_cap, m->npages + 1);
    if (err) {
        free(pg.free_map);
        return err;
    }
    struct pyh_mimalloc_class *c = class_for(m, bs);
    if (!c) {
        free(pg.free_map);
        return pyh_error_nomem();
    }
    m->pages[m->npages++] = pg;
    c->pages++;
    c->blocks_live += pg.live;
    c->blocks_free += nlisted;
    if (pg.live == 0) {
        c->empty_pages++;
        m->empty_pages++;
    }
    m->blocks_live += pg.live;
    m->blocks_free += nlisted;
    m->bytes_live += (uint64_t)pg.live * bs;
    m->bytes_free_in_pages += (uint64_t)nlisted * bs;
    m->tag_live[pg.tag] += pg.live;
    m->tag_bytes[pg.tag] += (uint64_t)pg.live * bs;
    m->tag_pages[pg.tag]++;
    seg->pages++;
    return NULL;
}

struct pyh_error *pyh_mimalloc_add_segment(struct pyh_target *t, struct pyh_mimalloc *m,
                                           uint64_t addr, const struct pyh_mimalloc_layout *l,
                                           struct pyh_diag *diag)
{
    size_t max = pyh_mimalloc_layout_252.segment_header;
    uint8_t *hdr = malloc(max);
    if (!hdr) return pyh_error_nomem();
    size_t len = l ? l->segment_header : max;
    struct pyh_error *err = pyh_target_read(t, addr, hdr, len);
    if (err && !l) { /* a smaller header may end where the readable memory does */
        pyh_error_free(err);
        len = pyh_mimalloc_layout_212_gil.segment_header;
        err = pyh_target_read(t, addr, hdr, len);
    }
    if (err) {
        free(hdr);
        return pyh_error_wrap(err, "mimalloc segment 0x%llx", (unsigned long long)addr);
    }
    if (!l) l = pyh_mimalloc_probe(hdr, len);
    if (!l || !header_ok(l, hdr, len) || len < l->segment_header || !chain_ok(l, hdr, len)) {
        free(hdr);
        return pyh_error_create(PYH_ERR_CORRUPT, "0x%llx is no mimalloc segment",
                                (unsigned long long)addr);
    }
    if ((err = PYH_GROW(m->segments, m->segments_cap, m->nsegments + 1))) {
        free(hdr);
        return err;
    }
    if (!m->layout) m->layout = l;
    else if (m->layout != l && !m->mixed_layouts) {
        m->mixed_layouts = true;
        pyh_diag_warn(diag, "mimalloc segments of two layouts (%s%s and %s%s) in one process",
                      m->layout->version, m->layout->free_threaded ? " free-threaded" : "",
                      l->version, l->free_threaded ? " free-threaded" : "");
    }
    struct pyh_mimalloc_segment *seg = &m->segments[m->nsegments++];
    memset(seg, 0, sizeof(*seg));
    seg->address = addr;
    seg->layout = l;
    seg->size = get(hdr, l->seg_segment_size, 8);
    seg->kind = (uint32_t)get(hdr, l->seg_kind, 4);
    seg->slice_entries = (uint32_t)get(hdr, l->seg_slice_entries, 8);
    seg->info_slices = (uint32_t)get(hdr, l->seg_info_slices, 8);
    seg->thread_id = get(hdr, l->seg_thread_id, 8);
    uint32_t total = (uint32_t)(seg->size / PYH_MI_SLICE_SIZE);
    if (seg->kind != 0) {
        seg->committed = seg->size; /* huge: committed whole */
    } else {
        for (unsigned b = 0; b < COMMIT_MASK_BYTES; b++)
            seg->committed += (uint64_t)__builtin_popcount(hdr[l->seg_commit_mask + b]) *
                              PYH_MI_SLICE_SIZE;
    }

    /* Runs of slices: the header's, free spans and pages, each led by its first entry. */
    for (uint32_t i = 0; i < seg->slice_entries;) {
        const uint8_t *e = hdr + l->seg_slices + (size_t)i * l->page_size;
        uint32_t count = (uint32_t)get(e, l->pg_slice_count, 4);
        uint32_t back = (uint32_t)get(e, l->pg_slice_offset, 4);
        bool last_huge = seg->kind != 0 && i + count <= total;
        if (count == 0 || back != 0 || (i + count > seg->slice_entries && !last_huge)) {
            pyh_diag_partial(diag,
                             "mimalloc segment 0x%llx: slice %u is no run's first slice "
                             "(count %u, offset %u): the rest of the segment is skipped",
                             (unsigned long long)addr, i, count, back);
            m->bad_pages++;
            break;
        }
        uint64_t bs = get(e, l->pg_block_size, l->block_size_width);
        if (i < seg->info_slices) {
            /* the segment's own header */
        } else if (bs == 0) {
            seg->free_slices += count;
        } else if ((err = add_page(t, m, l, seg, i, count, e, diag))) {
            free(hdr);
            return err;
        }
        i += count;
    }
    m->free_slices += seg->free_slices;
    m->committed += seg->committed;
    free(hdr);
    return NULL;
}

struct pyh_error *pyh_mimalloc_open(struct pyh_target *t, struct pyh_diag *diag,
                                    struct pyh_mimalloc **out)
{
    *out = NULL;
    struct pyh_mimalloc *m = calloc(1, sizeof(*m));
    if (!m) return pyh_error_nomem();
    uint8_t probe[512];
    for (size_t i = 0; i < t->nmaps; i++) {
        const struct pyh_mapping *map = &t->maps[i];
        if (map->path || !(map->prot & PYH_PROT_W)) continue;
        uint64_t a = (map->start + PYH_MI_SEGMENT_SIZE - 1) & ~(PYH_MI_SEGMENT_SIZE - 1);
        for (; a + sizeof(probe) <= map->end && a >= map->start; a += PYH_MI_SEGMENT_SIZE) {
            struct pyh_error *err = pyh_target_read(t, a, probe, sizeof(probe));
            if (err) {
                bool stop = err->code == PYH_ERR_INTERRUPTED;
                if (stop) {
                    pyh_mimalloc_free(m);
                    return err;
                }
                pyh_error_free(err);
                continue;
            }
            bool any = false;
            for (size_t k = 0; k < sizeof(layouts) / sizeof(layouts[0]); k++)
                any |= header_ok(layouts[k], probe, sizeof(probe));
            if (!any) continue;
            err = pyh_mimalloc_add_segment(t, m, a, NULL, diag);
            if (err) {
                if (err->code == PYH_ERR_INTERRUPTED || err->code == PYH_ERR_NOMEM) {
                    pyh_mimalloc_free(m);
                    return err;
                }
                pyh_diag_warn(diag, "%s", pyh_error_message(err));
                pyh_error_free(err);
            }
        }
    }
    if (m->nsegments == 0) {
        pyh_mimalloc_free(m);
        return NULL;
    }
    *out = m;
    return NULL;
}

void pyh_mimalloc_free(struct pyh_mimalloc *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->npages; i++) free(m->pages[i].free_map);
    free(m->pages);
    free(m->segments);
    free(m->classes);
    free(m);
}

void pyh_mimalloc_visit(const struct pyh_mimalloc *m, pyh_mimalloc_visitor visit, void *ctx)
{
    for (size_t p = 0; p < m->npages; p++) {
        const struct pyh_mimalloc_page *pg = &m->pages[p];
        for (uint32_t i = 0; i < pg->capacity; i++) {
            bool live = !(pg->free_map[i / 64] & (1ull << (i % 64)));
            if (!visit(ctx, pg, pg->start + (uint64_t)i * pg->block_size, live)) return;
        }
    }
}

void pyh_mimalloc_resident(struct pyh_mimalloc *m, const struct pyh_residency *r)
{
    m->resident_known = false;
    if (!r || !r->by_page) return;
    m->resident_live = m->resident_segments = 0;
    for (size_t i = 0; i < m->nsegments; i++)
        m->resident_segments += pyh_residency_bytes(r, m->segments[i].address,
                                                    m->segments[i].address + m->segments[i].size);
    for (size_t p = 0; p < m->npages; p++) {
        const struct pyh_mimalloc_page *pg = &m->pages[p];
        uint64_t bytes = (uint64_t)pg->capacity * pg->block_size;
        if (pyh_residency_bytes(r, pg->start, pg->start + bytes) == bytes) {
            m->resident_live += (uint64_t)pg->live * pg->block_size;
            continue;
        }
        for (uint32_t i = 0; i < pg->capacity; i++) {
            if (pg->free_map[i / 64] & (1ull << (i % 64))) continue;
            uint64_t b = pg->start + (uint64_t)i * pg->block_size;
            m->resident_live += pyh_residency_bytes(r, b, b + pg->block_size);
        }
    }
    m->resident_known = true;
}
