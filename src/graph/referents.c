/* Per-type referent readers; see referents.h. The fields each type refers through follow
 * the type's tp_traverse in CPython, so that referrers agree with gc.get_referrers(). */
#include "graph/referents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap/preview.h"
#include "runtime/objects.h"
#include "runtime/stackref.h"
#include "util/interrupt.h"

#define MAX_ITEMS (1ULL << 32) /* a container claiming more is corrupt */
#define CHUNK 512              /* pointers read at once from item arrays */
#define CONSERVATIVE_MAX 4096  /* bytes of an unknown object scanned for pointers */
#define DEQUE_BLOCK 64
#define DATETIME_HASTZINFO 24 /* _PyDateTime_TIMEHEAD: after the header and the hash */
#define BLOCK_SCAN_MAX 16384  /* bytes of a native block read one level down */
#define MAX_LINKS (1 << 24)   /* an lru_cache list longer than this is corrupt */
#define NDARRAY_OBJECT 17     /* NPY_OBJECT: the type number of object arrays */

struct walk {
    struct pyh_heap *heap;
    pyh_ref_visit visit;
    void *ctx;
    bool stop;
    uint64_t obj; /* the object whose referents these are (0: a frame, a native scan) */
};

/* A read that failed where edges were expected (a field of the object, its item array, its
 * dict or set table): the edges are lost, so it is counted (heap->refs_unread) and the
 * analyses built on the graph say so (session.c). */
static void lost(struct walk *w, uint64_t addr, const struct pyh_error *err)
{
    /* "has no __dict__": nothing to follow, not a failure. */
    if (err && pyh_error_code(err) == PYH_ERR_NOT_FOUND) return;
    if (w->obj) pyh_read_failure(&w->heap->refs_unread, w->obj, addr, err ? pyh_error_message(err) : NULL);
}

static bool emit(struct walk *w, uint64_t target, const struct pyh_ref *ref)
{
    if (w->stop || !target) return !w->stop;
    if (!w->visit(w->ctx, target, ref)) w->stop = true;
    return !w->stop;
}

static uint64_t read_ptr(struct walk *w, uint64_t addr)
{
    uint64_t v = 0;
    struct pyh_error *err = pyh_read_u64(w->heap->rt->target, addr, &v);
    if (err) {
        pyh_error_free(err);
        return 0;
    }
    return v;
}

/* read_ptr of a word the object must have (its own fields): a failure is counted. */
static uint64_t own_ptr(struct walk *w, uint64_t addr)
{
    uint64_t v = 0;
    struct pyh_error *err = pyh_read_u64(w->heap->rt->target, addr, &v);
    if (err) {
        lost(w, addr, err);
        pyh_error_free(err);
        return 0;
    }
    return v;
}

/* A pointer field at a layout offset (absent fields are skipped). */
static void field(struct walk *w, uint64_t obj, int32_t off, const char *name)
{
    if (off < 0) return;
    struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = name};
    emit(w, own_ptr(w, obj + (uint64_t)off), &ref);
}

/* n pointers at addr, read in chunks: items [first, first + n); stackrefs: frame slots
 * (3.14+: tagged _PyStackRefs, see runtime/stackref.h). */
static void words(struct walk *w, uint64_t addr, uint64_t n, enum pyh_ref_kind kind,
                  uint64_t first, uint64_t code, bool stackrefs)
{
    if (n >= MAX_ITEMS) {
        struct pyh_error *err = pyh_error_create(PYH_ERR_CORRUPT, "%llu items",
                                                 (unsigned long long)n);
        lost(w, addr, err);
        pyh_error_free(err);
        return;
    }
    uint64_t buf[CHUNK];
    for (uint64_t i = 0; i < n && !w->stop; i += CHUNK) {
        size_t k = n - i < CHUNK ? (size_t)(n - i) : CHUNK;
        struct pyh_error *err = pyh_target_read(w->heap->rt->target, addr + 8 * i, buf, 8 * k);
        if (err) {
            lost(w, addr + 8 * i, err);
            pyh_error_free(err);
            return;
        }
        for (size_t j = 0; j < k && !w->stop; j++) {
            struct pyh_ref ref = {.kind = kind, .index = first + i + j, .code = code};
            emit(w, stackrefs ? pyh_stackref_object(w->heap->rt, buf[j]) : buf[j], &ref);
        }
    }
}

static void items(struct walk *w, uint64_t addr, uint64_t n, enum pyh_ref_kind kind, uint64_t first,
                  uint64_t code)
{
    words(w, addr, n, kind, first, code, false);
}

/* n slots of an interpreter frame's localsplus at addr. */
static void frame_slots(struct walk *w, uint64_t addr, uint64_t n, enum pyh_ref_kind kind,
                        uint64_t code)
{
    words(w, addr, n, kind, 0, code, true);
}

/* A frame slot outside localsplus (f_executable, f_funcobj). */
static void slot_field(struct walk *w, uint64_t f, int32_t off, const char *name)
{
    if (off < 0) return;
    struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = name};
    emit(w, pyh_stackref_object(w->heap->rt, read_ptr(w, f + (uint64_t)off)), &ref);
}

static void dict_entries(struct walk *w, struct pyh_dict_iter *it)
{
    uint64_t k, v;
    while (!w->stop && pyh_dict_iter_next(it, &k, &v)) {
        struct pyh_ref key = {.kind = PYH_REF_DICT_KEY, .key = k};
        struct pyh_ref value = {.kind = PYH_REF_DICT_VALUE, .key = k};
        emit(w, k, &key);
        emit(w, v, &value);
    }
    if (it->err) lost(w, 0, it->err);
    pyh_error_free(it->err);
}

static void set_entries(struct walk *w, uint64_t obj)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    uint64_t mask = read_ptr(w, obj + (uint64_t)L->set_mask), table = read_ptr(w, obj + (uint64_t)L->set_table);
    if (!table || mask >= MAX_ITEMS) return;
    uint64_t buf[2 * CHUNK];
    for (uint64_t i = 0; i <= mask && !w->stop; i += CHUNK) {
        size_t k = mask + 1 - i < CHUNK ? (size_t)(mask + 1 - i) : CHUNK;
        struct pyh_error *err = pyh_target_read(w->heap->rt->target, table + 16 * i, buf, 16 * k);
        if (err) {
            lost(w, table + 16 * i, err);
            pyh_error_free(err);
            return;
        }
        for (size_t j = 0; j < k; j++) { /* (key, hash); hash -1 marks a deleted entry's dummy */
            if (!buf[2 * j] || (int64_t)buf[2 * j + 1] == -1) continue;
            struct pyh_ref ref = {.kind = PYH_REF_SET_ITEM};
            emit(w, buf[2 * j], &ref);
        }
    }
}

/* Instance attributes: a __dict__ object when there is one (an edge to it, as the dict is an
 * object of its own), else 3.11+ values without a dict (an edge per attribute). */
static void instance_dict(struct walk *w, uint64_t obj, const struct pyh_type *t)
{
    struct pyh_runtime *rt = w->heap->rt;
    if (rt->minor >= 11 && (t->flags & PYH_TPFLAGS_MANAGED_DICT)) {
        uint64_t slot = read_ptr(w, obj - 24);
        bool tagged = rt->minor == 12 && (slot & 1);
        if (slot && !tagged) {
            struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = "__dict__"};
            emit(w, slot, &ref);
            return;
        }
        struct pyh_dict_iter it;
        struct pyh_error *err = pyh_instance_dict_iter(rt, obj, &it);
        if (err) {
            lost(w, 0, err);
            pyh_error_free(err);
            return;
        }
        uint64_t k, v;
        while (!w->stop && pyh_dict_iter_next(&it, &k, &v)) {
            struct pyh_ref ref = {.kind = PYH_REF_ATTR_KEY, .key = k};
            emit(w, v, &ref);
        }
        if (it.err) lost(w, 0, it.err);
        pyh_error_free(it.err);
        return;
    }
    struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = "__dict__"};
    if (t->dictoffset > 0) {
        emit(w, read_ptr(w, obj + (uint64_t)t->dictoffset), &ref);
    } else if (t->dictoffset < -1) {
        /* A variable-size base (int, tuple, bytes): the dict word ends the items, where
         * _PyObject_ComputedDictPointer finds it from ob_size (the word at var_size, read
         * as CPython reads it) and the basic and item sizes, 8-aligned. */
        int64_t n = (int64_t)read_ptr(w, obj + (uint64_t)rt->layout.var_size);
        uint64_t items = (uint64_t)(n < 0 ? -n : n);
        if (items >= MAX_ITEMS) return;
        uint64_t size = ((uint64_t)t->basicsize + items * (uint64_t)t->itemsize + 7) & ~(uint64_t)7;
        emit(w, read_ptr(w, obj + size + (uint64_t)t->dictoffset), &ref);
    }
}

/* __slots__ of every heap type in the base chain: ht_slots names members laid out from the
 * base's basicsize, in the (sorted) order of the tuple. */
static void slots(struct walk *w, uint64_t obj, const struct pyh_type *t)
{
    struct pyh_heap *heap = w->heap;
    const struct pyh_layout *L = &heap->rt->layout;
    for (int depth = 0; t && t->heap && depth < 64 && !w->stop; depth++) {
        uint64_t names = read_ptr(w, t->addr + (uint64_t)L->heaptype_slots);
        uint32_t bi = pyh_heap_type_at(heap, t->base);
        const struct pyh_type *base = bi == UINT32_MAX ? NULL : &heap->types[bi];
        if (names && base) {
            uint64_t n = read_ptr(w, names + (uint64_t)L->var_size), at = (uint64_t)base->basicsize;
            for (uint64_t i = 0; i < n && i < 1024 && !w->stop; i++) {
                uint64_t name = read_ptr(w, names + (uint64_t)L->tuple_items + 8 * i);
                if (pyh_str_equals(heap->rt, name, "__dict__") || pyh_str_equals(heap->rt, name, "__weakref__"))
                    continue;
                struct pyh_ref ref = {.kind = PYH_REF_ATTR_KEY, .key = name};
                emit(w, read_ptr(w, obj + at + 8 * i), &ref);
            }
        }
        t = base;
    }
}

static void function(struct walk *w, uint64_t obj)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    field(w, obj, L->func_code, "__code__");
    field(w, obj, L->func_globals, "__globals__");
    field(w, obj, L->func_builtins, "__builtins__");
    field(w, obj, L->func_name, "__name__");
    field(w, obj, L->func_qualname, "__qualname__");
    field(w, obj, L->func_defaults, "__defaults__");
    field(w, obj, L->func_kwdefaults, "__kwdefaults__");
    field(w, obj, L->func_closure, "__closure__");
    field(w, obj, L->func_doc, "__doc__");
    field(w, obj, L->func_dict, "__dict__");
    field(w, obj, L->func_module, "__module__");
    field(w, obj, L->func_annotations, "__annotations__");
}

static void code(struct walk *w, uint64_t obj)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    field(w, obj, L->code_consts, "co_consts");
    field(w, obj, L->code_names, "co_names");
    field(w, obj, L->code_varnames, "co_varnames");
    field(w, obj, L->code_localsplusnames, "co_localsplusnames");
    field(w, obj, L->code_cellvars, "co_cellvars");
    field(w, obj, L->code_freevars, "co_freevars");
    field(w, obj, L->code_filename, "co_filename");
    field(w, obj, L->code_name, "co_name");
    field(w, obj, L->code_qualname, "co_qualname");
    field(w, obj, L->code_code, "co_code");
    field(w, obj, L->code_lnotab, "co_lnotab");
    field(w, obj, L->code_linetable, "co_linetable");
    field(w, obj, L->code_exceptiontable, "co_exceptiontable");
    field(w, obj, L->code_localspluskinds, "co_localspluskinds");
    field(w, obj, L->code_co_code, "co_code"); /* 3.11: the bytes co_code made, kept */
    if (L->code_co_cached < 0) return;
    /* 3.12+: _PyCoCached {_co_code, _co_varnames, _co_cellvars, _co_freevars}, malloc'ed
     * when one of them is first asked for. */
    uint64_t cached = read_ptr(w, obj + (uint64_t)L->code_co_cached);
    static const char *const names[4] = {"co_code", "co_varnames", "co_cellvars", "co_freevars"};
    for (int k = 0; cached && k < 4; k++)
        field(w, cached, 8 * k, names[k]);
}

static void type_object(struct walk *w, uint64_t obj)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    uint64_t flags = read_ptr(w, obj + (uint64_t)L->type_flags);
    field(w, obj, L->type_dict, "__dict__");
    field(w, obj, L->type_mro, "__mro__");
    field(w, obj, L->type_bases, "__bases__");
    field(w, obj, L->type_base, "__base__");
    if (!(flags & PYH_TPFLAGS_HEAPTYPE)) return;
    field(w, obj, L->heaptype_name, "__name__");
    field(w, obj, L->heaptype_qualname, "__qualname__");
    field(w, obj, L->heaptype_slots, "__slots__");
    field(w, obj, L->heaptype_module, "__module__");
    struct pyh_ref ref = {.kind = PYH_REF_TYPE};
    emit(w, read_ptr(w, obj + 8), &ref); /* a heap type keeps its metatype alive */
}

/* 3.8-3.10 frame objects: their fields, locals (cells and free variables included) and the
 * value stack. */
static void frame_object_310(struct walk *w, uint64_t obj)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    field(w, obj, L->frame_back, "f_back");
    field(w, obj, L->frame_code, "f_code");
    field(w, obj, L->frame_builtins, "f_builtins");
    field(w, obj, L->frame_globals, "f_globals");
    field(w, obj, L->frame_locals, "f_locals");
    uint64_t co = read_ptr(w, obj + (uint64_t)L->frame_code);
    if (!co) return;
    uint32_t nlocals = 0;
    pyh_error_free(pyh_read_u32(w->heap->rt->target, co + (uint64_t)L->code_nlocals, &nlocals));
    uint64_t cells = read_ptr(w, co + (uint64_t)L->code_cellvars), frees = read_ptr(w, co + (uint64_t)L->code_freevars);
    uint64_t ncells = cells ? read_ptr(w, cells + (uint64_t)L->var_size) : 0;
    uint64_t nfrees = frees ? read_ptr(w, frees + (uint64_t)L->var_size) : 0;
    uint64_t nslots = nlocals + ncells + nfrees;
    items(w, obj + (uint64_t)L->frame_localsplus, nslots, PYH_REF_LOCAL, 0, co);
    uint64_t valuestack = read_ptr(w, obj + (uint64_t)L->frame_valuestack), depth = 0;
    if (L->frame_stacktop >= 0) {
        uint64_t top = read_ptr(w, obj + (uint64_t)L->frame_stacktop);
        depth = top > valuestack ? (top - valuestack) / 8 : 0;
    } else {
        uint32_t d = 0;
        pyh_error_free(pyh_read_u32(w->heap->rt->target, obj + (uint64_t)L->frame_stackdepth, &d));
        depth = d;
    }
    if (valuestack && depth < 1 << 20) items(w, valuestack, depth, PYH_REF_STACK, 0, 0);
}

#define MAX_FRAME_SLOTS (1 << 20) /* locals plus stack of one frame; more is corrupt */

/* A 3.11+ interpreter frame's references. stacktop (3.14+: stackpointer, a pointer into
 * localsplus, NULL while the frame executes) counts the valid slots of localsplus
 * (locals, then the value stack) only while the frame is suspended: a frame that calls a
 * Python function, a suspended generator, a frame object's frame after its call. While a
 * frame executes, CPython 3.11-3.13 keep the stack pointer in a C local and set stacktop to
 * -1 (_PyFrame_GetStackPointer; 3.11 in ceval's SET_LOCALS_FROM_FRAME), so that the GC,
 * which cannot know the depth, visits none of its slots. That is every thread's innermost
 * frame and any frame blocked in a C call (time.sleep, a lock, a C function calling back
 * into Python). An object-owned frame (generator, frame object) keeps the GC's rule, so
 * that referrers agree with gc.get_referrers(). A thread's frame (thread_frame) is a root
 * and its locals are alive whether or not it executes: its co_nlocalsplus local slots are
 * read, as they are always initialised once the frame has started (arguments copied, the
 * rest NULL, cells made before the first traceable instruction; the frame walk skips
 * frames that have not got that far). Its value stack is left out: its depth is not
 * recorded, and slots above the real top are stale pointers to popped, possibly freed,
 * objects. */
static void iframe(struct walk *w, uint64_t f, bool thread_frame)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    uint64_t co = pyh_stackref_object(w->heap->rt, read_ptr(w, f + (uint64_t)L->iframe_code));
    slot_field(w, f, L->iframe_code, "f_code");
    slot_field(w, f, L->iframe_func, "f_func");
    if (thread_frame) { /* borrowed from the function: a reference of the thread's only */
        field(w, f, L->iframe_globals, "f_globals");
        field(w, f, L->iframe_builtins, "f_builtins");
    }
    field(w, f, L->iframe_locals, "f_locals");
    field(w, f, L->iframe_frame_obj, "frame_obj");
    int32_t stacktop = 0, nlocalsplus = 0;
    uint64_t localsplus = f + (uint64_t)L->iframe_localsplus;
    if (L->iframe_stackpointer >= 0) {
        uint64_t sp = read_ptr(w, f + (uint64_t)L->iframe_stackpointer);
        stacktop = !sp ? -1 : sp < localsplus || (sp - localsplus) / 8 > MAX_FRAME_SLOTS
                                  ? MAX_FRAME_SLOTS + 1
                                  : (int32_t)((sp - localsplus) / 8);
    } else {
        pyh_error_free(pyh_target_read(w->heap->rt->target, f + (uint64_t)L->iframe_stacktop, &stacktop, 4));
    }
    if (co) pyh_error_free(pyh_target_read(w->heap->rt->target, co + (uint64_t)L->code_nlocalsplus, &nlocalsplus, 4));
    if (stacktop < 0 && thread_frame) {
        if (nlocalsplus > 0 && nlocalsplus <= MAX_FRAME_SLOTS)
            frame_slots(w, localsplus, (uint64_t)nlocalsplus, PYH_REF_LOCAL, co);
        return;
    }
    if (stacktop < 0 || stacktop > MAX_FRAME_SLOTS) return;
    uint64_t n = (uint64_t)stacktop, nl = nlocalsplus > 0 && (uint64_t)nlocalsplus < n ? (uint64_t)nlocalsplus : n;
    frame_slots(w, localsplus, nl, PYH_REF_LOCAL, co);
    if (n > nl) frame_slots(w, localsplus + 8 * nl, n - nl, PYH_REF_STACK, 0);
}

void pyh_iframe_referents(struct pyh_heap *heap, uint64_t f, pyh_ref_visit visit, void *ctx)
{
    struct walk w = {heap, visit, ctx, false, 0};
    iframe(&w, f, true);
}

/* 3.11+ frame objects own their interpreter frame only once it outlived its call
 * (owner == FRAME_OWNED_BY_FRAME_OBJECT); otherwise the frame is a thread's root. */
static void frame_object_311(struct walk *w, uint64_t obj)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    field(w, obj, L->frame_back, "f_back");
    uint64_t f = read_ptr(w, obj + (uint64_t)L->frame_iframe);
    uint8_t owner = 0;
    if (!f) return;
    pyh_error_free(pyh_read_u8(w->heap->rt->target, f + (uint64_t)L->iframe_owner, &owner));
    if (owner == PYH_FRAME_OWNED_BY_FRAME_OBJECT) iframe(w, f, false);
}

static void generator(struct walk *w, uint64_t obj)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    /* What gen_traverse visits besides the frame: the code (to 3.11), the names, the
     * exception being handled. */
    field(w, obj, L->gen_frame, "gi_frame");
    field(w, obj, L->gen_code, "gi_code");
    field(w, obj, L->gen_name, "__name__");
    field(w, obj, L->gen_qualname, "__qualname__");
    field(w, obj, L->gen_exc_type, "<exc_type>");
    field(w, obj, L->gen_exc_value, "<exc_value>");
    field(w, obj, L->gen_exc_traceback, "<exc_traceback>");
    if (L->gen_iframe < 0) return;
    /* 3.11+: the frame is embedded; gi_frame_state, the byte 5 before it (3.11-3.13), says
     * whether it is cleared (FRAME_CLEARED = 4): then its slots are stale, as gen_traverse
     * knows. */
    uint64_t f = obj + (uint64_t)L->gen_iframe;
    int8_t state = 4;
    pyh_error_free(pyh_target_read(w->heap->rt->target, f - 5, &state, 1));
    if (state < 4) iframe(w, f, false);
}

static void deque(struct walk *w, uint64_t obj)
{
    /* A block is {leftlink, data[64], rightlink}; the items start at leftblock's leftindex. */
    const struct pyh_layout *L = &w->heap->rt->layout;
    uint64_t n = read_ptr(w, obj + (uint64_t)L->var_size);
    uint64_t block = read_ptr(w, obj + (uint64_t)L->deque_leftblock);
    uint64_t index = read_ptr(w, obj + (uint64_t)L->deque_leftindex);
    if (n >= MAX_ITEMS || index >= DEQUE_BLOCK) return;
    for (uint64_t i = 0; i < n && block && !w->stop;) {
        uint64_t take = DEQUE_BLOCK - index < n - i ? DEQUE_BLOCK - index : n - i;
        items(w, block + 8 + 8 * index, take, PYH_REF_ITEM, i, 0);
        i += take;
        index = 0;
        block = read_ptr(w, block + 8 + 8 * DEQUE_BLOCK);
    }
}

/* ---- C fields no reader knows --------------------------------------------------------
 *
 * The part of an object's struct that its kind's reader does not read: from known_size to
 * c_size (the C layout of its nearest base that adds C fields; heap/heap.h), and the items
 * of a variable-size object of an unknown kind. A word there is a reference when it is the
 * address of a live object (other than the object itself); its __weakref__ list head (a
 * borrowed pointer) and its __dict__ word (read as __dict__) are left out. A word that is
 * the start of a native block that this object alone points to (native_refs, counted over
 * every object first) is followed one level down: the block's words that are objects are
 * references of this object too (a module's state, a C struct's malloc'ed part). Edges
 * found so are conservative (PYH_REF_OFFSET), labelled by the member name the type declares
 * for that offset (tp_members) when it declares one. */

/* The C region of an object: [*from, returned end), both offsets from obj. */
static uint64_t c_region(struct walk *w, uint64_t obj, const struct pyh_type *t, uint64_t *from)
{
    uint64_t end = t->c_size;
    *from = t->known_size;
    if (t->kind == PYH_KIND_OTHER && t->itemsize > 0) {
        int64_t n = (int64_t)read_ptr(w, obj + (uint64_t)w->heap->rt->layout.var_size);
        uint64_t items = (uint64_t)(n < 0 ? -n : n);
        if (items < MAX_ITEMS) end = (uint64_t)t->basicsize + items * (uint64_t)t->itemsize;
    }
    if (end > CONSERVATIVE_MAX) end = CONSERVATIVE_MAX;
    return end > *from ? end : *from;
}

/* Whether a word of the C region at off is a C field to follow (not the weakref list head,
 * not the __dict__ word). */
static bool c_word_followed(const struct pyh_type *t, uint64_t off)
{
    return (int64_t)off != t->weaklistoffset && (int64_t)off != t->dictoffset;
}

static bool is_object(const struct pyh_heap *heap, uint64_t v)
{
    return v && !(v & 7) && pyh_heap_object_at(heap, v) != SIZE_MAX;
}

/* Whether v is an int object: mypyc keeps an int attribute (CPyTagged) as the value shifted
 * left when it is small, else as the address of an int object with bit 0 set. */
static bool tagged_int(const struct pyh_heap *heap, uint64_t v)
{
    size_t i = v && !(v & 7) ? pyh_heap_object_at(heap, v) : SIZE_MAX;
    return i != SIZE_MAX && heap->types[heap->objects[i].type].kind == PYH_KIND_INT;
}

/* The words of a native block that obj alone points to (from its word at offset off). */
static void native_block(struct walk *w, uint64_t obj, const struct pyh_type *t, uint64_t off,
                         uint64_t block)
{
    const struct pyh_heap *heap = w->heap;
    if (!heap->native_refs) return;
    size_t b = pyh_heap_native_at(heap, block);
    if (b == SIZE_MAX || heap->native_refs[b] != 1) return;
    uint64_t size =
        heap->native_blocks[b].size < BLOCK_SCAN_MAX ? heap->native_blocks[b].size : BLOCK_SCAN_MAX;
    uint64_t buf[CHUNK];
    for (uint64_t at = 0; at + 8 <= size && !w->stop; at += sizeof(buf)) {
        size_t k = size - at < sizeof(buf) ? (size_t)((size - at) / 8) : CHUNK;
        struct pyh_error *err = pyh_target_read(heap->rt->target, block + at, buf, 8 * k);
        if (err) {
            pyh_error_free(err);
            return;
        }
        for (size_t j = 0; j < k && !w->stop; j++) {
            if (buf[j] == obj || !is_object(heap, buf[j])) continue;
            struct pyh_ref ref = {
                .kind = PYH_REF_OFFSET, .index = off, .key = t->addr, .code = at + 8 * j + 1};
            emit(w, buf[j], &ref);
        }
    }
}

static void c_fields(struct walk *w, uint64_t obj, const struct pyh_type *t)
{
    struct pyh_heap *heap = w->heap;
    uint64_t from, end = c_region(w, obj, t, &from);
    if (!t->heap && t->dictoffset > 0 && (uint64_t)t->dictoffset >= from &&
        (uint64_t)t->dictoffset < end) {
        struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = "__dict__"};
        emit(w, read_ptr(w, obj + (uint64_t)t->dictoffset), &ref);
    }
    if (end - from < 8) return;
    uint64_t buf[CONSERVATIVE_MAX / 8];
    struct pyh_error *err =
        pyh_target_read(heap->rt->target, obj + from, buf, (size_t)(end - from) & ~(size_t)7);
    if (err) {
        pyh_error_free(err);
        return;
    }
    for (uint64_t i = 0; i < (end - from) / 8 && !w->stop; i++) {
        uint64_t off = from + 8 * i, v = buf[i];
        if ((v & 7) == 1 && tagged_int(heap, v - 1)) v--; /* mypyc's boxed int: pointer | 1 */
        if (!v || (v & 7) || v == obj || !c_word_followed(t, off)) continue;
        if (pyh_heap_object_at(heap, v) != SIZE_MAX) {
            struct pyh_ref ref = {.kind = PYH_REF_OFFSET, .index = off, .key = t->addr};
            emit(w, v, &ref);
        } else {
            native_block(w, obj, t, off, v);
        }
    }
}

/* The kinds whose struct may point to C memory of its own (a core type's buffers — list
 * items, dict keys, set tables — are no native blocks: heap/build.c marks them). */
static bool holds_native_pointers(const struct pyh_type *t)
{
    switch (t->kind) {
    case PYH_KIND_OTHER:
    case PYH_KIND_MODULE:
    case PYH_KIND_CODE:
    case PYH_KIND_DEQUE:
    case PYH_KIND_ELEMENT:
    case PYH_KIND_NDARRAY:
        return true;
    default:
        return t->c_size > t->known_size;
    }
}

void pyh_referents_native_fields(struct pyh_heap *heap, size_t i,
                                 void (*fn)(void *ctx, size_t block), void *ctx)
{
    const struct pyh_object *o = &heap->objects[i];
    const struct pyh_type *t = &heap->types[o->type];
    if (!holds_native_pointers(t) || !heap->nnative_blocks) return;
    struct walk w = {heap, NULL, NULL, false, 0};
    /* The C struct: past the header, to the end of the C layout or of the core type's
     * struct (a module's, a code object's). A class statement's layers (slots, __dict__,
     * __weakref__) hold objects only: a plain class's instances are not read at all. */
    uint64_t from, end = c_region(&w, o->addr, t, &from);
    if (end < t->known_size) end = t->known_size < CONSERVATIVE_MAX ? t->known_size : CONSERVATIVE_MAX;
    from = 16;
    if (end <= from) return;
    uint64_t buf[CONSERVATIVE_MAX / 8];
    size_t seen[CONSERVATIVE_MAX / 8], nseen = 0;
    struct pyh_error *err =
        pyh_target_read(heap->rt->target, o->addr + from, buf, (size_t)(end - from) & ~(size_t)7);
    if (err) {
        pyh_error_free(err);
        return;
    }
    for (uint64_t k = 0; k < (end - from) / 8; k++) {
        uint64_t v = buf[k];
        if (!v || (v & 7) || !c_word_followed(t, from + 8 * k)) continue;
        size_t b = pyh_heap_native_at(heap, v);
        bool again = false;
        for (size_t j = 0; j < nseen && !again; j++)
            again = seen[j] == b;
        if (b == SIZE_MAX || again) continue;
        seen[nseen++] = b;
        fn(ctx, b);
    }
}

static void count_native(void *ctx, size_t b)
{
    struct pyh_heap *heap = ctx;
    if (heap->native_refs[b] < 2) heap->native_refs[b]++;
}

struct pyh_error *pyh_referents_count_native(struct pyh_heap *heap)
{
    if (heap->native_refs || !heap->nnative_blocks) return NULL;
    heap->native_refs = calloc(heap->nnative_blocks, 1);
    if (!heap->native_refs) return pyh_error_nomem();
    for (size_t i = 0; i < heap->nobjects; i++) {
        pyh_referents_native_fields(heap, i, count_native, heap);
        if (pyh_interrupted()) /* a flag load: every object, as some read 4 KiB */
            return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
    }
    return NULL;
}

/* ---- Readers of common C types ------------------------------------------------------ */

static void exception(struct walk *w, uint64_t obj)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    field(w, obj, L->exc_dict, "__dict__");
    field(w, obj, L->exc_args, "args");
    field(w, obj, L->exc_notes, "__notes__");
    field(w, obj, L->exc_traceback, "__traceback__");
    field(w, obj, L->exc_context, "__context__");
    field(w, obj, L->exc_cause, "__cause__");
}

/* functools.lru_cache's wrapper: the function, the cache dict, its own types and __dict__,
 * and, for a bounded cache, the key and result of each link of its list (the links are
 * the cache's values; lru_cache_tp_traverse visits key and result through them). */
static void lru_cache(struct walk *w, uint64_t obj)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    field(w, obj, L->lru_func, "__wrapped__");
    field(w, obj, L->lru_cache, "<cache>");
    field(w, obj, L->lru_kwd_mark, "<kwd_mark>");
    field(w, obj, L->lru_elem_type, "<lru_list_elem type>");
    field(w, obj, L->lru_cache_info_type, "<cache_info type>");
    field(w, obj, L->lru_dict, "__dict__");
    uint64_t link = read_ptr(w, obj + (uint64_t)L->lru_root_next);
    for (uint64_t n = 0; link && link != obj && n < MAX_LINKS && !w->stop; n++) {
        uint64_t key = read_ptr(w, link + (uint64_t)L->lru_elem_key);
        struct pyh_ref ref = {.kind = PYH_REF_DICT_VALUE, .key = key, .name = "<cache>"};
        emit(w, key, &(struct pyh_ref){.kind = PYH_REF_ATTR, .name = "<cache key>"});
        emit(w, read_ptr(w, link + (uint64_t)L->lru_elem_result), &ref);
        link = read_ptr(w, link + (uint64_t)L->lru_elem_next);
    }
}

/* xml.etree.ElementTree.Element (_elementtree.c, every version): tag, text and tail (whose
 * bit 0 is the JOIN flag), then an ElementObjectExtra block {attrib, length, allocated,
 * children} when it has attributes or children. */
#define ELEMENT_TAG 16
#define ELEMENT_TEXT 24
#define ELEMENT_TAIL 32
#define EXTRA_ATTRIB 0
#define EXTRA_LENGTH 8
#define EXTRA_CHILDREN 24

static void element(struct walk *w, uint64_t obj)
{
    struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = "tag"};
    emit(w, read_ptr(w, obj + ELEMENT_TAG), &ref);
    ref.name = "text";
    emit(w, read_ptr(w, obj + ELEMENT_TEXT) & ~(uint64_t)1, &ref);
    ref.name = "tail";
    emit(w, read_ptr(w, obj + ELEMENT_TAIL) & ~(uint64_t)1, &ref);
    uint64_t extra = read_ptr(w, obj + PYH_ELEMENT_EXTRA);
    if (!extra) return;
    ref.name = "attrib";
    emit(w, read_ptr(w, extra + EXTRA_ATTRIB), &ref);
    items(w, read_ptr(w, extra + EXTRA_CHILDREN), read_ptr(w, extra + EXTRA_LENGTH), PYH_REF_ITEM,
          0, 0);
}

/* numpy.ndarray (PyArrayObject_fields, numpy 1.x): its base and dtype, the memory handler
 * capsule (numpy >= 1.22) and, for an object array that owns its data, the elements. */
#define NDARRAY_DATA 16
#define NDARRAY_ND 24
#define NDARRAY_DIMS 32
#define NDARRAY_BASE 48
#define NDARRAY_DESCR 56
#define NDARRAY_FLAGS 64
#define NDARRAY_MEM_HANDLER 88
#define NDARRAY_OWNDATA 0x4
#define NDARRAY_C_CONTIGUOUS 0x1
#define DESCR_TYPE_NUM 28
#define NDARRAY_MAX_DIMS 64

static void ndarray(struct walk *w, uint64_t obj, const struct pyh_type *t)
{
    struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = "base"};
    emit(w, read_ptr(w, obj + NDARRAY_BASE), &ref);
    uint64_t descr = read_ptr(w, obj + NDARRAY_DESCR);
    ref.name = "dtype";
    emit(w, descr, &ref);
    if (t->basicsize >= NDARRAY_MEM_HANDLER + 8) {
        ref.name = "<mem_handler>";
        uint64_t h = read_ptr(w, obj + NDARRAY_MEM_HANDLER);
        if (is_object(w->heap, h)) emit(w, h, &ref);
    }
    int32_t type_num = 0, nd = 0, flags = 0;
    pyh_error_free(pyh_target_read(w->heap->rt->target, descr + DESCR_TYPE_NUM, &type_num, 4));
    pyh_error_free(pyh_target_read(w->heap->rt->target, obj + NDARRAY_ND, &nd, 4));
    pyh_error_free(pyh_target_read(w->heap->rt->target, obj + NDARRAY_FLAGS, &flags, 4));
    if (type_num != NDARRAY_OBJECT || !(flags & NDARRAY_OWNDATA) ||
        !(flags & NDARRAY_C_CONTIGUOUS) || nd < 0 || nd > NDARRAY_MAX_DIMS)
        return;
    uint64_t dims = read_ptr(w, obj + NDARRAY_DIMS), n = 1;
    for (int k = 0; k < nd && n < MAX_ITEMS; k++) {
        uint64_t d = read_ptr(w, dims + 8 * (uint64_t)k);
        n = d >= MAX_ITEMS ? MAX_ITEMS : n * d;
    }
    items(w, read_ptr(w, obj + NDARRAY_DATA), n, PYH_REF_ITEM, 0, 0);
}

struct pyh_error *pyh_referents(struct pyh_heap *heap, uint64_t obj, uint32_t ti,
                                pyh_ref_visit visit, void *ctx)
{
    struct walk w = {heap, visit, ctx, false, obj};
    const struct pyh_layout *L = &heap->rt->layout;
    const struct pyh_type *t = &heap->types[ti];
    if (t->heap) {
        struct pyh_ref ref = {.kind = PYH_REF_TYPE};
        emit(&w, t->addr, &ref);
    }
    switch (t->kind) {
    case PYH_KIND_STR:
    case PYH_KIND_BYTES:
    case PYH_KIND_BYTEARRAY:
    case PYH_KIND_INT:
    case PYH_KIND_FLOAT:
        break;
    case PYH_KIND_WEAKREF:
        field(&w, obj, L->weakref_callback, "__callback__");
        break;
    case PYH_KIND_TUPLE: { /* a struct sequence has fields past ob_size (os.stat_result's) */
        uint64_t n = read_ptr(&w, obj + (uint64_t)L->var_size);
        items(&w, obj + (uint64_t)L->tuple_items, n > t->structseq_fields ? n : t->structseq_fields,
              PYH_REF_ITEM, 0, 0);
        break;
    }
    case PYH_KIND_LIST:
        items(&w, own_ptr(&w, obj + (uint64_t)L->list_items), own_ptr(&w, obj + (uint64_t)L->var_size),
              PYH_REF_ITEM, 0, 0);
        break;
    case PYH_KIND_DICT: {
        struct pyh_dict_iter it;
        struct pyh_error *err = pyh_dict_iter_init(heap->rt, obj, &it);
        if (err) {
            lost(&w, 0, err);
            pyh_error_free(err);
        } else {
            dict_entries(&w, &it);
        }
        break;
    }
    case PYH_KIND_SET: set_entries(&w, obj); break;
    case PYH_KIND_CELL: field(&w, obj, L->cell_ref, "cell_contents"); break;
    case PYH_KIND_FUNCTION: function(&w, obj); break;
    case PYH_KIND_METHOD:
        field(&w, obj, L->method_func, "__func__");
        field(&w, obj, L->method_self, "__self__");
        break;
    case PYH_KIND_CFUNCTION:
        field(&w, obj, L->cfunction_self, "__self__");
        field(&w, obj, L->cfunction_module, "__module__");
        break;
    case PYH_KIND_CLASSMETHOD:
        field(&w, obj, L->classmethod_callable, "__func__");
        field(&w, obj, L->classmethod_dict, "__dict__");
        break;
    case PYH_KIND_PROPERTY:
        field(&w, obj, L->property_get, "fget");
        field(&w, obj, L->property_get + 8, "fset");
        field(&w, obj, L->property_get + 16, "fdel");
        field(&w, obj, L->property_get + 24, "__doc__");
        field(&w, obj, L->property_name, "__name__");
        break;
    case PYH_KIND_MODULE:
        field(&w, obj, L->module_dict, "__dict__");
        field(&w, obj, L->module_name, "__name__");
        native_block(&w, obj, t, (uint64_t)L->module_state,
                     read_ptr(&w, obj + (uint64_t)L->module_state));
        break;
    case PYH_KIND_TYPE: type_object(&w, obj); break;
    case PYH_KIND_CODE: code(&w, obj); break;
    case PYH_KIND_FRAME:
        if (L->tstate_frame >= 0) frame_object_310(&w, obj);
        else frame_object_311(&w, obj);
        break;
    case PYH_KIND_GENERATOR: generator(&w, obj); break;
    case PYH_KIND_DEQUE: deque(&w, obj); break;
    case PYH_KIND_EXCEPTION:
        exception(&w, obj);
        break;
    case PYH_KIND_LRU_CACHE:
        lru_cache(&w, obj);
        break;
    case PYH_KIND_LRU_ELEM: /* its key and result; prev and next are the list's links */
        field(&w, obj, L->lru_elem_key, "<key>");
        field(&w, obj, L->lru_elem_result, "<result>");
        break;
    case PYH_KIND_ELEMENT:
        element(&w, obj);
        break;
    case PYH_KIND_NDARRAY:
        ndarray(&w, obj, t);
        break;
    case PYH_KIND_DATETIME: { /* an aware one: its tzinfo, the last field */
        uint8_t aware = 0;
        pyh_error_free(pyh_read_u8(heap->rt->target, obj + DATETIME_HASTZINFO, &aware));
        if (aware) field(&w, obj, (int32_t)t->basicsize - 8, "tzinfo");
        break;
    }
    case PYH_KIND_OTHER:
        break;
    }
    /* The C fields past what the reader knows (a C subclass's, an unknown type's). */
    if ((t->c_size > t->known_size || (t->kind == PYH_KIND_OTHER && t->itemsize > 0)) && !w.stop)
        c_fields(&w, obj, t);
    /* What instances of classes add: their __dict__ (or inline values) and __slots__. */
    if (t->heap && !w.stop) {
        instance_dict(&w, obj, t);
        slots(&w, obj, t);
    }
    return pyh_check_interrupt();
}

/* The name of local number i of a code object (3.11+: co_localsplusnames; before:
 * co_varnames, then co_cellvars, then co_freevars). */
static void local_name(struct pyh_heap *heap, uint64_t code, uint64_t i, char *buf, size_t cap)
{
    const struct pyh_layout *L = &heap->rt->layout;
    int32_t tables[3] = {L->code_localsplusnames >= 0 ? L->code_localsplusnames : L->code_varnames,
                         L->code_cellvars, L->code_freevars};
    snprintf(buf, cap, "#%llu", (unsigned long long)i);
    for (int k = 0; k < 3 && code; k++) {
        uint64_t names, n;
        if (tables[k] < 0) continue;
        struct pyh_error *err = pyh_read_u64(heap->rt->target, code + (uint64_t)tables[k], &names);
        if (!err && names) err = pyh_read_u64(heap->rt->target, names + (uint64_t)L->var_size, &n);
        if (err || !names) {
            pyh_error_free(err);
            return;
        }
        if (i < n) {
            uint64_t name;
            if (!(err = pyh_tuple_item(heap->rt, names, i, &name)))
                err = pyh_str_read(heap->rt, name, buf, cap, NULL);
            pyh_error_free(err);
            return;
        }
        i -= n;
    }
}

/* A key's repr for a subscript: strings and ints as Python writes them, others by type. */
static void key_repr(struct pyh_heap *heap, uint64_t key, char *buf, size_t cap)
{
    uint64_t type;
    struct pyh_error *err = pyh_obj_type(heap->rt, key, &type);
    if (err) {
        pyh_error_free(err);
        snprintf(buf, cap, "?");
        return;
    }
    const struct pyh_static_types *st = &heap->rt->types;
    if (type == st->str || type == st->long_ || type == st->float_ || type == st->bytes ||
        type == st->tuple || key == st->none || key == st->true_ || key == st->false_) {
        pyh_preview(heap, key, 0, buf, cap);
        return;
    }
    uint32_t ti = pyh_heap_type_at(heap, type);
    snprintf(buf, cap, "<%s at 0x%llx>", ti == UINT32_MAX ? "?" : pyh_heap_type_name(heap, ti),
             (unsigned long long)key);
}

/* The name a type (or a base) declares for an object field at offset off in its tp_members
 * (PyMemberDef: name, type, offset, flags, doc; T_OBJECT 6 or T_OBJECT_EX 16), into buf;
 * false if none does. */
#define MEMBER_SIZE 40
#define MEMBER_TYPE 8
#define MEMBER_OFFSET 16
#define T_OBJECT 6
#define T_OBJECT_EX 16
#define MAX_MEMBERS 512

/* The offset a getter reads its field from: mypyc's attribute getters (and many C getters)
 * start by loading it from their first argument, `mov r64, [rdi + disp]` (REX.W 8B, ModRM
 * rm = rdi with an 8- or 32-bit displacement), after an optional endbr64. -1 if the first
 * instruction is not that. */
static int64_t getter_offset(struct pyh_heap *heap, uint64_t get)
{
    uint8_t code[16];
    struct pyh_error *err = pyh_target_read(heap->rt->target, get, code, sizeof(code));
    if (err) {
        pyh_error_free(err);
        return -1;
    }
    size_t at = memcmp(code, "\xf3\x0f\x1e\xfa", 4) == 0 ? 4 : 0;
    if ((code[at] != 0x48 && code[at] != 0x4c) || code[at + 1] != 0x8b) return -1;
    uint8_t modrm = code[at + 2];
    if ((modrm & 0xc7) == 0x47) return (int8_t)code[at + 3];
    if ((modrm & 0xc7) == 0x87) {
        int32_t d;
        memcpy(&d, code + at + 3, 4);
        return d;
    }
    return -1;
}

/* The name of the getset whose getter reads offset off (PyGetSetDef: name, get, set, doc,
 * closure): how mypyc's native classes expose their attributes. */
#define GETSET_SIZE 40

static bool getset_name(struct pyh_heap *heap, uint64_t getsets, uint64_t off, char *buf,
                        size_t cap)
{
    /* Only a getter alone in reading that field names it: a getter that first checks
     * another field (asyncio's check the loop first) would name the wrong one. */
    uint64_t name = 0;
    int found = 0;
    for (uint64_t g = getsets, k = 0; g && k < MAX_MEMBERS; g += GETSET_SIZE, k++) {
        uint64_t def[2];
        struct pyh_error *err = pyh_target_read(heap->rt->target, g, def, sizeof(def));
        if (err || !def[0]) {
            pyh_error_free(err);
            break;
        }
        if (def[1] && getter_offset(heap, def[1]) == (int64_t)off) {
            name = def[0];
            found++;
        }
    }
    if (found != 1) return false;
    struct pyh_error *err = pyh_read_cstr(heap->rt->target, name, buf, cap);
    pyh_error_free(err);
    return !err;
}

static bool member_name(struct pyh_heap *heap, uint64_t type, uint64_t off, char *buf, size_t cap)
{
    for (int depth = 0; type && depth < 64; depth++) {
        uint32_t ti = pyh_heap_type_at(heap, type);
        if (ti == UINT32_MAX) return false;
        const struct pyh_type *t = &heap->types[ti];
        for (uint64_t m = t->members, k = 0; m && k < MAX_MEMBERS; m += MEMBER_SIZE, k++) {
            uint64_t def[3];
            struct pyh_error *err = pyh_target_read(heap->rt->target, m, def, sizeof(def));
            if (err || !def[0]) {
                pyh_error_free(err);
                break;
            }
            uint32_t kind = (uint32_t)def[1];
            if ((kind == T_OBJECT || kind == T_OBJECT_EX) && def[2] == off) {
                err = pyh_read_cstr(heap->rt->target, def[0], buf, cap);
                pyh_error_free(err);
                return !err;
            }
        }
        uint64_t getsets = 0;
        struct pyh_error *err = pyh_read_u64(
            heap->rt->target, t->addr + (uint64_t)heap->rt->layout.type_getset, &getsets);
        pyh_error_free(err);
        if (!err && getsets && getset_name(heap, getsets, off, buf, cap)) return true;
        type = t->base;
    }
    return false;
}

void pyh_ref_format(struct pyh_heap *heap, const struct pyh_ref *ref, char *buf, size_t cap)
{
    char text[256];
    switch (ref->kind) {
    case PYH_REF_ITEM: snprintf(buf, cap, "[%llu]", (unsigned long long)ref->index); break;
    case PYH_REF_DICT_VALUE:
        key_repr(heap, ref->key, text, sizeof(text));
        snprintf(buf, cap, "%s[%s]", ref->name ? ref->name : "", text);
        break;
    case PYH_REF_DICT_KEY:
        key_repr(heap, ref->key, text, sizeof(text));
        snprintf(buf, cap, ".keys() {%s}", text);
        break;
    case PYH_REF_SET_ITEM: snprintf(buf, cap, " {member}"); break;
    case PYH_REF_ATTR: snprintf(buf, cap, ".%s", ref->name); break;
    case PYH_REF_ATTR_KEY: {
        bool ok = false;
        struct pyh_error *err = pyh_str_read(heap->rt, ref->key, text, sizeof(text), NULL);
        ok = !err;
        pyh_error_free(err);
        snprintf(buf, cap, ".%s", ok ? text : "?");
        break;
    }
    case PYH_REF_LOCAL:
        local_name(heap, ref->code, ref->index, text, sizeof(text));
        snprintf(buf, cap, ", local '%s'", text);
        break;
    case PYH_REF_STACK: snprintf(buf, cap, ", stack[%llu]", (unsigned long long)ref->index); break;
    case PYH_REF_TYPE: snprintf(buf, cap, ".__class__"); break;
    case PYH_REF_OFFSET: {
        char field[300];
        if (member_name(heap, ref->key, ref->index, text, sizeof(text)))
            snprintf(field, sizeof(field), ".%s", text);
        else
            snprintf(field, sizeof(field), "->(+0x%llx)", (unsigned long long)ref->index);
        if (ref->code)
            snprintf(buf, cap, "%s->(+0x%llx)", field, (unsigned long long)(ref->code - 1));
        else
            snprintf(buf, cap, "%s", field);
        break;
    }
    }
}
