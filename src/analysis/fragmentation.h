/* The `fragmentation` analysis: how much memory the allocators hold that no live object
 * uses — pymalloc's arenas, pools and size classes, glibc's arenas, bins, top and mmapped
 * chunks — set against the process's resident memory, with a plain-language verdict. */
#ifndef PYH_ANALYSIS_FRAGMENTATION_H
#define PYH_ANALYSIS_FRAGMENTATION_H

#include <stdbool.h>
#include <stdint.h>

#include "allocators/glibc.h"
#include "allocators/mimalloc.h"
#include "allocators/pymalloc.h"
#include "runtime/runtime.h"

/* Where the process's memory goes, part by part. Two of these: what each part occupies
 * (mapped: the bytes its allocator or its mappings hold) and how much of that was resident,
 * from the target's residency (pyh_target_residency) — so that the resident parts add up to
 * the resident total exactly, whatever was swapped out, given back or never touched. */
struct pyh_memory_split {
    uint64_t pymalloc_used; /* live pymalloc blocks */
    uint64_t pymalloc_free; /* the rest of pymalloc's arenas (pool headers, free blocks and pools) */
    uint64_t glibc_used;    /* chunks handed out by malloc and malloc's own (pymalloc arenas
                               inside them taken out), with the arenas' headers */
    uint64_t glibc_free;    /* free chunks, tcaches and top chunks */
    uint64_t stacks;        /* thread stacks */
    uint64_t other;         /* everything else: binaries, their data, other mappings */
};

struct pyh_fragmentation {
    const struct pyh_pymalloc *pymalloc; /* borrowed; NULL without pymalloc */
    struct pyh_glibc *glibc;             /* borrowed; NULL when glibc's state was not found */
    const struct pyh_mimalloc *mimalloc; /* borrowed; NULL without mimalloc (its pages are in
                                            the heap's total and the verdict; its segments not
                                            yet in the resident split) */
    uint64_t pymalloc_pinned;      /* arenas whose live blocks fill at most 5% of them */

    /* Per glibc arena, the chunks malloc handed out that hold pymalloc arenas (when the
     * embedding application gave pymalloc malloc'd arenas), so they are not counted twice;
     * index narenas is the mmapped chunks. */
    uint64_t *glibc_pymalloc_bytes;
    uint64_t trim_releasable; /* at most what malloc_trim(0) could give back */

    bool resident_known;
    uint64_t resident;            /* resident bytes: the sum of split */
    const char *resident_source;  /* "pagemap", "core" or "smaps" (struct pyh_residency) */
    const char *resident_how;     /* the evidence in words (struct pyh_residency); static */
    bool resident_exact;          /* split from page-level evidence; false: a host that gave only
                                     smaps, where each allocator part is taken as resident
                                     whole and `other` is what is left */
    uint64_t mapped;              /* bytes of every mapping: the sum of `mapped` */
    struct pyh_memory_split split;  /* resident bytes by part */
    struct pyh_memory_split mapped_split; /* bytes by part, resident or not */
    char verdict[1024];
};

/* The accounting over the walkers' results (any may be NULL: not found). With resident,
 * also what is resident (resident_known, split): on a core without holes that reads every
 * anonymous page once more, so a caller that shows only the mapped figures (the census's
 * heap total) leaves it out. Only an interruption or running out of memory is an error. */
struct pyh_error *pyh_fragmentation_gather(struct pyh_runtime *rt, const struct pyh_pymalloc *pm,
                                           const struct pyh_mimalloc *mi, struct pyh_glibc *glibc,
                                           bool resident,
                                           struct pyh_fragmentation *f);

/* The bytes the allocators hold: pymalloc's arenas, glibc's arenas (system_mem) and mmapped
 * chunks, pymalloc arenas that live inside glibc chunks counted once. */
uint64_t pyh_fragmentation_heap_total(const struct pyh_fragmentation *f);

void pyh_fragmentation_free(struct pyh_fragmentation *f);

/* Bytes glibc holds free in arena a (all free kinds and the top chunk). */
uint64_t pyh_glibc_arena_free_bytes(const struct pyh_glibc_arena *a);

#endif
