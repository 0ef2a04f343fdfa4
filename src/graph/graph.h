/* The graph layer: references between the live objects of the heap, and the roots that
 * hold them (sys.modules, the interpreter's dicts, every thread's frames, the static objects
 * of the binaries).
 *
 * Referents are read per type for the core types (tuple, list, dict in every layout, set,
 * instance dicts and inline values, __slots__, cell, function, method, classmethod,
 * staticmethod, property, module, type, frame, generator, code, deque ...); other types are
 * scanned conservatively — every word of the object that is the address of a live object —
 * and those edges are marked. Weak references are not edges: they do not keep objects alive.
 *
 * Packed: CSR arrays with 32-bit indices, no allocation per edge. Edge labels (dict key,
 * attribute name, index, local variable) are not stored: they are found again, for the few
 * edges a report prints, by reading the referrer once more (pyh_graph_edge_label). */
#ifndef PYH_GRAPH_GRAPH_H
#define PYH_GRAPH_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap/heap.h"
#include "runtime/threads.h"

/* Edge targets carry this bit when the edge comes from a conservative scan. */
#define PYH_EDGE_CONSERVATIVE 0x80000000u
#define PYH_EDGE_INDEX(t) ((t) & ~PYH_EDGE_CONSERVATIVE)

/* What holds an object at the root of the graph. */
enum pyh_root_kind {
    PYH_ROOT_MODULES,  /* sys.modules of an interpreter */
    PYH_ROOT_SYSDICT,  /* the sys module's dict */
    PYH_ROOT_BUILTINS, /* the builtins dict */
    PYH_ROOT_INTERP,   /* another reference of the interpreter state (interp->dict, ...) */
    PYH_ROOT_FRAME,    /* a thread's frame: one of its locals, or its code/function/globals */
    PYH_ROOT_STATIC,   /* an object in a binary's data (static types, singletons) */
};

/* One root reference. */
struct pyh_root {
    uint32_t target;  /* object index */
    uint8_t kind;     /* enum pyh_root_kind */
    uint32_t thread;  /* PYH_ROOT_FRAME: index into graph->threads */
    uint32_t frame;   /* PYH_ROOT_FRAME: index into graph->frames */
    uint64_t interp;  /* the interpreter (modules, sys, builtins roots) */
    char label[48];   /* PYH_ROOT_FRAME: how the frame refers (", local 'x'", ".f_globals") */
};

/* A thread's frame that holds roots: where it is, for labels. */
struct pyh_root_frame {
    uint32_t thread;
    uint32_t depth; /* 0 = innermost */
    struct pyh_frame_info info;
};

struct pyh_graph {
    struct pyh_heap *heap; /* borrowed */
    /* Reads that failed while the edges were followed (edges lost): a warning, and every
     * analysis on the graph is partial (session.c). */
    struct pyh_read_failures refs_unread;
    uint32_t n;            /* objects; node n is the virtual root */
    uint32_t *offsets;     /* n + 2: the edges of node i are targets[offsets[i] .. offsets[i+1]);
                              32-bit: the build refuses more than 2^32 - 1 edges */
    uint32_t *targets;
    uint64_t nedges, nconservative;
    struct pyh_root *roots; /* the virtual root's edges, in this order */
    size_t nroots, roots_cap;
    /* Roots come in three phases, each a run of the list: the interpreter's (sys.modules,
     * sys, builtins), the threads' frames, the static objects. Reachability explores them
     * in this order so that an object's path names a module before a frame, a frame before
     * a static object. phase_end[k] is one past the last root of phase k. */
    size_t phase_end[3];
    struct pyh_pythread *threads; /* the threads the frame roots refer to; owned */
    size_t nthreads;
    struct pyh_root_frame *frames; /* owned */
    size_t nframes, frames_cap;
};

/* Builds the graph of heap's objects: one pass reading every object's references. */
struct pyh_error *pyh_graph_build(struct pyh_heap *heap, struct pyh_graph **out);

void pyh_graph_free(struct pyh_graph *g);

/* How `from` refers to `to`, as a Python expression suffix: "['key']", ".attr", "[3]",
 * ".__dict__", ".cell_contents" ... (or "->+0x18" for a conservative edge). from == n is
 * the virtual root: then the root's own description ("sys.modules", "thread 'worker-1'
 * frame handle() at app.py:42, local 'rows'"). root_index picks the root entry when from is
 * the root. */
void pyh_graph_edge_label(const struct pyh_graph *g, uint32_t from, uint32_t to, size_t root_index,
                          char *buf, size_t cap);

/* The index of the root entry whose target is to (the first one), or SIZE_MAX. */
size_t pyh_graph_root_of(const struct pyh_graph *g, uint32_t to);

#endif
