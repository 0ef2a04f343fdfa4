/* The glibc malloc walker: every chunk that glibc's allocator (ptmalloc2, glibc 2.28 and later,
 * x86-64) manages in the target, and the state of each — in use, free in a thread's tcache, in
 * a fastbin, in the unsorted/small/large bins, the top chunk, or a chunk of its own mmap.
 *
 * How it finds things (details in glibc_find.c, glibc_walk.c, glibc_mmap.c):
 *   main_arena  libc's .symtab (a debug file found by build-id), else the `lea main_arena(%rip)`
 *               in the exported malloc_stats/mallinfo2/mallinfo/malloc_trim read from libc on
 *               disk, else a scan of libc's writable data for a struct malloc_state whose `next`
 *               ring returns to it, whose empty bins point to themselves and whose top chunk
 *               lies in a writable mapping. Every candidate, from a symbol too, is validated.
 *   mp_         the symbol, else a scan of libc's writable data for a struct malloc_par whose
 *               sbrk_base is the start of the main heap and whose statistics are consistent.
 *   arenas      the `next` ring from main_arena; thread arenas' heaps from the heap_info at the
 *               HEAP_MAX_SIZE-aligned base of their top chunk, chained by `prev`.
 *   tcaches     the in-use tcache_perthread_struct chunks (0x290 bytes, 0x250 before 2.30)
 *               whose every list is a valid chain of the right length; see glibc_walk.c.
 *   mmapped     a scan of the anonymous mappings that are not arena heaps for chunk headers at
 *               page starts with only the IS_MMAPPED bit, skipping pymalloc pools; checked
 *               against mp_.n_mmaps and mp_.mmapped_mem when mp_ is known.
 *
 * Target data is untrusted: bad sizes, cycles in free lists and pointers out of the heaps give
 * warnings naming the address (and mark the session's results partial when chunks are lost),
 * never a crash or an endless walk. */
#ifndef PYH_ALLOCATORS_GLIBC_H
#define PYH_ALLOCATORS_GLIBC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocators/pymalloc.h"
#include "image/image.h"
#include "target/target.h"
#include "util/diag.h"
#include "util/error.h"
#include "util/hashmap.h"

/* ---- The face ------------------------------------------------------------------------ */

/* The state of a chunk.
 *
 * "In use" (PYH_GLIBC_INUSE) means: handed out by malloc and not freed. Inside an arena heap a
 * chunk is in use when it is not the top chunk, the next chunk's PREV_INUSE bit is set, and it
 * is in no tcache or fastbin list (tcache and fastbin chunks keep PREV_INUSE set in their
 * successor, so the boundary tag alone cannot tell them apart) and is not one of malloc's own
 * chunks (PYH_GLIBC_INTERNAL). Mmapped chunks are always in use: free() unmaps them. */
enum pyh_glibc_kind {
    PYH_GLIBC_INUSE,     /* allocated by the program */
    PYH_GLIBC_MMAPPED,   /* allocated by the program, in a mapping of its own (IS_MMAPPED) */
    PYH_GLIBC_INTERNAL,  /* in use by malloc itself: a tcache_perthread_struct, a fencepost */
    PYH_GLIBC_TCACHE,    /* free, in a thread's tcache */
    PYH_GLIBC_FASTBIN,   /* free, in a fastbin */
    PYH_GLIBC_UNSORTED,  /* free, in the unsorted bin */
    PYH_GLIBC_SMALLBIN,  /* free, in a small bin (sizes below 1024) */
    PYH_GLIBC_LARGEBIN,  /* free, in a large bin */
    PYH_GLIBC_TOP,       /* the top chunk of an arena (free, at the end of its newest heap) */
    PYH_GLIBC_FREE_LOST, /* free by its boundary tag (successor's PREV_INUSE clear) but in no
                            bin: a core taken in the middle of free(), or corruption */
    PYH_GLIBC_NKINDS
};

/* A short name of a kind ("in use", "tcache", ...); static. */
const char *pyh_glibc_kind_name(enum pyh_glibc_kind kind);

/* How an address was found. */
enum pyh_glibc_how {
    PYH_GLIBC_HOW_NONE,   /* not found */
    PYH_GLIBC_HOW_SYMBOL, /* from a symbol (libc's .symtab, e.g. from libc6-dbg) */
    PYH_GLIBC_HOW_CODE,   /* heuristic: decoded from a RIP-relative lea in libc's code */
    PYH_GLIBC_HOW_SCAN,   /* heuristic: a validated scan of libc's writable data */
    PYH_GLIBC_HOW_GIVEN,  /* given by the caller (options) */
};

/* "symbol", "heuristic (code)", "heuristic (scan)", "given", "not found"; static. */
const char *pyh_glibc_how_name(enum pyh_glibc_how how);

/* Number and bytes of chunks. */
struct pyh_glibc_count {
    uint64_t count, bytes;
};

/* One arena (struct malloc_state) and what its heaps hold. */
struct pyh_glibc_arena {
    uint64_t address;    /* the malloc_state in the target */
    bool is_main;        /* main_arena (the brk heap) */
    uint32_t first_heap; /* its heaps: g->heaps[first_heap .. first_heap + nheaps) */
    uint32_t nheaps;
    uint64_t system_mem; /* bytes malloc got from the system for it (system_mem) */
    uint64_t max_system_mem;
    uint64_t top, top_size; /* the top chunk */
    uint64_t attached_threads;
    bool noncontiguous; /* main arena: brk failed and mmap stood in (only the part from
                           sbrk_base up to the first fencepost, and the top, are walked) */
    /* Chunks by kind (PYH_GLIBC_MMAPPED stays 0: mmapped chunks belong to no arena). Free-list
     * kinds count the chunks of this arena's own lists; tcache chunks are counted in the arena
     * whose heap holds them (a thread frees chunks of any arena into its own tcache). */
    struct pyh_glibc_count kinds[PYH_GLIBC_NKINDS];
    /* Chunks found in this arena's own free lists (fastbins, unsorted, small and large
     * bins), by kind; the heap walk must find the same numbers (checked, with a warning). */
    uint64_t listed[PYH_GLIBC_NKINDS];
    uint64_t overhead; /* heap_info and malloc_state bytes before the first chunks */
    bool complete;     /* every heap was walked to its end without error */
};

/* One heap: a contiguous run of chunks of one arena. The main arena has one (the brk heap);
 * a thread arena has one per heap_info, newest first (the one holding the top chunk). */
struct pyh_glibc_heap {
    uint64_t info;       /* the heap_info, 0 for the main arena's brk heap */
    uint64_t start, end; /* [start, end): the chunks, from the first to the end of the heap */
    uint64_t walked;     /* the walk reached here: < end when the rest is corrupt/unreadable */
    uint32_t arena;      /* index into g->arenas */
    bool first;          /* the arena's first heap (the one holding its malloc_state) */
};

/* One thread's tcache (struct tcache_perthread_struct). */
struct pyh_glibc_tcache {
    uint64_t address;   /* the struct (the chunk's user data) */
    uint32_t arena;     /* the arena whose heap holds the struct */
    bool wide;          /* uint16_t counts (2.30+, a 0x290 chunk); else uint8_t (0x250) */
    uint32_t nbins;     /* 64; 76 from 2.42 (12 bins of larger chunks, a 0x300 chunk) */
    uint32_t slots;     /* 0: counts[i] is the length of list i; else (2.42+ num_slots)
                           slots - counts[i] is (the free slots of a list of capacity slots) */
    uint64_t bad_lists; /* bit i: list i is not a valid chain (its chunks are not counted);
                           the large bins (64-75) share bit 63 */
    struct pyh_glibc_count chunks; /* the free chunks in its lists */
};

/* One mmapped chunk. */
struct pyh_glibc_mmapped {
    uint64_t address, size;
};

/* Version-dependent offsets of glibc's structures (x86-64); see glibc_find.c. */
/* struct malloc_state on x86-64, found by its structure (glibc_find.c): everything follows from
 * where the bins start. 2.27-2.41: mutex, flags, have_fastchunks, fastbinsY[10], top,
 * last_remainder, bins at 112; 2.43 (Debian sid) has no fastbins nor have_fastchunks: top at 8,
 * bins at 24. After the bins: binmap[4], next, next_free, attached_threads, system_mem,
 * max_system_mem. */
struct pyh_mstate_layout {
    uint32_t bins, top, fastbins, nfastbins, next, attached, system_mem, max_system_mem, size;
};

/* The malloc_state layout whose bins start at bins (24 to 112, a multiple of 8). */
void pyh_glibc_mstate_layout(uint32_t bins, struct pyh_mstate_layout *out);

struct pyh_glibc_layout {
    unsigned version;        /* 100*major + minor, e.g. 236; 0 when unknown */
    bool safe_linking;       /* 2.32+: tcache `next` and fastbin `fd` hold (pos >> 12) ^ ptr */
    uint32_t heap_info_size; /* 48 from 2.35 (heap_info.pagesize), 32 before */
    /* struct malloc_par; mp_hp_pagesize is 0 before 2.35 (no huge page fields) */
    uint32_t mp_size, mp_hp_pagesize, mp_n_mmaps, mp_max_n_mmaps, mp_mmapped_mem,
        mp_max_mmapped_mem, mp_sbrk_base, mp_tcache_bins, mp_tcache_max_bytes, mp_tcache_count;
    struct pyh_mstate_layout ms; /* struct malloc_state, as main_arena's structure showed */
};

/* The allocator state read from the target. Owned by the caller of pyh_glibc_open; free
 * with pyh_glibc_free. The arrays are read-only for callers. */
struct pyh_glibc {
    struct pyh_target *target; /* borrowed */
    struct pyh_diag *diag;     /* borrowed */
    struct pyh_glibc_layout layout;
    const char *version_source; /* "libc file", "libc path", "option", "assumed"; static */

    uint64_t main_arena;
    enum pyh_glibc_how main_arena_how;
    uint64_t mp; /* struct malloc_par mp_, 0 when not found */
    enum pyh_glibc_how mp_how;
    /* From mp_ when mp_ is known (else 0): */
    uint64_t mp_n_mmaps, mp_mmapped_mem, mp_sbrk_base, mp_tcache_count, mp_hp_pagesize;
    uint64_t heap_max_size; /* HEAP_MAX_SIZE: 64 MiB, or 4 huge pages with glibc.malloc.hugetlb */

    struct pyh_glibc_arena *arenas; /* [0] is main_arena, then the `next` ring in order (the
                                       order of malloc_info's <heap nr=...>) */
    size_t narenas;
    struct pyh_glibc_heap *heaps;
    size_t nheaps;
    struct pyh_glibc_tcache *tcaches;
    size_t ntcaches;
    struct pyh_glibc_mmapped *mmapped; /* sorted by address */
    size_t nmmapped;
    struct pyh_glibc_count mmapped_total;

    bool complete; /* every arena complete, every free list whole */

    /* Private to glibc*.c. */
    struct pyh_u64map special;    /* chunk address -> kind | (list owner arena << 8), for the
                                     chunks the boundary tags cannot classify: free-list
                                     members and tcache structs */
    struct pyh_glibc_free *frees; /* during open only: the free chunks the walk saw */
    size_t nfrees, frees_cap;
    struct pyh_u64map free_index; /* during open only: chunk address -> index into frees */
    struct pyh_u64map heap_index; /* heap_info address -> index into heaps (thread heaps) */
    size_t arenas_cap, heaps_cap, tcaches_cap, mmapped_cap;
    unsigned nwarnings; /* warnings given, capped */
    bool quiet;         /* no warnings (pyh_glibc_visit repeats the walk of open) */
};

/* A chunk the heap walk found free by its boundary tag, with its bin links (private). */
struct pyh_glibc_free {
    uint64_t address, size, fd, bk;
};

/* Overrides for pyh_glibc_open; every field may be 0 (the default: find it). */
struct pyh_glibc_options {
    uint64_t main_arena; /* the address of main_arena */
    uint64_t mp;         /* the address of mp_ */
    unsigned version;    /* glibc version as 100*major + minor */
    bool no_symbols;     /* use the heuristics even when symbols are available */
    bool no_code;        /* skip decoding libc's code: find main_arena by the data scan */
    /* pymalloc's runs of checked pools (pymalloc.h), sorted by start: the scan for mmapped
     * chunks jumps over them (it would find nothing there) instead of reading every pool
     * header — in a Python heap, a pass over most of the memory. Borrowed during the open. */
    const struct pyh_pymalloc_pool_run *pool_runs;
    size_t npool_runs;
    uint64_t pool_size;
};

/* Finds main_arena and mp_, walks every arena, heap, free list and tcache, and scans for
 * mmapped chunks. images may be NULL (then only the heuristics that need no module are
 * used). opts may be NULL. Fails (PYH_ERR_NOT_FOUND) when no main_arena is found; corrupt
 * data elsewhere gives warnings in diag and a result with complete == false. The cost is one
 * pass over every heap (reading chunk headers in large blocks) plus one over the anonymous
 * mappings' page starts; memory is a few words per free chunk. */
struct pyh_error *pyh_glibc_open(struct pyh_target *t, struct pyh_images *images,
                                 const struct pyh_glibc_options *opts, struct pyh_diag *diag,
                                 struct pyh_glibc **out);

/* Frees g; NULL is fine. */
void pyh_glibc_free(struct pyh_glibc *g);

/* One chunk as the visitor sees it. The user pointer is address + 16; an in-use heap chunk
 * can use size - 8 bytes from there (it borrows its successor's prev_size), an mmapped chunk
 * size - 16. */
struct pyh_glibc_chunk {
    uint64_t address; /* the chunk header (prev_size field) */
    uint64_t size;    /* chunk size without the flag bits */
    enum pyh_glibc_kind kind;
    uint32_t arena; /* index into g->arenas; PYH_GLIBC_NO_ARENA for mmapped chunks */
};

#define PYH_GLIBC_NO_ARENA UINT32_MAX

/* Called for each chunk; a non-NULL error stops the walk and is returned by pyh_glibc_visit. */
typedef struct pyh_error *(*pyh_glibc_visit_fn)(const struct pyh_glibc_chunk *chunk, void *ctx);

/* Calls fn for every chunk: each heap's chunks in address order (arena by arena), then the
 * mmapped chunks. Reads chunk headers in large blocks and allocates nothing per chunk: the
 * cost is one pass over the heaps plus a hash lookup per chunk. Parts that pyh_glibc_open
 * found corrupt are skipped the same way (they are already in the warnings). */
struct pyh_error *pyh_glibc_visit(struct pyh_glibc *g, pyh_glibc_visit_fn fn, void *ctx);

/* ---- Shared by the glibc*.c files only: not for other layers ------------------------ */

/* struct malloc_state on x86-64 as 2.27-2.41 have it (measured on 2.36 with libc6-dbg): the
 * classic layout, pyh_glibc_mstate_layout(PYH_MSTATE_BINS); PYH_MSTATE_SIZE is also the largest
 * malloc_state of any layout. */
enum {
    PYH_MSTATE_FLAGS = 4,
    PYH_MSTATE_FASTBINS = 16, /* mfastbinptr fastbinsY[10] */
    PYH_MSTATE_TOP = 96,
    PYH_MSTATE_BINS = 112, /* mchunkptr bins[254]: fd, bk of bins 1..127 */
    PYH_MSTATE_NEXT = 2160,
    PYH_MSTATE_ATTACHED = 2176,
    PYH_MSTATE_SYSTEM_MEM = 2184,
    PYH_MSTATE_MAX_SYSTEM_MEM = 2192,
    PYH_MSTATE_SIZE = 2200,
    PYH_NFASTBINS = 10,
    PYH_NBINS = 128,
    PYH_TCACHE_BINS = 64,       /* of chunks of 32 + 16 i bytes */
    PYH_TCACHE_MAX_BINS = 76,   /* 2.42+: 12 more, of larger chunks */
    PYH_MINSIZE = 32,
    PYH_MIN_LARGE_SIZE = 1024,
    PYH_DEFAULT_HEAP_MAX = 64 << 20,
};

/* Chunk header bits. */
#define PYH_CHUNK_P 1u /* PREV_INUSE */
#define PYH_CHUNK_M 2u /* IS_MMAPPED */
#define PYH_CHUNK_A 4u /* NON_MAIN_ARENA */

/* The address of bin i (1..127) of the arena at a, as glibc's bin_at: the bin's fd/bk pair
 * seen as the fd/bk of a fake chunk 16 bytes before it. */
static inline uint64_t pyh_glibc_bin_at(const struct pyh_mstate_layout *L, uint64_t a, unsigned i)
{
    return a + L->bins + 16 * (uint64_t)(i - 1) - 16;
}

/* Reads the little-endian u64 at byte offset off of buf. */
static inline uint64_t pyh_glibc_word(const uint8_t *buf, size_t off)
{
    uint64_t v;
    __builtin_memcpy(&v, buf + off, 8);
    return v;
}

/* The layout for a version (0: the newest known, 2.35+). */
void pyh_glibc_layout_for(unsigned version, struct pyh_glibc_layout *out);

/* Finds the glibc version, main_arena and mp_ (glibc_find.c); fills g->layout, main_arena*,
 * mp*. mp_ is looked for only after the main heap is known: pass its start (sbrk_base) or 0. */
struct pyh_error *pyh_glibc_find_main_arena(struct pyh_glibc *g, struct pyh_images *images,
                                            const struct pyh_glibc_options *opts);
void pyh_glibc_find_mp(struct pyh_glibc *g, struct pyh_images *images,
                       const struct pyh_glibc_options *opts, uint64_t sbrk_base);

/* Checks that the malloc_state at a (its L->size bytes in buf) looks like a live arena of
 * layout L: known flag bits only, bins either empty (pointing to themselves) or holding
 * 16-aligned pointers, a 16-aligned top chunk in a writable mapping, with PREV_INUSE set,
 * ending inside it and no larger than system_mem (or the "initial top" of an arena that never
 * took memory). */
bool pyh_glibc_arena_plausible(struct pyh_target *t, const struct pyh_mstate_layout *L, uint64_t a,
                               const uint8_t *buf);

/* True when the `next` ring from the arena at a returns to a within 4096 steps, every other
 * member being a thread arena (the heap_info just before it, at an address aligned as heaps
 * are, points back to it). */
bool pyh_glibc_ring_returns(struct pyh_target *t, const struct pyh_mstate_layout *L, uint64_t a);

/* Adds a warning (at most 100 per open; then one saying the rest were dropped); partial
 * also marks g and the session's results incomplete. */
void pyh_glibc_warn(struct pyh_glibc *g, bool partial, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reads the arena ring from main_arena into g->arenas (glibc_heaps.c). */
struct pyh_error *pyh_glibc_collect_arenas(struct pyh_glibc *g);

/* Finds every arena's heaps, and mp_ on the way (its validation needs the main heap). */
struct pyh_error *pyh_glibc_find_heaps(struct pyh_glibc *g, struct pyh_images *images,
                                       const struct pyh_glibc_options *opts);

/* Walks every arena's fastbins and bins into g->special and arena->listed, and moves their
 * chunks to their kind in the arenas' counts. Runs after the heap walk: bin members are
 * followed through g->frees (no target read), fastbin members through the target. */
struct pyh_error *pyh_glibc_read_lists(struct pyh_glibc *g);

/* Moves the chunk at c (size bytes) from the kind the heap walk gave it ("in use", or "free,
 * in no list" when its successor's PREV_INUSE is clear) to kind, in the counts of the arena
 * whose heap holds it. Nothing when the walk did not get that far. */
void pyh_glibc_reclassify(struct pyh_glibc *g, uint64_t c, uint64_t size, enum pyh_glibc_kind kind);

/* The index of the heap whose chunks [start, end) hold addr, or -1. */
int64_t pyh_glibc_heap_of(const struct pyh_glibc *g, uint64_t addr);

/* The run of memory that mapping m is part of: m and its neighbours that start where the
 * previous one ends, all readable, writable and not file-backed. madvise (numpy's
 * transparent huge page advice) and mprotect on part of a heap or of an mmapped chunk split
 * one mapping into several; malloc's memory is the run. */
void pyh_glibc_mapping_run(const struct pyh_target *t, const struct pyh_mapping *m,
                           uint64_t *start, uint64_t *end);

/* Demangles a safe-linked pointer stored at pos (a no-op before 2.32). */
static inline uint64_t pyh_glibc_reveal(const struct pyh_glibc *g, uint64_t pos, uint64_t v)
{
    return g->layout.safe_linking ? (pos >> 12) ^ v : v;
}

/* A read-ahead buffer over target memory for sequential scans of chunk headers. */
struct pyh_glibc_window {
    struct pyh_target *t;
    uint8_t *buf;
    size_t cap;
    uint64_t base;
    size_t len;          /* [base, base + len) is at data */
    const uint8_t *data; /* buf, or the target's view of the window (pyh_target_view) */
    bool viewed;         /* data is a view, given back when the window moves */
};

/* A window with a cap-byte buffer; pyh_glibc_window_free releases it. */
struct pyh_error *pyh_glibc_window_init(struct pyh_glibc_window *w, struct pyh_target *t,
                                        size_t cap);
void pyh_glibc_window_free(struct pyh_glibc_window *w);

/* Points *p at the n bytes (n <= 64) at addr, reading ahead up to limit when they are not in
 * the window. */
struct pyh_error *pyh_glibc_window_get(struct pyh_glibc_window *w, uint64_t addr, size_t n,
                                       uint64_t limit, const uint8_t **p);

/* Walks every heap once, filling arena->kinds (free chunks as "free, in no list" until the
 * lists are read), g->frees, and finding the tcaches (glibc_walk.c). */
struct pyh_error *pyh_glibc_walk_heaps(struct pyh_glibc *g);

/* Walks the tcaches' lists into g->special and moves their chunks from "in use" to "tcache"
 * in the arenas' counts (the heap walk cannot tell them apart). */
struct pyh_error *pyh_glibc_read_tcaches(struct pyh_glibc *g);

/* Scans the anonymous mappings for mmapped chunks (glibc_mmap.c). */
struct pyh_error *pyh_glibc_scan_mmapped(struct pyh_glibc *g,
                                         const struct pyh_glibc_options *opts);

#endif
