/* What all target kinds share: reads through the block cache, typed reads, lookups of
 * mappings, threads and auxv, and closing. */
#include "target/target.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "target/internal.h"
#include "util/progress.h"
#include "util/interrupt.h"
#include "util/mem.h"

_Static_assert(PYH_CACHE_BLOCK / PYH_CACHE_PAGE == 16 && PYH_CACHE_ALL_PAGES == 0xffffu,
               "a block's pages are the bits of a uint16_t");
_Static_assert((PYH_CACHE_SLOTS & (PYH_CACHE_SLOTS - 1)) == 0 &&
               (PYH_HOST_CACHE_SLOTS & (PYH_HOST_CACHE_SLOTS - 1)) == 0,
               "slot counts are powers of two (index_mask)");

static uint8_t *slot_data(struct pyh_target *t, size_t slot)
{
    return t->cache.data + slot * PYH_CACHE_BLOCK;
}

/* The pages of the block at `block` that [from, to) covers whole, as a mask. A page it
 * covers in part is not cached: reads there go to the target (a mapping that does not end
 * on a page boundary: a hand-made core). */
static uint16_t page_mask(uint64_t block, uint64_t from, uint64_t to)
{
    uint64_t first = (from - block + PYH_CACHE_PAGE - 1) / PYH_CACHE_PAGE;
    uint64_t last = (to - block) / PYH_CACHE_PAGE;
    if (last <= first) return 0;
    return (uint16_t)(((1u << last) - 1) & ~((1u << first) - 1));
}

static bool page_cached(const struct pyh_target *t, size_t slot, size_t off)
{
    return (t->cache.pages[slot] >> (off / PYH_CACHE_PAGE)) & 1;
}

static bool page_unreadable(const struct pyh_target *t, size_t slot, size_t off)
{
    return (t->cache.pages[slot] >> (16 + off / PYH_CACHE_PAGE)) & 1;
}

/* A keeping cache's index: block addresses hashed (Fibonacci) into 2 * nslots entries. */
static size_t index_mask(const struct pyh_target *t)
{
    return 2 * t->cache.nslots - 1;
}

static size_t index_start(const struct pyh_target *t, uint64_t block)
{
    return (size_t)((block / PYH_CACHE_BLOCK) * 0x9e3779b97f4a7c15ull >> 32) & index_mask(t);
}

/* The slot that holds (some pages of) block, or SIZE_MAX. */
static size_t find_slot(const struct pyh_target *t, uint64_t block)
{
    if (!t->cache.index) {
        size_t slot = (size_t)(block / PYH_CACHE_BLOCK) % t->cache.nslots;
        return t->cache.block[slot] == block ? slot : SIZE_MAX;
    }
    /* At most nslots of the 2 * nslots entries are used: the probe ends. */
    for (size_t i = index_start(t, block);; i = (i + 1) & index_mask(t)) {
        uint32_t slot = t->cache.index[i];
        if (slot == UINT32_MAX) return SIZE_MAX;
        if (t->cache.block[slot] == block) return slot;
    }
}

/* The first of n slots in a row for blocks from `block` on that the cache does not hold,
 * emptied (their data is about to be overwritten). Direct-mapped, the blocks' own slots;
 * keeping, the next unused ones — when there are not n left, the cache starts over. */
static size_t take_slots(struct pyh_target *t, uint64_t block, size_t n)
{
    size_t slot = (size_t)(block / PYH_CACHE_BLOCK) % t->cache.nslots;
    if (t->cache.index) {
        if (t->cache.used + n > t->cache.nslots) {
            memset(t->cache.index, 0xff, 2 * t->cache.nslots * sizeof(*t->cache.index));
            for (size_t i = 0; i < t->cache.nslots; i++) t->cache.block[i] = UINT64_MAX;
            t->cache.used = 0;
        }
        slot = t->cache.used;
    }
    for (size_t i = 0; i < n; i++) {
        t->cache.block[slot + i] = UINT64_MAX;
        t->cache.pages[slot + i] = 0;
    }
    return slot;
}

/* Records that slot holds the given pages of block, besides those it held of it. */
static void keep(struct pyh_target *t, size_t slot, uint64_t block, uint32_t pages)
{
    if (t->cache.block[slot] == block) {
        t->cache.pages[slot] |= pages;
        return;
    }
    t->cache.block[slot] = block;
    t->cache.pages[slot] = pages;
    if (!t->cache.index) return;
    size_t i = index_start(t, block);
    while (t->cache.index[i] != UINT32_MAX) i = (i + 1) & index_mask(t);
    t->cache.index[i] = (uint32_t)slot;
    if (slot >= t->cache.used) t->cache.used = slot + 1;
}

/* Fills the cache with the block at `block`, or with more of it, and returns its slot. A
 * block that crosses the end of a mapping gets the part inside the mapping that holds
 * addr, besides what it holds of the block already: a block shared by two mappings (with
 * an unmapped page between them, as below a thread's stack) ends up with both, where reads
 * going from one to the other would otherwise read it again each time. SIZE_MAX when
 * nothing at addr could be read (the caller then reads uncached, for the precise error). */
static size_t fill_slot(struct pyh_target *t, uint64_t block, uint64_t addr)
{
    size_t slot = find_slot(t, block);
    bool whole_failed = false;
    if (slot == SIZE_MAX) {
        slot = take_slots(t, block, 1);
        struct pyh_error *err = t->ops->read(t, block, slot_data(t, slot), PYH_CACHE_BLOCK);
        if (!err) {
            keep(t, slot, block, PYH_CACHE_ALL_PAGES);
            return slot;
        }
        pyh_error_free(err);
        whole_failed = true;
    }
    const struct pyh_mapping *m = pyh_target_mapping_at(t, addr);
    if (!m) return SIZE_MAX;
    uint64_t from = m->start > block ? m->start : block;
    uint64_t to = m->end < block + PYH_CACHE_BLOCK ? m->end : block + PYH_CACHE_BLOCK;
    uint16_t mask = page_mask(block, from, to);
    if (!mask) return SIZE_MAX;
    size_t first = (size_t)__builtin_ctz(mask), n = (size_t)__builtin_popcount(mask);
    struct pyh_error *err = NULL;
    /* The part inside the mapping, unless that is the whole block, which just failed. */
    if (!whole_failed || mask != PYH_CACHE_ALL_PAGES) {
        err = t->ops->read(t, block + first * PYH_CACHE_PAGE,
                           slot_data(t, slot) + first * PYH_CACHE_PAGE, n * PYH_CACHE_PAGE);
        if (!err) {
            keep(t, slot, block, mask);
            return slot;
        }
        pyh_error_free(err);
    }
    if (!t->ops->cache_all) return SIZE_MAX;
    /* A keeping cache (a host: each read a round trip) reads such a block page by page, once,
     * and remembers the pages it could not read: a mapping can hold unreadable pages (a
     * guard page installed with madvise), which every scan would otherwise ask for again. */
    uint32_t got = 0;
    for (size_t i = 0; i < PYH_CACHE_BLOCK / PYH_CACHE_PAGE; i++) {
        if (!((mask >> i) & 1) || page_cached(t, slot, i * PYH_CACHE_PAGE)) continue;
        if (t->cache.block[slot] == block && page_unreadable(t, slot, i * PYH_CACHE_PAGE)) continue;
        err = t->ops->read(t, block + i * PYH_CACHE_PAGE, slot_data(t, slot) + i * PYH_CACHE_PAGE,
                           PYH_CACHE_PAGE);
        if (err && pyh_error_is(err, PYH_ERR_INTERRUPTED)) {
            pyh_error_free(err);
            break;
        }
        got |= err ? 1u << (16 + i) : 1u << i;
        pyh_error_free(err);
    }
    if (!got) return SIZE_MAX;
    keep(t, slot, block, got);
    return slot;
}

/* For a read of [addr, addr + len) longer than what is left of addr's block: fills the
 * blocks it covers that are not cached — a run of them from addr's block on, at most
 * PYH_CACHE_MAX_RUN, in slots in a row — with one read of their part inside the mapping
 * that holds addr (a read across the mapping's end would fail, and the bytes past it are
 * not wanted). Returns how many blocks were filled; 0 when there is no run of two or the
 * read failed (*failed set: the caller then fills block by block, for the precise error). */
static size_t fill_run(struct pyh_target *t, uint64_t addr, size_t len, bool *failed)
{
    const struct pyh_mapping *m = pyh_target_mapping_at(t, addr);
    if (!m) return 0;
    uint64_t first = addr & ~(uint64_t)(PYH_CACHE_BLOCK - 1);
    uint64_t end = addr + len < m->end ? addr + len : m->end;
    /* Only a keeping cache (ops->cache_all, which has the index) fills runs; take_slots
     * gives it at most every slot at once, which a small cache may have fewer of than
     * PYH_CACHE_MAX_RUN. */
    size_t n = 0;
    while (n < PYH_CACHE_MAX_RUN && n < t->cache.nslots && first + n * PYH_CACHE_BLOCK < end &&
           find_slot(t, first + n * PYH_CACHE_BLOCK) == SIZE_MAX)
        n++;
    if (n < 2) return 0;
    uint64_t from = m->start > first ? m->start : first;
    uint64_t to = first + n * PYH_CACHE_BLOCK < m->end ? first + n * PYH_CACHE_BLOCK : m->end;
    size_t slot = take_slots(t, first, n);
    struct pyh_error *err = t->ops->read(t, from, slot_data(t, slot) + (from - first), (size_t)(to - from));
    if (err) {
        pyh_error_free(err);
        *failed = true;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t b = first + i * PYH_CACHE_BLOCK;
        keep(t, slot + i, b, page_mask(b, from > b ? from : b,
                                       to < b + PYH_CACHE_BLOCK ? to : b + PYH_CACHE_BLOCK));
    }
    return n;
}

static struct pyh_error *cached_read(struct pyh_target *t, uint64_t addr, void *buf, size_t len)
{
    uint8_t *out = buf;
    /* Once a run failed (an unreadable page in it: a thread stack's guard page shares its
     * 64 KiB block with the top of the stack below), the rest of this read goes block by
     * block: a run again from each next block would fail again on the same page, as many
     * times as the run has blocks. */
    bool run_failed = false;
    while (len > 0) {
        uint64_t block = addr & ~(uint64_t)(PYH_CACHE_BLOCK - 1);
        size_t off = (size_t)(addr - block);
        size_t slot = find_slot(t, block);
        if ((slot == SIZE_MAX || !page_cached(t, slot, off)) && t->ops->cache_all &&
            !run_failed && len > PYH_CACHE_BLOCK - off && fill_run(t, addr, len, &run_failed))
            slot = find_slot(t, block);
        /* A page found unreadable before is not asked for again. */
        if (slot == SIZE_MAX || !(page_cached(t, slot, off) || page_unreadable(t, slot, off)))
            slot = fill_slot(t, block, addr);
        if (slot != SIZE_MAX && page_unreadable(t, slot, off))
            return pyh_error_create(PYH_ERR_FAULT, "cannot read %zu bytes at 0x%llx in %s", len,
                                    (unsigned long long)addr, t->description);
        if (slot == SIZE_MAX || !page_cached(t, slot, off)) return t->ops->read(t, addr, out, len);
        /* The cached pages from off, as far as the read goes: most reads are a few bytes
         * inside one page, and ask nothing of the pages after it. */
        size_t end = (off / PYH_CACHE_PAGE + 1) * PYH_CACHE_PAGE;
        while (end < off + len && end < PYH_CACHE_BLOCK && page_cached(t, slot, end))
            end += PYH_CACHE_PAGE;
        size_t piece = end - off < len ? end - off : len;
        memcpy(out, slot_data(t, slot) + off, piece);
        out += piece;
        addr += piece;
        len -= piece;
    }
    return NULL;
}

struct pyh_error *pyh_target_read(struct pyh_target *t, uint64_t addr, void *buf, size_t len)
{
    if (len == 0) return NULL;
    if (pyh_interrupted()) return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
    if (addr + len < addr)
        return pyh_error_create(PYH_ERR_FAULT, "cannot read %zu bytes at 0x%llx: wraps around",
                                len, (unsigned long long)addr);
    if (t->ops->cached && t->cache.data && (len <= PYH_CACHE_BLOCK || t->ops->cache_all))
        return cached_read(t, addr, buf, len);
    return t->ops->read(t, addr, buf, len);
}

struct pyh_error *pyh_target_read_sparse(struct pyh_target *t, uint64_t addr, void *buf, size_t len)
{
    if (t->ops->cache_all || len == 0 || addr + len < addr || pyh_interrupted())
        return pyh_target_read(t, addr, buf, len); /* and its checks */
    return t->ops->read(t, addr, buf, len);
}

const uint8_t *pyh_target_view(struct pyh_target *t, uint64_t addr, size_t len)
{
    if (!t->ops->view || len == 0 || addr + len < addr) return NULL;
    return t->ops->view(t, addr, len);
}

void pyh_target_view_release(struct pyh_target *t, uint64_t addr, size_t len)
{
    if (t->ops->view_release && len && addr + len >= addr) t->ops->view_release(t, addr, len);
}

struct pyh_error *pyh_read_u64(struct pyh_target *t, uint64_t addr, uint64_t *out)
{
    return pyh_target_read(t, addr, out, sizeof(*out));
}

struct pyh_error *pyh_read_u32(struct pyh_target *t, uint64_t addr, uint32_t *out)
{
    return pyh_target_read(t, addr, out, sizeof(*out));
}

struct pyh_error *pyh_read_u8(struct pyh_target *t, uint64_t addr, uint8_t *out)
{
    return pyh_target_read(t, addr, out, sizeof(*out));
}

struct pyh_error *pyh_read_cstr(struct pyh_target *t, uint64_t addr, char *buf, size_t cap)
{
    /* Read in small pieces: a string near the end of a mapping must not fail because a
     * large read would cross into unmapped memory. */
    size_t got = 0;
    while (got + 1 < cap) {
        size_t piece = 64 - ((addr + got) & 63);
        if (piece > cap - 1 - got) piece = cap - 1 - got;
        struct pyh_error *err = pyh_target_read(t, addr + got, buf + got, piece);
        if (err) return err;
        void *nul = memchr(buf + got, '\0', piece);
        if (nul) return NULL;
        got += piece;
    }
    buf[cap - 1] = '\0';
    return pyh_error_create(PYH_ERR_CORRUPT, "string at 0x%llx is longer than %zu bytes",
                            (unsigned long long)addr, cap - 1);
}

const struct pyh_mapping *pyh_target_mapping_at(const struct pyh_target *t, uint64_t addr)
{
    /* Most questions on the census's hot path are small numbers (reference counts): below
     * every mapping, answered without the search. */
    if (!t->nmaps || addr < t->maps[0].start || addr >= t->maps[t->nmaps - 1].end) return NULL;
    size_t lo = 0, hi = t->nmaps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr < t->maps[mid].start)
            hi = mid;
        else if (addr >= t->maps[mid].end)
            lo = mid + 1;
        else
            return &t->maps[mid];
    }
    return NULL;
}

const struct pyh_thread *pyh_target_thread(const struct pyh_target *t, int32_t tid)
{
    for (size_t i = 0; i < t->nthreads; i++)
        if (t->threads[i].tid == tid) return &t->threads[i];
    return NULL;
}

uint64_t pyh_target_auxv(const struct pyh_target *t, uint64_t type)
{
    for (size_t i = 0; i + 1 < t->nauxv * 2; i += 2)
        if (t->auxv[i] == type) return t->auxv[i + 1];
    return 0;
}

struct pyh_error *pyh_target_explain(struct pyh_target *t, struct pyh_error *err)
{
    if (!t || !err) return err;
    enum pyh_error_code code = pyh_error_code(err);
    if (code == PYH_ERR_USAGE || code == PYH_ERR_INTERRUPTED || code == PYH_ERR_NOMEM) return err;
    if (t->ops && t->ops->gone && t->ops->gone(t)) {
        pyh_error_free(err);
        return pyh_error_create(PYH_ERR_OS, "%s exited while it was being read", t->description);
    }
    /* strstr: an error explained once (by the command, after the session) is not again. */
    if (t->truncation && !strstr(pyh_error_message(err), t->truncation))
        err = pyh_error_wrap(err, "%s", t->truncation);
    if (t->unusable && !strstr(pyh_error_message(err), t->unusable))
        err = pyh_error_append(err, " (warning: %s)", t->unusable);
    if (t->mismatch && !strstr(pyh_error_message(err), t->mismatch)) {
        if (t->nmismatches > 1)
            err = pyh_error_append(err, " (warning: %s; %zu other files mismatch as well)",
                                   t->mismatch, t->nmismatches - 1);
        else
            err = pyh_error_append(err, " (warning: %s)", t->mismatch);
    }
    return err;
}

void pyh_target_close(struct pyh_target *t)
{
    if (!t) return;
    if (t->ops && t->ops->close) t->ops->close(t);
    for (size_t i = 0; i < t->nmaps; i++) {
        free(t->maps[i].path);
        free(t->maps[i].label);
    }
    free(t->maps);
    for (size_t i = 0; i < t->nfiles; i++) pyh_local_file_free(t->files[i]);
    free(t->files);
    free(t->threads);
    free(t->auxv);
    free(t->exe_path);
    free(t->truncation);
    free(t->mismatch);
    free(t->unusable);
    free(t->description);
    free(t->pause_how);
    pyh_residency_free(t->residency);
    if (t->cache.data) munmap(t->cache.data, t->cache.nslots * PYH_CACHE_BLOCK);
    free(t->cache.block);
    free(t->cache.pages);
    free(t->cache.index);
    free(t);
}

struct pyh_target *pyh_target_alloc(enum pyh_target_kind kind, const struct pyh_target_ops *ops,
                                    struct pyh_diag *diag)
{
    struct pyh_target *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->kind = kind;
    t->ops = ops;
    t->diag = diag;
    return t;
}

struct pyh_error *pyh_target_init_cache(struct pyh_target *t, size_t nslots)
{
    /* MAP_NORESERVE: a slot costs memory once it is filled. Where the kernel reserves all
     * the same (strict overcommit) a big cache may be refused: the default one will do. */
    void *p = mmap(NULL, nslots * PYH_CACHE_BLOCK, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED && nslots > PYH_CACHE_SLOTS) {
        nslots = PYH_CACHE_SLOTS;
        p = mmap(NULL, nslots * PYH_CACHE_BLOCK, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    }
    if (p == MAP_FAILED) return pyh_error_nomem();
    t->cache.block = malloc(nslots * sizeof(*t->cache.block));
    t->cache.pages = calloc(nslots, sizeof(*t->cache.pages));
    /* The index of a keeping cache: twice the slots (a power of two), so that a probe
     * finds a free entry soon. */
    if (t->ops->cache_all) t->cache.index = malloc(2 * nslots * sizeof(*t->cache.index));
    if (!t->cache.block || !t->cache.pages || (t->ops->cache_all && !t->cache.index)) {
        munmap(p, nslots * PYH_CACHE_BLOCK);
        free(t->cache.block);
        free(t->cache.pages);
        free(t->cache.index);
        t->cache.block = NULL;
        t->cache.pages = NULL;
        t->cache.index = NULL;
        return pyh_error_nomem();
    }
    for (size_t i = 0; i < nslots; i++) t->cache.block[i] = UINT64_MAX;
    if (t->cache.index) memset(t->cache.index, 0xff, 2 * nslots * sizeof(*t->cache.index));
    t->cache.data = p;
    t->cache.nslots = nslots;
    return NULL;
}

static int compare_maps(const void *a, const void *b)
{
    const struct pyh_mapping *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

void pyh_target_sort_maps(struct pyh_target *t)
{
    if (t->nmaps > 1) qsort(t->maps, t->nmaps, sizeof(*t->maps), compare_maps);
    size_t kept = 0;
    for (size_t i = 0; i < t->nmaps; i++) {
        if (kept > 0 && t->maps[i].start < t->maps[kept - 1].end) {
            pyh_diag_warn(t->diag, "mapping 0x%llx-0x%llx overlaps another; ignored",
                          (unsigned long long)t->maps[i].start,
                          (unsigned long long)t->maps[i].end);
            free(t->maps[i].path);
            free(t->maps[i].label);
            continue;
        }
        t->maps[kept++] = t->maps[i];
    }
    t->nmaps = kept;
}

struct pyh_error *pyh_target_add_map(struct pyh_target *t, uint64_t start, uint64_t end,
                                     uint64_t offset, uint32_t prot, const char *path,
                                     const char *label)
{
    struct pyh_mapping m = {.start = start, .end = end, .file_offset = offset, .prot = prot,
                            .rss = UINT64_MAX};
    m.path = path ? pyh_strdup(path) : NULL;
    m.label = label ? pyh_strdup(label) : NULL;
    if ((path && !m.path) || (label && !m.label)) goto nomem;
    if (PYH_APPEND(t->maps, t->nmaps, t->maps_cap, &m)) goto nomem;
    return NULL;
nomem:
    free(m.path);
    free(m.label);
    return pyh_error_nomem();
}

void pyh_target_parse_smaps(struct pyh_target *t, FILE *smaps)
{
    char *line = NULL;
    size_t cap = 0;
    struct pyh_mapping *m = NULL;
    while (getline(&line, &cap, smaps) > 0) {
        unsigned long long start, end, kb;
        if (sscanf(line, "%llx-%llx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            m = (struct pyh_mapping *)pyh_target_mapping_at(t, start);
            if (m && m->start != start) m = NULL;
        } else if (m && sscanf(line, "Rss: %llu kB", &kb) == 1 &&
                   kb <= (m->end - m->start) / 1024) {
            /* A host's text is not the kernel's: no mapping holds more than its size (so the
             * sum of pyh_target_resident cannot overflow either). */
            m->rss = kb * 1024;
        }
    }
    free(line);
}

void pyh_residency_free(struct pyh_residency *r)
{
    if (!r) return;
    pyh_ranges_free(&r->runs);
    free(r->below);
    free(r);
}

struct pyh_error *pyh_target_residency(struct pyh_target *t, const struct pyh_residency **out)
{
    *out = NULL;
    if (!t->residency) {
        if (!t->ops->residency)
            return pyh_error_create(PYH_ERR_UNSUPPORTED, "%s cannot tell its resident memory",
                                    t->description);
        struct pyh_residency *r = calloc(1, sizeof(*r));
        if (!r) return pyh_error_nomem();
        for (size_t i = 0; i < t->nmaps; i++) t->maps[i].rss = UINT64_MAX;
        struct pyh_error *err = t->ops->residency(t, r);
        if (!err && r->by_page && r->runs.n && !(r->below = pyh_ranges_index(&r->runs)))
            err = pyh_error_nomem();
        if (err) {
            pyh_residency_free(r);
            return err;
        }
        /* Each mapping's rss from the same evidence; the total is the sum of the parts. */
        r->total = 0;
        for (size_t i = 0; i < t->nmaps; i++) {
            struct pyh_mapping *m = &t->maps[i];
            if (r->by_page) m->rss = pyh_ranges_covered(&r->runs, r->below, m->start, m->end);
            if (m->rss != UINT64_MAX) r->total += m->rss;
        }
        t->residency = r;
    }
    *out = t->residency;
    return NULL;
}

uint64_t pyh_residency_bytes(const struct pyh_residency *r, uint64_t start, uint64_t end)
{
    return pyh_ranges_covered(&r->runs, r->below, start, end);
}

void pyh_target_resume(struct pyh_target *t)
{
    if (t && t->ops && t->ops->resume) t->ops->resume(t);
}

double pyh_target_stopped_seconds(const struct pyh_target *t)
{
    if (t->pause_done) return t->pause_seconds;
    if (t->stopped && t->stop_started > 0) return pyh_monotonic() - t->stop_started;
    return -1;
}
