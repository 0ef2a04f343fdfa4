/* Mmapped chunks: malloc serves large requests (above mp_.mmap_threshold, 128 KiB at first
 * and rising up to 32 MiB as such chunks are freed) with a mapping of their own, and nothing
 * in malloc links them: free() finds the mapping from the chunk header alone. So they are
 * found by scanning. A page-aligned mmapped chunk starts its mapping with prev_size 0 and a
 * size that is a multiple of the page size (2.43: 16 bytes less, the mapping's size less a
 * header; measured on Debian sid: the chunk is counted as its whole mapping, as mp_.mmapped_mem
 * counts it) with exactly the IS_MMAPPED flag; adjacent
 * anonymous mappings merge into one VMA (and one core segment), so every page start of every
 * anonymous writable mapping is a candidate, except inside the arenas' heaps and inside
 * pymalloc pools (recognised by their pool_header and skipped whole).
 *
 * A limitation: a chunk from memalign/posix_memalign with a large alignment starts inside its
 * mapping (prev_size = the lead); it is reported at the mapping start with the mapping's size,
 * which keeps the totals exact but puts the user pointer before the real one. */
#include <stdlib.h>
#include <string.h>

#include "allocators/glibc.h"
#include "util/mem.h"

#define PAGE 4096u

static uint32_t u32_at(const uint8_t *p, size_t off)
{
    uint32_t v;
    memcpy(&v, p + off, 4);
    return v;
}

/* The size of the pymalloc pool whose header is at p, or 0. pool_header: count@0,
 * freeblock@8, nextpool@16, prevpool@24, arenaindex@32, szidx@36, nextoffset@40,
 * maxnextoffset@44; maxnextoffset is POOL_SIZE - block size in every CPython from 3.8 to 3.13
 * (block size 16 * (szidx + 1); 8 * (szidx + 1) in builds with 8-byte alignment). */
static uint64_t pool_size_at(const uint8_t *p)
{
    static const uint32_t pool_sizes[] = {16384, 4096};
    uint32_t szidx = u32_at(p, 36), next = u32_at(p, 40), maxnext = u32_at(p, 44);
    if (szidx >= 64) return 0;
    for (size_t i = 0; i < 2; i++) {
        uint32_t ps = pool_sizes[i];
        if (next > ps + 16 * (szidx + 1)) continue;
        if (maxnext == ps - 16 * (szidx + 1) || maxnext == ps - 8 * (szidx + 1)) return ps;
    }
    return 0;
}

static bool anon_rw(const struct pyh_mapping *m)
{
    return (m->prot & (PYH_PROT_R | PYH_PROT_W)) == (PYH_PROT_R | PYH_PROT_W) && !m->path;
}

void pyh_glibc_mapping_run(const struct pyh_target *t, const struct pyh_mapping *m,
                           uint64_t *start, uint64_t *end)
{
    *start = m->start;
    *end = m->end;
    if (!anon_rw(m)) return;
    size_t i = (size_t)(m - t->maps);
    for (size_t k = i; k > 0 && t->maps[k - 1].end == *start && anon_rw(&t->maps[k - 1]); k--)
        *start = t->maps[k - 1].start;
    for (size_t k = i + 1; k < t->nmaps && t->maps[k].start == *end && anon_rw(&t->maps[k]); k++)
        *end = t->maps[k].end;
}

/* The end of the arena heap region containing addr, or 0 when addr is in none. */
static uint64_t heap_region_end(const struct pyh_glibc *g, uint64_t addr)
{
    if (g->narenas) {
        const struct pyh_glibc_arena *m = &g->arenas[0];
        for (uint32_t i = m->first_heap; i < m->first_heap + m->nheaps; i++)
            if (addr >= g->heaps[i].start - m->overhead && addr < g->heaps[i].end)
                return g->heaps[i].end;
    }
    uint64_t base = addr & ~(g->heap_max_size - 1), idx;
    return pyh_u64map_get(&g->heap_index, base, &idx) ? base + g->heap_max_size : 0;
}

/* Whether some page of [start, end) is in an arena heap region (where heap_region_end
 * answers). end - start is less than heap_max_size. */
static bool meets_heap_region(const struct pyh_glibc *g, uint64_t start, uint64_t end)
{
    if (g->narenas) {
        const struct pyh_glibc_arena *m = &g->arenas[0];
        for (uint32_t i = m->first_heap; i < m->first_heap + m->nheaps; i++)
            if (start < g->heaps[i].end && end > g->heaps[i].start - m->overhead) return true;
    }
    uint64_t idx, first = start & ~(g->heap_max_size - 1), last = (end - 1) & ~(g->heap_max_size - 1);
    return pyh_u64map_get(&g->heap_index, first, &idx) || pyh_u64map_get(&g->heap_index, last, &idx);
}

/* pymalloc's runs of checked pools (glibc.h), met in address order by the scan, which only
 * goes up (mappings are sorted): next is the first run not yet behind it. */
struct pool_runs {
    const struct pyh_glibc_options *opts; /* may be NULL */
    size_t next;
};

/* Where the scan goes on from pos when pos starts a pool of one of pymalloc's runs of
 * checked pools: the run's end, which it would reach hopping pool by pool — each header
 * read, no chunk, a pool — unless an arena heap region lies on the way (there it would skip
 * to the region's end). 0 otherwise: pos is scanned as usual. */
static uint64_t pool_run_end(const struct pyh_glibc *g, struct pool_runs *runs, uint64_t pos)
{
    const struct pyh_glibc_options *o = runs->opts;
    if (!o || !o->pool_size) return 0;
    while (runs->next < o->npool_runs && o->pool_runs[runs->next].end <= pos) runs->next++;
    if (runs->next == o->npool_runs) return 0;
    const struct pyh_pymalloc_pool_run *r = &o->pool_runs[runs->next];
    if (pos < r->start || (pos - r->start) % o->pool_size || r->end - pos >= g->heap_max_size ||
        meets_heap_region(g, pos, r->end))
        return 0;
    return r->end;
}

/* Reads through a read-ahead window: reading only 64 bytes per page was measured no faster on
 * cores (page faults dominate) and slower live (one cached block read per 16 pages). */
static struct pyh_error *scan_mapping(struct pyh_glibc *g, struct pyh_glibc_window *w,
                                      struct pool_runs *runs, const struct pyh_mapping *m,
                                      uint64_t run_end, uint64_t *resume)
{
    uint64_t pos = (m->start + PAGE - 1) & ~(uint64_t)(PAGE - 1);
    if (*resume > pos) pos = *resume; /* a chunk taken from an earlier mapping ends there */
    while (pos < m->end && m->end - pos >= 64) {
        uint64_t skip = heap_region_end(g, pos);
        if (skip) {
            pos = skip > pos ? skip : pos + PAGE;
            continue;
        }
        if ((skip = pool_run_end(g, runs, pos))) {
            pos = skip;
            continue;
        }
        const uint8_t *p;
        struct pyh_error *err = pyh_glibc_window_get(w, pos, 64, m->end, &p);
        if (err) {
            if (pyh_error_is(err, PYH_ERR_INTERRUPTED)) return err;
            pyh_error_free(err); /* a page the core left out: nothing to find there */
            pos += PAGE;
            continue;
        }
        uint64_t prev = pyh_glibc_word(p, 0), head = pyh_glibc_word(p, 8);
        uint64_t size = head & ~(uint64_t)7;
        uint64_t span = size & (PAGE - 1) ? size + 16 : size; /* its mapping */
        if (prev == 0 && (head & 7) == PYH_CHUNK_M && size >= PAGE - 16 && !(span & (PAGE - 1)) &&
            span <= run_end - pos) {
            /* The chunk is its mapping (what mp_.mmapped_mem and mallinfo2 count). */
            struct pyh_glibc_mmapped c = {.address = pos, .size = span};
            if ((err = PYH_APPEND(g->mmapped, g->nmmapped, g->mmapped_cap, &c))) return err;
            g->mmapped_total.count++;
            g->mmapped_total.bytes += span;
            pos += span;
            if (pos > *resume) *resume = pos;
            continue;
        }
        uint64_t pool = pool_size_at(p);
        pos += pool ? pool : PAGE;
    }
    return NULL;
}

struct pyh_error *pyh_glibc_scan_mmapped(struct pyh_glibc *g,
                                         const struct pyh_glibc_options *opts)
{
    struct pool_runs runs = {opts, 0};
    struct pyh_glibc_window w;
    uint64_t resume = 0;
    /* The run of adjacent anonymous mappings m is in (a chunk may span mappings split by
     * madvise or mprotect): found once per run, not once per mapping, which would be
     * quadratic in a core of many small adjacent segments. */
    uint64_t run_start = 0, run_end = 0;
    struct pyh_error *err = pyh_glibc_window_init(&w, g->target, 256u << 10);
    for (size_t i = 0; i < g->target->nmaps && !err; i++) {
        const struct pyh_mapping *m = &g->target->maps[i];
        /* Anonymous and writable; a label means [stack], [heap], [vvar] and the like. */
        if (!anon_rw(m) || m->label || m->end <= resume) continue;
        if (m->start < run_start || m->end > run_end)
            pyh_glibc_mapping_run(g->target, m, &run_start, &run_end);
        err = scan_mapping(g, &w, &runs, m, run_end, &resume);
    }
    pyh_glibc_window_free(&w);
    if (err) return err;
    /* mp_.mmapped_mem adds up the mappings. On 2.43 (Debian sid, measured) it also grows by
     * 16 bytes with every mmapped chunk freed before (a process that freed none agrees
     * exactly): there it bounds from above. */
    uint64_t want = g->mmapped_total.bytes;
    bool mem_ok = g->layout.mp_sbrk_base >= 104
                      ? g->mp_mmapped_mem >= want && (g->mp_mmapped_mem - want) % 16 == 0
                      : g->mp_mmapped_mem == want;
    if (g->mp && (g->mp_n_mmaps != g->mmapped_total.count || !mem_ok))
        pyh_glibc_warn(g, true,
                       "found %llu mmapped chunks (%llu bytes), mp_ says %llu (%llu "
                       "bytes)",
                       (unsigned long long)g->mmapped_total.count,
                       (unsigned long long)g->mmapped_total.bytes,
                       (unsigned long long)g->mp_n_mmaps, (unsigned long long)g->mp_mmapped_mem);
    return NULL;
}
