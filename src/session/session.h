/* A session: one open target with its images and runtime, and the diagnostics gathered
 * about it. The object behind the public `struct pyh_session`. */
#ifndef PYH_SESSION_SESSION_H
#define PYH_SESSION_SESSION_H

#include "allocators/glibc.h"
#include "analysis/native.h"
#include "analysis/paths.h"
#include "allocators/mimalloc.h"
#include "allocators/pymalloc.h"
#include "heap/heap.h"
#include "image/image.h"
#include "runtime/runtime.h"
#include "target/target.h"
#include "util/diag.h"

struct pyh_session {
    struct pyh_diag diag;
    struct pyh_target *target;
    struct pyh_images *images;
    struct pyh_runtime *runtime;
    char *core_path; /* the core file, NULL for other targets */

    /* Built on first use and kept for the session's next commands (gdb runs several on one
     * stop of the inferior). */
    bool allocators_done;
    struct pyh_pymalloc *pymalloc; /* NULL when not found (a warning says why) */
    struct pyh_glibc *glibc;       /* NULL when not found */
    struct pyh_mimalloc *mimalloc; /* NULL when no segment was found (looked for without pymalloc) */
    struct pyh_heap *heap;
    bool heap_warned; /* the heap's failures are said (once, whichever listing was built) */
    struct pyh_graph *graph;
    bool reach_done, dominators_done;
    struct pyh_reach reach;
    struct pyh_dominators dominators;
    struct pyh_native_owners native; /* set with the dominators (their retained sizes hold it) */
};

/* The allocator walks, done once per session; either may come back NULL (not found: a
 * warning and partial results), an error only for interruption or lack of memory. */
struct pyh_error *pyh_session_allocators(struct pyh_session *s, struct pyh_pymalloc **pm,
                                         struct pyh_glibc **glibc);

/* The objects table listing every object, built once per session. */
struct pyh_error *pyh_session_heap(struct pyh_session *s, struct pyh_heap **heap);

/* The heap as the census needs it: the session's, or one built to list only what the census
 * reads one by one (PYH_LIST_CENSUS), which pyh_session_heap replaces when asked. */
struct pyh_error *pyh_session_heap_census(struct pyh_session *s, struct pyh_heap **heap);

/* The reference graph, built once per session, and its shortest-path tree when reach is not
 * NULL (computed once, on the first call that asks). */
struct pyh_error *pyh_session_graph(struct pyh_session *s, struct pyh_graph **graph,
                                    const struct pyh_reach **reach);

/* The dominator tree, computed once per session. */
struct pyh_error *pyh_session_dominators(struct pyh_session *s, const struct pyh_dominators **d);

#endif
