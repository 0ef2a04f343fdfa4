/* Finding glibc malloc's roots in the target: the glibc version (which fixes a few struct
 * layouts), main_arena and mp_ — from symbols when libc's .symtab is available (libc6-dbg),
 * otherwise by heuristics. Every candidate, a symbol's too, is validated against the data it
 * points to, because a wrong layout or a stale debug file must not send the walk into garbage.
 *
 * main_arena is never in libc's .dynsym, but the exported statistics functions take its
 * address with a RIP-relative `lea main_arena(%rip),%reg` near their start, and libc's code is
 * on disk even when a core left it out. The last resort scans libc's writable data for the
 * one struct malloc_state whose `next` ring returns to itself: bins that point to themselves
 * alone are ambiguous (the same window shifted by 16 bytes matches too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocators/glibc.h"
#include "util/chain.h"
#include "util/mem.h"

/* ---- Layouts ------------------------------------------------------------------------- */

void pyh_glibc_layout_for(unsigned version, struct pyh_glibc_layout *out)
{
    memset(out, 0, sizeof(*out));
    out->version = version;
    /* Unknown versions get the newest layout; the callers validate and warn. */
    bool modern = version == 0 || version >= 235;
    out->safe_linking = version == 0 || version >= 232;
    out->heap_info_size = modern ? 48 : 32;
    if (version >= 242) {
        /* 2.43 (Debian sid; measured): one more size_t before hp_pagesize, and a larger
         * tcache (tcache_max_bytes past 1032). */
        out->mp_size = 144;
        out->mp_hp_pagesize = 56;
        out->mp_n_mmaps = 68;
        out->mp_max_n_mmaps = 76;
        out->mp_mmapped_mem = 88;
        out->mp_max_mmapped_mem = 96;
        out->mp_sbrk_base = 104;
        out->mp_tcache_bins = 112;
        out->mp_tcache_max_bytes = 120;
        out->mp_tcache_count = 128;
    } else if (modern) {
        /* 2.35 added thp_pagesize, hp_pagesize and hp_flags after arena_max. */
        out->mp_size = 136;
        out->mp_hp_pagesize = 48;
        out->mp_n_mmaps = 60;
        out->mp_max_n_mmaps = 68;
        out->mp_mmapped_mem = 80;
        out->mp_max_mmapped_mem = 88;
        out->mp_sbrk_base = 96;
        out->mp_tcache_bins = 104;
        out->mp_tcache_max_bytes = 112;
        out->mp_tcache_count = 120;
    } else {
        out->mp_size = 112;
        out->mp_hp_pagesize = 0;
        out->mp_n_mmaps = 40;
        out->mp_max_n_mmaps = 48;
        out->mp_mmapped_mem = 56;
        out->mp_max_mmapped_mem = 64;
        out->mp_sbrk_base = 72;
        out->mp_tcache_bins = 80;
        out->mp_tcache_max_bytes = 88;
        out->mp_tcache_count = 96;
    }
}

void pyh_glibc_mstate_layout(uint32_t bins, struct pyh_mstate_layout *out)
{
    out->bins = bins;
    out->top = bins - 16; /* then last_remainder */
    /* fastbinsY[10] end at top; a layout with too little room before top has none (2.43). */
    out->nfastbins = out->top >= 8 + 8 * PYH_NFASTBINS ? PYH_NFASTBINS : 0;
    out->fastbins = out->nfastbins ? out->top - 8 * PYH_NFASTBINS : 0;
    out->next = bins + 8 * (2 * PYH_NBINS - 2) + 16; /* after bins[254] and binmap[4] */
    out->attached = out->next + 16;                  /* after next_free */
    out->system_mem = out->next + 24;
    out->max_system_mem = out->next + 32;
    out->size = out->next + 40;
}

/* ---- Where libc is ------------------------------------------------------------------- */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* libc.so.6 (2.34+) or libc-2.NN.so (before). */
static bool is_libc_path(const char *path)
{
    const char *b = base_name(path);
    return strncmp(b, "libc.so", 7) == 0 || (strncmp(b, "libc-", 5) == 0 && strstr(b, ".so"));
}

/* The module holding malloc: libc, or the executable when glibc is linked statically (no
 * mapping has a libc name). */
static struct pyh_module *libc_module(struct pyh_images *images)
{
    for (size_t i = 0; images && i < images->nmods; i++)
        if (is_libc_path(images->mods[i].path)) return &images->mods[i];
    for (size_t i = 0; images && i < images->target->nmaps; i++)
        if (images->target->maps[i].path && is_libc_path(images->target->maps[i].path))
            return NULL; /* libc is mapped but its module is unusable (not ELF here) */
    return images ? pyh_images_exe(images) : NULL;
}

/* The path libc is mapped from (NULL if no mapping has a libc name). */
static const char *libc_path(const struct pyh_target *t)
{
    for (size_t i = 0; i < t->nmaps; i++)
        if (t->maps[i].path && is_libc_path(t->maps[i].path)) return t->maps[i].path;
    return NULL;
}

/* Up to 8 writable ranges where libc's static data lives: its rw file mappings and the
 * anonymous mapping right after them (the part of .bss beyond the file's last page). For a
 * static executable (no libc mapping), the executable's. */
struct data_ranges {
    uint64_t start[8], end[8];
    size_t n;
};

static void find_data_ranges(const struct pyh_target *t, struct pyh_images *images,
                             struct data_ranges *r)
{
    r->n = 0;
    const char *path = libc_path(t);
    if (!path && images) {
        struct pyh_module *exe = pyh_images_exe(images);
        if (exe) path = exe->path;
    }
    if (!path) return;
    for (size_t i = 0; i < t->nmaps && r->n < 8; i++) {
        const struct pyh_mapping *m = &t->maps[i];
        if (!m->path || strcmp(m->path, path) != 0) continue;
        if ((m->prot & (PYH_PROT_R | PYH_PROT_W)) == (PYH_PROT_R | PYH_PROT_W)) {
            r->start[r->n] = m->start;
            r->end[r->n++] = m->end;
        }
        const struct pyh_mapping *next = i + 1 < t->nmaps ? &t->maps[i + 1] : NULL;
        if (next && next->start == m->end && !next->path && !next->label &&
            (next->prot & PYH_PROT_W) && r->n < 8) {
            r->start[r->n] = next->start;
            r->end[r->n++] = next->end;
        }
    }
}

static bool in_ranges(const struct data_ranges *r, uint64_t addr, uint64_t len)
{
    for (size_t i = 0; i < r->n; i++)
        if (addr >= r->start[i] && addr + len <= r->end[i]) return true;
    return false;
}

/* ---- The version --------------------------------------------------------------------- */

/* "2.36" -> 236; 0 when s does not start with "2.<digits>". */
static unsigned parse_version(const char *s, const char *end)
{
    if (end - s < 3 || s[0] != '2' || s[1] != '.') return 0;
    unsigned minor = 0;
    const char *p = s + 2;
    for (; p < end && *p >= '0' && *p <= '9' && minor < 1000; p++)
        minor = minor * 10 + (*p - '0');
    return p == s + 2 || minor >= 100 ? 0 : 200 + minor;
}

/* From "GNU C Library (Debian GLIBC 2.36-9+deb12u14) stable release version 2.36." in the
 * file's .rodata (the core does not hold .rodata, the file on disk does). */
static unsigned version_from_file(const struct pyh_local_file *f)
{
    static const char banner[] = "GNU C Library";
    static const char ver[] = "version ";
    const char *data = (const char *)f->data, *end = data + f->size;
    const char *p = data;
    while ((p = memmem(p, (size_t)(end - p), banner, sizeof(banner) - 1))) {
        const char *limit = end - p > 256 ? p + 256 : end;
        const char *nul = memchr(p, '\0', (size_t)(limit - p));
        if (nul) limit = nul;
        const char *v = memmem(p, (size_t)(limit - p), ver, sizeof(ver) - 1);
        if (v) {
            unsigned n = parse_version(v + sizeof(ver) - 1, limit);
            if (n) return n;
        }
        p += sizeof(banner) - 1;
    }
    return 0;
}

static unsigned version_from_path(const char *path)
{
    const char *b = base_name(path);
    if (strncmp(b, "libc-", 5) != 0) return 0;
    return parse_version(b + 5, b + strlen(b));
}

static void find_version(struct pyh_glibc *g, struct pyh_images *images,
                         const struct pyh_glibc_options *opts)
{
    unsigned v = 0;
    struct pyh_module *libc = libc_module(images);
    const char *path = libc_path(g->target);
    if (opts && opts->version) {
        v = opts->version;
        g->version_source = "option";
    } else if (libc && libc->file && (v = version_from_file(libc->file))) {
        g->version_source = "libc file";
    } else if (path && (v = version_from_path(path))) {
        g->version_source = "libc path";
    } else {
        g->version_source = "assumed";
        pyh_diag_warn(g->diag, "glibc version unknown (libc %s); assuming 2.35 or later",
                      libc && libc->file ? "has no version banner" : "file not found");
    }
    if (v && v < 228)
        pyh_diag_warn(g->diag, "glibc 2.%u is older than 2.28; the malloc walk may be wrong",
                      v - 200);
    if (v > 243)
        pyh_diag_warn(g->diag, "glibc 2.%u is newer than the glibc py-heap was tested with "
                      "(2.28-2.43); its structures are found by their shape, results may be "
                      "incomplete", v - 200);
    pyh_glibc_layout_for(v, &g->layout);
    pyh_glibc_mstate_layout(PYH_MSTATE_BINS, &g->layout.ms); /* until main_arena shows its own */
}

/* ---- Validating an arena ------------------------------------------------------------- */

bool pyh_glibc_arena_plausible(struct pyh_target *t, const struct pyh_mstate_layout *L, uint64_t a,
                               const uint8_t *buf)
{
    uint64_t top = pyh_glibc_word(buf, L->top);
    uint64_t next = pyh_glibc_word(buf, L->next);
    uint64_t system_mem = pyh_glibc_word(buf, L->system_mem);
    uint32_t flags;
    memcpy(&flags, buf + PYH_MSTATE_FLAGS, 4);
    /* flags: NONCONTIGUOUS_BIT (2), and ARENA_CORRUPTION_BIT (4) in older glibc. */
    if (!next || (next & 7) || !top || (top & 15) || (flags & ~7u)) return false;
    for (unsigned i = 1; i < PYH_NBINS; i++) {
        uint64_t fd = pyh_glibc_word(buf, L->bins + 16 * (i - 1));
        uint64_t bk = pyh_glibc_word(buf, L->bins + 16 * (i - 1) + 8);
        uint64_t b = pyh_glibc_bin_at(L, a, i);
        if (fd == b && bk == b) continue;
        if (!fd || !bk || (fd & 15) || (bk & 15)) return false;
    }
    for (unsigned i = 0; i < L->nfastbins; i++)
        if (pyh_glibc_word(buf, L->fastbins + 8 * i) & 15) return false;
    /* Before its first sysmalloc an arena's top is the unsorted bin itself ("initial_top"). */
    if (top == pyh_glibc_bin_at(L, a, 1)) return true;
    const struct pyh_mapping *m = pyh_target_mapping_at(t, top);
    if (!m || !(m->prot & PYH_PROT_W) || top + 16 > m->end) return false;
    uint64_t head;
    struct pyh_error *err = pyh_read_u64(t, top + 8, &head);
    if (err) {
        pyh_error_free(err);
        return false;
    }
    /* A header of 0: malloc has just moved top into memory it has not written yet (it sets
     * av->top, then the new top's header — the first write to a fresh page, so a stop in its
     * page fault sees it: 1 snapshot in 20 of a service growing by 16 KiB chunks). */
    if (head == 0) return true;
    /* The top chunk always has PREV_INUSE and never IS_MMAPPED. */
    uint64_t size = head & ~(uint64_t)7;
    uint64_t run_start, run_end; /* the top chunk may span a heap split by madvise */
    pyh_glibc_mapping_run(t, m, &run_start, &run_end);
    return (head & PYH_CHUNK_P) && !(head & PYH_CHUNK_M) && top + size <= run_end &&
           size <= system_mem;
}

/* Is the arena at a a thread arena: does the heap_info just before it point back to it, at an
 * address aligned as heaps are (8 MiB at least: 4 x 2 MiB huge pages)? */
static bool is_thread_arena(struct pyh_target *t, uint64_t a)
{
    static const uint32_t heap_info_sizes[] = {48, 32};
    for (size_t i = 0; i < 2; i++) {
        uint64_t h = a - heap_info_sizes[i];
        uint64_t ar_ptr;
        if (h & ((8u << 20) - 1)) continue;
        struct pyh_error *err = pyh_read_u64(t, h, &ar_ptr);
        if (err) {
            pyh_error_free(err);
            continue;
        }
        if (ar_ptr == a) return true;
    }
    return false;
}

bool pyh_glibc_ring_returns(struct pyh_target *t, const struct pyh_mstate_layout *L, uint64_t a)
{
    struct pyh_chain_guard guard = pyh_chain_guard_init(4096);
    uint64_t cur;
    struct pyh_error *err = pyh_read_u64(t, a + L->next, &cur);
    while (!err && cur != a) {
        if ((cur & 7) || !pyh_chain_step(&guard, cur) || !is_thread_arena(t, cur)) return false;
        err = pyh_read_u64(t, cur + L->next, &cur);
    }
    if (err) {
        pyh_error_free(err);
        return false;
    }
    return true;
}

/* Where the bins of a malloc_state may start, most likely first: 2.27-2.41 (112), without
 * have_fastchunks (104), without fastbins (24, 2.43); then every other 8-byte step between. */
static const uint32_t bins_offsets[] = {112, 104, 24, 96, 88, 80, 72, 64, 56, 48, 40, 32};
#define NBINS_OFFSETS (sizeof(bins_offsets) / sizeof(bins_offsets[0]))

/* Is the malloc_state in buf (read at a, PYH_MSTATE_SIZE bytes) an arena of some layout whose
 * `next` ring returns to it? Sets *L to the first layout that fits. The ring tells apart the
 * layouts one bin pair (16 bytes) apart, which empty bins alone cannot. */
static bool arena_fits(struct pyh_target *t, uint64_t a, const uint8_t *buf,
                       struct pyh_mstate_layout *L)
{
    for (size_t k = 0; k < NBINS_OFFSETS; k++) {
        struct pyh_mstate_layout l;
        pyh_glibc_mstate_layout(bins_offsets[k], &l);
        /* Cheap filter first: the unsorted bin is empty (points to itself) or holds chunks. */
        uint64_t fd = pyh_glibc_word(buf, l.bins), b = pyh_glibc_bin_at(&l, a, 1);
        if (fd != b && (!fd || (fd & 15))) continue;
        if (pyh_glibc_arena_plausible(t, &l, a, buf) && pyh_glibc_ring_returns(t, &l, a)) {
            *L = l;
            return true;
        }
    }
    return false;
}

/* A full check of a main_arena candidate; *L is its layout. */
static bool main_arena_valid(struct pyh_target *t, uint64_t a, struct pyh_mstate_layout *L)
{
    uint8_t buf[PYH_MSTATE_SIZE];
    if (!a || (a & 7)) return false;
    struct pyh_error *err = pyh_target_read(t, a, buf, sizeof(buf));
    if (err) {
        pyh_error_free(err);
        return false;
    }
    return arena_fits(t, a, buf, L);
}

/* ---- main_arena by heuristics -------------------------------------------------------- */

/* Decodes `lea disp32(%rip),%r64` (REX.W [+R] 8D /r with mod=00 rm=101) in the first bytes of
 * an exported function read from libc on disk; returns the first target that validates. The
 * byte pattern can also match inside other instructions; validation rejects those. */
static uint64_t main_arena_from_code(struct pyh_glibc *g, struct pyh_images *images,
                                     struct pyh_module *libc, const struct data_ranges *r,
                                     struct pyh_mstate_layout *L)
{
    static const char *const functions[] = {"malloc_stats", "mallinfo2", "mallinfo", "malloc_trim",
                                            "malloc_info"};
    for (size_t f = 0; f < sizeof(functions) / sizeof(functions[0]); f++) {
        uint64_t addr;
        if (!pyh_module_symbol(images, libc, functions[f], &addr)) continue;
        uint8_t code[512];
        size_t len = sizeof(code);
        struct pyh_error *err = NULL;
        /* Shorter reads near the end of the text segment. */
        while (len >= 64 && (err = pyh_module_read_file(libc, addr - libc->bias, code, len))) {
            pyh_error_free(err);
            err = NULL;
            len /= 2;
        }
        if (len < 64) continue;
        for (size_t i = 0; i + 7 <= len; i++) {
            if ((code[i] != 0x48 && code[i] != 0x4c) || code[i + 1] != 0x8d ||
                (code[i + 2] & 0xc7) != 0x05)
                continue;
            int32_t disp;
            memcpy(&disp, code + i + 3, 4);
            uint64_t target = addr + i + 7 + (int64_t)disp;
            if (in_ranges(r, target, 8 + 8 * (2 * PYH_NBINS - 2)) &&
                main_arena_valid(g->target, target, L))
                return target;
        }
    }
    return 0;
}

/* Scans the data ranges for malloc_states whose ring returns; returns the only one (or the
 * first, with a warning, when several match). */
static uint64_t main_arena_from_scan(struct pyh_glibc *g, const struct data_ranges *r,
                                     struct pyh_mstate_layout *L)
{
    uint64_t found = 0;
    size_t nfound = 0;
    for (size_t i = 0; i < r->n; i++) {
        size_t len = (size_t)(r->end[i] - r->start[i]);
        if (len < PYH_MSTATE_SIZE || len > (64u << 20)) continue;
        uint8_t *buf = malloc(len);
        if (!buf) continue;
        struct pyh_error *err = pyh_target_read(g->target, r->start[i], buf, len);
        if (err) {
            pyh_error_free(err);
            free(buf);
            continue;
        }
        for (size_t off = 0; off + PYH_MSTATE_SIZE <= len; off += 8) {
            uint64_t a = r->start[i] + off;
            struct pyh_mstate_layout l;
            if (!arena_fits(g->target, a, buf + off, &l)) continue;
            if (!nfound++) {
                found = a;
                *L = l;
            }
        }
        free(buf);
    }
    if (nfound > 1)
        pyh_diag_warn(g->diag, "%zu structures in libc's data look like main_arena; using 0x%llx",
                      nfound, (unsigned long long)found);
    return found;
}

struct pyh_error *pyh_glibc_find_main_arena(struct pyh_glibc *g, struct pyh_images *images,
                                            const struct pyh_glibc_options *opts)
{
    find_version(g, images, opts);
    struct pyh_module *libc = libc_module(images);
    struct pyh_mstate_layout *L = &g->layout.ms;
    if (opts && opts->main_arena) {
        if (!main_arena_valid(g->target, opts->main_arena, L))
            return pyh_error_create(PYH_ERR_CORRUPT,
                                    "main_arena given at 0x%llx does not look like an arena",
                                    (unsigned long long)opts->main_arena);
        g->main_arena = opts->main_arena;
        g->main_arena_how = PYH_GLIBC_HOW_GIVEN;
        return NULL;
    }
    uint64_t a;
    if (libc && !(opts && opts->no_symbols) && pyh_module_symbol(images, libc, "main_arena", &a)) {
        if (main_arena_valid(g->target, a, L)) {
            g->main_arena = a;
            g->main_arena_how = PYH_GLIBC_HOW_SYMBOL;
            return NULL;
        }
        pyh_diag_warn(g->diag,
                      "symbol main_arena (0x%llx) of %s does not look like an arena; "
                      "trying heuristics",
                      (unsigned long long)a, libc->path);
    }
    struct data_ranges r;
    find_data_ranges(g->target, images, &r);
    if (libc && !(opts && opts->no_code) && (a = main_arena_from_code(g, images, libc, &r, L))) {
        g->main_arena = a;
        g->main_arena_how = PYH_GLIBC_HOW_CODE;
        return NULL;
    }
    if ((a = main_arena_from_scan(g, &r, L))) {
        g->main_arena = a;
        g->main_arena_how = PYH_GLIBC_HOW_SCAN;
        return NULL;
    }
    return pyh_error_create(PYH_ERR_NOT_FOUND,
                            "glibc main_arena not found (%s; %zu writable libc ranges scanned)",
                            libc ? libc->path : "no libc mapping", r.n);
}

/* ---- mp_ ----------------------------------------------------------------------------- */

static int32_t i32_at(const uint8_t *buf, size_t off)
{
    int32_t v;
    memcpy(&v, buf + off, 4);
    return v;
}

/* Is buf (L->mp_size bytes) a consistent struct malloc_par? sbrk_base must equal want when
 * want is not 0. The tests hold for every value glibc can produce, with any tunables. */
static bool mp_valid(const struct pyh_glibc_layout *L, const uint8_t *buf, uint64_t want)
{
    int32_t n = i32_at(buf, L->mp_n_mmaps), nmax = i32_at(buf, L->mp_n_mmaps + 4);
    int32_t nhigh = i32_at(buf, L->mp_max_n_mmaps);
    uint64_t mem = pyh_glibc_word(buf, L->mp_mmapped_mem);
    uint64_t memhigh = pyh_glibc_word(buf, L->mp_max_mmapped_mem);
    uint64_t sbrk = pyh_glibc_word(buf, L->mp_sbrk_base);
    uint64_t bins = pyh_glibc_word(buf, L->mp_tcache_bins);
    uint64_t maxbytes = pyh_glibc_word(buf, L->mp_tcache_max_bytes);
    uint64_t count = pyh_glibc_word(buf, L->mp_tcache_count);
    uint64_t mmap_threshold = pyh_glibc_word(buf, 16);
    /* 2.43's mmapped chunks are 16 bytes short of whole pages (glibc_mmap.c) */
    bool large = L->mp_sbrk_base >= 104;
    if (n < 0 || nmax < 0 || nhigh < n || memhigh < mem || (mem & (large ? 15 : 4095)) ||
        ((n == 0) != (mem == 0)))
        return false;
    if (want && sbrk != want) return false;
    /* 2.42+ caches larger chunks too: 12 more bins, up to 4 MiB (tunable) */
    if (bins > PYH_TCACHE_BINS + (large ? 12u : 0u) || maxbytes > (large ? (4u << 20) : 1032u) ||
        count > 65535)
        return false;
    /* mallopt(M_MMAP_THRESHOLD) takes any size (2.36 has no upper limit; only the dynamic
     * threshold stops at 32 MiB): only a threshold past the address space is implausible. */
    if (mmap_threshold >= (1ull << 47)) return false;
    if (L->mp_hp_pagesize) {
        uint64_t hp = pyh_glibc_word(buf, L->mp_hp_pagesize);
        if (hp && ((hp & (hp - 1)) || hp < 4096)) return false;
    }
    return true;
}

/* A validated malloc_par, before it is adopted. */
struct mp_found {
    uint64_t addr;
    struct pyh_glibc_layout layout;
    uint64_t n_mmaps, mmapped_mem, sbrk_base, tcache_count, hp_pagesize;
};

/* The malloc_par layouts, the version's first: 2.28-2.34, 2.35-2.41, 2.42+. The structure
 * decides (mp_valid), not the version: a libc newer than py-heap knows still finds mp_. */
static size_t mp_layouts(const struct pyh_glibc *g, struct pyh_glibc_layout *layouts)
{
    static const unsigned versions[] = {241, 243, 228};
    size_t n = 0;
    layouts[n++] = g->layout;
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        struct pyh_glibc_layout L;
        pyh_glibc_layout_for(versions[i], &L);
        if (L.mp_sbrk_base != g->layout.mp_sbrk_base) layouts[n++] = L;
    }
    return n;
}

/* Reads and validates mp_ at addr with each layout of mp_layouts(). */
static bool try_mp(const struct pyh_glibc *g, uint64_t addr, uint64_t want, struct mp_found *out)
{
    struct pyh_glibc_layout layouts[4];
    size_t n = mp_layouts(g, layouts);
    for (size_t i = 0; i < n; i++) {
        const struct pyh_glibc_layout *L = &layouts[i];
        uint8_t buf[256];
        struct pyh_error *err = pyh_target_read(g->target, addr, buf, L->mp_size);
        if (err) {
            pyh_error_free(err);
            continue;
        }
        if (!mp_valid(L, buf, want)) continue;
        out->addr = addr;
        out->layout = *L;
        /* Only mp_'s offsets and the heap_info size follow from the layout that matched. */
        out->layout.version = g->layout.version;
        out->layout.safe_linking = g->layout.safe_linking;
        out->layout.ms = g->layout.ms;
        out->n_mmaps = (uint64_t)i32_at(buf, L->mp_n_mmaps);
        out->mmapped_mem = pyh_glibc_word(buf, L->mp_mmapped_mem);
        out->sbrk_base = pyh_glibc_word(buf, L->mp_sbrk_base);
        out->tcache_count = pyh_glibc_word(buf, L->mp_tcache_count);
        out->hp_pagesize = L->mp_hp_pagesize ? pyh_glibc_word(buf, L->mp_hp_pagesize) : 0;
        return true;
    }
    return false;
}

static void adopt_mp(struct pyh_glibc *g, const struct mp_found *f, enum pyh_glibc_how how)
{
    g->layout = f->layout;
    g->mp = f->addr;
    g->mp_how = how;
    g->mp_n_mmaps = f->n_mmaps;
    g->mp_mmapped_mem = f->mmapped_mem;
    g->mp_sbrk_base = f->sbrk_base;
    g->mp_tcache_count = f->tcache_count;
    g->mp_hp_pagesize = f->hp_pagesize;
}

/* Scans libc's data for a malloc_par whose sbrk_base is the main heap's start. */
static bool mp_from_scan(struct pyh_glibc *g, struct pyh_images *images, uint64_t sbrk_base,
                         struct mp_found *found)
{
    struct data_ranges r;
    find_data_ranges(g->target, images, &r);
    size_t nfound = 0;
    /* The word may be the sbrk_base of any layout. */
    struct pyh_glibc_layout layouts[4];
    uint32_t sbrk_offs[4];
    size_t nl = mp_layouts(g, layouts);
    for (size_t l = 0; l < nl; l++) sbrk_offs[l] = layouts[l].mp_sbrk_base;
    for (size_t i = 0; i < r.n; i++) {
        size_t len = (size_t)(r.end[i] - r.start[i]);
        if (len > (64u << 20)) continue;
        uint8_t *buf = malloc(len);
        if (!buf) continue;
        struct pyh_error *err = pyh_target_read(g->target, r.start[i], buf, len);
        if (err) {
            pyh_error_free(err);
            free(buf);
            continue;
        }
        for (size_t off = 0; off + 8 <= len; off += 8) {
            if (pyh_glibc_word(buf, off) != sbrk_base) continue;
            for (size_t l = 0; l < nl; l++) {
                struct mp_found f;
                if (off < sbrk_offs[l] ||
                    !try_mp(g, r.start[i] + off - sbrk_offs[l], sbrk_base, &f))
                    continue;
                if (!nfound++) *found = f;
                break;
            }
        }
        free(buf);
    }
    if (nfound > 1)
        pyh_diag_warn(g->diag, "%zu structures in libc's data look like mp_; using 0x%llx", nfound,
                      (unsigned long long)found->addr);
    return nfound > 0;
}

void pyh_glibc_find_mp(struct pyh_glibc *g, struct pyh_images *images,
                       const struct pyh_glibc_options *opts, uint64_t sbrk_base)
{
    struct pyh_module *libc = libc_module(images);
    struct mp_found f;
    if (opts && opts->mp) {
        if (try_mp(g, opts->mp, 0, &f)) {
            adopt_mp(g, &f, PYH_GLIBC_HOW_GIVEN);
            return;
        }
        pyh_diag_warn(g->diag, "mp_ given at 0x%llx is not a consistent malloc_par",
                      (unsigned long long)opts->mp);
    }
    uint64_t a;
    if (libc && !(opts && opts->no_symbols) && pyh_module_symbol(images, libc, "mp_", &a)) {
        if (try_mp(g, a, 0, &f)) {
            adopt_mp(g, &f, PYH_GLIBC_HOW_SYMBOL);
            if (sbrk_base && g->mp_sbrk_base != sbrk_base)
                pyh_diag_warn(g->diag,
                              "mp_.sbrk_base 0x%llx is not the start of the main heap "
                              "0x%llx",
                              (unsigned long long)g->mp_sbrk_base, (unsigned long long)sbrk_base);
            return;
        }
        pyh_diag_warn(g->diag,
                      "symbol mp_ (0x%llx) is not a consistent malloc_par; trying "
                      "heuristics",
                      (unsigned long long)a);
    }
    if (sbrk_base && mp_from_scan(g, images, sbrk_base, &f)) {
        adopt_mp(g, &f, PYH_GLIBC_HOW_SCAN);
        return;
    }
    g->mp = 0;
    g->mp_how = PYH_GLIBC_HOW_NONE;
    pyh_diag_warn(g->diag, "glibc mp_ not found: mmapped chunks are not checked against "
                           "mp_.n_mmaps");
}
