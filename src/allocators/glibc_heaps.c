/* Arenas, their heaps and their free lists (fastbins and bins).
 *
 * The main arena's one heap runs from mp_.sbrk_base (or, without mp_, from top end minus
 * system_mem: glibc counts every byte it got from brk, alignment corrections included) to the
 * end of the top chunk. A thread arena lives at the start of its first heap; its newest heap is
 * the one holding its top chunk (heap_info at the HEAP_MAX_SIZE-aligned base), and older heaps
 * hang off heap_info.prev. Every pointer read here is checked to land in the arena's own heaps
 * before it is followed, and every list walk has a cap and Brent's cycle check (and a chunk
 * met twice, in one list or two, cuts the list). The bins are read after the heap walk, from
 * the links it recorded: following 100 000 binned chunks of a 1 GiB heap by target reads took
 * 0.2-0.4 s, from the walk's record 0.05 s. */
#include <stdlib.h>
#include <string.h>

#include "allocators/glibc.h"
#include "util/chain.h"
#include "util/interrupt.h"
#include "util/mem.h"

/* ---- Arenas -------------------------------------------------------------------------- */

struct pyh_error *pyh_glibc_collect_arenas(struct pyh_glibc *g)
{
    const struct pyh_mstate_layout *L = &g->layout.ms;
    struct pyh_chain_guard guard = pyh_chain_guard_init(4096);
    uint64_t cur = g->main_arena;
    do {
        if (!pyh_chain_step(&guard, cur)) {
            pyh_glibc_warn(g, true, "the arena ring from main_arena 0x%llx %s; stopped at 0x%llx",
                           (unsigned long long)g->main_arena,
                           pyh_chain_is_cycle(&guard) ? "has a cycle not through main_arena"
                                                      : "is longer than 4096",
                           (unsigned long long)cur);
            break;
        }
        uint8_t buf[PYH_MSTATE_SIZE];
        struct pyh_error *err = pyh_target_read(g->target, cur, buf, sizeof(buf));
        if (err || !pyh_glibc_arena_plausible(g->target, L, cur, buf)) {
            pyh_glibc_warn(g, true, "arena 0x%llx in the ring is %s; the ring is cut there",
                           (unsigned long long)cur, err ? "unreadable" : "not a valid arena");
            pyh_error_free(err);
            break;
        }
        uint32_t flags;
        memcpy(&flags, buf + PYH_MSTATE_FLAGS, 4);
        struct pyh_glibc_arena a = {
            .address = cur,
            .is_main = cur == g->main_arena,
            .system_mem = pyh_glibc_word(buf, L->system_mem),
            .max_system_mem = pyh_glibc_word(buf, L->max_system_mem),
            .top = pyh_glibc_word(buf, L->top),
            .attached_threads = pyh_glibc_word(buf, L->attached),
            .noncontiguous = (flags & 2) != 0,
            .complete = true,
        };
        if ((err = PYH_APPEND(g->arenas, g->narenas, g->arenas_cap, &a))) return err;
        cur = pyh_glibc_word(buf, L->next);
    } while (cur != g->main_arena);
    return NULL;
}

/* ---- Heaps --------------------------------------------------------------------------- */

static struct pyh_error *add_heap(struct pyh_glibc *g, uint64_t info, uint64_t start, uint64_t end,
                                  uint32_t arena, bool first)
{
    struct pyh_glibc_heap h = {
        .info = info, .start = start, .end = end, .walked = start, .arena = arena, .first = first};
    if (info) {
        struct pyh_error *err = pyh_u64map_put(&g->heap_index, info, g->nheaps);
        if (err) return err;
    }
    return PYH_APPEND(g->heaps, g->nheaps, g->heaps_cap, &h);
}

/* The first chunk at or after p whose user data (p + 16) is 16-aligned. */
static uint64_t align_chunk(uint64_t p)
{
    uint64_t mis = (p + 16) & 15;
    return mis ? p + 16 - mis : p;
}

/* Reads the header of the top chunk of arena a. */
static bool read_top(struct pyh_glibc *g, struct pyh_glibc_arena *a)
{
    uint64_t head;
    struct pyh_error *err = pyh_read_u64(g->target, a->top + 8, &head);
    if (err) {
        pyh_glibc_warn(g, true, "arena 0x%llx: top chunk 0x%llx is unreadable",
                       (unsigned long long)a->address, (unsigned long long)a->top);
        pyh_error_free(err);
        a->complete = false;
        return false;
    }
    a->top_size = head & ~(uint64_t)7;
    if (!head)
        pyh_glibc_warn(g, false,
                       "arena 0x%llx: the top chunk 0x%llx has no header yet (the process was "
                       "stopped inside malloc); its size is taken from the end of its heap",
                       (unsigned long long)a->address, (unsigned long long)a->top);
    return true;
}

/* The end of the main arena's top chunk when its header is not written yet: brk's end, which
 * is sbrk_base + system_mem in a contiguous heap, else the end of the mapping holding it. */
static uint64_t unwritten_top_end(const struct pyh_glibc *g, const struct pyh_glibc_arena *a,
                                  uint64_t sbrk)
{
    const struct pyh_mapping *m = pyh_target_mapping_at(g->target, a->top);
    uint64_t end = sbrk && !a->noncontiguous ? sbrk + a->system_mem : 0;
    if (m) {
        uint64_t run_start, run_end;
        pyh_glibc_mapping_run(g->target, m, &run_start, &run_end);
        if (end <= a->top || end > run_end) end = run_end;
    }
    return end > a->top ? end : a->top;
}

/* sbrk_base from the end of the main arena's heap (top_end), when the arena is contiguous:
 * then system_mem is exactly brk end - sbrk_base. 0 when that does not fit the mapping m
 * holding the top chunk (system_mem is target data: checked before it is subtracted). */
static uint64_t sbrk_guess(const struct pyh_glibc *g, const struct pyh_glibc_arena *a,
                           uint64_t top_end, const struct pyh_mapping *m)
{
    if (a->noncontiguous || !m || a->system_mem > top_end) return 0;
    /* The brk heap may be split into several mappings (madvise on part of it). */
    uint64_t run_start, run_end;
    pyh_glibc_mapping_run(g->target, m, &run_start, &run_end);
    if (top_end - a->system_mem < run_start) return 0;
    return top_end - a->system_mem;
}

static struct pyh_error *main_heap(struct pyh_glibc *g, struct pyh_images *images,
                                   const struct pyh_glibc_options *opts)
{
    struct pyh_glibc_arena *a = &g->arenas[0];
    a->first_heap = (uint32_t)g->nheaps;
    if (a->top == pyh_glibc_bin_at(&g->layout.ms, a->address, 1)) {
        /* malloc initialized but never took memory from brk: no heap. */
        pyh_glibc_find_mp(g, images, opts, 0);
        return NULL;
    }
    if (!read_top(g, a)) {
        pyh_glibc_find_mp(g, images, opts, 0);
        return NULL;
    }
    uint64_t top_end = a->top + a->top_size;
    const struct pyh_mapping *m = pyh_target_mapping_at(g->target, a->top);
    uint64_t guess = a->top_size ? sbrk_guess(g, a, top_end, m) : 0;
    pyh_glibc_find_mp(g, images, opts, guess);
    uint64_t sbrk = g->mp ? g->mp_sbrk_base : guess;
    if (!a->top_size) {
        top_end = unwritten_top_end(g, a, sbrk);
        a->top_size = top_end - a->top;
        if (!sbrk) sbrk = sbrk_guess(g, a, top_end, m);
    }
    if (!sbrk) {
        pyh_glibc_warn(g, true,
                       "main arena: start of the brk heap unknown (no mp_ and "
                       "system_mem 0x%llx does not fit the top chunk 0x%llx); only the top chunk "
                       "is walked",
                       (unsigned long long)a->system_mem, (unsigned long long)a->top);
        a->complete = false;
        a->nheaps = 1;
        return add_heap(g, 0, a->top, top_end, 0, true);
    }
    uint64_t first = align_chunk(sbrk);
    if (!a->noncontiguous && a->top >= first && sbrk + a->system_mem == top_end) {
        a->overhead = first - sbrk;
        a->nheaps = 1;
        return add_heap(g, 0, first, top_end, 0, true);
    }
    /* brk failed at some point and mmap stood in: the part from sbrk_base ends in fenceposts,
     * later parts are not linked from anywhere. Walk the first part and the top chunk. */
    const struct pyh_mapping *sm = pyh_target_mapping_at(g->target, first);
    pyh_glibc_warn(g, true,
                   "main arena is non-contiguous (sbrk_base 0x%llx, top 0x%llx, "
                   "system_mem 0x%llx): only the brk part and the top chunk are walked",
                   (unsigned long long)sbrk, (unsigned long long)a->top,
                   (unsigned long long)a->system_mem);
    a->noncontiguous = true;
    a->complete = false;
    if (sm && (a->top < sm->start || a->top >= sm->end)) {
        struct pyh_error *err = add_heap(g, 0, first, sm->end, 0, true);
        if (err) return err;
        a->nheaps++;
    }
    a->nheaps++;
    return add_heap(g, 0, a->top, top_end, 0, a->nheaps == 1);
}

/* HEAP_MAX_SIZE: 64 MiB, or four huge pages when glibc.malloc.hugetlb is in effect. */
static void find_heap_max_size(struct pyh_glibc *g)
{
    if (g->mp && g->mp_hp_pagesize) {
        g->heap_max_size = 4 * g->mp_hp_pagesize;
        return;
    }
    g->heap_max_size = PYH_DEFAULT_HEAP_MAX;
    if (g->mp || g->narenas < 2) return;
    /* Without mp_, check the thread arenas' heap_info alignment. */
    for (size_t i = 1; i < g->narenas; i++) {
        uint64_t h = g->arenas[i].address - g->layout.heap_info_size;
        if (h & (PYH_DEFAULT_HEAP_MAX - 1)) {
            g->heap_max_size = 8u << 20;
            pyh_glibc_warn(g, false,
                           "thread heaps are not 64 MiB aligned; assuming 2 MiB huge "
                           "pages (HEAP_MAX_SIZE 8 MiB)");
            return;
        }
    }
}

static struct pyh_error *thread_heaps(struct pyh_glibc *g, uint32_t ai)
{
    struct pyh_glibc_arena *a = &g->arenas[ai];
    a->first_heap = (uint32_t)g->nheaps;
    if (!read_top(g, a)) return NULL;
    uint64_t hms = g->heap_max_size;
    uint64_t h = a->top & ~(hms - 1);
    struct pyh_chain_guard guard = pyh_chain_guard_init(1u << 16);
    while (h) {
        uint64_t info[4]; /* ar_ptr, prev, size, mprotect_size */
        struct pyh_error *err = pyh_target_read(g->target, h, info, sizeof(info));
        const char *bad = err                             ? "is unreadable"
                          : info[0] != a->address         ? "belongs to another arena"
                          : info[2] > hms || info[2] < 64 ? "has a bad size"
                          : (info[1] & (hms - 1))         ? "has a misaligned prev"
                          : !pyh_chain_step(&guard, h)    ? "is in a cycle of heaps"
                                                          : NULL;
        pyh_error_free(err);
        if (bad) {
            pyh_glibc_warn(g, true, "arena 0x%llx: heap_info 0x%llx %s; older heaps not walked",
                           (unsigned long long)a->address, (unsigned long long)h, bad);
            a->complete = false;
            break;
        }
        bool first = info[1] == 0;
        uint64_t start = h + g->layout.heap_info_size;
        if (first) {
            /* The arena sits right after the first heap's heap_info, which tells its size. */
            uint64_t his = a->address - h;
            if (his != g->layout.heap_info_size && (his == 32 || his == 48)) {
                pyh_glibc_warn(g, false, "heap_info is %llu bytes, not %u as glibc 2.%u has",
                               (unsigned long long)his, g->layout.heap_info_size,
                               g->layout.version % 100);
                g->layout.heap_info_size = (uint32_t)his;
            }
            start = align_chunk(a->address + g->layout.ms.size);
        }
        if (!a->top_size && a->top >= start && a->top < h + info[2])
            a->top_size = h + info[2] - a->top; /* its header not written yet (read_top) */
        if ((err = add_heap(g, h, start, h + info[2], ai, first))) return err;
        a->nheaps++;
        a->overhead += start - h;
        h = info[1];
    }
    return NULL;
}

struct pyh_error *pyh_glibc_find_heaps(struct pyh_glibc *g, struct pyh_images *images,
                                       const struct pyh_glibc_options *opts)
{
    struct pyh_error *err = main_heap(g, images, opts);
    if (err) return err;
    find_heap_max_size(g);
    for (uint32_t i = 1; i < g->narenas; i++)
        if ((err = thread_heaps(g, i))) return err;
    return NULL;
}

int64_t pyh_glibc_heap_of(const struct pyh_glibc *g, uint64_t addr)
{
    if (g->narenas) {
        const struct pyh_glibc_arena *m = &g->arenas[0];
        for (uint32_t i = m->first_heap; i < m->first_heap + m->nheaps; i++)
            if (addr >= g->heaps[i].start && addr < g->heaps[i].end) return i;
    }
    uint64_t idx;
    if (!pyh_u64map_get(&g->heap_index, addr & ~(g->heap_max_size - 1), &idx)) return -1;
    const struct pyh_glibc_heap *h = &g->heaps[idx];
    return addr >= h->start && addr < h->end ? (int64_t)idx : -1;
}

/* ---- Free lists ---------------------------------------------------------------------- */

/* largebin_index_64 of glibc. */
static unsigned largebin_index(uint64_t sz)
{
    if ((sz >> 6) <= 48) return 48 + (unsigned)(sz >> 6);
    if ((sz >> 9) <= 20) return 91 + (unsigned)(sz >> 9);
    if ((sz >> 12) <= 10) return 110 + (unsigned)(sz >> 12);
    if ((sz >> 15) <= 4) return 119 + (unsigned)(sz >> 15);
    if ((sz >> 18) <= 2) return 124 + (unsigned)(sz >> 18);
    return 126;
}

/* Is p a chunk of arena ai that may be listed: 16-aligned, in one of its heaps? */
static bool chunk_of_arena(const struct pyh_glibc *g, uint64_t p, uint32_t ai)
{
    int64_t h = (p & 15) ? -1 : pyh_glibc_heap_of(g, p);
    return h >= 0 && g->heaps[h].arena == ai && p + 32 <= g->heaps[h].end;
}

/* Records p as a listed chunk of the given kind; false (with a warning) when it is already in
 * another list, which also ends a list that loops back into itself. */
static bool list_chunk(struct pyh_glibc *g, uint64_t p, enum pyh_glibc_kind kind, uint32_t ai,
                       const char *list, struct pyh_error **err)
{
    uint64_t old;
    if (pyh_u64map_get(&g->special, p, &old)) {
        pyh_glibc_warn(g, true,
                       "arena 0x%llx %s: chunk 0x%llx is already in a %s list (a cycle "
                       "or a corrupt list); the list is cut there",
                       (unsigned long long)g->arenas[ai].address, list, (unsigned long long)p,
                       pyh_glibc_kind_name((enum pyh_glibc_kind)(old & 0xff)));
        return false;
    }
    *err = pyh_u64map_put(&g->special, p, (uint64_t)kind | ((uint64_t)ai << 8));
    if (*err) return false;
    g->arenas[ai].listed[kind]++;
    return true;
}

static struct pyh_error *read_fastbins(struct pyh_glibc *g, uint32_t ai, const uint8_t *buf)
{
    struct pyh_glibc_arena *a = &g->arenas[ai];
    struct pyh_error *err = NULL;
    const struct pyh_mstate_layout *L = &g->layout.ms;
    for (unsigned i = 0; i < L->nfastbins && !err; i++) {
        uint64_t p = pyh_glibc_word(buf, L->fastbins + 8 * i);
        uint64_t want = PYH_MINSIZE + 16 * (uint64_t)i;
        char list[32];
        snprintf(list, sizeof(list), "fastbin %u", i);
        struct pyh_chain_guard guard = pyh_chain_guard_init(a->system_mem / PYH_MINSIZE + 1);
        while (p) {
            if ((err = pyh_check_interrupt())) return err;
            uint64_t hdr[3]; /* prev_size, size, fd */
            const char *bad = !pyh_chain_step(&guard, p)  ? "loops"
                              : !chunk_of_arena(g, p, ai) ? "leaves the arena's heaps"
                                                          : NULL;
            if (!bad && (err = pyh_target_read(g->target, p, hdr, sizeof(hdr)))) {
                pyh_error_free(err);
                err = NULL;
                bad = "is unreadable";
            }
            if (!bad && (hdr[1] & ~(uint64_t)7) != want) bad = "has a chunk of the wrong size";
            if (bad) {
                pyh_glibc_warn(g, true, "arena 0x%llx %s %s at 0x%llx; the list is cut there",
                               (unsigned long long)a->address, list, bad, (unsigned long long)p);
                break;
            }
            if (!list_chunk(g, p, PYH_GLIBC_FASTBIN, ai, list, &err)) break;
            pyh_glibc_reclassify(g, p, want, PYH_GLIBC_FASTBIN);
            p = pyh_glibc_reveal(g, p + 16, hdr[2]);
        }
    }
    return err;
}

/* Bin members are the chunks the walk found free (successor's PREV_INUSE clear), so their
 * links come from g->frees; the target is read only for a member the walk did not see free,
 * which is itself worth a warning. */
static struct pyh_error *read_bins(struct pyh_glibc *g, uint32_t ai, const uint8_t *buf)
{
    struct pyh_glibc_arena *a = &g->arenas[ai];
    struct pyh_error *err = NULL;
    const struct pyh_mstate_layout *L = &g->layout.ms;
    for (unsigned i = 1; i < PYH_NBINS && !err; i++) {
        uint64_t b = pyh_glibc_bin_at(L, a->address, i);
        uint64_t p = pyh_glibc_word(buf, L->bins + 16 * (i - 1));
        enum pyh_glibc_kind kind = i == 1   ? PYH_GLIBC_UNSORTED
                                   : i < 64 ? PYH_GLIBC_SMALLBIN
                                            : PYH_GLIBC_LARGEBIN;
        char list[32];
        snprintf(list, sizeof(list), "bin %u", i);
        uint64_t prev = b;
        bool warned_size = false, warned_bk = false, warned_unseen = false;
        struct pyh_chain_guard guard = pyh_chain_guard_init(a->system_mem / PYH_MINSIZE + 1);
        while (p != b) {
            if ((err = pyh_check_interrupt())) return err;
            uint64_t hdr[4]; /* prev_size, size, fd, bk */
            const char *bad = !pyh_chain_step(&guard, p)  ? "loops without returning to the bin"
                              : !chunk_of_arena(g, p, ai) ? "leaves the arena's heaps"
                                                          : NULL;
            uint64_t idx;
            bool seen = !bad && pyh_u64map_get(&g->free_index, p, &idx);
            if (seen) {
                const struct pyh_glibc_free *f = &g->frees[idx];
                hdr[1] = f->size;
                hdr[2] = f->fd;
                hdr[3] = f->bk;
            } else if (!bad && (err = pyh_target_read(g->target, p, hdr, sizeof(hdr)))) {
                if (pyh_error_is(err, PYH_ERR_INTERRUPTED)) return err;
                pyh_error_free(err);
                err = NULL;
                bad = "is unreadable";
            }
            if (bad) {
                pyh_glibc_warn(g, true, "arena 0x%llx %s %s at 0x%llx; the list is cut there",
                               (unsigned long long)a->address, list, bad, (unsigned long long)p);
                break;
            }
            uint64_t size = hdr[1] & ~(uint64_t)7;
            if (!seen && !warned_unseen) {
                warned_unseen = true;
                pyh_glibc_warn(g, true,
                               "arena 0x%llx %s: chunk 0x%llx is not a free chunk of the heap "
                               "walk (in use by its boundary tag, or not at a chunk start)",
                               (unsigned long long)a->address, list, (unsigned long long)p);
            }
            bool size_ok =
                size >= PYH_MINSIZE && !(size & 15) &&
                (i == 1 || (i < 64 ? size == 16 * (uint64_t)i : largebin_index(size) == i));
            if (!size_ok && !warned_size) {
                pyh_glibc_warn(g, false,
                               "arena 0x%llx %s: chunk 0x%llx has size 0x%llx, not a "
                               "size of this bin",
                               (unsigned long long)a->address, list, (unsigned long long)p,
                               (unsigned long long)size);
                warned_size = true;
            }
            if (hdr[3] != prev && !warned_bk) {
                pyh_glibc_warn(g, false, "arena 0x%llx %s: chunk 0x%llx has bk 0x%llx, not 0x%llx",
                               (unsigned long long)a->address, list, (unsigned long long)p,
                               (unsigned long long)hdr[3], (unsigned long long)prev);
                warned_bk = true;
            }
            if (!list_chunk(g, p, kind, ai, list, &err)) break;
            if (seen) {
                /* The walk counted it as free in no list (p is in arena ai's heaps). */
                a->kinds[PYH_GLIBC_FREE_LOST].count--;
                a->kinds[PYH_GLIBC_FREE_LOST].bytes -= size;
                a->kinds[kind].count++;
                a->kinds[kind].bytes += size;
            }
            prev = p;
            p = hdr[2];
        }
    }
    return err;
}

/* Warns once per arena about free chunks that no list holds. */
static void warn_lost(struct pyh_glibc *g)
{
    int64_t warned = -1;
    for (size_t i = 0; i < g->nfrees; i++) {
        const struct pyh_glibc_free *f = &g->frees[i];
        uint64_t v;
        if (pyh_u64map_get(&g->special, f->address, &v)) continue;
        int64_t hi = pyh_glibc_heap_of(g, f->address);
        if (hi < 0 || (int64_t)g->heaps[hi].arena == warned) continue;
        warned = g->heaps[hi].arena;
        pyh_glibc_warn(g, false,
                       "arena 0x%llx: %llu free chunks in no list, the first at 0x%llx "
                       "(0x%llx bytes)",
                       (unsigned long long)g->arenas[warned].address,
                       (unsigned long long)g->arenas[warned].kinds[PYH_GLIBC_FREE_LOST].count,
                       (unsigned long long)f->address, (unsigned long long)f->size);
    }
}

struct pyh_error *pyh_glibc_read_lists(struct pyh_glibc *g)
{
    for (uint32_t i = 0; i < g->narenas; i++) {
        uint8_t buf[PYH_MSTATE_SIZE];
        struct pyh_error *err = pyh_target_read(g->target, g->arenas[i].address, buf, sizeof(buf));
        if (err)
            return pyh_error_wrap(err, "arena 0x%llx", (unsigned long long)g->arenas[i].address);
        if ((err = read_fastbins(g, i, buf)) || (err = read_bins(g, i, buf))) return err;
    }
    warn_lost(g);
    return NULL;
}
