/* Building the reference graph and its roots; see graph.h. */
#include "graph/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/referents.h"
#include "heap/preview.h"
#include "runtime/threads.h"
#include "util/progress.h"
#include "util/hashmap.h"
#include "util/interrupt.h"
#include "util/mem.h"

/* The objects of each 4 KiB page: an open-addressing table from page number to the run of
 * the address-sorted objects array that starts in it. Finding an edge's target was a binary
 * search of the whole array (24 steps and as many cache misses at 10 million objects, a
 * third of the graph build); now it is one hash probe and a search of the few objects of one
 * page. Costs 16 bytes per page with objects, twice over for the load factor, during the
 * build only. */
#define PAGE_SHIFT 12

/* Not a pyh_u64map: a page's key and its run of objects share one 16-byte slot (one cache
 * miss per edge, not two), and the table is sized once from the count of pages. */
struct page_slot {
    uint64_t page; /* page number + 1; 0: empty */
    uint32_t first, count;
};

struct page_index {
    struct page_slot *slots;
    size_t mask;
};

static struct pyh_error *page_index_build(const struct pyh_heap *heap, struct page_index *ix)
{
    size_t pages = 0;
    for (size_t i = 0; i < heap->nobjects; i++)
        if (i == 0 || heap->objects[i].addr >> PAGE_SHIFT != heap->objects[i - 1].addr >> PAGE_SHIFT) pages++;
    size_t cap = 16;
    while (cap < 2 * pages) cap *= 2;
    ix->slots = calloc(cap, sizeof(*ix->slots));
    if (!ix->slots) return pyh_error_nomem();
    ix->mask = cap - 1;
    for (size_t i = 0; i < heap->nobjects;) {
        uint64_t page = heap->objects[i].addr >> PAGE_SHIFT;
        size_t j = i + 1;
        while (j < heap->nobjects && heap->objects[j].addr >> PAGE_SHIFT == page) j++;
        size_t h = pyh_hash_u64(page + 1) & ix->mask;
        while (ix->slots[h].page) h = (h + 1) & ix->mask;
        ix->slots[h] = (struct page_slot){page + 1, (uint32_t)i, (uint32_t)(j - i)};
        i = j;
    }
    return NULL;
}

/* pyh_heap_object_at through the index: the same answer. */
static size_t page_index_find(const struct page_index *ix, const struct pyh_heap *heap, uint64_t addr)
{
    uint64_t key = (addr >> PAGE_SHIFT) + 1;
    for (size_t h = pyh_hash_u64(key) & ix->mask;; h = (h + 1) & ix->mask) {
        const struct page_slot *sl = &ix->slots[h];
        if (!sl->page) return SIZE_MAX;
        if (sl->page != key) continue;
        return pyh_heap_object_in(heap, sl->first, (size_t)sl->first + sl->count, addr);
    }
}

struct build {
    struct pyh_graph *g;
    struct page_index index;
    size_t targets_cap;
    struct pyh_error *err;
};

/* Appends one edge target. The offsets are 32-bit: past 2^32 - 1 edges (16 GiB of targets,
 * from a heap far larger) the build stops with an error rather than wrap. */
static struct pyh_error *push_edge(struct build *b, uint32_t t)
{
    struct pyh_graph *g = b->g;
    if (g->nedges >= UINT32_MAX)
        return pyh_error_create(PYH_ERR_UNSUPPORTED,
                                "more than %u references: the graph holds at most 2^32 - 1",
                                UINT32_MAX);
    if (g->nedges == b->targets_cap) {
        struct pyh_error *err = PYH_GROW(g->targets, b->targets_cap, g->nedges + 1);
        if (err) return err;
    }
    g->targets[g->nedges++] = t;
    return NULL;
}

static bool collect(void *ctx, uint64_t target, const struct pyh_ref *ref)
{
    struct build *b = ctx;
    size_t j = page_index_find(&b->index, b->g->heap, target);
    if (j == SIZE_MAX) return true; /* not an object: freed, or not a pointer at all */
    uint32_t t = (uint32_t)j;
    if (ref->kind == PYH_REF_OFFSET) {
        t |= PYH_EDGE_CONSERVATIVE;
        b->g->nconservative++;
    }
    b->err = push_edge(b, t);
    return !b->err;
}

/* A root edge to the object at addr (skipped when it is not an object). */
static struct pyh_error *add_root(struct build *b, uint64_t addr, const struct pyh_root *proto)
{
    size_t j = page_index_find(&b->index, b->g->heap, addr);
    if (j == SIZE_MAX) return NULL;
    struct pyh_root r = *proto;
    r.target = (uint32_t)j;
    struct pyh_error *err = PYH_APPEND(b->g->roots, b->g->nroots, b->g->roots_cap, &r);
    if (!err) err = push_edge(b, r.target);
    return err;
}

struct frame_roots {
    struct build *b;
    struct pyh_root proto;
};

static bool frame_root(void *ctx, uint64_t target, const struct pyh_ref *ref)
{
    struct frame_roots *fr = ctx;
    struct pyh_root r = fr->proto;
    pyh_ref_format(fr->b->g->heap, ref, r.label, sizeof(r.label));
    fr->b->err = add_root(fr->b, target, &r);
    return !fr->b->err;
}

struct frames_walk {
    struct build *b;
    uint32_t thread, depth;
};

/* Each Python frame of a thread: 3.8-3.10 frame objects are heap objects (one root edge
 * each); 3.11+ interpreter frames are not objects: their references are the roots. */
static bool visit_frame(void *ctx, const struct pyh_frame_info *f)
{
    struct frames_walk *fw = ctx;
    struct build *b = fw->b;
    struct pyh_graph *g = b->g;
    struct pyh_root_frame rf = {fw->thread, fw->depth++, *f};
    if ((b->err = PYH_APPEND(g->frames, g->nframes, g->frames_cap, &rf))) return false;
    struct pyh_root proto = {.kind = PYH_ROOT_FRAME, .thread = fw->thread,
                             .frame = (uint32_t)(g->nframes - 1)};
    if (g->heap->rt->layout.tstate_frame >= 0) {
        b->err = add_root(b, f->frame, &proto);
    } else {
        struct frame_roots fr = {b, proto};
        pyh_iframe_referents(g->heap, f->frame, frame_root, &fr);
    }
    return !b->err;
}

static struct pyh_error *add_roots(struct build *b)
{
    struct pyh_graph *g = b->g;
    struct pyh_runtime *rt = g->heap->rt;
    const struct pyh_layout *L = &rt->layout;
    struct pyh_error *err = NULL;
    for (size_t k = 0; k < rt->ninterps && !err; k++) {
        static const struct {
            enum pyh_root_kind kind;
            size_t field;
        } fields[] = {{PYH_ROOT_MODULES, offsetof(struct pyh_layout, interp_modules)},
                      {PYH_ROOT_SYSDICT, offsetof(struct pyh_layout, interp_sysdict)},
                      {PYH_ROOT_BUILTINS, offsetof(struct pyh_layout, interp_builtins)},
                      {PYH_ROOT_INTERP, offsetof(struct pyh_layout, interp_dict)}};
        for (size_t f = 0; f < 4 && !err; f++) {
            int32_t off = *(const int32_t *)((const char *)L + fields[f].field);
            uint64_t obj;
            if (off < 0) continue;
            struct pyh_error *e = pyh_read_u64(rt->target, rt->interps[k] + (uint64_t)off, &obj);
            if (e) {
                pyh_error_free(e);
                continue;
            }
            struct pyh_root proto = {.kind = (uint8_t)fields[f].kind, .interp = rt->interps[k]};
            err = add_root(b, obj, &proto);
        }
    }
    if (err) return err;
    g->phase_end[0] = g->nroots;
    if ((err = pyh_threads_read(rt, &g->threads, &g->nthreads))) return err;
    for (size_t t = 0; t < g->nthreads && !err; t++) {
        struct frames_walk fw = {b, (uint32_t)t, 0};
        err = pyh_frames_walk(rt, g->threads[t].tstate, visit_frame, &fw);
        if (!err) err = b->err;
        if (err && err->code != PYH_ERR_INTERRUPTED && err->code != PYH_ERR_NOMEM) {
            pyh_diag_partial(rt->diag, "the frames of thread %llu are partly unreadable: %s",
                             (unsigned long long)g->threads[t].thread_id, pyh_error_message(err));
            pyh_error_free(err);
            err = b->err = NULL;
        }
    }
    g->phase_end[1] = g->nroots;
    for (size_t i = 0; i < g->n && !err; i++) {
        if (g->heap->locations[i] != PYH_LOC_STATIC) continue;
        struct pyh_root proto = {.kind = PYH_ROOT_STATIC};
        err = add_root(b, g->heap->objects[i].addr, &proto);
    }
    g->phase_end[2] = g->nroots;
    return err;
}

struct pyh_error *pyh_graph_build(struct pyh_heap *heap, struct pyh_graph **out)
{
    *out = NULL;
    if (heap->nobjects >= PYH_EDGE_CONSERVATIVE)
        return pyh_error_create(PYH_ERR_UNSUPPORTED, "%zu objects: the graph holds at most 2^31",
                                heap->nobjects);
    struct pyh_graph *g = calloc(1, sizeof(*g));
    if (!g) return pyh_error_nomem();
    g->heap = heap;
    g->n = (uint32_t)heap->nobjects;
    g->offsets = malloc(((size_t)g->n + 2) * sizeof(*g->offsets));
    struct build b = {.g = g};
    struct pyh_error *err = g->offsets ? page_index_build(heap, &b.index) : pyh_error_nomem();
    if (!err) err = pyh_referents_count_native(heap);
    memset(&heap->refs_unread, 0, sizeof(heap->refs_unread));
    for (uint32_t i = 0; i < g->n && !err; i++) {
        if ((i & 0xfff) == 0) pyh_progress("following references", PYH_PROGRESS_OBJECTS, i, g->n);
        g->offsets[i] = (uint32_t)g->nedges;
        err = pyh_referents(heap, heap->objects[i].addr, heap->objects[i].type, collect, &b);
        if (!err) err = b.err;
    }
    pyh_progress_end();
    g->refs_unread = heap->refs_unread;
    if (!err) {
        g->offsets[g->n] = (uint32_t)g->nedges;
        err = add_roots(&b);
        g->offsets[g->n + 1] = (uint32_t)g->nedges;
    }
    free(b.index.slots);
    if (err) {
        pyh_graph_free(g);
        return err;
    }
    /* Give back the doubling's slack (address space: it was never touched). */
    uint32_t *fit = g->nedges ? realloc(g->targets, g->nedges * sizeof(*g->targets)) : NULL;
    if (fit) g->targets = fit;
    *out = g;
    return NULL;
}

void pyh_graph_free(struct pyh_graph *g)
{
    if (!g) return;
    free(g->offsets);
    free(g->targets);
    free(g->roots);
    free(g->threads);
    free(g->frames);
    free(g);
}

size_t pyh_graph_root_of(const struct pyh_graph *g, uint32_t to)
{
    for (size_t i = 0; i < g->nroots; i++)
        if (g->roots[i].target == to) return i;
    return SIZE_MAX;
}

struct find_label {
    struct pyh_heap *heap;
    uint64_t target;
    char *buf;
    size_t cap;
    bool found;
};

static bool match(void *ctx, uint64_t target, const struct pyh_ref *ref)
{
    struct find_label *fl = ctx;
    if (target != fl->target) return true;
    pyh_ref_format(fl->heap, ref, fl->buf, fl->cap);
    fl->found = true;
    return false;
}

static void root_label(const struct pyh_graph *g, const struct pyh_root *r, char *buf, size_t cap)
{
    switch (r->kind) {
    case PYH_ROOT_MODULES: snprintf(buf, cap, "sys.modules"); break;
    case PYH_ROOT_SYSDICT: snprintf(buf, cap, "sys.__dict__"); break;
    case PYH_ROOT_BUILTINS: snprintf(buf, cap, "builtins.__dict__"); break;
    case PYH_ROOT_INTERP: snprintf(buf, cap, "<interpreter dict>"); break;
    case PYH_ROOT_STATIC: {
        char preview[200];
        pyh_preview(g->heap, g->heap->objects[r->target].addr, 0, preview, sizeof(preview));
        snprintf(buf, cap, "%s", preview);
        break;
    }
    case PYH_ROOT_FRAME: {
        const struct pyh_root_frame *f = &g->frames[r->frame];
        const struct pyh_pythread *th = &g->threads[f->thread];
        char who[300];
        if (th->has_name) snprintf(who, sizeof(who), "thread '%s'", th->name);
        else snprintf(who, sizeof(who), "thread %llu", (unsigned long long)th->thread_id);
        snprintf(buf, cap, "%s frame %s() at %s:%d%s", who, f->info.function, f->info.file,
                 f->info.line, r->label);
        break;
    }
    }
}

void pyh_graph_edge_label(const struct pyh_graph *g, uint32_t from, uint32_t to, size_t root_index,
                          char *buf, size_t cap)
{
    buf[0] = '\0';
    if (from == g->n) {
        if (root_index == SIZE_MAX) root_index = pyh_graph_root_of(g, to);
        if (root_index < g->nroots) root_label(g, &g->roots[root_index], buf, cap);
        return;
    }
    const struct pyh_object *o = &g->heap->objects[from];
    struct find_label fl = {g->heap, g->heap->objects[to].addr, buf, cap, false};
    struct pyh_error *err = pyh_referents(g->heap, o->addr, o->type, match, &fl);
    pyh_error_free(err);
    if (!fl.found) snprintf(buf, cap, "->?");
}
