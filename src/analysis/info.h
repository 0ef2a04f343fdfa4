/* The `info` analysis: what the target is (Python version, binaries, debug info), its
 * threads and top frames, sys.modules, the GC generations and mapped memory by kind. */
#ifndef PYH_ANALYSIS_INFO_H
#define PYH_ANALYSIS_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/memory_map.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"
#include "runtime/threads.h"

/* One binary of interest (the executable, libpython). */
struct pyh_info_binary {
    const char *role;           /* "executable", "libpython" */
    const struct pyh_module *module;
};

/* One interpreter of the process (main first). */
struct pyh_info_interp {
    uint64_t address; /* its PyInterpreterState */
    int64_t id;       /* interp->id (0 the main one); -1 when unreadable */
    bool own_allocator; /* a pymalloc of its own (isolated subinterpreters, 3.12+) */
    struct pyh_gc_counts gc; /* its own GC lists (3.9+; 3.8 has one GC state) */
    bool gc_known;
};

struct pyh_info {
    struct pyh_info_binary binaries[2];
    size_t nbinaries;
    uint64_t modules;       /* len(sys.modules) of the main interpreter; */
    bool modules_known;     /* false when sys.modules could not be read */
    struct pyh_pythread *threads; /* owned */
    size_t nthreads;
    struct pyh_gc_counts gc;
    bool gc_known;
    struct pyh_info_interp *interps; /* owned; rt->ninterps of them */
    size_t ninterps;
    struct pyh_memory_map memory;
    /* A free-threaded build's allocator: the mimalloc version of its segments (NULL when none
     * was found), how many. */
    const char *mimalloc_version;
    size_t mimalloc_segments;
};

/* Gathers the info of an open runtime. Parts that cannot be read become warnings (diag) and
 * are marked unknown; only a failure to read anything is an error. */
struct pyh_error *pyh_info_gather(struct pyh_runtime *rt, struct pyh_info *info);

void pyh_info_free(struct pyh_info *info);

#endif
