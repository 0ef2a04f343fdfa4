/* Walking the chunks of every heap, finding the threads' tcaches, and the visitor.
 *
 * A heap is walked from its first chunk by the size fields alone; each chunk's state comes
 * from its successor's PREV_INUSE bit plus g->special, the set of chunks the boundary tags
 * cannot classify. pyh_glibc_open walks first (free chunks recorded with their links, the
 * tcache structs found), then settles the kinds from the lists (glibc_heaps.c for fastbins
 * and bins, read_tcaches here) into g->special; the visitor's walk then needs one hash lookup
 * per chunk. Headers are read through a read-ahead window: one large read per 512 KiB of heap,
 * and no allocation per chunk.
 *
 * Why tcaches are found by scanning rather than through TLS: glibc's `tcache` is a
 * thread-local variable, and reaching it needs libc's static TLS offset from the dynamic
 * linker's link_map (a layout of its own per glibc version) on top of the symbol. Scanning
 * needs no symbols, so the same code runs with and without libc6-dbg, and it is cheap because
 * the heap walk visits every chunk anyway: a tcache_perthread_struct is an in-use chunk of
 * exactly 0x290 bytes (0x250 with the uint8_t counts before 2.30; 0x300 from 2.42, whose 76
 * lists add 12 of larger chunks and whose counts are the free slots of each list, not its
 * length) whose lists are each a chain of exactly as many chunks as the counts say, of size
 * 32 + 16 i inside known heaps, ending in NULL after demangling. A random chunk passes that only if it is all zeros (no lists), and an all-zero
 * one is taken only at the start of an arena's first heap, where tcache_init puts the struct of
 * the first thread that uses the arena (there, a struct with some bad lists is taken too, with
 * a warning per list). It also finds the tcaches of threads that share an arena, whose structs
 * sit anywhere in it. Checked against gdb's view of every thread's `tcache` (libc6-dbg) by
 * tests/bench/glibc_compare.py. */
#include <stdlib.h>
#include <string.h>

#include "allocators/glibc.h"
#include "util/interrupt.h"
#include "util/mem.h"

#define WINDOW_SIZE (512u << 10)

/* ---- Read-ahead window --------------------------------------------------------------- */

struct pyh_error *pyh_glibc_window_init(struct pyh_glibc_window *w, struct pyh_target *t,
                                        size_t cap)
{
    memset(w, 0, sizeof(*w));
    w->t = t;
    w->buf = malloc(cap);
    w->cap = cap;
    return w->buf ? NULL : pyh_error_nomem();
}

/* Gives the window's view back (pyh_target_view_release), if it has one. */
static void window_release(struct pyh_glibc_window *w)
{
    if (w->viewed) pyh_target_view_release(w->t, w->base, w->len);
    w->viewed = false;
}

void pyh_glibc_window_free(struct pyh_glibc_window *w)
{
    window_release(w);
    free(w->buf);
    w->buf = NULL;
    w->data = NULL;
    w->len = 0;
}

struct pyh_error *pyh_glibc_window_get(struct pyh_glibc_window *w, uint64_t addr, size_t n,
                                       uint64_t limit, const uint8_t **p)
{
    if (addr >= w->base && addr - w->base <= w->len && w->len - (addr - w->base) >= n) {
        *p = w->data + (addr - w->base);
        return NULL;
    }
    size_t want = w->cap;
    if (limit > addr && limit - addr < want) want = (size_t)(limit - addr);
    if (want < n) want = n;
    window_release(w);
    /* Where the target holds the bytes (a core's mapping), no copy: only the pages looked at
     * are brought in. */
    const uint8_t *view = pyh_target_view(w->t, addr, want);
    if (view) {
        w->base = addr;
        w->len = want;
        w->data = *p = view;
        w->viewed = true;
        return NULL;
    }
    for (;;) {
        struct pyh_error *err = pyh_target_read(w->t, addr, w->buf, want);
        if (!err) break;
        /* A hole in the read-ahead (a core missing a page): shrink towards what is asked. */
        if (want == n || pyh_error_is(err, PYH_ERR_INTERRUPTED)) {
            w->len = 0;
            return err;
        }
        pyh_error_free(err);
        want = want / 4 > n ? want / 4 : n;
    }
    w->base = addr;
    w->len = want;
    w->data = *p = w->buf;
    return NULL;
}

/* ---- Tcaches ------------------------------------------------------------------------- */

/* Is e (a tcache entry: a chunk's user pointer) the head of a chain of exactly count chunks
 * of tcache bin i (small bins: 32 + 16 i bytes; the large bins of 2.42+: larger), in known
 * heaps, ending in NULL? Bounded by count (at most 65535). */
static bool chain_ok(struct pyh_glibc *g, uint64_t e, unsigned count, unsigned i)
{
    uint64_t want = PYH_MINSIZE + 16 * (uint64_t)i;
    unsigned hops = 0;
    while (e) {
        if (hops == count || (e & 15) || pyh_glibc_heap_of(g, e - 16) < 0) return false;
        uint64_t hdr[3]; /* prev_size, size, next */
        struct pyh_error *err = pyh_target_read(g->target, e - 16, hdr, sizeof(hdr));
        if (err) {
            pyh_error_free(err);
            return false;
        }
        uint64_t size = hdr[1] & ~(uint64_t)7;
        if (i < PYH_TCACHE_BINS ? size != want : size < PYH_MINSIZE + 16 * PYH_TCACHE_BINS)
            return false;
        e = pyh_glibc_reveal(g, e, hdr[2]);
        hops++;
    }
    return hops == count;
}

/* A tcache_perthread_struct's shape, from its chunk's size: uint8_t counts[64] (0x250, before
 * 2.30), uint16_t counts[64] (0x290), uint16_t num_slots[76] (0x300, 2.42+); then the entries. */
struct tcache_shape {
    bool wide;
    unsigned nbins;
};

static bool tcache_shape(uint64_t size, struct tcache_shape *s)
{
    s->wide = size != 0x250;
    s->nbins = size == 0x300 ? PYH_TCACHE_MAX_BINS : PYH_TCACHE_BINS;
    return size == 0x250 || size == 0x290 || size == 0x300;
}

/* The list lengths and entries of the tcache struct whose user data is at mem. */
struct tcache_view {
    unsigned counts[PYH_TCACHE_MAX_BINS]; /* as stored: lengths, or free slots (2.42+) */
    uint64_t entries[PYH_TCACHE_MAX_BINS];
};

static bool read_tcache(struct pyh_glibc *g, uint64_t mem, struct tcache_shape s,
                        struct tcache_view *v)
{
    uint8_t buf[(2 + 8) * PYH_TCACHE_MAX_BINS];
    size_t ncounts = (s.wide ? 2 : 1) * s.nbins;
    struct pyh_error *err = pyh_target_read(g->target, mem, buf, ncounts + 8 * s.nbins);
    if (err) {
        pyh_error_free(err);
        return false;
    }
    for (unsigned i = 0; i < s.nbins; i++) {
        uint16_t c16;
        memcpy(&c16, buf + 2 * i, 2);
        v->counts[i] = s.wide ? c16 : buf[i];
        v->entries[i] = pyh_glibc_word(buf, ncounts + 8 * i);
    }
    return true;
}

/* The length of list i: counts[i], or slots - counts[i] when counts are free slots. */
static unsigned list_length(const struct tcache_view *v, unsigned i, unsigned slots)
{
    return slots ? slots - v->counts[i] : v->counts[i];
}

static uint64_t list_bit(unsigned i)
{
    return 1ull << (i < 63 ? i : 63);
}

/* Does every list of v agree with what its counts say, read as lengths (slots 0) or as free
 * slots of lists of capacity slots: an empty list exactly where the length is 0? */
static bool counts_fit(const struct tcache_view *v, unsigned nbins, unsigned slots, uint64_t limit)
{
    for (unsigned i = 0; i < nbins; i++) {
        if (slots && v->counts[i] > slots) return false;
        unsigned n = list_length(v, i, slots);
        if (n > limit || (n == 0) != (v->entries[i] == 0) || (v->entries[i] & 15)) return false;
    }
    return true;
}

/* Takes the in-use chunk at chunk (size 0x250, 0x290 or 0x300, in heap h) as a tcache struct
 * if it validates; see the comment at the top. Which way the counts read (lengths, or the free
 * slots of 2.42+) is the one the lists agree with. */
static struct pyh_error *try_tcache(struct pyh_glibc *g, uint64_t chunk, uint64_t size,
                                    const struct pyh_glibc_heap *h, bool *is_tcache)
{
    *is_tcache = false;
    struct tcache_shape s;
    struct tcache_view v;
    if (!tcache_shape(size, &s) || !read_tcache(g, chunk + 16, s, &v)) return NULL;
    uint64_t limit = g->mp ? g->mp_tcache_count : 65535;
    unsigned slots = 0;
    if (!counts_fit(&v, s.nbins, 0, limit)) {
        /* Free slots: an empty list has all its slots free, so the capacity is the count of
         * an empty list (mp_.tcache_count when mp_ is known). */
        slots = g->mp ? (unsigned)g->mp_tcache_count : 0;
        for (unsigned i = 0; i < s.nbins && !slots; i++)
            if (!v.entries[i]) slots = v.counts[i];
        if (!s.wide || !slots || !counts_fit(&v, s.nbins, slots, limit)) return NULL;
    }
    unsigned nonempty = 0;
    for (unsigned i = 0; i < s.nbins; i++) nonempty += v.entries[i] != 0;
    bool first_chunk = h->first && chunk == h->start;
    if (!nonempty && !first_chunk) return NULL;
    uint64_t bad = 0;
    unsigned nbad = 0;
    for (unsigned i = 0; i < s.nbins; i++) {
        unsigned n = list_length(&v, i, slots);
        if (n && !chain_ok(g, v.entries[i], n, i)) {
            bad |= list_bit(i);
            nbad++;
        }
    }
    /* A damaged struct (a core taken mid-free, corruption) is still taken where a tcache must
     * be, with a warning per bad list; elsewhere every list must be valid. */
    if (nbad && !first_chunk) return NULL;
    struct pyh_glibc_tcache t = {.address = chunk + 16, .arena = h->arena, .wide = s.wide,
                                 .nbins = s.nbins, .slots = slots, .bad_lists = bad};
    struct pyh_error *err = PYH_APPEND(g->tcaches, g->ntcaches, g->tcaches_cap, &t);
    if (err) return err;
    for (unsigned i = 0; i < s.nbins; i++)
        if (bad & list_bit(i) && v.entries[i])
            pyh_glibc_warn(g, true,
                           "tcache 0x%llx list %u (%u chunks from 0x%llx) is not a valid "
                           "chain; its chunks are counted as in use",
                           (unsigned long long)t.address, i, list_length(&v, i, slots),
                           (unsigned long long)v.entries[i]);
    *is_tcache = true;
    return NULL;
}

void pyh_glibc_reclassify(struct pyh_glibc *g, uint64_t c, uint64_t size, enum pyh_glibc_kind kind)
{
    int64_t hi = pyh_glibc_heap_of(g, c);
    /* Beyond where a damaged heap's walk stopped the arena counts nothing, as the visitor
     * reports nothing there. */
    if (hi < 0 || c >= g->heaps[hi].walked) return;
    struct pyh_glibc_arena *a = &g->arenas[g->heaps[hi].arena];
    uint64_t idx;
    enum pyh_glibc_kind was =
        pyh_u64map_get(&g->free_index, c, &idx) ? PYH_GLIBC_FREE_LOST : PYH_GLIBC_INUSE;
    if (a->kinds[was].count && a->kinds[was].bytes >= size) {
        a->kinds[was].count--;
        a->kinds[was].bytes -= size;
        a->kinds[kind].count++;
        a->kinds[kind].bytes += size;
    }
}

struct pyh_error *pyh_glibc_read_tcaches(struct pyh_glibc *g)
{
    for (size_t ti = 0; ti < g->ntcaches; ti++) {
        struct pyh_glibc_tcache *t = &g->tcaches[ti];
        struct pyh_error *err = pyh_check_interrupt();
        if (!err)
            err = pyh_u64map_put(&g->special, t->address - 16,
                                 PYH_GLIBC_INTERNAL | ((uint64_t)t->arena << 8));
        if (err) return err;
        struct tcache_view v;
        struct tcache_shape shape = {t->wide, t->nbins};
        if (!read_tcache(g, t->address, shape, &v)) continue;
        for (unsigned i = 0; i < t->nbins; i++) {
            if (t->bad_lists & list_bit(i)) continue;
            uint64_t size = PYH_MINSIZE + 16 * (uint64_t)i;
            uint64_t e = v.entries[i];
            unsigned n = list_length(&v, i, t->slots);
            /* chain_ok proved this list has exactly n members in known heaps. */
            for (unsigned hops = 0; e && hops < n; hops++) {
                uint64_t c = e - 16, old, next;
                if (i >= PYH_TCACHE_BINS) { /* a large bin: chunks of any larger size */
                    uint64_t head;
                    if ((err = pyh_read_u64(g->target, c + 8, &head))) {
                        pyh_error_free(err);
                        break;
                    }
                    size = head & ~(uint64_t)7;
                }
                if (pyh_u64map_get(&g->special, c, &old)) {
                    pyh_glibc_warn(g, true,
                                   "tcache 0x%llx list %u: chunk 0x%llx is also in a %s "
                                   "list; the list is cut there",
                                   (unsigned long long)t->address, i, (unsigned long long)c,
                                   pyh_glibc_kind_name((enum pyh_glibc_kind)(old & 0xff)));
                    break;
                }
                int64_t hi = pyh_glibc_heap_of(g, c);
                if (hi < 0 || (err = pyh_read_u64(g->target, e, &next))) {
                    pyh_error_free(err);
                    break; /* the target changed under us (live, not stopped) */
                }
                err = pyh_u64map_put(&g->special, c,
                                     PYH_GLIBC_TCACHE | ((uint64_t)g->heaps[hi].arena << 8));
                if (err) return err;
                t->chunks.count++;
                t->chunks.bytes += size;
                pyh_glibc_reclassify(g, c, size, PYH_GLIBC_TCACHE);
                e = pyh_glibc_reveal(g, e, next);
            }
        }
    }
    return NULL;
}

/* ---- The heap walk ------------------------------------------------------------------- */

/* Per-walk warning state, so that each oddity is reported once per heap. */
struct walk_notes {
    bool arena_bit;
};

/* Classifies the chunk at pos (size bytes, not top, not a fencepost; p points at its first 32
 * bytes) given its successor's PREV_INUSE bit. The pass of pyh_glibc_open runs before the
 * lists are read: it records free chunks with their links in g->frees (their kind is settled
 * by pyh_glibc_read_lists) and looks for tcache structs among the chunks in use. The
 * visitor's pass takes the kinds open settled from g->special. */
static struct pyh_error *classify(struct pyh_glibc *g, size_t hi, uint64_t pos, const uint8_t *p,
                                  uint64_t size, bool next_inuse, bool tally,
                                  struct walk_notes *notes, enum pyh_glibc_kind *kind)
{
    const struct pyh_glibc_heap *h = &g->heaps[hi];
    const struct pyh_glibc_arena *a = &g->arenas[h->arena];
    struct pyh_error *err;
    if (!tally) {
        uint64_t v;
        if (g->special.len && pyh_u64map_get(&g->special, pos, &v))
            *kind = (enum pyh_glibc_kind)(v & 0xff);
        else
            *kind = next_inuse ? PYH_GLIBC_INUSE : PYH_GLIBC_FREE_LOST;
        return NULL;
    }
    if (!next_inuse) {
        *kind = PYH_GLIBC_FREE_LOST;
        struct pyh_glibc_free f = {
            .address = pos, .size = size, .fd = pyh_glibc_word(p, 16), .bk = pyh_glibc_word(p, 24)};
        if ((err = pyh_u64map_put(&g->free_index, pos, g->nfrees))) return err;
        return PYH_APPEND(g->frees, g->nfrees, g->frees_cap, &f);
    }
    *kind = PYH_GLIBC_INUSE;
    uint64_t head = pyh_glibc_word(p, 8);
    if (!(head & PYH_CHUNK_A) != a->is_main && !notes->arena_bit) {
        notes->arena_bit = true;
        pyh_glibc_warn(g, false, "arena 0x%llx: in-use chunk 0x%llx has NON_MAIN_ARENA %s",
                       (unsigned long long)a->address, (unsigned long long)pos,
                       head & PYH_CHUNK_A ? "set" : "clear");
    }
    if (size == 0x290 || size == 0x250 || size == 0x300) {
        bool is_tcache;
        if ((err = try_tcache(g, pos, size, h, &is_tcache))) return err;
        if (is_tcache) *kind = PYH_GLIBC_INTERNAL;
    }
    return NULL;
}

/* Walks heap hi. Without fn (the pass of pyh_glibc_open) it counts chunks into the arena,
 * finds tcaches, warns and records how far it got; with fn it calls fn for each chunk up to
 * where that pass got. */
static struct pyh_error *walk_heap(struct pyh_glibc *g, struct pyh_glibc_window *w, size_t hi,
                                   pyh_glibc_visit_fn fn, void *ctx)
{
    struct pyh_glibc_heap *h = &g->heaps[hi];
    struct pyh_glibc_arena *a = &g->arenas[h->arena];
    bool tally = fn == NULL;
    uint64_t end = h->end, stop = tally ? end : h->walked;
    uint64_t pos = h->start, bad_head = 0;
    const char *bad = NULL;
    struct walk_notes notes = {0};
    while (pos < stop) {
        const uint8_t *p;
        struct pyh_error *err = NULL;
        if (end - pos < 16) {
            bad = "ends inside a chunk header";
            break;
        }
        /* 32 bytes: the header, and fd/bk of a free chunk (a chunk that can be free has
         * them), copied: fetching the next header may move the window. */
        uint8_t cur[32] = {0};
        size_t n = end - pos >= 32 ? 32 : 16;
        if ((err = pyh_glibc_window_get(w, pos, n, end, &p))) {
            if (pyh_error_is(err, PYH_ERR_INTERRUPTED)) return err;
            pyh_error_free(err);
            bad = "is unreadable";
            break;
        }
        memcpy(cur, p, n);
        uint64_t head = pyh_glibc_word(cur, 8), size = head & ~(uint64_t)7;
        struct pyh_glibc_chunk c = {.address = pos, .size = size, .arena = h->arena};
        bool last = false;
        if (pos == a->top) {
            c.kind = PYH_GLIBC_TOP;
            last = true;
            if (size > end - pos || pos + size != end) {
                if (tally && head) /* no header yet: said by read_top */
                    pyh_glibc_warn(g, size > end - pos,
                                   "arena 0x%llx: top chunk 0x%llx of size "
                                   "0x%llx does not end its heap at 0x%llx",
                                   (unsigned long long)a->address, (unsigned long long)pos,
                                   (unsigned long long)size, (unsigned long long)end);
                c.size = end - pos;
            }
        } else if (size == 0 && (head & PYH_CHUNK_P) && end - pos == 16) {
            c.kind = PYH_GLIBC_INTERNAL; /* the zero-size header that ends an old heap */
            c.size = 16;
            last = true;
        } else if (size < 16 || (size & 15) || size > end - pos || (head & PYH_CHUNK_M)) {
            bad = "has a bad size field";
            bad_head = head;
            break;
        } else if (size == 16) {
            c.kind = PYH_GLIBC_INTERNAL; /* a fencepost before the end of an old heap */
        } else {
            bool next_inuse = true;
            const uint8_t *np;
            if (end - pos - size >= 16) {
                if ((err = pyh_glibc_window_get(w, pos + size, 16, end, &np))) {
                    if (pyh_error_is(err, PYH_ERR_INTERRUPTED)) return err;
                    pyh_error_free(err);
                    bad = "is followed by an unreadable header";
                    break;
                }
                /* Before a top chunk with no header yet (see read_top) is the chunk malloc
                 * is handing out: in use. */
                next_inuse = (pyh_glibc_word(np, 8) & PYH_CHUNK_P) != 0 ||
                             (pos + size == a->top && pyh_glibc_word(np, 8) == 0);
            }
            if ((err = classify(g, hi, pos, cur, size, next_inuse, tally, &notes, &c.kind)))
                return err;
        }
        if (tally) {
            a->kinds[c.kind].count++;
            a->kinds[c.kind].bytes += c.size;
        } else if ((err = fn(&c, ctx))) {
            return err;
        }
        pos += c.size;
        if (last) break;
    }
    if (!tally) return NULL;
    h->walked = pos;
    if (bad) {
        a->complete = false;
        pyh_glibc_warn(g, true,
                       "arena 0x%llx, heap 0x%llx: chunk 0x%llx %s (0x%llx); 0x%llx "
                       "bytes up to 0x%llx not walked",
                       (unsigned long long)a->address,
                       (unsigned long long)(h->info ? h->info : h->start), (unsigned long long)pos,
                       bad, (unsigned long long)bad_head, (unsigned long long)(end - pos),
                       (unsigned long long)end);
    } else if (pos != end) {
        a->complete = false;
        pyh_glibc_warn(g, true,
                       "arena 0x%llx, heap 0x%llx: the walk ended at 0x%llx before the "
                       "heap's end 0x%llx",
                       (unsigned long long)a->address,
                       (unsigned long long)(h->info ? h->info : h->start), (unsigned long long)pos,
                       (unsigned long long)end);
    }
    return NULL;
}

struct pyh_error *pyh_glibc_walk_heaps(struct pyh_glibc *g)
{
    struct pyh_glibc_window w;
    struct pyh_error *err = pyh_glibc_window_init(&w, g->target, WINDOW_SIZE);
    for (size_t i = 0; i < g->nheaps && !err; i++)
        err = walk_heap(g, &w, i, NULL, NULL);
    pyh_glibc_window_free(&w);
    return err;
}

struct pyh_error *pyh_glibc_visit(struct pyh_glibc *g, pyh_glibc_visit_fn fn, void *ctx)
{
    struct pyh_glibc_window w;
    struct pyh_error *err = pyh_glibc_window_init(&w, g->target, WINDOW_SIZE);
    g->quiet = true;
    for (size_t i = 0; i < g->nheaps && !err; i++)
        err = walk_heap(g, &w, i, fn, ctx);
    g->quiet = false;
    pyh_glibc_window_free(&w);
    for (size_t i = 0; i < g->nmmapped && !err; i++) {
        struct pyh_glibc_chunk c = {.address = g->mmapped[i].address,
                                    .size = g->mmapped[i].size,
                                    .kind = PYH_GLIBC_MMAPPED,
                                    .arena = PYH_GLIBC_NO_ARENA};
        err = fn(&c, ctx);
    }
    return err;
}
