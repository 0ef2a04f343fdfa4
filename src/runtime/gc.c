/* Counting the GC generation lists; see gc.h. */
#include "runtime/gc.h"

#include <stdarg.h>
#include <stdio.h>

#include "util/chain.h"


uint64_t pyh_gc_state(struct pyh_runtime *rt, uint64_t interp)
{
    if (rt->layout.rt_gc >= 0) return rt->runtime_addr + (uint64_t)rt->layout.rt_gc;
    return interp + (uint64_t)rt->layout.interp_gc;
}

/* 3.14.0-3.14.4's GC state (GIL builds; Include/internal/pycore_interp_structs.h of
 * v3.14.0 to v3.14.4, and the DWARF of a 3.14.4 build): after `collecting` (int), `garbage`,
 * `callbacks`, `heap_size`, `work_to_do`, then `visited_space` (int). Not a row of the layout
 * table: its 3.14 column cannot hold both 3.14.0-.4 and 3.14.5+, whose DWARF lacks it. */
#define VISITED_SPACE_AFTER_COLLECTING 40
#define FIRST_GENERATIONAL_314 0x030e05c1u /* 3.14.5rc1: three generations again */

/* The incremental collector's visited_space in the GC state at gc; -1 when unreadable. */
static int32_t visited_space(struct pyh_runtime *rt, uint64_t gc)
{
    int32_t visited = -1;
    pyh_error_free(pyh_target_read(
        rt->target, gc + (uint64_t)rt->layout.gc_collecting + VISITED_SPACE_AFTER_COLLECTING,
        &visited, 4));
    return visited;
}

uint64_t pyh_gc_list_head(struct pyh_runtime *rt, uint64_t interp, int g)
{
    uint64_t gc = pyh_gc_state(rt, interp);
    if (g == 3) return gc + (uint64_t)rt->layout.gc_permanent;
    int list = g;
    if (rt->gc_incremental && g > 0) {
        /* GEN_HEAD: generation 1 is old[visited_space], 2 the other. A value other than 0
         * or 1 is no state of the collector: read as 0 (pyh_gc_check_heads said so). */
        int32_t visited = visited_space(rt, gc);
        list = 1 + ((visited == 1) == (g == 1));
    }
    return gc + (uint64_t)rt->layout.gc_generations + 24 * (uint64_t)list; /* gc_generation: 24 B */
}

/* Follows _gc_next from head until it comes back to head. Bits 0-1 of _gc_next are flags:
 * unreachable during a collection (bit 0; bit 1 in 3.14.0-3.14.4), the old space of
 * 3.14.0-3.14.4 (bit 0); they are masked. */
static struct pyh_error *count_list(struct pyh_runtime *rt, uint64_t head, const char *name,
                                    uint64_t *count)
{
    struct pyh_chain_guard guard = pyh_chain_guard_init(MAX_GC_OBJECTS);
    uint64_t node;
    *count = 0;
    struct pyh_error *err = pyh_read_u64(rt->target, head, &node);
    while (!err) {
        node &= ~(uint64_t)3;
        if (node == head) return NULL;
        if (!pyh_chain_step(&guard, node))
            return pyh_error_create(PYH_ERR_CORRUPT, "GC list of %s %s after %llu objects", name,
                                    pyh_chain_is_cycle(&guard) ? "loops without returning to its head"
                                                               : "is too long",
                                    (unsigned long long)*count);
        ++*count;
        err = pyh_read_u64(rt->target, node, &node);
    }
    return pyh_error_wrap(err, "walking the GC list of %s after %llu objects", name,
                          (unsigned long long)*count);
}

struct pyh_error *pyh_gc_counts(struct pyh_runtime *rt, uint64_t interp,
                                struct pyh_gc_counts *counts)
{
    static const char *const names[] = {"generation 0", "generation 1", "generation 2",
                                        "the permanent generation"};
    static const char *const incremental[] = {"the young generation", "the visited old space",
                                              "the unvisited old space", "the permanent generation"};
    int32_t collecting = 0;
    if (rt->free_threaded)
        return pyh_error_create(PYH_ERR_UNSUPPORTED, "a free-threaded build keeps no GC lists");
    struct pyh_error *err = pyh_target_read(
        rt->target, pyh_gc_state(rt, interp) + (uint64_t)rt->layout.gc_collecting, &collecting, 4);
    if (err) return pyh_error_wrap(err, "reading the GC state");
    counts->collecting = collecting != 0;
    counts->incremental = rt->gc_incremental;
    for (int g = 0; g < 4; g++) {
        uint64_t *out = g < 3 ? &counts->generations[g] : &counts->permanent;
        if ((err = count_list(rt, pyh_gc_list_head(rt, interp, g),
                              rt->gc_incremental ? incremental[g] : names[g], out)))
            return err;
    }
    return NULL;
}

struct generation_search {
    uint64_t target;
    int *generation;
};

static struct pyh_error *match_head(uint64_t node, size_t interp, int generation, uint64_t *next,
                                    bool *stop, void *ctx)
{
    (void)interp, (void)next;
    struct generation_search *gs = ctx;
    if (node == gs->target) {
        *gs->generation = generation;
        *stop = true;
    }
    return NULL;
}

struct pyh_error *pyh_gc_generation_of(struct pyh_runtime *rt, uint64_t target, int *generation)
{
    *generation = -1;
    struct generation_search gs = {target, generation};
    return pyh_gc_visit(rt, false, match_head, &gs);
}

/* Whether head is the head of a consistent circular list (see pyh_gc_check_heads). The low
 * bits of the links are flags (_gc_next bit 0: unreachable during a collection, the old space
 * in 3.14.0-3.14.4; _gc_prev bits 0-1); heads themselves may be 4-byte aligned (Debian). */
static bool read_link(struct pyh_target *t, uint64_t addr, uint64_t *out)
{
    struct pyh_error *err = pyh_read_u64(t, addr, out);
    if (err) {
        pyh_error_free(err);
        return false;
    }
    *out &= ~(uint64_t)3;
    return true;
}

static bool head_checks_out(struct pyh_target *t, uint64_t head)
{
    uint64_t next, prev, back;
    if (!read_link(t, head, &next) || !read_link(t, head + 8, &prev)) return false;
    if (next == head || prev == head) return next == head && prev == head;
    return next && prev && read_link(t, next + 8, &back) && back == head &&
           read_link(t, prev, &back) && back == head;
}

static bool generations_check_out(struct pyh_runtime *rt, uint64_t gc, int32_t offset)
{
    for (int g = 0; g < 3; g++)
        if (!head_checks_out(rt->target, gc + (uint64_t)(offset + 24 * g))) return false;
    return true;
}

/* The offset near expected (expected itself first, then 4, 8, 12, 16 bytes either side) at
 * which ok(rt, gc, offset) holds, or -1. */
static int32_t find_offset(struct pyh_runtime *rt, uint64_t gc, int32_t expected,
                           bool (*ok)(struct pyh_runtime *, uint64_t, int32_t))
{
    for (int32_t d = 0; d <= 16; d += 4)
        for (int sign = 1; sign >= -1; sign -= 2) {
            int32_t off = expected + sign * d;
            if (off >= 0 && ok(rt, gc, off)) return off;
            if (d == 0) break;
        }
    return -1;
}

static bool permanent_checks_out(struct pyh_runtime *rt, uint64_t gc, int32_t offset)
{
    return head_checks_out(rt->target, gc + (uint64_t)offset);
}

static void note(struct pyh_runtime *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct pyh_runtime *rt, const char *fmt, ...)
{
    if (rt->nlayout_notes >= sizeof(rt->layout_notes) / sizeof(rt->layout_notes[0])) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rt->layout_notes[rt->nlayout_notes++], sizeof(rt->layout_notes[0]), fmt, ap);
    va_end(ap);
}

void pyh_gc_check_heads(struct pyh_runtime *rt)
{
    rt->gc_incremental = rt->minor == 14 && !rt->free_threaded && rt->version_hex &&
                         rt->version_hex < FIRST_GENERATIONAL_314;
    if (rt->ninterps == 0 || rt->layout.gc_generations < 0 || rt->free_threaded) return;
    uint64_t gc = pyh_gc_state(rt, rt->interps[0]);
    if (rt->gc_incremental) {
        int32_t visited = visited_space(rt, gc);
        if (visited != 0 && visited != 1)
            pyh_diag_partial(rt->diag,
                             "the incremental collector's visited space reads as %d, neither 0 "
                             "nor 1: generations 1 and 2 (its two old spaces) may be swapped",
                             visited);
    }
    int32_t expected = rt->layout.gc_generations;
    int32_t found = find_offset(rt, gc, expected, generations_check_out);
    if (found < 0) {
        pyh_diag_partial(rt->diag,
                         "the GC list heads at +%d/%d/%d of the GC state do not check out as "
                         "circular lists, nor anywhere within 16 bytes: an unknown layout or "
                         "corrupt memory; GC counts and generations cannot be trusted",
                         expected, expected + 24, expected + 48);
        return;
    }
    if (found != expected) {
        rt->layout.gc_generations = found;
        note(rt, "GC heads at +%d/%d/%d, not +%d/%d/%d (which did not check out): %s", found,
             found + 24, found + 48, expected, expected + 24, expected + 48,
             found == expected - 4 ? "a vendor-patched PyGC_Head (4-byte aligned, as in "
                                     "Debian's 3.13.5+)"
                                   : "a vendor-patched GC state");
    }
    if (rt->layout.gc_permanent < 0) return;
    int32_t pexpected = rt->layout.gc_permanent;
    int32_t pfound = find_offset(rt, gc, pexpected, permanent_checks_out);
    if (pfound < 0) {
        pyh_diag_partial(rt->diag,
                         "the permanent generation's GC list head at +%d of the GC state does not "
                         "check out as a circular list, nor anywhere within 16 bytes",
                         pexpected);
    } else if (pfound != pexpected) {
        rt->layout.gc_permanent = pfound;
        note(rt, "the permanent generation's GC head at +%d, not +%d (which did not check out)",
             pfound, pexpected);
    }
}
