/* The glibc malloc walker on synthetic heaps: a main arena in "libc's data", its brk heap with
 * a chunk of every kind (tcache struct, in use, tcache with safe-linking, fastbin, unsorted,
 * small bin, large bin, top), a thread arena in a 64 MiB-aligned heap, an mmapped chunk and
 * mp_; then the same heap damaged: a cycle in a fastbin and in a tcache list, a chunk size
 * running past the heap, a bin pointer out of the heap, a broken arena ring, a wrong mp_.
 * Built for the 2.36 layout (safe-linking, 48-byte heap_info, mp_ with huge page fields), for
 * 2.31 (no safe-linking, 32-byte heap_info, old mp_) and 2.29 (0x250 tcache, uint8_t counts),
 * read as an in-memory host target and as an ELF core. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <elf.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "allocators/glibc.h"
#include "image/image.h"
#include "synthetic.h"
#include "target/target.h"

#define LIBC 0x7f0000100000ull /* libc's writable data */
#define MAIN_ARENA (LIBC + 0x1c60)
#define MP (LIBC + 0x1340)
#define LIBC_SIZE 0x4000u
#define HEAP 0x555555560000ull /* the brk heap */
#define HEAP_SIZE 0x21000u
#define TH 0x7f0004000000ull /* a thread heap, 64 MiB aligned */
#define TH_SIZE 0x21000u
#define MM 0x7f0010000000ull /* an mmapped chunk */
#define MM_SIZE 0x22000u
#define MM_CHUNK 0x21000u

enum spec { S_TCACHE_STRUCT, S_INUSE, S_TCACHE, S_FAST, S_UNSORTED, S_SMALL, S_LARGE, S_TOP };

/* The main heap, chunk by chunk. */
static const struct {
    uint64_t size; /* 0: the tcache struct's size (by version) or, for the top, the rest */
    enum spec spec;
} main_chunks[] = {
    {0, S_TCACHE_STRUCT}, {0x30, S_INUSE},  {0x30, S_TCACHE},    {0x20, S_INUSE}, {0x30, S_TCACHE},
    {0x20, S_FAST},       {0x20, S_INUSE},  {0x100, S_UNSORTED}, {0x40, S_INUSE}, {0x200, S_SMALL},
    {0x20, S_INUSE},      {0x800, S_LARGE}, {0x20, S_INUSE},     {0, S_TOP},
};
#define NMAIN (sizeof(main_chunks) / sizeof(main_chunks[0]))

/* A synthetic process. */
struct fixture {
    unsigned version;
    struct pyh_glibc_layout L;
    struct pyh_mstate_layout ms; /* malloc_state: 2.43's (no fastbins) from 243, else classic */
    struct syn_memory mem;
    uint64_t chunk[NMAIN]; /* addresses of the main heap's chunks */
    uint64_t thread_arena, tchunk[3];
    struct pyh_diag diag;
    struct pyh_target *t;
    struct pyh_images *images;
    struct pyh_glibc *g;
};

static void w64(struct fixture *f, uint64_t addr, uint64_t v)
{
    for (size_t i = 0; i < f->mem.nregions; i++) {
        if (addr >= f->mem.regions[i].addr &&
            addr + 8 <= f->mem.regions[i].addr + f->mem.regions[i].size) {
            memcpy(f->mem.regions[i].bytes + (addr - f->mem.regions[i].addr), &v, 8);
            return;
        }
    }
    fail_msg("write outside the synthetic memory at 0x%llx", (unsigned long long)addr);
}

static void w_count(struct fixture *f, uint64_t tcache, unsigned i, unsigned count)
{
    /* counts are uint16_t from 2.30, uint8_t before; write by read-modify-write of a word */
    for (size_t r = 0; r < f->mem.nregions; r++) {
        uint64_t base = f->mem.regions[r].addr;
        if (tcache >= base && tcache < base + f->mem.regions[r].size) {
            uint8_t *p = f->mem.regions[r].bytes + (tcache - base);
            if (f->version >= 230) {
                uint16_t c = (uint16_t)count;
                memcpy(p + 2 * i, &c, 2);
            } else {
                p[i] = (uint8_t)count;
            }
        }
    }
}

static uint64_t mangle(struct fixture *f, uint64_t pos, uint64_t ptr)
{
    return f->L.safe_linking ? (pos >> 12) ^ ptr : ptr;
}

static uint64_t tcache_struct_size(const struct fixture *f)
{
    return f->version >= 230 ? 0x290 : 0x250;
}

static uint64_t entries_offset(const struct fixture *f)
{
    return f->version >= 230 ? 128 : 64;
}

/* An arena with every bin empty. */
static void init_arena(struct fixture *f, uint64_t a, uint64_t top, uint64_t next,
                       uint64_t system_mem, uint32_t flags)
{
    const struct pyh_mstate_layout *L = &f->ms;
    w64(f, a, (uint64_t)flags << 32);
    for (unsigned i = 1; i < PYH_NBINS; i++) {
        w64(f, a + L->bins + 16 * (i - 1), pyh_glibc_bin_at(L, a, i));
        w64(f, a + L->bins + 16 * (i - 1) + 8, pyh_glibc_bin_at(L, a, i));
    }
    w64(f, a + L->top, top);
    w64(f, a + L->next, next);
    w64(f, a + L->attached, 1);
    w64(f, a + L->system_mem, system_mem);
    w64(f, a + L->max_system_mem, system_mem);
}

/* Puts chunk c alone in bin i of arena a. */
static void bin_one(struct fixture *f, uint64_t a, unsigned i, uint64_t c)
{
    uint64_t b = pyh_glibc_bin_at(&f->ms, a, i);
    w64(f, a + f->ms.bins + 16 * (i - 1), c);
    w64(f, a + f->ms.bins + 16 * (i - 1) + 8, c);
    w64(f, c + 16, b);
    w64(f, c + 24, b);
}

static void build(struct fixture *f, unsigned version)
{
    memset(f, 0, sizeof(*f));
    f->version = version;
    pyh_glibc_layout_for(version, &f->L);
    pyh_glibc_mstate_layout(version >= 243 ? 24 : PYH_MSTATE_BINS, &f->ms);
    syn_memory_region(&f->mem, LIBC, LIBC_SIZE);
    syn_memory_region(&f->mem, HEAP, HEAP_SIZE);
    syn_memory_region(&f->mem, TH, TH_SIZE);
    syn_memory_region(&f->mem, MM, MM_SIZE);

    /* Main heap: sizes, flags and boundary tags. */
    uint64_t pos = HEAP;
    bool prev_free = false;
    for (size_t i = 0; i < NMAIN; i++) {
        uint64_t size = main_chunks[i].size;
        if (main_chunks[i].spec == S_TCACHE_STRUCT) size = tcache_struct_size(f);
        if (main_chunks[i].spec == S_TOP) size = HEAP + HEAP_SIZE - pos;
        f->chunk[i] = pos;
        w64(f, pos + 8, size | (prev_free ? 0 : PYH_CHUNK_P));
        enum spec s = main_chunks[i].spec;
        prev_free = s == S_UNSORTED || s == S_SMALL || s == S_LARGE;
        if (prev_free) w64(f, pos + size, size); /* the footer: next chunk's prev_size */
        pos += size;
    }
    /* main_arena, its lists and the tcache. */
    f->thread_arena = TH + f->L.heap_info_size;
    uint64_t top = f->chunk[NMAIN - 1];
    init_arena(f, MAIN_ARENA, top, f->thread_arena, HEAP_SIZE, 0);
    uint64_t tcache = f->chunk[0] + 16, t1 = 0, t2 = 0;
    for (size_t i = 0; i < NMAIN; i++) {
        uint64_t c = f->chunk[i];
        switch (main_chunks[i].spec) {
        case S_TCACHE:
            if (!t1)
                t1 = c;
            else
                t2 = c;
            break;
        case S_FAST:
            w64(f, MAIN_ARENA + f->ms.fastbins, c);
            w64(f, c + 16, mangle(f, c + 16, 0));
            break;
        case S_UNSORTED:
            bin_one(f, MAIN_ARENA, 1, c);
            break;
        case S_SMALL:
            bin_one(f, MAIN_ARENA, (unsigned)(main_chunks[i].size / 16), c);
            break;
        case S_LARGE:
            bin_one(f, MAIN_ARENA, 48 + (unsigned)(main_chunks[i].size >> 6), c);
            w64(f, c + 32, c);
            w64(f, c + 40, c);
            break;
        default:
            break;
        }
    }
    /* tcache bin 1 (chunk size 0x30): t1 -> t2 -> NULL, safe-linked from 2.32. */
    w_count(f, tcache, 1, 2);
    w64(f, tcache + entries_offset(f) + 8, t1 + 16);
    w64(f, t1 + 16, mangle(f, t1 + 16, t2 + 16));
    w64(f, t2 + 16, mangle(f, t2 + 16, 0));

    /* The thread arena: heap_info, arena, an empty tcache struct, one chunk, top. */
    uint64_t his = f->L.heap_info_size;
    w64(f, TH, f->thread_arena);
    w64(f, TH + 8, 0);
    w64(f, TH + 16, TH_SIZE);
    w64(f, TH + 24, TH_SIZE);
    uint64_t first = f->thread_arena + f->ms.size;
    if ((first + 16) & 15) first += 16 - ((first + 16) & 15);
    assert_true(his == 48 || his == 32);
    f->tchunk[0] = first;
    f->tchunk[1] = first + tcache_struct_size(f);
    f->tchunk[2] = f->tchunk[1] + 0x50;
    w64(f, f->tchunk[0] + 8, tcache_struct_size(f) | PYH_CHUNK_P | PYH_CHUNK_A);
    w64(f, f->tchunk[1] + 8, 0x50 | PYH_CHUNK_P | PYH_CHUNK_A);
    w64(f, f->tchunk[2] + 8, (TH + TH_SIZE - f->tchunk[2]) | PYH_CHUNK_P);
    init_arena(f, f->thread_arena, f->tchunk[2], MAIN_ARENA, TH_SIZE, 2);

    /* One mmapped chunk. */
    w64(f, MM, 0);
    w64(f, MM + 8, MM_CHUNK | PYH_CHUNK_M);

    /* mp_. */
    const struct pyh_glibc_layout *L = &f->L;
    w64(f, MP + 16, 0x20000);                         /* mmap_threshold */
    w64(f, MP + L->mp_n_mmaps, 1 | (65536ull << 32)); /* n_mmaps, n_mmaps_max */
    w64(f, MP + L->mp_max_n_mmaps, 1);
    w64(f, MP + L->mp_mmapped_mem, MM_CHUNK);
    w64(f, MP + L->mp_max_mmapped_mem, MM_CHUNK);
    w64(f, MP + L->mp_sbrk_base, HEAP);
    w64(f, MP + L->mp_tcache_bins, 64);
    w64(f, MP + L->mp_tcache_max_bytes, 1032);
    w64(f, MP + L->mp_tcache_count, 7);
}

static const struct pyh_host_mapping host_maps[] = {
    {LIBC, LIBC + LIBC_SIZE, 0, PROT_READ | PROT_WRITE, "/nonexistent/libc.so.6"},
    {HEAP, HEAP + HEAP_SIZE, 0, PROT_READ | PROT_WRITE, "[heap]"},
    {TH, TH + TH_SIZE, 0, PROT_READ | PROT_WRITE, NULL},
    {MM, MM + MM_SIZE, 0, PROT_READ | PROT_WRITE, NULL},
};

/* Opens the host target over f->mem and runs the walker; returns its error. */
static struct pyh_error *open_walker(struct fixture *f, const struct pyh_glibc_options *opts)
{
    struct pyh_host_target h = syn_memory_host(&f->mem);
    h.mappings = host_maps;
    h.nmappings = sizeof(host_maps) / sizeof(host_maps[0]);
    struct pyh_error *err = pyh_target_open_host(&h, &f->diag, &f->t);
    assert_null(err);
    assert_null(pyh_images_load(f->t, "", &f->diag, &f->images));
    return pyh_glibc_open(f->t, f->images, opts, &f->diag, &f->g);
}

static void teardown(struct fixture *f)
{
    pyh_glibc_free(f->g);
    pyh_images_free(f->images);
    pyh_target_close(f->t);
    syn_memory_free(&f->mem);
    pyh_diag_free(&f->diag);
}

static bool has_warning(const struct fixture *f, const char *needle)
{
    for (size_t i = 0; i < f->diag.nwarnings; i++)
        if (strstr(f->diag.warnings[i], needle)) return true;
    return false;
}

static void print_warnings(const struct fixture *f)
{
    for (size_t i = 0; i < f->diag.nwarnings; i++)
        print_message("  %s\n", f->diag.warnings[i]);
}

/* The expected main arena numbers of the intact heap. */
static void check_main_arena(const struct fixture *f)
{
    const struct pyh_glibc_arena *a = &f->g->arenas[0];
    uint64_t tc = tcache_struct_size(f);
    assert_true(a->is_main);
    assert_int_equal(a->address, MAIN_ARENA);
    assert_int_equal(a->nheaps, 1);
    assert_int_equal(a->system_mem, HEAP_SIZE);
    assert_int_equal(a->top, f->chunk[NMAIN - 1]);
    assert_int_equal(a->top_size, HEAP + HEAP_SIZE - f->chunk[NMAIN - 1]);
    assert_int_equal(a->kinds[PYH_GLIBC_INUSE].count, 6);
    assert_int_equal(a->kinds[PYH_GLIBC_INUSE].bytes, 0xf0);
    assert_int_equal(a->kinds[PYH_GLIBC_INTERNAL].count, 1);
    assert_int_equal(a->kinds[PYH_GLIBC_INTERNAL].bytes, tc);
    assert_int_equal(a->kinds[PYH_GLIBC_TCACHE].count, 2);
    assert_int_equal(a->kinds[PYH_GLIBC_TCACHE].bytes, 0x60);
    assert_int_equal(a->kinds[PYH_GLIBC_FASTBIN].count, 1);
    assert_int_equal(a->kinds[PYH_GLIBC_FASTBIN].bytes, 0x20);
    assert_int_equal(a->kinds[PYH_GLIBC_UNSORTED].bytes, 0x100);
    assert_int_equal(a->kinds[PYH_GLIBC_SMALLBIN].bytes, 0x200);
    assert_int_equal(a->kinds[PYH_GLIBC_LARGEBIN].bytes, 0x800);
    assert_int_equal(a->kinds[PYH_GLIBC_TOP].count, 1);
    assert_int_equal(a->kinds[PYH_GLIBC_FREE_LOST].count, 0);
    assert_int_equal(a->listed[PYH_GLIBC_FASTBIN], 1);
    assert_int_equal(a->listed[PYH_GLIBC_UNSORTED], 1);
    assert_int_equal(a->listed[PYH_GLIBC_SMALLBIN], 1);
    assert_int_equal(a->listed[PYH_GLIBC_LARGEBIN], 1);
}

static void check_intact(struct fixture *f)
{
    struct pyh_glibc *g = f->g;
    if (f->diag.nwarnings) print_warnings(f);
    assert_int_equal(f->diag.nwarnings, 0);
    assert_true(g->complete);
    assert_int_equal(g->main_arena, MAIN_ARENA);
    assert_int_equal(g->mp, MP);
    assert_int_equal(g->narenas, 2);
    check_main_arena(f);
    const struct pyh_glibc_arena *t = &g->arenas[1];
    assert_false(t->is_main);
    assert_int_equal(t->address, f->thread_arena);
    assert_int_equal(t->nheaps, 1);
    assert_int_equal(t->overhead, f->tchunk[0] - TH);
    assert_int_equal(t->kinds[PYH_GLIBC_INUSE].count, 1);
    assert_int_equal(t->kinds[PYH_GLIBC_INTERNAL].count, 1); /* the empty tcache struct */
    assert_int_equal(t->kinds[PYH_GLIBC_TOP].bytes, TH + TH_SIZE - f->tchunk[2]);
    assert_int_equal(g->heaps[t->first_heap].info, TH);
    assert_int_equal(g->ntcaches, 2);
    assert_int_equal(g->tcaches[0].address, f->chunk[0] + 16);
    assert_int_equal(g->tcaches[0].chunks.count, 2);
    assert_int_equal(g->tcaches[0].wide, f->version >= 230);
    assert_int_equal(g->tcaches[1].address, f->tchunk[0] + 16);
    assert_int_equal(g->tcaches[1].chunks.count, 0);
    assert_int_equal(g->nmmapped, 1);
    assert_int_equal(g->mmapped[0].address, MM);
    assert_int_equal(g->mmapped_total.bytes, MM_CHUNK);
}

static void intact(unsigned version, const struct pyh_glibc_options *opts)
{
    struct fixture f;
    build(&f, version);
    struct pyh_glibc_options o = opts ? *opts : (struct pyh_glibc_options){0};
    o.version = version;
    struct pyh_error *err = open_walker(&f, &o);
    if (err) fail_msg("%s", pyh_error_message(err));
    check_intact(&f);
    assert_int_equal(f.g->main_arena_how, o.main_arena ? PYH_GLIBC_HOW_GIVEN : PYH_GLIBC_HOW_SCAN);
    assert_int_equal(f.g->mp_how, o.mp ? PYH_GLIBC_HOW_GIVEN : PYH_GLIBC_HOW_SCAN);
    teardown(&f);
}

static void test_intact_236(void **state)
{
    (void)state;
    intact(236, NULL);
}

static void test_intact_231_no_safe_linking(void **state)
{
    (void)state;
    intact(231, NULL);
}

static void test_intact_229_byte_counts(void **state)
{
    (void)state;
    intact(229, NULL);
}

static void test_given_addresses(void **state)
{
    (void)state;
    struct pyh_glibc_options o = {.main_arena = MAIN_ARENA, .mp = MP};
    intact(236, &o);
}

/* Without a version (no libc file), 2.35+ is assumed, with a warning. */
static void test_version_assumed(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, 236);
    assert_null(open_walker(&f, NULL));
    assert_string_equal(f.g->version_source, "assumed");
    assert_true(has_warning(&f, "glibc version unknown"));
    check_main_arena(&f);
    assert_false(f.diag.partial);
    teardown(&f);
}

/* What the visitor sees, in order. */
struct visit_log {
    struct pyh_glibc_chunk chunks[64];
    size_t n;
};

static struct pyh_error *log_chunk(const struct pyh_glibc_chunk *c, void *ctx)
{
    struct visit_log *log = ctx;
    if (log->n < 64) log->chunks[log->n] = *c;
    log->n++;
    return NULL;
}

static void test_visit(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, 236);
    struct pyh_glibc_options o = {.version = 236};
    assert_null(open_walker(&f, &o));
    struct visit_log log = {0};
    assert_null(pyh_glibc_visit(f.g, log_chunk, &log));
    static const enum pyh_glibc_kind want[NMAIN] = {
        PYH_GLIBC_INTERNAL, PYH_GLIBC_INUSE,    PYH_GLIBC_TCACHE, PYH_GLIBC_INUSE,
        PYH_GLIBC_TCACHE,   PYH_GLIBC_FASTBIN,  PYH_GLIBC_INUSE,  PYH_GLIBC_UNSORTED,
        PYH_GLIBC_INUSE,    PYH_GLIBC_SMALLBIN, PYH_GLIBC_INUSE,  PYH_GLIBC_LARGEBIN,
        PYH_GLIBC_INUSE,    PYH_GLIBC_TOP,
    };
    assert_int_equal(log.n, NMAIN + 3 + 1);
    for (size_t i = 0; i < NMAIN; i++) {
        assert_int_equal(log.chunks[i].address, f.chunk[i]);
        assert_int_equal(log.chunks[i].kind, want[i]);
        assert_int_equal(log.chunks[i].arena, 0);
    }
    assert_int_equal(log.chunks[NMAIN].kind, PYH_GLIBC_INTERNAL);
    assert_int_equal(log.chunks[NMAIN + 1].kind, PYH_GLIBC_INUSE);
    assert_int_equal(log.chunks[NMAIN + 1].size, 0x50);
    assert_int_equal(log.chunks[NMAIN + 1].arena, 1);
    assert_int_equal(log.chunks[NMAIN + 2].kind, PYH_GLIBC_TOP);
    assert_int_equal(log.chunks[NMAIN + 3].kind, PYH_GLIBC_MMAPPED);
    assert_int_equal(log.chunks[NMAIN + 3].arena, PYH_GLIBC_NO_ARENA);
    assert_int_equal(log.chunks[NMAIN + 3].size, MM_CHUNK);
    teardown(&f);
}

static struct pyh_error *stop_at_third(const struct pyh_glibc_chunk *c, void *ctx)
{
    (void)c;
    return ++*(int *)ctx == 3 ? pyh_error_create(PYH_ERR_INTERRUPTED, "stop") : NULL;
}

static void test_visit_stops_on_error(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, 236);
    struct pyh_glibc_options o = {.version = 236};
    assert_null(open_walker(&f, &o));
    int n = 0;
    struct pyh_error *err = pyh_glibc_visit(f.g, stop_at_third, &n);
    assert_true(pyh_error_is(err, PYH_ERR_INTERRUPTED));
    assert_int_equal(n, 3);
    pyh_error_free(err);
    teardown(&f);
}

/* ---- Damaged heaps ---------------------------------------------------------------- */

static size_t find_spec(enum spec s)
{
    for (size_t i = 0; i < NMAIN; i++)
        if (main_chunks[i].spec == s) return i;
    return 0;
}

static void test_fastbin_cycle(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, 236);
    uint64_t c = f.chunk[find_spec(S_FAST)];
    w64(&f, c + 16, mangle(&f, c + 16, c)); /* fd -> itself */
    struct pyh_glibc_options o = {.version = 236};
    assert_null(open_walker(&f, &o));
    char addr[32];
    snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)c);
    assert_true(f.diag.partial);
    assert_true(has_warning(&f, "fastbin 0"));
    assert_true(has_warning(&f, addr));
    assert_false(f.g->complete);
    assert_int_equal(f.g->arenas[0].listed[PYH_GLIBC_FASTBIN], 1);
    assert_int_equal(f.g->arenas[0].kinds[PYH_GLIBC_FASTBIN].count, 1);
    teardown(&f);
}

static void test_tcache_cycle(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, 236);
    uint64_t t1 = f.chunk[2], t2 = f.chunk[4];
    w64(&f, t2 + 16, mangle(&f, t2 + 16, t1 + 16)); /* t1 -> t2 -> t1 -> ... */
    struct pyh_glibc_options o = {.version = 236};
    assert_null(open_walker(&f, &o));
    assert_true(f.diag.partial);
    assert_true(has_warning(&f, "list 1"));
    /* The struct is still found (first chunk of the heap); the list's chunks stay "in use". */
    assert_int_equal(f.g->ntcaches, 2);
    assert_int_equal(f.g->tcaches[0].bad_lists, 1ull << 1);
    assert_int_equal(f.g->arenas[0].kinds[PYH_GLIBC_TCACHE].count, 0);
    assert_int_equal(f.g->arenas[0].kinds[PYH_GLIBC_INUSE].count, 8);
    teardown(&f);
}

static void test_chunk_size_past_heap(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, 236);
    size_t i = find_spec(S_SMALL) + 1; /* the in-use chunk after the small-bin one */
    uint64_t c = f.chunk[i];
    w64(&f, c + 8, 0x100000); /* runs past the heap's end */
    struct pyh_glibc_options o = {.version = 236};
    assert_null(open_walker(&f, &o));
    char addr[32];
    snprintf(addr, sizeof(addr), "chunk 0x%llx has a bad size", (unsigned long long)c);
    assert_true(has_warning(&f, addr));
    assert_true(f.diag.partial);
    assert_false(f.g->arenas[0].complete);
    assert_int_equal(f.g->heaps[0].walked, c);
    /* The thread arena is untouched. */
    assert_true(f.g->arenas[1].complete);
    struct visit_log log = {0};
    assert_null(pyh_glibc_visit(f.g, log_chunk, &log));
    assert_int_equal(log.n, i + 3 + 1);
    teardown(&f);
}

static void test_bin_pointer_out_of_heap(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, 236);
    uint64_t c = f.chunk[find_spec(S_UNSORTED)];
    w64(&f, c + 16, 0x414141414140ull); /* fd of the only unsorted chunk */
    struct pyh_glibc_options o = {.version = 236};
    assert_null(open_walker(&f, &o));
    assert_true(has_warning(&f, "bin 1 leaves the arena's heaps at 0x414141414140"));
    assert_true(f.diag.partial);
    assert_int_equal(f.g->arenas[0].listed[PYH_GLIBC_UNSORTED], 1);
    teardown(&f);
}

static void test_top_corrupt(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, 236);
    uint64_t top = f.chunk[NMAIN - 1];
    w64(&f, top + 8, 0x7fffffff0 | PYH_CHUNK_P);
    struct pyh_glibc_options o = {.version = 236, .main_arena = MAIN_ARENA};
    /* A top chunk bigger than its mapping: not an arena. */
    struct pyh_error *err = open_walker(&f, &o);
    assert_true(pyh_error_is(err, PYH_ERR_CORRUPT));
    assert_non_null(strstr(pyh_error_message(err), "0x7f0000101c60"));
    pyh_error_free(err);
    teardown(&f);
}

/* A process stopped inside malloc, between its move of top and the write of the new top's
 * header (a fresh page: its fault is a likely place to stop): both tops read 0. The arenas are
 * still found, without being told where; each top runs to its heap's end; the chunk before the
 * main top (being handed out) is in use, not a free chunk in no list; nothing is partial. */
static void test_top_header_not_written(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, 236);
    w64(&f, f.chunk[NMAIN - 1] + 8, 0);
    w64(&f, f.tchunk[2] + 8, 0);
    struct pyh_glibc_options o = {.version = 236};
    struct pyh_error *err = open_walker(&f, &o);
    if (err) fail_msg("%s", pyh_error_message(err));
    assert_int_equal(f.g->main_arena, MAIN_ARENA);
    assert_true(has_warning(&f, "has no header yet"));
    assert_false(f.diag.partial);
    assert_true(f.g->complete);
    const struct pyh_glibc_arena *a = &f.g->arenas[0];
    assert_int_equal(a->top_size, HEAP + HEAP_SIZE - f.chunk[NMAIN - 1]);
    assert_int_equal(a->kinds[PYH_GLIBC_TOP].bytes, a->top_size);
    assert_int_equal(a->kinds[PYH_GLIBC_INUSE].count, 6);
    assert_int_equal(a->kinds[PYH_GLIBC_FREE_LOST].count, 0);
    const struct pyh_glibc_arena *t = &f.g->arenas[1];
    assert_int_equal(t->top_size, TH + TH_SIZE - f.tchunk[2]);
    assert_int_equal(t->kinds[PYH_GLIBC_TOP].bytes, t->top_size);
    teardown(&f);
}

static void test_arena_ring_cycle(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, 236);
    w64(&f, f.thread_arena + f.ms.next, f.thread_arena); /* never returns to main */
    struct pyh_glibc_options o = {.version = 236};
    struct pyh_error *err = open_walker(&f, &o);
    assert_true(pyh_error_is(err, PYH_ERR_NOT_FOUND));
    pyh_error_free(err);
    teardown(&f);
}

static void test_thread_heap_info_wrong_arena(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, 236);
    /* Move the thread arena's top into a heap whose heap_info belongs to no one. */
    w64(&f, f.thread_arena + f.ms.top, MM + 0x1000);
    w64(&f, MM + 0x1008, 0x1000 | PYH_CHUNK_P);
    struct pyh_glibc_options o = {.version = 236};
    assert_null(open_walker(&f, &o));
    assert_true(f.diag.partial);
    assert_true(has_warning(&f, "heap_info 0x7f0010000000 belongs to another arena"));
    assert_false(f.g->arenas[1].complete);
    assert_int_equal(f.g->arenas[1].nheaps, 0);
    teardown(&f);
}

static void test_mmapped_mismatch(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, 236);
    w64(&f, MP + f.L.mp_n_mmaps, 2 | (65536ull << 32));
    w64(&f, MP + f.L.mp_max_n_mmaps, 2);
    struct pyh_glibc_options o = {.version = 236};
    assert_null(open_walker(&f, &o));
    assert_true(has_warning(&f, "found 1 mmapped chunks"));
    assert_true(f.diag.partial);
    teardown(&f);
}

static void test_no_arena(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, 236);
    memset(f.mem.regions[0].bytes, 0, LIBC_SIZE);
    struct pyh_glibc_options o = {.version = 236};
    struct pyh_error *err = open_walker(&f, &o);
    assert_true(pyh_error_is(err, PYH_ERR_NOT_FOUND));
    assert_null(f.g);
    pyh_error_free(err);
    teardown(&f);
}

/* The same process as an ELF core (no mapping labels there: the brk heap is found from the
 * arena alone and the mmapped-chunk scan must skip it). */
static void test_core(void **state)
{
    (void)state;
    struct fixture f;
    build(&f, 236);
    struct syn_segment segs[4];
    for (size_t i = 0; i < 4; i++)
        segs[i] = (struct syn_segment){.vaddr = f.mem.regions[i].addr,
                                       .data = f.mem.regions[i].bytes,
                                       .size = f.mem.regions[i].size,
                                       .flags = PF_R | PF_W};
    struct syn_file files[] = {{LIBC, LIBC + LIBC_SIZE, 0, "/nonexistent/libc.so.6"}};
    struct syn_core c = {.segments = segs, .nsegments = 4, .files = files, .nfiles = 1};
    const char *path = syn_write_core(&c, "glibc.core");
    struct pyh_file_search search = {0};
    assert_null(pyh_target_open_core(path, &search, &f.diag, &f.t));
    assert_null(pyh_images_load(f.t, "", &f.diag, &f.images));
    struct pyh_glibc_options o = {.version = 236};
    struct pyh_error *err = pyh_glibc_open(f.t, f.images, &o, &f.diag, &f.g);
    if (err) fail_msg("%s", pyh_error_message(err));
    /* The core names a libc that is not here: that warning only. */
    for (size_t i = 0; i < f.diag.nwarnings; i++)
        assert_null(strstr(f.diag.warnings[i], "glibc malloc"));
    check_main_arena(&f);
    assert_int_equal(f.g->nmmapped, 1);
    assert_int_equal(f.g->ntcaches, 2);
    assert_true(f.g->complete);
    teardown(&f);
    syn_cleanup();
}

/* Random damage, deterministic: overwrite words of the arenas and heaps with nearby pointers,
 * small numbers or garbage; the walker must return (an error or a possibly partial result)
 * without crashing or looping, and the visitor must stay within what open found. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static struct pyh_error *count_only(const struct pyh_glibc_chunk *c, void *ctx)
{
    (void)c;
    ++*(size_t *)ctx;
    return NULL;
}

static void test_random_damage(void **state)
{
    (void)state;
    static const uint64_t targets[][2] = {
        {MAIN_ARENA, PYH_MSTATE_SIZE}, {HEAP, 0x1000}, {TH, 0xc00}, {MP, 136}, {MM, 16},
    };
    for (int iter = 0; iter < 400; iter++) {
        struct fixture f;
        build(&f, iter % 3 == 0 ? 231 : 236);
        int nwrites = 1 + (int)(rng() % 4);
        for (int k = 0; k < nwrites; k++) {
            const uint64_t *r = targets[rng() % 5];
            uint64_t addr = r[0] + (rng() % (r[1] / 8)) * 8;
            uint64_t v;
            switch (rng() % 4) {
            case 0:
                v = HEAP + (rng() % HEAP_SIZE & ~15ull);
                break;
            case 1:
                v = rng() % 0x1000;
                break;
            case 2:
                v = addr + 16 * (rng() % 8);
                break;
            default:
                v = rng();
                break;
            }
            w64(&f, addr, v);
        }
        struct pyh_glibc_options o = {.version = f.version};
        struct pyh_error *err = open_walker(&f, &o);
        if (err) {
            assert_null(f.g);
            pyh_error_free(err);
        } else {
            size_t n = 0;
            assert_null(pyh_glibc_visit(f.g, count_only, &n));
            size_t total = f.g->nmmapped;
            for (size_t a = 0; a < f.g->narenas; a++)
                for (int k = 0; k < PYH_GLIBC_NKINDS; k++)
                    total += f.g->arenas[a].kinds[k].count;
            assert_int_equal(n, total);
        }
        teardown(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intact_236),
        cmocka_unit_test(test_intact_231_no_safe_linking),
        cmocka_unit_test(test_intact_229_byte_counts),
        cmocka_unit_test(test_given_addresses),
        cmocka_unit_test(test_version_assumed),
        cmocka_unit_test(test_visit),
        cmocka_unit_test(test_visit_stops_on_error),
        cmocka_unit_test(test_fastbin_cycle),
        cmocka_unit_test(test_tcache_cycle),
        cmocka_unit_test(test_chunk_size_past_heap),
        cmocka_unit_test(test_bin_pointer_out_of_heap),
        cmocka_unit_test(test_top_corrupt),
        cmocka_unit_test(test_top_header_not_written),
        cmocka_unit_test(test_arena_ring_cycle),
        cmocka_unit_test(test_thread_heap_info_wrong_arena),
        cmocka_unit_test(test_mmapped_mismatch),
        cmocka_unit_test(test_no_arena),
        cmocka_unit_test(test_core),
        cmocka_unit_test(test_random_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
