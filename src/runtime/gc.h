/* The GC generation lists: how many objects each holds, walked through _gc_next with a cap
 * and cycle detection. (The objects themselves are enumerated by the heap layer.) */
#ifndef PYH_RUNTIME_GC_H
#define PYH_RUNTIME_GC_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/refcount.h"
#include "runtime/runtime.h"
#include "util/chain.h"
#include "util/diag.h"
#include "util/interrupt.h"

/* A free-threaded build keeps no object on a list: the collector finds them by walking the
 * mimalloc heaps (the heap layer does too), and an object's GC state is its header's
 * ob_gc_bits byte (PYH_GC_BITS_*, runtime/refcount.h). pyh_gc_visit visits nothing there. */

/* No process has more GC objects than 16-byte heads fit in 2^48 bytes of address space. */
#define MAX_GC_OBJECTS (1ULL << 44)

/* 3.14.0 to 3.14.4 collect incrementally: the GC state's three lists are `young` and
 * `old[2]`, two spaces of the old generation that a full scan visits in turns
 * (`visited_space` says which space has been visited in the current scan); 3.14.5 went back
 * to three generations. The lists are at the generations' offsets, and the collector's own
 * GEN_HEAD (and gc.get_count(), gc.get_threshold()) calls them generation 0 (young), 1 (the
 * visited old space) and 2 (the other): so does py-heap. gc.get_objects(1) is then always
 * empty and gc.get_objects(2) both old spaces. */
struct pyh_gc_counts {
    uint64_t generations[3]; /* objects in the list of generation g (GEN_HEAD's; before
                                3.14: len(gc.get_objects(g))) */
    uint64_t permanent;      /* the permanent generation (gc.freeze()) */
    bool collecting;         /* a collection was running: lists may be in flux */
    bool incremental;        /* 3.14.0-3.14.4: young, old visited, old unvisited */
};

/* Address of the GC state of interp (3.8: in _PyRuntime, shared). */
uint64_t pyh_gc_state(struct pyh_runtime *rt, uint64_t interp);

/* Address of the list head of generation g (0-2), or 3 for the permanent generation (3.14.0-
 * 3.14.4: 0 young, 1 the visited old space, 2 the other, as the collector's GEN_HEAD). */
uint64_t pyh_gc_list_head(struct pyh_runtime *rt, uint64_t interp, int g);

/* Checks the layout's GC list heads against the target (after the interpreters are read):
 * each must be a consistent circular list (an empty head points to itself both ways; the
 * first node's _gc_prev and the last node's _gc_next point back at the head). Where the
 * generations' heads do not check out at the expected offset, offsets within 16 bytes are
 * tried (Debian's 3.13.5+ align PyGC_Head to 4 bytes: heads at +20/44/68, not +24/48/72);
 * one where all three check out replaces the table's, and rt->layout_notes says so. When
 * none does, the results are marked partial with what was tried (never a silent zero).
 * The permanent generation's head likewise. */
void pyh_gc_check_heads(struct pyh_runtime *rt);

/* Counts the objects of every generation of interp. A broken list (cycle not through the
 * head, unreadable node) is an error naming the generation and the node. */
struct pyh_error *pyh_gc_counts(struct pyh_runtime *rt, uint64_t interp,
                                struct pyh_gc_counts *counts);

/* Called by pyh_gc_visit for each tracked object's GC head (node) in list order, with its
 * interpreter (a position in rt->interps; 0 for all in 3.8, whose GC state is shared): fn
 * may set *next to the head's _gc_next when it already knows it (a read of the target
 * saved); *stop ends the visit without an error. */
typedef struct pyh_error *(*pyh_gc_visit_fn)(uint64_t node, size_t interp, int generation,
                                             uint64_t *next, bool *stop, void *ctx);

/* Visits every GC head of every list (generations 0-2, 3 the permanent one) of every
 * interpreter (3.8: the one shared GC state), with a cap and cycle detection per list, checking
 * for an interrupt every 65536 heads. A list that cannot be read to its end: with keep_going,
 * the results are marked partial and the next list is visited; else its error is returned (an
 * interrupted read is returned either way).
 * Inline, so that the compiler can inline fn too: the census's check of every GC object
 * calls it once per object (a call through a pointer added 2% to a whole `types`). */
static inline struct pyh_error *pyh_gc_visit(struct pyh_runtime *rt, bool keep_going,
                                             pyh_gc_visit_fn fn, void *ctx)
{
    size_t ninterps = rt->layout.rt_gc >= 0 ? 1 : rt->ninterps; /* 3.8: one shared state */
    if (rt->free_threaded) return NULL; /* no lists (above) */
    uint64_t visited = 0;
    bool stop = false;
    for (size_t k = 0; k < ninterps && !stop; k++) {
        for (int g = 0; g < 4 && !stop; g++) {
            uint64_t head = pyh_gc_list_head(rt, rt->interps[k], g), node;
            struct pyh_chain_guard guard = pyh_chain_guard_init(MAX_GC_OBJECTS);
            struct pyh_error *err = pyh_read_u64(rt->target, head, &node);
            while (!err && !stop) {
                node &= ~(uint64_t)3; /* flags: unreachable, 3.14.0-3.14.4's old space */
                if (node == head || !pyh_chain_step(&guard, node)) break;
                if ((++visited & 0xffff) == 0 && pyh_interrupted())
                    return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
                uint64_t next = 0;
                if ((err = fn(node, k, g, &next, &stop, ctx))) return err;
                if (next) node = next;
                else err = pyh_read_u64(rt->target, node, &node);
            }
            if (err && (!keep_going || pyh_error_is(err, PYH_ERR_INTERRUPTED))) return err;
            if (err) {
                pyh_diag_partial(rt->diag, "GC list %d is unreadable: %s", g, pyh_error_message(err));
                pyh_error_free(err);
            }
        }
    }
    return NULL;
}

/* The generation (0-2, 3 for permanent) whose list holds the GC head at head, or -1 when
 * none does (untracked). Walks the lists: O(tracked objects). */
struct pyh_error *pyh_gc_generation_of(struct pyh_runtime *rt, uint64_t head, int *generation);

#endif
