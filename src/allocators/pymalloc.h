/* pymalloc, CPython's small-object allocator: every arena (256 KiB up to 3.9, 1 MiB from
 * 3.10), every pool in it (4 KiB / 16 KiB; one size class each) and the state of every
 * block. Found without symbols: 3.12+ keep the allocator state in the interpreter; 3.8-3.11
 * keep it in static variables, found by symbol, by DWARF, or by decoding the exported
 * _Py_GetAllocatedBlocks, which reads them. */
#ifndef PYH_ALLOCATORS_PYMALLOC_H
#define PYH_ALLOCATORS_PYMALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"

#define PYH_PYMALLOC_CLASSES 32 /* 512-byte threshold / 16-byte alignment */
#define PYH_POOL_OVERHEAD 48    /* sizeof(struct pool_header), already 16-aligned */

/* One size class: what _debugmallocstats prints for it. */
struct pyh_pymalloc_class {
    uint32_t block_size;
    uint64_t pools;       /* pools in use (ref.count > 0) */
    uint64_t blocks_used; /* allocated blocks */
    uint64_t blocks_free; /* free blocks inside the pools in use ("avail blocks"): carved or not */
};

/* One allocated arena. */
struct pyh_pymalloc_arena {
    uint64_t address;      /* as mmap or malloc returned it */
    uint64_t first_pool;   /* address rounded up to the pool size */
    uint64_t pool_address; /* first pool never carved */
    uint32_t index;        /* in the arena table */
    uint32_t nfreepools, ntotalpools;
    uint32_t pools_used;   /* pools with live blocks */
    uint64_t blocks_used;
    uint64_t bytes_used;   /* blocks_used * block size, summed */
    uint8_t interp;        /* whose allocator it is: a position in rt->interps */
};

/* Consecutive carved pools [start, end), pool_size bytes each, whose headers were read whole
 * (with the pools' every byte) and check out, none starting like an mmapped glibc chunk (a
 * first word 0 and a second with IS_MMAPPED alone in its low bits): glibc's scan for
 * mmapped chunks would hop through them pool by pool and find nothing, so it jumps over
 * them (pyh_glibc_options.pool_runs). */
struct pyh_pymalloc_pool_run {
    uint64_t start, end;
};

struct pyh_pymalloc {
    uint64_t arena_size, pool_size;
    uint64_t table;     /* the arena_object array */
    uint32_t maxarenas; /* its length */
    const char *found_by; /* "interpreter state", "symbols", "debug info", "disassembly" */
    /* With subinterpreters that have allocators of their own (3.12+), their arenas are in
     * arenas too (each arena says whose) and their counters summed in; table and maxarenas
     * are the main one's. shared: some other interpreter allocates from the main one's
     * arenas (3.8-3.11 always; a subinterpreter not made isolated), so that an arena's
     * interpreter is not its objects'. */
    bool shared;

    /* Counters the allocator keeps, when they could be located (3.12+ always; before, with
     * symbols or debug info). */
    bool have_counters;
    uint64_t ntimes_arena_allocated, narenas_highwater, narenas_currently_allocated;
    bool have_raw_blocks;
    uint64_t raw_allocated_blocks; /* raw fallbacks counted by sys.getallocatedblocks() */

    struct pyh_pymalloc_arena *arenas; /* allocated arenas, in table order */
    size_t narenas, arenas_cap;
    struct pyh_pymalloc_class classes[PYH_PYMALLOC_CLASSES];

    uint64_t pools_used;        /* pools with live blocks */
    uint64_t pools_empty;       /* carved pools now empty (in an arena's free list) */
    uint64_t pools_never_used;  /* pools past pool_address in allocated arenas */
    uint64_t blocks_used, bytes_used;
    uint64_t bytes_free_in_used_pools; /* free blocks of pools in use, by block size */
    uint64_t bytes_pool_overhead;      /* pool headers of pools in use */
    uint64_t bytes_in_empty_pools;     /* empty and never-used pools of allocated arenas */
    uint64_t bytes_alignment_lost;     /* unaligned arenas lose their first partial pool */
    uint64_t bad_pools;                /* pools whose header failed its checks (skipped) */

    struct pyh_pymalloc_pool_run *pool_runs; /* sorted by start */
    size_t npool_runs, pool_runs_cap;
};

/* Finds and walks the allocator of the main interpreter, and (3.12+) those of the
 * subinterpreters that have their own. *out is NULL when this Python
 * runs without pymalloc (PYTHONMALLOC=malloc); the reason is then a warning. */
struct pyh_error *pyh_pymalloc_open(struct pyh_runtime *rt, struct pyh_pymalloc **out);

void pyh_pymalloc_free(struct pyh_pymalloc *pm);

/* Whether interpreter k (its position in rt->interps) has a pymalloc of its own with arenas:
 * the main one, and (3.12+) an isolated subinterpreter; false when it shares the main one's
 * or cannot be read. */
bool pyh_pymalloc_own_allocator(struct pyh_runtime *rt, size_t k);

/* One pool in use as pyh_pymalloc_visit gives it: its carved blocks, nblocks of block_size
 * bytes from address `first`, their bytes at `bytes` (block i at i * block_size; valid only
 * during the call), and which of them are free (pyh_pymalloc_pool_block_free). A pool at a
 * time, not a block: the visitor's loop over the blocks is its own, with its work inline
 * (a call per block was a tenth of a census's instructions). */
struct pyh_pymalloc_pool {
    uint64_t first;
    uint32_t block_size, nblocks;
    const uint8_t *bytes;
    const uint64_t *free_bits; /* bit i set: block i is on a free list */
};

static inline bool pyh_pymalloc_pool_block_free(const struct pyh_pymalloc_pool *p, uint32_t i)
{
    return (p->free_bits[i / 64] >> (i % 64)) & 1;
}

/* Called for every pool in use, in address order. Return false to stop. */
typedef bool (*pyh_pool_visitor)(void *ctx, const struct pyh_pymalloc_pool *pool);

/* Visits every pool in use, arena by arena in address order (a target view or one target
 * read per arena). */
struct pyh_error *pyh_pymalloc_visit(struct pyh_runtime *rt, const struct pyh_pymalloc *pm,
                                     pyh_pool_visitor visit, void *ctx);

/* Resident bytes of pymalloc's arenas (*arenas) and of the live blocks in them (*used), by
 * r (by_page). An arena wholly resident is answered from its counts; in the others, pools
 * wholly resident from their headers and the rest block by block from their free lists
 * (a read of each such pool). Only an interruption or running out of memory is an error. */
struct pyh_error *pyh_pymalloc_resident(struct pyh_runtime *rt, const struct pyh_pymalloc *pm,
                                        const struct pyh_residency *r, uint64_t *used,
                                        uint64_t *arenas);

/* Block size of size class i. */
static inline uint32_t pyh_pymalloc_block_size(unsigned i) { return 16 * (i + 1); }

#endif
