/* Finding and walking pymalloc; see pymalloc.h. The struct layouts (arena_object and
 * pool_header, both 48 bytes) are the same in 3.8-3.13 and are checked against the DWARF of
 * every interpreter by tests/unit/test_layout_dwarf.c (pyh_pymalloc_layout_fields). */
#include "allocators/pymalloc.h"

#include <stdlib.h>
#include <string.h>

#include "allocators/pymalloc_layout.h"
#include "util/progress.h"
#include "util/interrupt.h"
#include "util/mem.h"

/* No process has this many arenas: 2^20 arenas of 1 MiB is a terabyte of small objects. */
#define MAX_ARENAS (1u << 20)

/* Where the allocator's variables are. */
struct located {
    uint64_t arenas_ptr;    /* address of `arenas` (a pointer to the table) */
    uint64_t maxarenas_ptr; /* address of `maxarenas` (uint) */
    uint64_t counters[3];   /* ntimes_arena_allocated, narenas_highwater, current; 0 = unknown */
    uint64_t raw_blocks;    /* raw_allocated_blocks, 0 = unknown */
    /* narenas_currently_allocated is the count of allocated arenas in the table (what the
     * variable counts), not read (counters_by_disassembly) */
    bool current_from_table;
    const char *found_by;
};

/* ---- Locating the arena table -------------------------------------------------------- */

/* 3.12+: struct _obmalloc_state of interpreter k, embedded in the interpreter (3.12) or
 * pointed to (3.13). */
static struct pyh_error *locate_in_interpreter(struct pyh_runtime *rt, size_t k, struct located *loc)
{
    uint64_t interp = rt->interps[k], state = interp + (uint64_t)rt->layout.interp_obmalloc;
    if (rt->minor >= 13) {
        struct pyh_error *err = pyh_read_u64(rt->target, state, &state);
        if (err) return pyh_error_wrap(err, "reading interp->obmalloc");
        if (!state) return pyh_error_create(PYH_ERR_NOT_FOUND, "interp->obmalloc is NULL");
    }
    loc->arenas_ptr = state + PYH_OBMALLOC_ARENAS;
    loc->maxarenas_ptr = state + PYH_OBMALLOC_MAXARENAS;
    loc->counters[0] = state + PYH_OBMALLOC_NTIMES_ARENA_ALLOCATED;
    loc->counters[1] = state + PYH_OBMALLOC_NARENAS_HIGHWATER;
    loc->counters[2] = state + PYH_OBMALLOC_NARENAS_CURRENTLY_ALLOCATED;
    loc->raw_blocks = state + PYH_OBMALLOC_RAW_ALLOCATED_BLOCKS;
    loc->found_by = "interpreter state";
    return NULL;
}

/* 3.8-3.11: file-static variables, by symbol (LTO builds suffix them `.lto_priv.N`, which
 * the image layer matches) or by DWARF. */
static bool locate_by_name(struct pyh_runtime *rt, struct located *loc)
{
    static const char *const counters[] = {"ntimes_arena_allocated", "narenas_highwater",
                                           "narenas_currently_allocated"};
    struct pyh_module *mod = rt->module;
    if (pyh_module_symbol(rt->images, mod, "arenas", &loc->arenas_ptr) &&
        pyh_module_symbol(rt->images, mod, "maxarenas", &loc->maxarenas_ptr)) {
        for (int i = 0; i < 3; i++)
            if (!pyh_module_symbol(rt->images, mod, counters[i], &loc->counters[i])) loc->counters[i] = 0;
        if (!pyh_module_symbol(rt->images, mod, "raw_allocated_blocks", &loc->raw_blocks))
            loc->raw_blocks = 0;
        loc->found_by = "symbols";
        return true;
    }
    struct pyh_dwarf *dw = pyh_module_dwarf(rt->images, mod);
    uint64_t a, m;
    if (dw && pyh_dwarf_variable_address(dw, "arenas", &a) &&
        pyh_dwarf_variable_address(dw, "maxarenas", &m)) {
        loc->arenas_ptr = a + mod->bias;
        loc->maxarenas_ptr = m + mod->bias;
        for (int i = 0; i < 3; i++)
            loc->counters[i] = pyh_dwarf_variable_address(dw, counters[i], &a) ? a + mod->bias : 0;
        loc->raw_blocks = pyh_dwarf_variable_address(dw, "raw_allocated_blocks", &a) ? a + mod->bias : 0;
        loc->found_by = "debug info";
        return true;
    }
    return false;
}

/* True when (table, maxarenas) read at these addresses look like pymalloc's arena table. */
static bool plausible_table(struct pyh_runtime *rt, uint64_t arenas_ptr, uint64_t maxarenas_ptr,
                            uint64_t arena_size, uint64_t pool_size);

/* The targets of the RIP-relative loads `mov disp32(%rip), reg` (8b /r with mod=00 rm=101,
 * optional REX) in len bytes of code at fn: 64-bit loads (REX.W) into loads64, the others
 * into loads32, at most max of each, distinct. False when the code cannot be read. */
static bool rip_loads(struct pyh_runtime *rt, uint64_t fn, size_t len, uint64_t *loads64,
                      size_t *n64, uint64_t *loads32, size_t *n32, size_t max)
{
    uint8_t code[2048];
    if (len > sizeof(code)) len = sizeof(code);
    struct pyh_error *err = pyh_target_read(rt->target, fn, code, len);
    if (err) {
        pyh_error_free(err);
        return false;
    }
    *n64 = *n32 = 0;
    for (size_t i = 0; i + 6 <= len; i++) {
        bool rex = (code[i] & 0xf0) == 0x40;
        size_t op = rex ? i + 1 : i;
        if (op + 6 > len || code[op] != 0x8b || (code[op + 1] & 0xc7) != 0x05) continue;
        int32_t disp;
        memcpy(&disp, code + op + 2, 4);
        uint64_t target = fn + op + 6 + (uint64_t)(int64_t)disp;
        bool wide = rex && (code[i] & 0x08);
        uint64_t *loads = wide ? loads64 : loads32;
        size_t *n = wide ? n64 : n32, k = 0;
        while (k < *n && loads[k] != target) k++;
        if (k == *n && *n < max) loads[(*n)++] = target;
        i = op + 5;
    }
    return true;
}

/* Stripped 3.9-3.11: the exported _Py_GetAllocatedBlocks starts by loading maxarenas (32
 * bits), raw_allocated_blocks and arenas (64 bits) RIP-relative: every pair of a 64-bit and
 * a 32-bit load target is tried as (arenas, maxarenas) against the table checks. */
static bool locate_by_disassembly(struct pyh_runtime *rt, struct located *loc, uint64_t arena_size,
                                  uint64_t pool_size)
{
    uint64_t fn;
    if (!pyh_module_symbol(rt->images, rt->module, "_Py_GetAllocatedBlocks", &fn)) return false;
    uint64_t loads64[8], loads32[8];
    size_t n64, n32;
    if (!rip_loads(rt, fn, 96, loads64, &n64, loads32, &n32, 8)) return false;
    for (size_t a = 0; a < n64; a++) {
        for (size_t m = 0; m < n32; m++) {
            if (!plausible_table(rt, loads64[a], loads32[m], arena_size, pool_size)) continue;
            loc->arenas_ptr = loads64[a];
            loc->maxarenas_ptr = loads32[m];
            /* The other 64-bit load is raw_allocated_blocks. */
            for (size_t r = 0; r < n64; r++)
                if (r != a) loc->raw_blocks = loads64[r];
            loc->found_by = "disassembly";
            return true;
        }
    }
    return false;
}

/* The arena counters of a stripped 3.8-3.11 — file statics next to `arenas`, which no
 * exported function but _PyObject_DebugMallocStats reads: it loads ntimes_arena_allocated
 * (for "# arenas allocated total" and "reclaimed") and narenas_highwater (it counts the
 * current arenas itself, as narenas_currently_allocated counts them: the table's count
 * stands for it). Its 64-bit loads within 256 bytes of `arenas` are the candidates; a pair
 * is taken only when its values order as the counters must (total >= highwater >= the
 * arenas allocated now) and no other pair does so with other values. */
#define COUNTER_REACH 256

static void counters_by_disassembly(struct pyh_runtime *rt, struct located *loc, uint64_t current)
{
    uint64_t fn;
    if (!pyh_module_symbol(rt->images, rt->module, "_PyObject_DebugMallocStats", &fn)) return;
    uint64_t loads64[32], loads32[32];
    size_t n64, n32;
    if (!rip_loads(rt, fn, 2048, loads64, &n64, loads32, &n32, 32)) return;
    uint64_t cand[32], value[32];
    size_t n = 0;
    for (size_t i = 0; i < n64; i++) {
        uint64_t t = loads64[i];
        if (t == loc->arenas_ptr || t == loc->raw_blocks || t + COUNTER_REACH < loc->arenas_ptr ||
            t > loc->arenas_ptr + COUNTER_REACH)
            continue;
        struct pyh_error *err = pyh_read_u64(rt->target, t, &value[n]);
        if (err) {
            pyh_error_free(err);
            continue;
        }
        cand[n++] = t;
    }
    uint64_t total = 0, high = 0;
    size_t found = 0;
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++) {
            /* Counts, not pointers: no process allocated 2^40 arenas. */
            if (a == b || value[a] < value[b] || value[b] < current || value[a] >> 40) continue;
            if (found && (value[a] != value[total] || value[b] != value[high])) return; /* ambiguous */
            if (!found++) total = a, high = b;
        }
    if (!found) return;
    loc->counters[0] = cand[total];
    loc->counters[1] = cand[high];
    loc->current_from_table = true;
}

/* ---- The table and its arenas -------------------------------------------------------- */

struct arena_object {
    uint64_t address, pool_address;
    uint32_t nfreepools, ntotalpools;
    uint64_t freepools, nextarena, prevarena;
};
_Static_assert(sizeof(struct arena_object) == PYH_ARENA_OBJECT_SIZE, "arena_object layout");

struct pool_header {
    uint32_t count, pad;
    uint64_t freeblock, nextpool, prevpool;
    uint32_t arenaindex, szidx, nextoffset, maxnextoffset;
};
_Static_assert(sizeof(struct pool_header) == PYH_POOL_OVERHEAD, "pool_header layout");

/* The checks an allocated arena_object passes. */
static bool arena_ok(const struct arena_object *a, uint64_t arena_size, uint64_t pool_size)
{
    uint64_t first = (a->address + pool_size - 1) & ~(pool_size - 1);
    return a->pool_address >= first && a->pool_address <= a->address + arena_size &&
           (a->pool_address - first) % pool_size == 0 && a->ntotalpools <= arena_size / pool_size &&
           a->nfreepools <= a->ntotalpools;
}

static struct pyh_error *read_table(struct pyh_runtime *rt, uint64_t arenas_ptr,
                                    uint64_t maxarenas_ptr, uint64_t *table, uint32_t *max,
                                    struct arena_object **out)
{
    *out = NULL;
    struct pyh_error *err = pyh_read_u64(rt->target, arenas_ptr, table);
    if (!err) err = pyh_read_u32(rt->target, maxarenas_ptr, max);
    if (err) return pyh_error_wrap(err, "reading pymalloc's arena table pointer");
    if (*max == 0 || !*table) return NULL;
    if (*max > MAX_ARENAS)
        return pyh_error_create(PYH_ERR_CORRUPT, "pymalloc claims %u arena objects", *max);
    struct arena_object *objs = malloc((size_t)*max * sizeof(*objs));
    if (!objs) return pyh_error_nomem();
    if ((err = pyh_target_read(rt->target, *table, objs, (size_t)*max * sizeof(*objs)))) {
        free(objs);
        return pyh_error_wrap(err, "reading pymalloc's arena table (%u entries)", *max);
    }
    *out = objs;
    return NULL;
}

static bool plausible_table(struct pyh_runtime *rt, uint64_t arenas_ptr, uint64_t maxarenas_ptr,
                            uint64_t arena_size, uint64_t pool_size)
{
    uint64_t table;
    uint32_t max;
    struct arena_object *objs;
    struct pyh_error *err = read_table(rt, arenas_ptr, maxarenas_ptr, &table, &max, &objs);
    if (err || !objs || max % 16 != 0) { /* maxarenas starts at 16 and doubles */
        pyh_error_free(err);
        free(objs);
        return false;
    }
    size_t allocated = 0;
    bool ok = true;
    for (uint32_t i = 0; i < max && ok; i++) {
        if (!objs[i].address) continue;
        allocated++;
        ok = arena_ok(&objs[i], arena_size, pool_size);
    }
    free(objs);
    return ok && allocated > 0;
}

/* ---- Walking ------------------------------------------------------------------------- */

/* Checks a pool header belongs where it is. Returns NULL when it does, else what is wrong
 * (static text, for the warning). */
static const char *check_pool(const struct pool_header *h, uint32_t index, uint64_t pool_size)
{
    if (h->arenaindex != index) return "its arena index is not its arena's";
    if (h->szidx >= PYH_PYMALLOC_CLASSES) return "its size class is out of range";
    uint32_t size = pyh_pymalloc_block_size(h->szidx);
    uint32_t nblocks = (uint32_t)((pool_size - PYH_POOL_OVERHEAD) / size);
    if (h->maxnextoffset != pool_size - size) return "its maxnextoffset does not match its size class";
    if (h->nextoffset > pool_size || h->nextoffset < PYH_POOL_OVERHEAD + size)
        return "its nextoffset is out of the pool";
    if (h->count > nblocks) return "it claims more blocks than fit";
    return NULL;
}

/* A pool's header, checked (check_pool): from copied, the pool's bytes in its arena's span
 * (read_span), or read from the target when there is no copy. */
static const char *pool_header(struct pyh_runtime *rt, uint64_t pool, const uint8_t *copied,
                               uint32_t index, uint64_t pool_size, struct pool_header *h)
{
    if (copied) {
        memcpy(h, copied, sizeof(*h));
    } else {
        struct pyh_error *err = pyh_target_read_sparse(rt->target, pool, h, sizeof(*h));
        if (err) {
            pyh_error_free(err);
            return "unreadable";
        }
    }
    return check_pool(h, index, pool_size);
}

/* The carved pools of an arena, [first_pool, pool_address), into *span: where they are, when
 * the target holds them in memory (a core's mapping: pyh_target_view), else read with one
 * target read into buf (arena_size bytes) — a core without the mapping answers it with one
 * pread, where pool by pool through the block cache took one per 64 KiB and a copy of every
 * byte out of the cache. *span is NULL when that read failed (an arena cut by a truncated
 * core, unmapped memory) or there is no buf: the caller then reads pool by pool, as
 * precisely as before. Only an interruption is an error. The caller gives the view back
 * with release_span when done with the arena. */
static struct pyh_error *read_span(struct pyh_runtime *rt, const struct pyh_pymalloc *pm,
                                   uint64_t first_pool, uint64_t pool_address, uint8_t *buf,
                                   const uint8_t **span)
{
    *span = NULL;
    if (pool_address <= first_pool || pool_address - first_pool > pm->arena_size) return NULL;
    size_t len = (size_t)(pool_address - first_pool);
    if ((*span = pyh_target_view(rt->target, first_pool, len))) return NULL;
    if (!buf) return NULL;
    struct pyh_error *err = pyh_target_read(rt->target, first_pool, buf, len);
    if (err && err->code == PYH_ERR_INTERRUPTED) return err;
    if (!err) *span = buf;
    pyh_error_free(err);
    return NULL;
}

static void release_span(struct pyh_runtime *rt, uint64_t first_pool, uint64_t pool_address,
                         const uint8_t *span, const uint8_t *buf)
{
    if (span && span != buf) pyh_target_view_release(rt->target, first_pool, pool_address - first_pool);
}

/* Whether a pool header starts like an mmapped glibc chunk: prev_size 0 and a size field
 * whose flags are IS_MMAPPED alone (glibc_mmap.c tests no less). */
static bool chunk_like(const struct pool_header *h)
{
    return h->count == 0 && h->pad == 0 && (h->freeblock & 7) == 2;
}

static int compare_runs(const void *a, const void *b)
{
    uint64_t x = ((const struct pyh_pymalloc_pool_run *)a)->start;
    uint64_t y = ((const struct pyh_pymalloc_pool_run *)b)->start;
    return x < y ? -1 : x > y;
}

static struct pyh_error *walk_arena(struct pyh_runtime *rt, struct pyh_pymalloc *pm,
                                    const struct arena_object *a, uint32_t index)
{
    struct pyh_pymalloc_arena out = {.address = a->address, .pool_address = a->pool_address,
                                     .index = index, .nfreepools = a->nfreepools,
                                     .ntotalpools = a->ntotalpools};
    out.first_pool = (a->address + pm->pool_size - 1) & ~(pm->pool_size - 1);
    uint64_t carved = (a->pool_address - out.first_pool) / pm->pool_size;
    uint64_t empty = 0;
    struct pyh_error *err = NULL;
    struct pyh_pymalloc_pool_run run = {0, 0};
    for (uint64_t p = 0; p < carved; p++) {
        if (pyh_interrupted()) return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
        struct pool_header h;
        uint64_t pool = out.first_pool + p * pm->pool_size;
        const char *wrong =
            pool_header(rt, pool, NULL, index, pm->pool_size, &h);
        if (!wrong && !chunk_like(&h)) {
            if (run.end != pool) {
                if (run.end > run.start && (err = PYH_APPEND(pm->pool_runs, pm->npool_runs, pm->pool_runs_cap, &run)))
                    return err;
                run.start = pool;
            }
            run.end = pool + pm->pool_size;
        }
        if (wrong) {
            pm->bad_pools++;
            pyh_diag_partial(rt->diag, "pymalloc pool 0x%llx of arena %u has a corrupt header (%s): "
                                       "its blocks are not counted",
                             (unsigned long long)pool, index, wrong);
            continue;
        }
        if (h.count == 0) {
            empty++;
            continue;
        }
        uint32_t size = pyh_pymalloc_block_size(h.szidx);
        uint64_t nblocks = (pm->pool_size - PYH_POOL_OVERHEAD) / size;
        struct pyh_pymalloc_class *c = &pm->classes[h.szidx];
        c->pools++;
        c->blocks_used += h.count;
        c->blocks_free += nblocks - h.count;
        out.pools_used++;
        out.blocks_used += h.count;
        out.bytes_used += (uint64_t)h.count * size;
        pm->bytes_free_in_used_pools += (nblocks - h.count) * size;
        pm->bytes_pool_overhead += pm->pool_size - nblocks * size;
    }
    if (run.end > run.start && (err = PYH_APPEND(pm->pool_runs, pm->npool_runs, pm->pool_runs_cap, &run)))
        return err;
    uint64_t never_used = a->ntotalpools > carved ? a->ntotalpools - carved : 0;
    pm->pools_used += out.pools_used;
    pm->pools_empty += empty;
    pm->pools_never_used += never_used;
    pm->bytes_in_empty_pools += (empty + never_used) * pm->pool_size;
    pm->bytes_alignment_lost += pm->arena_size - (uint64_t)a->ntotalpools * pm->pool_size;
    pm->blocks_used += out.blocks_used;
    pm->bytes_used += out.bytes_used;
    if (empty + never_used != a->nfreepools)
        pyh_diag_warn(rt->diag, "pymalloc arena %u at 0x%llx counts %u free pools but %llu are "
                                "empty: the process was inside the allocator",
                      index, (unsigned long long)a->address, a->nfreepools,
                      (unsigned long long)(empty + never_used));
    return PYH_APPEND(pm->arenas, pm->narenas, pm->arenas_cap, &out);
}

static void read_counters(struct pyh_runtime *rt, const struct located *loc, struct pyh_pymalloc *pm)
{
    uint64_t *dest[3] = {&pm->ntimes_arena_allocated, &pm->narenas_highwater,
                         &pm->narenas_currently_allocated};
    pm->have_counters = loc->counters[0] && loc->counters[1] && (loc->counters[2] || loc->current_from_table);
    for (int i = 0; i < 3 && pm->have_counters && loc->counters[i]; i++) {
        struct pyh_error *err = pyh_read_u64(rt->target, loc->counters[i], dest[i]);
        if (err) {
            pm->have_counters = false;
            pyh_error_free(err);
        }
    }
    if (loc->raw_blocks) {
        struct pyh_error *err = pyh_read_u64(rt->target, loc->raw_blocks, &pm->raw_allocated_blocks);
        pm->have_raw_blocks = !err;
        pyh_error_free(err);
    }
}

/* Walks the arena table at loc into pm, its arenas appended. *allocated: the table's entries
 * with an arena (corrupt ones too); *none set when the table has no array. */
static struct pyh_error *walk_table(struct pyh_runtime *rt, struct pyh_pymalloc *pm,
                                    const struct located *loc, size_t interp, uint64_t *allocated,
                                    bool *none)
{
    bool main = interp == 0;
    uint64_t table;
    uint32_t maxarenas;
    struct arena_object *objs = NULL;
    struct pyh_error *err = read_table(rt, loc->arenas_ptr, loc->maxarenas_ptr, &table, &maxarenas, &objs);
    *none = !objs;
    *allocated = 0;
    if (err || !objs) return err;
    for (uint32_t i = 0; i < maxarenas; i++) *allocated += objs[i].address != 0;
    if (main) {
        pm->table = table;
        pm->maxarenas = maxarenas;
    }
    /* The pool headers, one read each: 48 bytes every 16 KiB. One read of the whole arena
     * copied 1 MiB for them, a view mapped every page (the kernel maps the 64 KiB around a
     * fault): either took longer than the 48-byte reads, and was a second pass over the heap
     * before the visit's. */
    for (uint32_t i = 0; i < maxarenas && !err; i++) {
        if (!objs[i].address) continue;
        if (!arena_ok(&objs[i], pm->arena_size, pm->pool_size)) {
            pyh_diag_partial(rt->diag, "pymalloc arena object %u (address 0x%llx) is corrupt; "
                                       "skipped", i, (unsigned long long)objs[i].address);
            continue;
        }
        size_t before = pm->narenas;
        err = walk_arena(rt, pm, &objs[i], i);
        if (!err && pm->narenas > before) pm->arenas[before].interp = (uint8_t)interp;
    }
    free(objs);
    return err;
}

/* 3.12+: interpreter k's allocator in *loc and the address of its arena table in *table (0:
 * none — a 3.12 subinterpreter that shares the main one's leaves its embedded state empty). An
 * interpreter has an allocator of its own when its table is not the main one's: one that
 * shares it points to the main state (3.13+). The table, not the state, is what is compared:
 * two states naming one table (a damaged core) would count its objects twice. */
static struct pyh_error *interpreter_table(struct pyh_runtime *rt, size_t k, struct located *loc,
                                           uint64_t *table)
{
    struct pyh_error *err = locate_in_interpreter(rt, k, loc);
    if (!err) err = pyh_read_u64(rt->target, loc->arenas_ptr, table);
    return err;
}

/* 3.12+: the allocators of the other interpreters that have their own, each walked once — an
 * interpreter made isolated (3.12+'s default for subinterpreters, 3.14's
 * concurrent.interpreters) keeps its objects in arenas of its own. Their counters add to the
 * main interpreter's. */
static struct pyh_error *walk_subinterpreters(struct pyh_runtime *rt, struct pyh_pymalloc *pm)
{
    uint64_t seen[PYH_MAX_INTERPRETERS];
    size_t nseen = 0;
    seen[nseen++] = pm->table;
    for (size_t k = 1; k < rt->ninterps && nseen < PYH_MAX_INTERPRETERS; k++) {
        struct located loc = {0};
        uint64_t table = 0;
        struct pyh_error *err = interpreter_table(rt, k, &loc, &table);
        if (err) {
            pyh_diag_partial(rt->diag, "the allocator of interpreter %zu is unreadable: %s", k,
                             pyh_error_message(err));
            pyh_error_free(err);
            continue;
        }
        bool again = !table;
        for (size_t i = 0; i < nseen; i++) again |= seen[i] == table;
        pm->shared |= table == pm->table || !table; /* it allocates from the main arenas */
        if (again) continue;
        seen[nseen++] = table;
        bool none;
        uint64_t allocated;
        if ((err = walk_table(rt, pm, &loc, k, &allocated, &none))) return err;
        if (none) continue;
        struct pyh_pymalloc own = {0};
        read_counters(rt, &loc, &own);
        pm->have_counters &= own.have_counters;
        pm->ntimes_arena_allocated += own.ntimes_arena_allocated;
        pm->narenas_highwater += own.narenas_highwater;
        pm->narenas_currently_allocated += own.narenas_currently_allocated;
        pm->raw_allocated_blocks += own.raw_allocated_blocks;
    }
    return NULL;
}

bool pyh_pymalloc_own_allocator(struct pyh_runtime *rt, size_t k)
{
    if (rt->minor < 12 || k >= rt->ninterps) return k == 0;
    struct located loc;
    uint64_t mine = 0, main = 0;
    struct pyh_error *err = interpreter_table(rt, k, &loc, &mine);
    if (!err && k > 0) err = interpreter_table(rt, 0, &loc, &main);
    pyh_error_free(err);
    return !err && mine && mine != main;
}

struct pyh_error *pyh_pymalloc_open(struct pyh_runtime *rt, struct pyh_pymalloc **out)
{
    *out = NULL;
    struct pyh_pymalloc *pm = calloc(1, sizeof(*pm));
    if (!pm) return pyh_error_nomem();
    pm->arena_size = rt->minor >= 10 ? 1u << 20 : 1u << 18;
    pm->pool_size = rt->minor >= 10 ? 1u << 14 : 1u << 12;
    for (unsigned i = 0; i < PYH_PYMALLOC_CLASSES; i++) pm->classes[i].block_size = pyh_pymalloc_block_size(i);

    struct located loc = {0};
    struct pyh_error *err = NULL;
    if (rt->minor >= 12) {
        err = locate_in_interpreter(rt, 0, &loc);
    } else if (!locate_by_name(rt, &loc) &&
               !locate_by_disassembly(rt, &loc, pm->arena_size, pm->pool_size)) {
        err = pyh_error_create(PYH_ERR_NOT_FOUND,
                               "cannot find pymalloc's arena table in %s: no symbols, no debug "
                               "info, and _Py_GetAllocatedBlocks does not show it",
                               rt->module->path);
    }
    if (err) goto fail;
    pm->found_by = loc.found_by;
    read_counters(rt, &loc, pm);

    bool none;
    uint64_t allocated;
    if ((err = walk_table(rt, pm, &loc, 0, &allocated, &none))) goto fail;
    if (none) {
        pyh_diag_warn(rt->diag, "pymalloc has no arenas: this Python allocates objects with "
                                "malloc (PYTHONMALLOC=malloc or a debug allocator)");
        pyh_pymalloc_free(pm);
        return NULL;
    }
    if (!pm->have_counters && rt->minor < 12 && !loc.counters[0]) {
        counters_by_disassembly(rt, &loc, allocated);
        read_counters(rt, &loc, pm);
    }
    if (loc.current_from_table) pm->narenas_currently_allocated = allocated;
    pm->shared = rt->minor < 12 && rt->ninterps > 1;
    if (rt->minor >= 12 && (err = walk_subinterpreters(rt, pm))) goto fail;
    if (pm->npool_runs > 1) qsort(pm->pool_runs, pm->npool_runs, sizeof(*pm->pool_runs), compare_runs);
    *out = pm;
    return NULL;
fail:
    pyh_pymalloc_free(pm);
    return pyh_error_wrap(err, "pymalloc");
}

void pyh_pymalloc_free(struct pyh_pymalloc *pm)
{
    if (!pm) return;
    free(pm->arenas);
    free(pm->pool_runs);
    free(pm);
}

/* Marks the free blocks of one pool (a local copy) in a bitmap; false when the free list
 * leaves the pool, is misaligned or loops (the pool is then skipped as corrupt). */
static bool free_blocks(const uint8_t *pool_bytes, uint64_t pool, const struct pool_header *h,
                        uint32_t size, uint64_t nblocks, uint64_t *bitmap)
{
    uint64_t block = h->freeblock;
    for (uint64_t steps = 0; block; steps++) {
        if (block < pool + PYH_POOL_OVERHEAD || block >= pool + h->nextoffset || steps > nblocks)
            return false;
        uint64_t off = block - pool - PYH_POOL_OVERHEAD;
        if (off % size) return false;
        uint64_t i = off / size;
        if (bitmap[i / 64] & (1ULL << (i % 64))) return false; /* a loop */
        bitmap[i / 64] |= 1ULL << (i % 64);
        memcpy(&block, pool_bytes + (block - pool), 8);
    }
    return true;
}

/* The blocks of one pool in use (pool_bytes, its copy): their size, how many are carved,
 * and the free ones marked in bitmap; false when the free list does not check out. */
struct pool_blocks {
    uint32_t size;
    uint64_t carved;
    uint64_t bitmap[PYH_MAX_POOL_BLOCKS / 64];
};

static bool pool_blocks(const struct pyh_pymalloc *pm, uint64_t pool, const struct pool_header *h,
                        const uint8_t *pool_bytes, struct pool_blocks *b)
{
    b->size = pyh_pymalloc_block_size(h->szidx);
    uint64_t nblocks = (pm->pool_size - PYH_POOL_OVERHEAD) / b->size;
    b->carved = (h->nextoffset - PYH_POOL_OVERHEAD) / b->size;
    if (b->carved > nblocks) b->carved = nblocks;
    memset(b->bitmap, 0, sizeof(b->bitmap));
    return free_blocks(pool_bytes, pool, h, b->size, nblocks, b->bitmap);
}

static bool block_free(const struct pool_blocks *b, uint64_t i)
{
    return b->bitmap[i / 64] & (1ULL << (i % 64));
}

/* A pool whose free list is corrupt, for the warning. */
struct bad_free_list {
    size_t arena; /* position in pm->arenas: table order */
    uint64_t pool;
};

static int compare_arena_address(const void *a, const void *b, void *ctx)
{
    const struct pyh_pymalloc_arena *arenas = ctx;
    uint64_t x = arenas[*(const size_t *)a].address, y = arenas[*(const size_t *)b].address;
    if (x != y) return x < y ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : *(const size_t *)a > *(const size_t *)b;
}

static int compare_bad(const void *a, const void *b)
{
    const struct bad_free_list *x = a, *y = b;
    if (x->arena != y->arena) return x->arena < y->arena ? -1 : 1;
    return x->pool < y->pool ? -1 : x->pool > y->pool;
}

/* Visits the carved blocks of one pool in use; pool_bytes is its copy. False when the visitor
 * stopped. A corrupt free list is recorded in *bad (or, without memory for that, warned
 * about at once). */
static bool visit_pool(struct pyh_runtime *rt, const struct pyh_pymalloc *pm, size_t arena,
                       uint64_t pool, const struct pool_header *h, const uint8_t *pool_bytes,
                       pyh_pool_visitor visit, void *ctx, struct bad_free_list **bad,
                       size_t *nbad, size_t *bad_cap)
{
    struct pool_blocks blocks;
    if (!pool_blocks(pm, pool, h, pool_bytes, &blocks)) {
        struct bad_free_list b = {arena, pool};
        struct pyh_error *err = PYH_APPEND(*bad, *nbad, *bad_cap, &b);
        if (err) {
            pyh_error_free(err);
            pyh_diag_partial(rt->diag, "pymalloc pool 0x%llx has a corrupt free list; skipped",
                             (unsigned long long)pool);
        }
        return true;
    }
    struct pyh_pymalloc_pool p = {pool + PYH_POOL_OVERHEAD, blocks.size, (uint32_t)blocks.carved,
                                  pool_bytes + PYH_POOL_OVERHEAD, blocks.bitmap};
    return visit(ctx, &p);
}

struct pyh_error *pyh_pymalloc_visit(struct pyh_runtime *rt, const struct pyh_pymalloc *pm,
                                     pyh_pool_visitor visit, void *ctx)
{
    /* Arenas in address order, so that blocks come in address order (mmap hands arenas out
     * top-down: the table's order is mostly the reverse), which spares the heap layer a
     * sort. A span holds an arena's carved pools (read_span); without one, pools are read
     * one by one into its first pool_size bytes. */
    size_t *order = malloc((pm->narenas + 1) * sizeof(*order));
    uint8_t *span = malloc(pm->arena_size);
    bool spans = span != NULL;
    if (!span) span = malloc(pm->pool_size);
    if (!order || !span) {
        free(order);
        free(span);
        return pyh_error_nomem();
    }
    for (size_t a = 0; a < pm->narenas; a++) order[a] = a;
    qsort_r(order, pm->narenas, sizeof(*order), compare_arena_address, pm->arenas);
    struct bad_free_list *bad = NULL;
    size_t nbad = 0, bad_cap = 0;
    struct pyh_error *err = NULL;
    for (size_t k = 0; k < pm->narenas && !err; k++) {
        pyh_progress("reading pymalloc's arenas", PYH_PROGRESS_ITEMS, k, pm->narenas);
        const struct pyh_pymalloc_arena *ar = &pm->arenas[order[k]];
        const uint8_t *pools = NULL;
        if ((err = read_span(rt, pm, ar->first_pool, ar->pool_address, spans ? span : NULL, &pools)))
            break;
        bool whole = pools != NULL, go_on = true;
        for (uint64_t pool = ar->first_pool; pool < ar->pool_address && !err && go_on; pool += pm->pool_size) {
            if ((err = pyh_check_interrupt())) break;
            struct pool_header h;
            const uint8_t *bytes = whole ? pools + (pool - ar->first_pool) : span;
            if (pool_header(rt, pool, whole ? bytes : NULL, ar->index, pm->pool_size, &h) ||
                h.count == 0)
                continue;
            if (!whole && (err = pyh_target_read(rt->target, pool, span, pm->pool_size))) break;
            go_on = visit_pool(rt, pm, order[k], pool, &h, bytes, visit, ctx, &bad, &nbad, &bad_cap);
        }
        release_span(rt, ar->first_pool, ar->pool_address, pools, span);
        if (!go_on) break;
    }
    /* The warnings in the order the arena table gives (and, in the past, the visit did). */
    if (nbad > 1) qsort(bad, nbad, sizeof(*bad), compare_bad);
    for (size_t i = 0; i < nbad; i++)
        pyh_diag_partial(rt->diag, "pymalloc pool 0x%llx has a corrupt free list; skipped",
                         (unsigned long long)bad[i].pool);
    free(bad);
    free(order);
    free(span);
    return err;
}

/* Resident bytes of the live blocks of a pool that is only partly resident; pool_bytes is
 * its copy. A pool whose free list does not check out counts its blocks as the header says,
 * as far as the pool is resident (its free list is warned about by the visit). */
static uint64_t pool_used_resident(const struct pyh_pymalloc *pm, const struct pyh_residency *r,
                                   uint64_t pool, const struct pool_header *h,
                                   const uint8_t *pool_bytes, uint64_t resident)
{
    struct pool_blocks b;
    if (!pool_blocks(pm, pool, h, pool_bytes, &b)) {
        uint64_t bytes = (uint64_t)h->count * b.size;
        return bytes < resident ? bytes : resident;
    }
    uint64_t used = 0;
    for (uint64_t i = 0; i < b.carved; i++) {
        if (block_free(&b, i)) continue;
        uint64_t block = pool + PYH_POOL_OVERHEAD + i * b.size;
        used += pyh_residency_bytes(r, block, block + b.size);
    }
    return used;
}

struct pyh_error *pyh_pymalloc_resident(struct pyh_runtime *rt, const struct pyh_pymalloc *pm,
                                        const struct pyh_residency *r, uint64_t *used,
                                        uint64_t *arenas)
{
    *used = *arenas = 0;
    uint8_t *pool_bytes = NULL;
    struct pyh_error *err = NULL;
    for (size_t a = 0; a < pm->narenas && !err; a++) {
        const struct pyh_pymalloc_arena *ar = &pm->arenas[a];
        uint64_t res = pyh_residency_bytes(r, ar->address, ar->address + pm->arena_size);
        *arenas += res;
        if (res == pm->arena_size) {
            *used += ar->bytes_used;
            continue;
        }
        for (uint64_t pool = ar->first_pool; res && pool < ar->pool_address && !err;
             pool += pm->pool_size) {
            if ((err = pyh_check_interrupt())) break;
            uint64_t pres = pyh_residency_bytes(r, pool, pool + pm->pool_size);
            struct pool_header h;
            if (!pres || pool_header(rt, pool, NULL, ar->index, pm->pool_size, &h) || !h.count)
                continue;
            if (pres == pm->pool_size) {
                *used += (uint64_t)h.count * pyh_pymalloc_block_size(h.szidx);
                continue;
            }
            if (!pool_bytes && !(pool_bytes = malloc(pm->pool_size))) {
                err = pyh_error_nomem();
                break;
            }
            struct pyh_error *rerr = pyh_target_read(rt->target, pool, pool_bytes, pm->pool_size);
            if (rerr) {
                if (rerr->code == PYH_ERR_INTERRUPTED) err = rerr;
                else pyh_error_free(rerr);
                continue;
            }
            *used += pool_used_resident(pm, r, pool, &h, pool_bytes, pres);
        }
    }
    free(pool_bytes);
    return err;
}
