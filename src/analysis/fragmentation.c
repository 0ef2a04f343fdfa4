/* The `fragmentation` analysis; see fragmentation.h. */
#include "analysis/fragmentation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/memory_map.h"
#include "util/format.h"
#include "util/interrupt.h"

#define PAGE 4096ULL
#define MALLOC_CHUNK_HEADER 48 /* sizeof(struct malloc_chunk): what malloc_trim leaves alone */
#define MINSIZE 32

uint64_t pyh_glibc_arena_free_bytes(const struct pyh_glibc_arena *a)
{
    return a->kinds[PYH_GLIBC_TCACHE].bytes + a->kinds[PYH_GLIBC_FASTBIN].bytes +
           a->kinds[PYH_GLIBC_UNSORTED].bytes + a->kinds[PYH_GLIBC_SMALLBIN].bytes +
           a->kinds[PYH_GLIBC_LARGEBIN].bytes + a->kinds[PYH_GLIBC_TOP].bytes +
           a->kinds[PYH_GLIBC_FREE_LOST].bytes;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* What one pass over glibc's chunks adds up. */
struct chunk_pass {
    struct pyh_fragmentation *f;
    const uint64_t *arena_starts; /* pymalloc arenas, sorted */
    size_t narena_starts;
    uint64_t arena_size;
    const struct pyh_residency *res; /* by_page, or NULL */
    uint64_t used_resident, free_resident; /* of the chunks, pymalloc arenas taken out */
};

/* Pymalloc arena bytes inside [start, end); their resident bytes into *resident (p->res). */
static uint64_t pymalloc_inside(const struct chunk_pass *p, uint64_t start, uint64_t end,
                                uint64_t *resident)
{
    size_t lo = 0, hi = p->narena_starts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->arena_starts[mid] < start) lo = mid + 1;
        else hi = mid;
    }
    uint64_t bytes = 0;
    *resident = 0;
    for (size_t i = lo; i < p->narena_starts && p->arena_starts[i] < end; i++) {
        if (p->arena_starts[i] + p->arena_size > end) continue;
        bytes += p->arena_size;
        if (p->res)
            *resident += pyh_residency_bytes(p->res, p->arena_starts[i],
                                             p->arena_starts[i] + p->arena_size);
    }
    return bytes;
}

static struct pyh_error *visit_chunk(const struct pyh_glibc_chunk *c, void *ctx)
{
    struct chunk_pass *p = ctx;
    uint64_t resident = p->res ? pyh_residency_bytes(p->res, c->address, c->address + c->size) : 0;
    switch (c->kind) {
    case PYH_GLIBC_INUSE:
    case PYH_GLIBC_MMAPPED:
    case PYH_GLIBC_INTERNAL: {
        uint64_t arenas_resident = 0;
        if (p->narena_starts && c->kind != PYH_GLIBC_INTERNAL) {
            size_t slot = c->arena == PYH_GLIBC_NO_ARENA ? p->f->glibc->narenas : c->arena;
            p->f->glibc_pymalloc_bytes[slot] +=
                pymalloc_inside(p, c->address, c->address + c->size, &arenas_resident);
        }
        p->used_resident += resident - arenas_resident;
        break;
    }
    case PYH_GLIBC_FASTBIN:
    case PYH_GLIBC_UNSORTED:
    case PYH_GLIBC_SMALLBIN:
    case PYH_GLIBC_LARGEBIN:
    case PYH_GLIBC_FREE_LOST: {
        /* malloc_trim consolidates the fastbins, then gives back with MADV_DONTNEED the whole
         * pages of each free chunk past its malloc_chunk header (mtrim in malloc.c). Merged
         * neighbours could give a little more: this is an estimate, said so. */
        uint64_t from = (c->address + MALLOC_CHUNK_HEADER + PAGE - 1) & ~(PAGE - 1);
        uint64_t to = c->address + c->size;
        if (to > from) p->f->trim_releasable += (to - from) & ~(PAGE - 1);
        p->free_resident += resident;
        break;
    }
    default: /* the tcaches' chunks and the top chunk: free */
        p->free_resident += resident;
        break;
    }
    return pyh_check_interrupt();
}

/* The arenas' headers (heap_info, and malloc_state in a thread arena's first heap; the
 * alignment before the main arena's first chunk): glibc's, in use. Their resident bytes. */
static uint64_t headers_resident(const struct pyh_glibc *g, const struct pyh_residency *res)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < g->nheaps; i++) {
        const struct pyh_glibc_heap *h = &g->heaps[i];
        const struct pyh_glibc_arena *a = &g->arenas[h->arena];
        uint64_t from = h->info ? h->info : a->is_main && h->first ? h->start - a->overhead : h->start;
        bytes += pyh_residency_bytes(res, from, h->start);
    }
    return bytes;
}

/* Walks glibc's chunks: pymalloc arenas inside them, what malloc_trim could give back and,
 * with res (by_page), the resident bytes of chunks in use and free into *used, *free. */
static struct pyh_error *glibc_pass(struct pyh_fragmentation *f, const struct pyh_residency *res,
                                    uint64_t *used, uint64_t *free_bytes)
{
    struct pyh_glibc *g = f->glibc;
    f->glibc_pymalloc_bytes = calloc(g->narenas + 1, sizeof(uint64_t));
    if (!f->glibc_pymalloc_bytes) return pyh_error_nomem();
    struct chunk_pass pass = {.f = f, .res = res};
    uint64_t *starts = NULL;
    if (f->pymalloc && f->pymalloc->narenas) {
        starts = malloc(f->pymalloc->narenas * sizeof(*starts));
        if (!starts) return pyh_error_nomem();
        for (size_t i = 0; i < f->pymalloc->narenas; i++) starts[i] = f->pymalloc->arenas[i].address;
        qsort(starts, f->pymalloc->narenas, sizeof(*starts), compare_u64);
        pass.arena_starts = starts;
        pass.narena_starts = f->pymalloc->narenas;
        pass.arena_size = f->pymalloc->arena_size;
    }
    struct pyh_error *err = pyh_glibc_visit(g, visit_chunk, &pass);
    free(starts);
    if (err) return err;
    *used = pass.used_resident + (res ? headers_resident(g, res) : 0);
    *free_bytes = pass.free_resident;
    /* malloc_trim also shrinks the main arena's top through sbrk, down to one page. */
    for (size_t i = 0; i < g->narenas; i++) {
        const struct pyh_glibc_arena *a = &g->arenas[i];
        if (a->is_main && !a->noncontiguous && a->top_size > MINSIZE + 1)
            f->trim_releasable += (a->top_size - MINSIZE - 1) & ~(PAGE - 1);
    }
    return NULL;
}

/* What each part occupies, from the allocators' own figures and the mappings. */
static void account_mapped(struct pyh_runtime *rt, struct pyh_fragmentation *f)
{
    struct pyh_memory_split *s = &f->mapped_split;
    if (f->pymalloc) {
        s->pymalloc_used = f->pymalloc->bytes_used;
        s->pymalloc_free = f->pymalloc->narenas * f->pymalloc->arena_size - f->pymalloc->bytes_used;
    }
    if (f->glibc) {
        const struct pyh_glibc *g = f->glibc;
        uint64_t in_pymalloc = 0;
        for (size_t i = 0; i <= g->narenas; i++) in_pymalloc += f->glibc_pymalloc_bytes[i];
        for (size_t i = 0; i < g->narenas; i++) {
            const struct pyh_glibc_arena *a = &g->arenas[i];
            s->glibc_used += a->kinds[PYH_GLIBC_INUSE].bytes + a->kinds[PYH_GLIBC_INTERNAL].bytes +
                             a->overhead;
            s->glibc_free += pyh_glibc_arena_free_bytes(a);
        }
        s->glibc_used += g->mmapped_total.bytes;
        s->glibc_used = s->glibc_used > in_pymalloc ? s->glibc_used - in_pymalloc : 0;
    }
    f->mapped = 0;
    for (size_t i = 0; i < rt->target->nmaps; i++) {
        const struct pyh_mapping *m = &rt->target->maps[i];
        f->mapped += m->end - m->start;
        if (pyh_map_kind_of(rt->target, rt->images, m) == PYH_MAP_STACK) s->stacks += m->end - m->start;
    }
    uint64_t known = s->pymalloc_used + s->pymalloc_free + s->glibc_used + s->glibc_free + s->stacks;
    s->other = f->mapped > known ? f->mapped - known : 0;
}

/* What each part holds resident, from the one residency measured for the target; `other`
 * is the rest of the resident total. Parts are disjoint address ranges, so with page-level
 * evidence they cannot add up to more than the whole: if they did, a walker counted a range
 * twice, which is said rather than hidden. */
static struct pyh_error *account_resident(struct pyh_runtime *rt, struct pyh_fragmentation *f,
                                          const struct pyh_residency *res, uint64_t glibc_used,
                                          uint64_t glibc_free)
{
    struct pyh_memory_split *s = &f->split;
    f->resident_known = true;
    f->resident = res->total;
    f->resident_source = res->source;
    f->resident_how = res->how;
    f->resident_exact = res->by_page;
    if (res->by_page) {
        if (f->pymalloc) {
            uint64_t used, arenas;
            struct pyh_error *err = pyh_pymalloc_resident(rt, f->pymalloc, res, &used, &arenas);
            if (err) return err;
            s->pymalloc_used = used;
            s->pymalloc_free = arenas - used;
        }
        s->glibc_used = glibc_used;
        s->glibc_free = glibc_free;
    } else {
        *s = f->mapped_split; /* only per mapping: the allocators' parts taken whole */
        s->stacks = 0;
    }
    for (size_t i = 0; i < rt->target->nmaps; i++) {
        const struct pyh_mapping *m = &rt->target->maps[i];
        if (m->rss != UINT64_MAX && pyh_map_kind_of(rt->target, rt->images, m) == PYH_MAP_STACK)
            s->stacks += m->rss;
    }
    uint64_t known = s->pymalloc_used + s->pymalloc_free + s->glibc_used + s->glibc_free + s->stacks;
    s->other = f->resident > known ? f->resident - known : 0;
    if (known > f->resident && res->by_page)
        pyh_diag_warn(rt->diag, "the resident parts add up to %llu bytes, %llu more than the "
                                "%llu resident: a range is counted twice",
                      (unsigned long long)known, (unsigned long long)(known - f->resident),
                      (unsigned long long)f->resident);
    return NULL;
}

/* One or two sentences that say where the heap went. */
static void write_verdict(struct pyh_fragmentation *f)
{
    const struct pyh_memory_split *s = &f->mapped_split;
    uint64_t heap = pyh_fragmentation_heap_total(f);
    char total[32], a[32], b[32];
    pyh_format_bytes(heap, total, sizeof(total));
    if (heap == 0) {
        snprintf(f->verdict, sizeof(f->verdict),
                 "No allocator heap was found: neither pymalloc's arenas, mimalloc's pages nor "
                 "glibc's malloc state.");
        return;
    }
    double glibc_free = (double)s->glibc_free / (double)heap;
    double pymalloc_free = (double)s->pymalloc_free / (double)heap;
    /* mimalloc (free-threaded, PYTHONMALLOC=mimalloc): the free blocks of its pages */
    const struct pyh_mimalloc *m = f->mimalloc;
    uint64_t mi_free = m ? m->bytes_free_in_pages : 0;
    double mimalloc_free = (double)mi_free / (double)heap;
    if (mimalloc_free >= 0.3 && mi_free >= s->glibc_free) {
        snprintf(f->verdict, sizeof(f->verdict),
                 "%.0f%% of the %s heap is free blocks in mimalloc's %zu pages in use (%llu of "
                 "them empty): fragmentation, not live objects.",
                 100 * mimalloc_free, total, m->npages, (unsigned long long)m->empty_pages);
    } else if (glibc_free >= 0.3 && s->glibc_free >= s->pymalloc_free) {
        snprintf(f->verdict, sizeof(f->verdict),
                 "%.0f%% of the %s heap is free space held by glibc's malloc arenas: "
                 "fragmentation, not live objects. malloc_trim(0) would return at most %s.",
                 100 * glibc_free, total, pyh_format_bytes(f->trim_releasable, a, sizeof(a)));
    } else if (pymalloc_free >= 0.3) {
        snprintf(f->verdict, sizeof(f->verdict),
                 "%.0f%% of the %s heap is free space inside pymalloc's %zu arenas (%llu of them "
                 "kept alive by live blocks filling at most 5%%): fragmentation of small "
                 "objects, not live objects.",
                 100 * pymalloc_free, total, f->pymalloc ? f->pymalloc->narenas : 0,
                 (unsigned long long)f->pymalloc_pinned);
    } else if (m) {
        char c[32];
        uint64_t live = s->pymalloc_used + s->glibc_used + m->bytes_live;
        snprintf(f->verdict, sizeof(f->verdict),
                 "Live allocations take %.0f%% of the %s heap (mimalloc %s, malloc %s%s%s): the "
                 "memory is held by live objects, not by fragmentation.",
                 100.0 * (double)live / (double)heap, total,
                 pyh_format_bytes(m->bytes_live, c, sizeof(c)),
                 pyh_format_bytes(s->glibc_used, b, sizeof(b)), f->pymalloc ? ", pymalloc " : "",
                 f->pymalloc ? pyh_format_bytes(s->pymalloc_used, a, sizeof(a)) : "");
    } else {
        uint64_t live = s->pymalloc_used + s->glibc_used;
        snprintf(f->verdict, sizeof(f->verdict),
                 "Live allocations take %.0f%% of the %s heap (pymalloc %s, malloc %s): the "
                 "memory is held by live objects, not by fragmentation.",
                 100.0 * (double)live / (double)heap, total,
                 pyh_format_bytes(s->pymalloc_used, a, sizeof(a)),
                 pyh_format_bytes(s->glibc_used, b, sizeof(b)));
    }
}

struct pyh_error *pyh_fragmentation_gather(struct pyh_runtime *rt, const struct pyh_pymalloc *pm,
                                           const struct pyh_mimalloc *mi, struct pyh_glibc *glibc,
                                           bool resident,
                                           struct pyh_fragmentation *f)
{
    memset(f, 0, sizeof(*f));
    f->pymalloc = pm;
    f->mimalloc = mi;
    f->glibc = glibc;
    for (size_t i = 0; pm && i < pm->narenas; i++)
        if (pm->arenas[i].bytes_used * 20 <= pm->arena_size) f->pymalloc_pinned++;
    const struct pyh_residency *res = NULL;
    struct pyh_error *err = resident ? pyh_target_residency(rt->target, &res) : NULL;
    if (err) {
        if (err->code == PYH_ERR_INTERRUPTED || err->code == PYH_ERR_NOMEM) return err;
        if (err->code != PYH_ERR_UNSUPPORTED)
            pyh_diag_warn(rt->diag, "cannot read resident memory: %s", pyh_error_message(err));
        pyh_error_free(err);
        res = NULL;
    }
    uint64_t glibc_used = 0, glibc_free = 0;
    err = glibc ? glibc_pass(f, res && res->by_page ? res : NULL, &glibc_used, &glibc_free) : NULL;
    if (err) return err;
    account_mapped(rt, f);
    if (res && (err = account_resident(rt, f, res, glibc_used, glibc_free))) return err;
    write_verdict(f);
    return NULL;
}

uint64_t pyh_fragmentation_heap_total(const struct pyh_fragmentation *f)
{
    const struct pyh_memory_split *s = &f->mapped_split;
    /* mimalloc's pages in use, the blocks they have carved, live or free (a page carves its
     * blocks as it needs them: the rest of its slices was never touched, nor were the free
     * slices and what a segment commits ahead). */
    const struct pyh_mimalloc *m = f->mimalloc;
    uint64_t mi = m ? m->bytes_live + m->bytes_free_in_pages : 0;
    return s->pymalloc_used + s->pymalloc_free + s->glibc_used + s->glibc_free + mi;
}

void pyh_fragmentation_free(struct pyh_fragmentation *f)
{
    free(f->glibc_pymalloc_bytes);
    memset(f, 0, sizeof(*f));
}
