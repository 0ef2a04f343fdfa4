/* The glibc malloc walker's entry points: opening (find, read lists, walk, scan, check),
 * freeing, names, and the capped warnings. See glibc.h for what is found how. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocators/glibc.h"
#include "util/interrupt.h"
#include "util/mem.h"

#define MAX_WARNINGS 100

const char *pyh_glibc_kind_name(enum pyh_glibc_kind kind)
{
    static const char *const names[PYH_GLIBC_NKINDS] = {
        [PYH_GLIBC_INUSE] = "in use",
        [PYH_GLIBC_MMAPPED] = "mmapped",
        [PYH_GLIBC_INTERNAL] = "internal",
        [PYH_GLIBC_TCACHE] = "tcache",
        [PYH_GLIBC_FASTBIN] = "fastbin",
        [PYH_GLIBC_UNSORTED] = "unsorted",
        [PYH_GLIBC_SMALLBIN] = "small bin",
        [PYH_GLIBC_LARGEBIN] = "large bin",
        [PYH_GLIBC_TOP] = "top",
        [PYH_GLIBC_FREE_LOST] = "free, in no list",
    };
    return (unsigned)kind < PYH_GLIBC_NKINDS ? names[kind] : "?";
}

const char *pyh_glibc_how_name(enum pyh_glibc_how how)
{
    switch (how) {
    case PYH_GLIBC_HOW_SYMBOL:
        return "symbol";
    case PYH_GLIBC_HOW_CODE:
        return "heuristic (code)";
    case PYH_GLIBC_HOW_SCAN:
        return "heuristic (scan)";
    case PYH_GLIBC_HOW_GIVEN:
        return "given";
    default:
        return "not found";
    }
}

void pyh_glibc_warn(struct pyh_glibc *g, bool partial, const char *fmt, ...)
{
    if (partial) g->complete = false;
    if (g->quiet || !g->diag) return;
    if (g->nwarnings >= MAX_WARNINGS) {
        if (g->nwarnings++ == MAX_WARNINGS)
            pyh_diag_warn(g->diag, "glibc malloc: further warnings dropped");
        if (partial && !g->diag->partial) pyh_diag_partial(g->diag, "glibc malloc: partial");
        return;
    }
    g->nwarnings++;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (partial)
        pyh_diag_partial(g->diag, "glibc malloc: %s", msg);
    else
        pyh_diag_warn(g->diag, "glibc malloc: %s", msg);
}

void pyh_glibc_free(struct pyh_glibc *g)
{
    if (!g) return;
    free(g->arenas);
    free(g->heaps);
    free(g->tcaches);
    free(g->mmapped);
    pyh_u64map_free(&g->special);
    pyh_u64map_free(&g->heap_index);
    pyh_u64map_free(&g->free_index);
    free(g->frees);
    free(g);
}

/* Checks what must add up: per arena, the walk's chunks against the free lists, and chunks
 * plus heap headers against system_mem (which glibc keeps as the sum of its heaps). */
static void check_arenas(struct pyh_glibc *g)
{
    static const enum pyh_glibc_kind listed_kinds[] = {PYH_GLIBC_FASTBIN, PYH_GLIBC_UNSORTED,
                                                       PYH_GLIBC_SMALLBIN, PYH_GLIBC_LARGEBIN};
    for (size_t i = 0; i < g->narenas; i++) {
        struct pyh_glibc_arena *a = &g->arenas[i];
        bool walked = a->complete;
        for (uint32_t h = a->first_heap; h < a->first_heap + a->nheaps; h++)
            walked &= g->heaps[h].walked == g->heaps[h].end;
        if (!walked) continue; /* already warned where the walk stopped */
        for (size_t k = 0; k < sizeof(listed_kinds) / sizeof(listed_kinds[0]); k++) {
            enum pyh_glibc_kind kind = listed_kinds[k];
            if (a->listed[kind] != a->kinds[kind].count)
                pyh_glibc_warn(g, true,
                               "arena 0x%llx: %llu chunks in its %s lists, but the heap "
                               "walk found %llu",
                               (unsigned long long)a->address, (unsigned long long)a->listed[kind],
                               pyh_glibc_kind_name(kind), (unsigned long long)a->kinds[kind].count);
        }
        uint64_t total = a->overhead;
        for (size_t k = 0; k < PYH_GLIBC_NKINDS; k++)
            total += a->kinds[k].bytes;
        if (!a->noncontiguous && a->nheaps && total != a->system_mem)
            pyh_glibc_warn(g, false,
                           "arena 0x%llx: chunks and headers add up to 0x%llx bytes, "
                           "system_mem says 0x%llx",
                           (unsigned long long)a->address, (unsigned long long)total,
                           (unsigned long long)a->system_mem);
    }
}

struct pyh_error *pyh_glibc_open(struct pyh_target *t, struct pyh_images *images,
                                 const struct pyh_glibc_options *opts, struct pyh_diag *diag,
                                 struct pyh_glibc **out)
{
    *out = NULL;
    struct pyh_glibc *g = calloc(1, sizeof(*g));
    if (!g) return pyh_error_nomem();
    g->target = t;
    g->diag = diag;
    g->complete = true;
    g->heap_max_size = PYH_DEFAULT_HEAP_MAX;
    /* Reads that fail are mostly data to warn about, so each phase also checks for an
     * interruption on its own and a pending one is returned here between phases. */
    struct pyh_error *err = pyh_glibc_find_main_arena(g, images, opts);
    if (!err && !(err = pyh_check_interrupt())) err = pyh_glibc_collect_arenas(g);
    if (!err && !(err = pyh_check_interrupt())) err = pyh_glibc_find_heaps(g, images, opts);
    if (!err && !(err = pyh_check_interrupt())) err = pyh_glibc_walk_heaps(g);
    if (!err && !(err = pyh_check_interrupt())) err = pyh_glibc_read_lists(g);
    if (!err && !(err = pyh_check_interrupt())) err = pyh_glibc_read_tcaches(g);
    if (!err && !(err = pyh_check_interrupt())) err = pyh_glibc_scan_mmapped(g, opts);
    if (!err) err = pyh_check_interrupt();
    /* The walk's free chunks served the list checks; the visitor needs only g->special. */
    free(g->frees);
    g->frees = NULL;
    g->nfrees = g->frees_cap = 0;
    pyh_u64map_free(&g->free_index);
    if (err) {
        pyh_glibc_free(g);
        return pyh_error_wrap(err, "glibc malloc");
    }
    check_arenas(g);
    for (size_t i = 0; i < g->narenas; i++)
        g->complete &= g->arenas[i].complete;
    *out = g;
    return NULL;
}
