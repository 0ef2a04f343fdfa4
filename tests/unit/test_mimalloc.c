/* The mimalloc walker over synthetic segments built in memory, in both layouts (2.1.2 and
 * 2.5.2). The segment and page structs below are transcriptions of mimalloc's own
 * declarations (CPython's Include/internal/mimalloc/mimalloc/types.h of 3.14.7 and of
 * 3.14.10, release build, Py_GIL_DISABLED), written independently of the walker's offset
 * tables, so that a wrong offset there fails here.
 *
 * Then the objects of a free-threaded target in such pages (heap/build_mimalloc.c): objects
 * with the 32-byte header written by hand in blocks of each heap tag, read through a runtime
 * with the free-threaded layout and a registry of three types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "allocators/mimalloc.h"
#include "heap/heap_internal.h"
#include "runtime/objects.h"
#include "runtime/refcount.h"
#include "util/mem.h"
#include "synthetic.h"
#include "target/target.h"

/* ---- mimalloc 2.1.2 ---- */
struct page212 {
    uint32_t slice_count, slice_offset;
    uint8_t bits; /* is_committed:1 is_zero_init:1 use_qsbr:1 tag:4 */
    uint8_t debug_offset;
    uint16_t capacity, reserved;
    uint8_t flags, free_is_zero_retire;
    uint64_t free;
    uint32_t used, xblock_size;
    uint64_t local_free, xthread_free, xheap, next, prev, qsbr_next, qsbr_prev, qsbr_goal;
};
struct seg212 {
    uint64_t memid[3];
    bool allow_decommit, allow_purge;
    uint64_t segment_size;
    int64_t purge_expire;
    uint64_t purge_mask[8], commit_mask[8];
    uint64_t abandoned_next, next, abandoned, abandoned_visits, used, cookie;
    uint64_t segment_slices, segment_info_slices;
    uint32_t kind;
    uint64_t slice_entries, thread_id;
    struct page212 slices[513];
};
_Static_assert(sizeof(struct page212) == 96, "mi_page_t 2.1.2");
_Static_assert(sizeof(struct seg212) == 49512, "mi_segment_t 2.1.2");
_Static_assert(offsetof(struct seg212, slices) == 264, "slices 2.1.2");
/* A GIL build's mi_page_t ends with one word of padding where the QSBR fields are. */
#define GIL212 (offsetof(struct page212, qsbr_next) + 8)
_Static_assert(GIL212 == 80, "mi_page_t 2.1.2, GIL build");

/* ---- mimalloc 2.5.2 ---- */
struct page252 {
    uint32_t slice_count, slice_offset;
    uint8_t bits; /* is_committed:1 is_zero_init:1 is_huge:1 */
    uint16_t capacity, reserved;
    uint8_t flags, free_is_zero_retire;
    uint64_t free, local_free;
    uint16_t used;
    uint8_t block_size_shift, heap_tag, use_qsbr, debug_offset;
    uint64_t block_size, page_start, xthread_free, xheap, next, prev, qsbr_next, qsbr_prev,
        qsbr_goal;
};
struct seg252 {
    uint64_t memid[3];
    bool allow_decommit, allow_purge;
    uint64_t segment_size, subproc;
    int64_t purge_expire;
    uint64_t purge_mask[8], commit_mask[8];
    uint64_t next;
    bool was_reclaimed, dont_free, free_is_zero;
    uint64_t abandoned, abandoned_visits, used, cookie, abandoned_os_next, abandoned_os_prev;
    uint64_t segment_slices, segment_info_slices;
    uint32_t kind;
    uint64_t slice_entries, thread_id;
    struct page252 slices[513];
};
_Static_assert(sizeof(struct page252) == 112, "mi_page_t 2.5.2");
_Static_assert(sizeof(struct seg252) == 57744, "mi_segment_t 2.5.2");
_Static_assert(offsetof(struct seg252, slices) == 288, "slices 2.5.2");
#define GIL252 (offsetof(struct page252, qsbr_next) + 8)
_Static_assert(GIL252 == 96, "mi_page_t 2.5.2, GIL build");

#define SEG 0x7f0000000000ull /* 32 MiB aligned */
#define SLICE (64ull << 10)

/* A page as the test describes it; lists are block indexes, -1 terminated. */
struct spec {
    uint32_t slice, count;
    uint64_t block_size;
    unsigned tag;
    uint16_t capacity, reserved, used;
    int free[8], local[8], thread[8];
};

struct fixture {
    struct syn_memory mem;
    struct pyh_diag diag;
    struct pyh_target *t;
    struct pyh_mimalloc *m;
    uint8_t *hdr;
    uint8_t *data[4]; /* regions at slice 1, 5, 13 (3 slices) */
    bool v252, gil;
};

/* Slice entry i of the header, with the stride of the build. */
static struct page212 *e212(struct fixture *f, uint32_t i)
{
    return (struct page212 *)(f->hdr + offsetof(struct seg212, slices) +
                              i * (f->gil ? GIL212 : sizeof(struct page212)));
}

static struct page252 *e252(struct fixture *f, uint32_t i)
{
    return (struct page252 *)(f->hdr + offsetof(struct seg252, slices) +
                              i * (f->gil ? GIL252 : sizeof(struct page252)));
}

static uint64_t page_start(const struct spec *s)
{
    uint64_t off = 0; /* 2.1.2's rule; the 2.5.2 pages store the same start */
    if (s->block_size >= 8) off = s->block_size <= 64 ? 3 * s->block_size
                                  : s->block_size <= 512 ? s->block_size : 0;
    return SEG + s->slice * SLICE + off;
}

static uint8_t *at(struct fixture *f, uint64_t addr)
{
    for (size_t i = 0; i < f->mem.nregions; i++)
        if (addr >= f->mem.regions[i].addr &&
            addr + 8 <= f->mem.regions[i].addr + f->mem.regions[i].size)
            return f->mem.regions[i].bytes + (addr - f->mem.regions[i].addr);
    fail_msg("no region at 0x%llx", (unsigned long long)addr);
    return NULL;
}

/* Writes a list's links into the blocks; returns its head (extra: low bits to add). */
static uint64_t link(struct fixture *f, const struct spec *s, const int *idx, uint64_t extra)
{
    uint64_t head = 0;
    int n = 0;
    while (idx[n] >= 0) n++;
    for (int i = n - 1; i >= 0; i--) {
        uint64_t b = page_start(s) + (uint64_t)idx[i] * s->block_size;
        memcpy(at(f, b), &head, 8);
        head = b;
    }
    return head ? head | extra : 0;
}

static void put_page(struct fixture *f, const struct spec *s)
{
    uint64_t fl = link(f, s, s->free, 0), lf = link(f, s, s->local, 0),
             tf = link(f, s, s->thread, 1); /* a delayed-free state bit on the head */
    if (f->v252) {
        struct page252 *p = e252(f, s->slice);
        p->slice_count = s->count;
        p->bits = 1;
        p->capacity = s->capacity;
        p->reserved = s->reserved;
        p->used = s->used;
        p->heap_tag = (uint8_t)s->tag;
        p->block_size = s->block_size;
        p->page_start = page_start(s);
        p->free = fl;
        p->local_free = lf;
        p->xthread_free = tf;
        p->xheap = 0x5555000;
    } else {
        struct page212 *p = e212(f, s->slice);
        p->slice_count = s->count;
        p->bits = (uint8_t)(1 | 4 | (s->tag << 3));
        p->capacity = s->capacity;
        p->reserved = s->reserved;
        p->used = s->used;
        p->xblock_size = (uint32_t)s->block_size;
        p->free = fl;
        p->local_free = lf;
        p->xthread_free = tf;
        p->xheap = 0x5555000;
    }
    /* every later slice of the run points back to the first */
    for (uint32_t k = 1; k < s->count; k++) {
        if (f->v252) e252(f, s->slice + k)->slice_offset = k * (f->gil ? GIL252 : 112);
        else e212(f, s->slice + k)->slice_offset = k * (f->gil ? GIL212 : 96);
    }
}

static void put_span(struct fixture *f, uint32_t slice, uint32_t count)
{
    if (f->v252) e252(f, slice)->slice_count = count;
    else e212(f, slice)->slice_count = count;
}

/* A: GC_PRE, 32-byte blocks: 3 free, 2 local_free, 4 xthread_free of 100 carved. */
static const struct spec A = {1, 1, 32, 3, 100, 2045, 95, {10, 11, 12, -1}, {20, 21, -1},
                              {30, 31, 32, 33, -1}};
/* B: OBJECT, 1 KiB blocks over 8 slices, one block freed by another thread. */
static const struct spec B = {5, 8, 1024, 1, 10, 512, 10, {-1}, {-1}, {7, -1}};
/* C: MEM, its free list loops. */
static const struct spec C = {13, 1, 48, 0, 20, 1300, 17, {0, 1, 0, -1}, {-1}, {-1}};
/* E: MEM, a block both in free and local_free. */
static const struct spec E = {15, 1, 16, 0, 20, 4000, 18, {3, -1}, {3, -1}, {-1}};
/* F: GC, used says 5 of 5 but one block is on the free list (inconsistent, kept). */
static const struct spec F = {16, 1, 128, 2, 5, 500, 5, {2, -1}, {-1}, {-1}};

static void build(struct fixture *f, bool v252, bool gil)
{
    memset(f, 0, sizeof(*f));
    f->v252 = v252;
    f->gil = gil;
    f->hdr = syn_memory_region(&f->mem, SEG, SLICE);
    syn_memory_region(&f->mem, SEG + 1 * SLICE, SLICE);
    syn_memory_region(&f->mem, SEG + 5 * SLICE, 8 * SLICE);
    syn_memory_region(&f->mem, SEG + 13 * SLICE, 4 * SLICE);
    if (v252) {
        struct seg252 *s = (struct seg252 *)f->hdr;
        s->segment_size = 32ull << 20;
        s->segment_slices = 512;
        s->segment_info_slices = 1;
        s->slice_entries = 512;
        s->thread_id = 0x1234;
        s->cookie = 0xdeadbeefcafe;
        s->commit_mask[0] = 0xff0000000000ffffull; /* 24 slices committed */
        e252(f, 0)->slice_count = 1;
        e252(f, 0)->block_size = SLICE;
    } else {
        struct seg212 *s = (struct seg212 *)f->hdr;
        s->segment_size = 32ull << 20;
        s->segment_slices = 512;
        s->segment_info_slices = 1;
        s->slice_entries = 512;
        s->thread_id = 0x1234;
        s->cookie = 0xdeadbeefcafe;
        s->commit_mask[0] = 0xff0000000000ffffull;
        e212(f, 0)->slice_count = 1;
        e212(f, 0)->xblock_size = (uint32_t)SLICE;
    }
    put_page(f, &A);
    put_span(f, 2, 3);
    put_page(f, &B);
    put_page(f, &C);
    /* D: GC, 64-byte blocks, a free-list entry between two blocks */
    struct spec D = {14, 1, 64, 2, 20, 1000, 19, {-1}, {-1}, {-1}};
    put_page(f, &D);
    uint64_t bad = page_start(&D) + 64 * 4 + 8;
    if (v252) e252(f, 14)->free = bad;
    else e212(f, 14)->free = bad;
    put_page(f, &E);
    put_page(f, &F);
    put_span(f, 17, 495);
}

static const struct pyh_host_mapping maps[] = {
    {SEG, SEG + (32ull << 20), 0, PROT_READ | PROT_WRITE, NULL},
};

static void open_walk(struct fixture *f)
{
    struct pyh_host_target h = syn_memory_host(&f->mem);
    h.mappings = maps;
    h.nmappings = 1;
    assert_null(pyh_target_open_host(&h, &f->diag, &f->t));
    assert_null(pyh_mimalloc_open(f->t, &f->diag, &f->m));
    assert_non_null(f->m);
}

static void teardown(struct fixture *f)
{
    pyh_mimalloc_free(f->m);
    pyh_target_close(f->t);
    syn_memory_free(&f->mem);
    pyh_diag_free(&f->diag);
}

static bool warned(const struct fixture *f, const char *needle)
{
    for (size_t i = 0; i < f->diag.nwarnings; i++)
        if (strstr(f->diag.warnings[i], needle)) return true;
    return false;
}

struct tally {
    uint64_t live, free, live_by_tag[4];
    bool a10_free, a0_live;
};

static bool count_block(void *ctx, const struct pyh_mimalloc_page *pg, uint64_t addr, bool live)
{
    struct tally *t = ctx;
    if (live) {
        t->live++;
        t->live_by_tag[pg->tag]++;
    } else {
        t->free++;
    }
    if (addr == page_start(&A) + 10 * 32) t->a10_free = !live;
    if (addr == page_start(&A)) t->a0_live = live;
    return true;
}

static void check_walk(bool v252, bool gil)
{
    struct fixture f;
    build(&f, v252, gil);
    open_walk(&f);
    struct pyh_mimalloc *m = f.m;
    assert_ptr_equal(m->layout, v252 ? (gil ? &pyh_mimalloc_layout_252_gil : &pyh_mimalloc_layout_252)
                                     : (gil ? &pyh_mimalloc_layout_212_gil : &pyh_mimalloc_layout_212));
    assert_true(m->layout->free_threaded == !gil);
    assert_int_equal(m->nsegments, 1);
    assert_int_equal(m->segments[0].address, SEG);
    assert_int_equal(m->segments[0].thread_id, 0x1234);
    assert_int_equal(m->segments[0].committed, 24 * SLICE);
    assert_int_equal(m->segments[0].free_slices, 3 + 495);
    /* A, B and F accepted; C (loop), D (between blocks), E (two lists) rejected */
    assert_int_equal(m->npages, 3);
    assert_int_equal(m->bad_pages, 3);
    const struct pyh_mimalloc_page *a = &m->pages[0], *b = &m->pages[1], *fp = &m->pages[2];
    assert_int_equal(a->start, page_start(&A));
    assert_int_equal(a->block_size, 32);
    assert_int_equal(a->tag, PYH_MI_TAG_GC_PRE);
    assert_int_equal(a->nfree, 3);
    assert_int_equal(a->nlocal_free, 2);
    assert_int_equal(a->nthread_free, 4);
    assert_int_equal(a->live, 91);
    assert_true(a->consistent);
    assert_int_equal(b->block_size, 1024);
    assert_int_equal(b->start, SEG + 5 * SLICE);
    assert_int_equal(b->tag, PYH_MI_TAG_OBJECT);
    assert_int_equal(b->nfree + b->nlocal_free, 0);
    assert_int_equal(b->nthread_free, 1);
    assert_int_equal(b->live, 9);
    assert_true(b->consistent);
    assert_int_equal(fp->live, 4);
    assert_false(fp->consistent);
    assert_int_equal(m->blocks_live, 91 + 9 + 4);
    assert_int_equal(m->blocks_free, 9 + 1 + 1);
    assert_int_equal(m->bytes_live, 91 * 32 + 9 * 1024 + 4 * 128);
    assert_int_equal(m->bytes_free_in_pages, 9 * 32 + 1024 + 128);
    assert_int_equal(m->tag_live[PYH_MI_TAG_GC_PRE], 91);
    assert_int_equal(m->tag_live[PYH_MI_TAG_OBJECT], 9);
    assert_int_equal(m->tag_live[PYH_MI_TAG_GC], 4);
    assert_int_equal(m->tag_live[PYH_MI_TAG_MEM], 0);
    assert_int_equal(m->nclasses, 3);
    assert_int_equal(m->classes[0].block_size, 32);
    assert_int_equal(m->classes[0].blocks_live, 91);
    assert_int_equal(m->classes[0].blocks_free, 9);
    assert_int_equal(m->classes[2].block_size, 1024);
    assert_true(warned(&f, "a second time"));      /* C's loop and E's shared block */
    assert_true(warned(&f, "not a block of the page")); /* D */
    assert_true(warned(&f, "counted from the lists"));  /* F */
    assert_true(f.diag.partial);

    struct tally t = {0};
    pyh_mimalloc_visit(m, count_block, &t);
    assert_int_equal(t.live, 104);
    assert_int_equal(t.free, 11);
    assert_int_equal(t.live_by_tag[PYH_MI_TAG_GC_PRE], 91);
    assert_true(t.a10_free);
    assert_true(t.a0_live);
    teardown(&f);
}

static void test_walk_212(void **state)
{
    (void)state;
    check_walk(false, false);
}

static void test_walk_252(void **state)
{
    (void)state;
    check_walk(true, false);
}

static void test_walk_212_gil(void **state)
{
    (void)state;
    check_walk(false, true);
}

static void test_walk_252_gil(void **state)
{
    (void)state;
    check_walk(true, true);
}

/* The probe tells the layouts apart and takes neither for a zeroed or foreign header. */
static void test_probe(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, false, false);
    assert_ptr_equal(pyh_mimalloc_probe(f.hdr, 49512), &pyh_mimalloc_layout_212);
    teardown(&f);
    build(&f, false, true);
    assert_ptr_equal(pyh_mimalloc_probe(f.hdr, 49512), &pyh_mimalloc_layout_212_gil);
    teardown(&f);
    build(&f, true, true);
    assert_ptr_equal(pyh_mimalloc_probe(f.hdr, 57744), &pyh_mimalloc_layout_252_gil);
    teardown(&f);
    build(&f, true, false);
    assert_ptr_equal(pyh_mimalloc_probe(f.hdr, 57744), &pyh_mimalloc_layout_252);
    /* the table must chain: a run cut in two leaves no layout */
    e252(&f, 17)->slice_count = 5;
    assert_null(pyh_mimalloc_probe(f.hdr, 57744));
    e252(&f, 17)->slice_count = 495;
    /* a 2.5.2 segment whose slice table is cut: a header with no run at slice 0 */
    e252(&f, 0)->slice_count = 0;
    assert_null(pyh_mimalloc_probe(f.hdr, 57744));
    teardown(&f);
    static uint8_t zero[57744];
    assert_null(pyh_mimalloc_probe(zero, sizeof(zero)));
}

/* A slice table whose run overruns the segment stops that segment's walk with a warning. */
static void test_bad_run(void **state)
{
    (void)state;
    for (int v = 0; v < 2; v++) {
        struct fixture f;
        build(&f, v, false);
        put_span(&f, 17, 600); /* past the 512 entries */
        struct pyh_host_target h = syn_memory_host(&f.mem);
        h.mappings = maps;
        h.nmappings = 1;
        assert_null(pyh_target_open_host(&h, &f.diag, &f.t));
        /* not a segment by the probe; read with a given layout, the walk stops there */
        assert_null(pyh_mimalloc_probe(f.hdr, v ? 57744 : 49512));
        f.m = calloc(1, sizeof(*f.m));
        struct pyh_error *err = pyh_mimalloc_add_segment(
            f.t, f.m, SEG, v ? &pyh_mimalloc_layout_252 : &pyh_mimalloc_layout_212, &f.diag);
        assert_non_null(err);
        pyh_error_free(err);
        assert_int_equal(f.m->nsegments, 0);
        teardown(&f);
    }
}

/* Damage anywhere: 2,000 rounds, each flipping bytes of the header and the pages of one of
 * the four layouts (a fixed seed), must never crash or loop, and every page the walker keeps
 * must be one it could prove: lists inside the page's blocks, live <= capacity, the
 * counts adding up. */
static void test_random_damage(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    size_t kept = 0, rejected = 0, no_segment = 0;
    for (int round = 0; round < 2000; round++) {
        struct fixture f;
        build(&f, round & 1, (round >> 1) & 1);
        int flips = 1 + round % 16;
        for (int k = 0; k < flips; k++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            size_t r = (size_t)(seed % f.mem.nregions);
            /* the header's first 2 KiB (fields and the first slices) most of the time */
            size_t span = r == 0 && (seed >> 40) % 4 ? 2048 : f.mem.regions[r].size;
            size_t at = (size_t)((seed >> 20) % span);
            f.mem.regions[r].bytes[at] ^= (uint8_t)(1u << ((seed >> 8) % 8));
        }
        struct pyh_host_target h = syn_memory_host(&f.mem);
        h.mappings = maps;
        h.nmappings = 1;
        assert_null(pyh_target_open_host(&h, &f.diag, &f.t));
        assert_null(pyh_mimalloc_open(f.t, &f.diag, &f.m));
        for (size_t i = 0; f.m && i < f.m->npages; i++) {
            const struct pyh_mimalloc_page *pg = &f.m->pages[i];
            assert_true(pg->live <= pg->capacity);
            assert_int_equal(pg->live + pg->nfree + pg->nlocal_free + pg->nthread_free,
                             pg->capacity);
            assert_true(pg->capacity <= pg->reserved);
            assert_true(pg->start >= SEG && pg->start < SEG + (32ull << 20));
        }
        if (!f.m) no_segment++;
        else {
            kept += f.m->npages;
            rejected += f.m->bad_pages;
        }
        teardown(&f);
    }
    print_message("  %zu pages kept, %zu rejected, %zu rounds with no segment left\n", kept,
                  rejected, no_segment);
    /* An intact segment keeps 3 pages and rejects 3 (C, D, E): the damage made the walker
     * reject pages it would have kept, and whole segments, and left most of them readable. */
    size_t rounds = 2000 - no_segment;
    assert_true(no_segment > 0 && rounds > 1000);
    assert_true(kept < 3 * rounds && rejected > 3 * rounds);
}

/* A huge segment (kind 1, 64 MiB): one page whose slice run goes past the 512 entries of
 * the table, one block of 1023 slices, live. */
static void test_huge_segment(void **state)
{
    (void)state;
    for (int v = 0; v < 2; v++) {
        struct fixture f;
        memset(&f, 0, sizeof(f));
        f.v252 = v;
        f.hdr = syn_memory_region(&f.mem, SEG, SLICE);
        uint64_t bs = 1023 * SLICE;
        if (v) {
            struct seg252 *sg = (struct seg252 *)f.hdr;
            sg->segment_size = 64ull << 20, sg->segment_slices = 1024;
            sg->segment_info_slices = 1, sg->slice_entries = 512, sg->kind = 1;
            e252(&f, 0)->slice_count = 1, e252(&f, 0)->block_size = SLICE;
            struct page252 *p = e252(&f, 1);
            p->slice_count = 1023, p->capacity = 1, p->reserved = 1, p->used = 1;
            p->heap_tag = PYH_MI_TAG_MEM, p->block_size = bs, p->page_start = SEG + SLICE;
        } else {
            struct seg212 *sg = (struct seg212 *)f.hdr;
            sg->segment_size = 64ull << 20, sg->segment_slices = 1024;
            sg->segment_info_slices = 1, sg->slice_entries = 512, sg->kind = 1;
            e212(&f, 0)->slice_count = 1, e212(&f, 0)->xblock_size = (uint32_t)SLICE;
            struct page212 *p = e212(&f, 1);
            p->slice_count = 1023, p->capacity = 1, p->reserved = 1, p->used = 1;
            p->xblock_size = (uint32_t)bs;
        }
        static const struct pyh_host_mapping huge_map[] = {
            {SEG, SEG + (64ull << 20), 0, PROT_READ | PROT_WRITE, NULL}};
        struct pyh_host_target h = syn_memory_host(&f.mem);
        h.mappings = huge_map;
        h.nmappings = 1;
        assert_null(pyh_target_open_host(&h, &f.diag, &f.t));
        assert_null(pyh_mimalloc_open(f.t, &f.diag, &f.m));
        assert_non_null(f.m);
        assert_int_equal(f.m->nsegments, 1);
        assert_int_equal(f.m->segments[0].kind, 1);
        assert_int_equal(f.m->segments[0].size, 64ull << 20);
        assert_int_equal(f.m->npages, 1);
        assert_int_equal(f.m->pages[0].start, SEG + SLICE);
        assert_int_equal(f.m->pages[0].block_size, bs);
        assert_int_equal(f.m->blocks_live, 1);
        assert_int_equal(f.m->bytes_live, bs);
        assert_int_equal(f.m->bad_pages, 0);
        teardown(&f);
    }
}

/* ---- free-threaded objects in pages ---- */

#define T_PLAIN 0x600000ull /* no GC: in OBJECT pages */
#define T_GC 0x600200ull    /* GC: in GC pages */
#define T_PRE 0x600400ull   /* GC with a managed dict: in GC_PRE pages, 16 bytes in */
#define T_UNKNOWN 0x600600ull

/* The 32-byte header (Include/object.h, Py_GIL_DISABLED): ob_tid, ob_flags, ob_mutex,
 * ob_gc_bits, ob_ref_local, ob_ref_shared, ob_type. */
struct ft_header {
    uint64_t tid;
    uint16_t flags;
    uint8_t mutex, gc_bits;
    uint32_t ref_local;
    int64_t ref_shared;
    uint64_t type;
};
_Static_assert(sizeof(struct ft_header) == 32, "PyObject, free-threaded");

static void put_object(struct fixture *f, uint64_t addr, uint64_t type, uint32_t local,
                       int64_t shared, uint8_t gc_bits)
{
    struct ft_header h = {0x7f0012345678, 0, 0, gc_bits, local, shared, type};
    memcpy(at(f, addr), &h, sizeof(h));
}

/* OBJECT, 48-byte blocks: 0 an object; 1 free; 2 a count of 0 (on a free list); 3 a GC
 * type's header (no GC object lives there); 4 a buffer. */
static const struct spec O1 = {1, 1, 48, PYH_MI_TAG_OBJECT, 5, 1300, 4, {1, -1}, {-1}, {-1}};
/* GC, 64-byte blocks: 0 tracked; 1 untracked; 2 tracked, of no known type; 3 deferred
 * (the _Py_REF_DEFERRED bias in its shared count, frames' references not counted). */
static const struct spec G1 = {2, 1, 64, PYH_MI_TAG_GC, 4, 1000, 4, {-1}, {-1}, {-1}};
/* GC_PRE, 64-byte blocks: 0 an object at +16, freed by another thread as 1 was;
 * 2 a header at +0 (wrong place for the tag). */
static const struct spec P1 = {3, 1, 64, PYH_MI_TAG_GC_PRE, 3, 1000, 3, {-1}, {-1}, {1, -1}};
/* MEM, 48-byte blocks: 0 reads as an object, but PyMem holds none. */
static const struct spec M1 = {4, 1, 48, PYH_MI_TAG_MEM, 1, 1300, 1, {-1}, {-1}, {-1}};

struct found {
    uint64_t objects[16], blocks[16];
    uint32_t types[16];
    size_t nobjects, nblocks;
};

static struct pyh_error *found_object(void *ctx, uint64_t obj, uint32_t type,
                                      const uint8_t *bytes, size_t avail, uint64_t block_size)
{
    struct found *fd = ctx;
    assert_true(avail >= 32 && avail <= block_size);
    uint64_t tp;
    memcpy(&tp, bytes + 24, 8);
    assert_true(tp == T_PLAIN || tp == T_GC || tp == T_PRE);
    assert_true(fd->nobjects < 16);
    fd->types[fd->nobjects] = type;
    fd->objects[fd->nobjects++] = obj;
    return NULL;
}

static struct pyh_error *found_block(void *ctx, uint64_t addr, uint64_t size)
{
    struct found *fd = ctx;
    (void)size;
    assert_true(fd->nblocks < 16);
    fd->blocks[fd->nblocks++] = addr;
    return NULL;
}

static void add_type(struct pyh_heap *heap, uint64_t addr, uint64_t flags, int64_t basicsize)
{
    struct pyh_type t = {.addr = addr, .flags = flags, .basicsize = basicsize};
    t.header_pos = (uint8_t)pyh_heap_header_position(heap->rt, flags);
    assert_null(PYH_APPEND(heap->types, heap->ntypes, heap->types_cap, &t));
    assert_null(pyh_u64map_put(&heap->type_index, addr, heap->ntypes - 1));
}

static uint64_t block_of(const struct spec *s, unsigned i)
{
    return page_start(s) + (uint64_t)i * s->block_size;
}

static void check_ft_objects(bool v252)
{
    struct fixture f;
    memset(&f, 0, sizeof(f));
    f.v252 = v252;
    f.hdr = syn_memory_region(&f.mem, SEG, SLICE);
    syn_memory_region(&f.mem, SEG + SLICE, 4 * SLICE);
    if (v252) {
        struct seg252 *s = (struct seg252 *)f.hdr;
        s->segment_size = 32ull << 20, s->segment_slices = 512, s->segment_info_slices = 1;
        s->slice_entries = 512;
        e252(&f, 0)->slice_count = 1;
    } else {
        struct seg212 *s = (struct seg212 *)f.hdr;
        s->segment_size = 32ull << 20, s->segment_slices = 512, s->segment_info_slices = 1;
        s->slice_entries = 512;
        e212(&f, 0)->slice_count = 1;
    }
    const int64_t deferred = (INT64_MAX / 8) << 2; /* _Py_REF_SHARED(_Py_REF_DEFERRED, 0) */
    put_object(&f, block_of(&O1, 0), T_PLAIN, 1, 2 << 2 | 3, 0); /* count 3, merged */
    put_object(&f, block_of(&O1, 2), T_PLAIN, 0, 0, 0);
    put_object(&f, block_of(&O1, 3), T_GC, 1, 0, PYH_GC_BITS_TRACKED);
    memcpy(at(&f, block_of(&O1, 4)), "a buffer, not an object", 24);
    put_object(&f, block_of(&G1, 0), T_GC, 2, -(1 << 2), PYH_GC_BITS_TRACKED); /* count 1 */
    put_object(&f, block_of(&G1, 1), T_GC, 0, 5 << 2, 0);
    put_object(&f, block_of(&G1, 2), T_UNKNOWN, 1, 0, PYH_GC_BITS_TRACKED);
    put_object(&f, block_of(&G1, 3), T_GC, 0, deferred, PYH_GC_BITS_DEFERRED);
    put_object(&f, block_of(&P1, 0) + 16, T_PRE, UINT32_MAX, 0, PYH_GC_BITS_TRACKED);
    put_object(&f, block_of(&P1, 2), T_PRE, 1, 0, PYH_GC_BITS_TRACKED);
    put_object(&f, block_of(&M1, 0), T_PLAIN, 1, 0, 0);
    put_page(&f, &O1);
    put_page(&f, &G1);
    put_page(&f, &P1);
    put_page(&f, &M1);
    put_span(&f, 5, 507);
    open_walk(&f);
    assert_int_equal(f.m->npages, 4);
    assert_int_equal(f.m->bad_pages, 0);

    struct pyh_runtime rt = {.target = f.t, .diag = &f.diag, .major = 3, .minor = 14,
                             .free_threaded = true};
    assert_true(pyh_layout_builtin(14, &rt.layout));
    pyh_layout_free_threaded(14, &rt.layout);
    struct pyh_heap heap = {.rt = &rt};
    add_type(&heap, T_PLAIN, 0, 32);
    add_type(&heap, T_GC, PYH_TPFLAGS_HAVE_GC, 48);
    add_type(&heap, T_PRE, PYH_TPFLAGS_HAVE_GC | PYH_TPFLAGS_MANAGED_DICT, 32);
    assert_int_equal(heap.types[2].header_pos, 16);

    struct found fd = {0};
    struct pyh_heap_mimalloc_sink sink = {found_object, found_block, &fd};
    assert_null(pyh_heap_mimalloc_visit(&heap, f.m, &sink));
    /* in page order: O1[0], G1[0], G1[1], G1[3], P1[0] + 16 */
    const uint64_t objects[] = {block_of(&O1, 0), block_of(&G1, 0), block_of(&G1, 1),
                                block_of(&G1, 3), block_of(&P1, 0) + 16};
    const uint32_t types[] = {0, 1, 1, 1, 2};
    assert_int_equal(fd.nobjects, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(fd.objects[i], objects[i]);
        assert_int_equal(fd.types[i], types[i]);
    }
    /* O1[2], O1[3], O1[4], G1[2], P1[2], M1[0]: no objects; O1[1] and P1[1] are free */
    const uint64_t blocks[] = {block_of(&O1, 2), block_of(&O1, 3), block_of(&O1, 4),
                               block_of(&G1, 2), block_of(&P1, 2), block_of(&M1, 0)};
    assert_int_equal(fd.nblocks, 6);
    for (size_t i = 0; i < 6; i++) assert_int_equal(fd.blocks[i], blocks[i]);
    /* tracked: G1[0], P1[0], and G1[2], which is no object known: missing */
    assert_int_equal(heap.gc_tracked, 3);
    assert_int_equal(heap.gc_missing, 1);
    assert_int_equal(heap.gc_missing_sample[0], block_of(&G1, 2));

    free(heap.types);
    pyh_u64map_free(&heap.type_index);
    teardown(&f);
}

/* The state says which layout: NULL 2.1.2, else 2.5.2 (cmocka_unit_test_prestate). */
static void test_ft_objects(void **state)
{
    check_ft_objects(*state != NULL);
}

/* The free-threaded header's count (runtime/refcount.h) and the layout it moves. */
static void test_ft_header(void **state)
{
    (void)state;
    struct ft_header h = {0, 0, 0, 0, 3, (5 << 2) | 2, T_PLAIN};
    struct pyh_refcnt r = pyh_refcnt_decode_ft((const uint8_t *)&h);
    assert_true(r.plausible && !r.immortal && !r.deferred);
    assert_int_equal(r.count, 8);
    h.ref_shared = -(3 << 2); /* three decrefs by other threads, not merged yet */
    r = pyh_refcnt_decode_ft((const uint8_t *)&h);
    assert_false(r.plausible); /* 3 - 3: dying */
    h.ref_local = UINT32_MAX, h.flags = PYH_OB_FLAGS_STATIC;
    r = pyh_refcnt_decode_ft((const uint8_t *)&h);
    assert_true(r.plausible && r.immortal && r.is_static);
    h.ref_local = 1, h.flags = 0x100; /* a flag no release build sets */
    assert_false(pyh_refcnt_decode_ft((const uint8_t *)&h).plausible);
    h.flags = 0, h.gc_bits = PYH_GC_BITS_DEFERRED, h.ref_shared = ((INT64_MAX / 8) + 2) << 2;
    r = pyh_refcnt_decode_ft((const uint8_t *)&h);
    assert_true(r.plausible && r.deferred);
    assert_int_equal(r.count, 3);
    h.gc_bits = 0; /* the same count without the deferred bit: no count */
    assert_false(pyh_refcnt_decode_ft((const uint8_t *)&h).plausible);
    /* a constant made immortal keeps its deferred bit (code objects' slices) */
    h.gc_bits = PYH_GC_BITS_DEFERRED, h.ref_local = UINT32_MAX, h.ref_shared = 0;
    r = pyh_refcnt_decode_ft((const uint8_t *)&h);
    assert_true(r.plausible && r.immortal);

    /* Offsets of Include/ with -DPy_GIL_DISABLED (3.14.7; cpython-3.14-3.15.md's probe). */
    struct pyh_layout L;
    assert_true(pyh_layout_builtin(14, &L));
    pyh_layout_free_threaded(14, &L);
    assert_int_equal(L.object_size, 32);
    assert_int_equal(L.object_type, 24);
    assert_int_equal(L.var_size, 32);
    assert_int_equal(L.tuple_items, 48);
    assert_int_equal(L.list_items, 40);
    assert_int_equal(L.list_allocated, 48);
    assert_int_equal(L.dict_keys, 48);
    assert_int_equal(L.dict_values, 56);
    assert_int_equal(L.keys_nentries, 24); /* PyDictKeysObject: no header */
    assert_int_equal(L.set_table, 56);
    assert_int_equal(L.type_flags, 184);
    assert_int_equal(L.type_size, 432);
    assert_int_equal(L.heaptype_name, 872);
    assert_int_equal(L.heaptype_size, 960);
    assert_int_equal(L.interp_threads_head, 7344); /* a runtime struct: not moved */
    assert_int_equal(L.code_tlbc, 224);

    /* str state: `interned` a whole byte, kind from bit 8 */
    struct pyh_runtime rt = {.minor = 14, .free_threaded = true};
    struct pyh_str_state st = pyh_str_state_decode(&rt, 2 | (1u << 8) | (1u << 11) | (1u << 12));
    assert_int_equal(st.kind, 1);
    assert_int_equal(st.compact, 1);
    assert_int_equal(st.ascii, 1);
    rt.free_threaded = false;
    st = pyh_str_state_decode(&rt, 1 | (4u << 2) | (1u << 5));
    assert_int_equal(st.kind, 4);
    assert_int_equal(st.compact, 1);
    assert_int_equal(st.ascii, 0);
}

/* No segment in the mappings: no mimalloc, no error. */
static void test_none(void **state)
{
    (void)state;
    struct fixture f;
    memset(&f, 0, sizeof(f));
    syn_memory_region(&f.mem, SEG, SLICE);
    struct pyh_host_target h = syn_memory_host(&f.mem);
    h.mappings = maps;
    h.nmappings = 1;
    assert_null(pyh_target_open_host(&h, &f.diag, &f.t));
    assert_null(pyh_mimalloc_open(f.t, &f.diag, &f.m));
    assert_null(f.m);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_212), cmocka_unit_test(test_walk_252),
        cmocka_unit_test(test_walk_212_gil), cmocka_unit_test(test_walk_252_gil),
        cmocka_unit_test(test_probe), cmocka_unit_test(test_bad_run), cmocka_unit_test(test_none),
        cmocka_unit_test(test_random_damage), cmocka_unit_test(test_huge_segment),
        cmocka_unit_test_prestate(test_ft_objects, NULL),
        cmocka_unit_test_prestate(test_ft_objects, (void *)"2.5.2"),
        cmocka_unit_test(test_ft_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
