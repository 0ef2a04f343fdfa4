/* The `fragmentation` analysis: how much memory the allocators hold that no live object
 * uses — pymalloc's arenas, pools and size classes, glibc's arenas, bins, top and mmapped
 * chunks — set against the process's resident memory, with a plain-language verdict. */
#ifndef PYH_ANALYSIS_FRAGMENTATION_H
#define PYH_ANALYSIS_FRAGMENTATION_H

#include <stdbool.h>
#include <stdint.h>

#include "allocators/glibc.h"
#include "allocators/pymalloc.h"
#include "runtime/runtime.h"

/* Where resident memory goes. */
struct pyh_memory_split {
    uint64_t pymalloc_used; /* live pymalloc blocks */
    uint64_t pymalloc_free; /* the rest of pymalloc's arenas */
    uint64_t glibc_used;    /* chunks handed out by malloc (pymalloc arenas taken out) */
    uint64_t glibc_free;    /* free chunks, tcaches and top chunks */
    uint64_t stacks;        /* thread stacks (resident part) */
    uint64_t other;         /* everything else resident: binaries' data, other mmaps */
};

struct pyh_fragmentation {
    const struct pyh_pymalloc *pymalloc; /* borrowed; NULL without pymalloc */
    struct pyh_glibc *glibc;             /* borrowed; NULL when glibc's state was not found */
    uint64_t pymalloc_pinned;      /* arenas whose live blocks fill at most 5% of them */

    /* Per glibc arena, the chunks malloc handed out that hold pymalloc arenas (when the
     * embedding application gave pymalloc malloc'd arenas), so they are not counted twice;
     * index narenas is the mmapped chunks. */
    uint64_t *glibc_pymalloc_bytes;
    uint64_t trim_releasable; /* at most what malloc_trim(0) could give back */

    bool resident_known;
    uint64_t resident;
    const char *resident_source; /* "smaps" or "core" */
    struct pyh_memory_split split;
    char verdict[1024];
};

/* The accounting over both walkers' results (either may be NULL: not found). Only an
 * interruption or running out of memory is an error. */
struct pyh_error *pyh_fragmentation_gather(struct pyh_runtime *rt, const struct pyh_pymalloc *pm,
                                           struct pyh_glibc *glibc, struct pyh_fragmentation *f);

/* The bytes the allocators hold: pymalloc's arenas, glibc's arenas (system_mem) and mmapped
 * chunks, pymalloc arenas that live inside glibc chunks counted once. */
uint64_t pyh_fragmentation_heap_total(const struct pyh_fragmentation *f);

void pyh_fragmentation_free(struct pyh_fragmentation *f);

/* Bytes glibc holds free in arena a (all free kinds and the top chunk). */
uint64_t pyh_glibc_arena_free_bytes(const struct pyh_glibc_arena *a);

#endif
