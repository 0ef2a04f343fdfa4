/* Per-type referent readers; see referents.h. The fields each type refers through follow
 * the type's tp_traverse in CPython, so that referrers agree with gc.get_referrers(). */
#include "graph/referents.h"

#include <stdio.h>
#include <string.h>

#include "heap/preview.h"
#include "runtime/objects.h"
#include "util/interrupt.h"

#define MAX_ITEMS (1ULL << 32) /* a container claiming more is corrupt */
#define CHUNK 512              /* pointers read at once from item arrays */
#define CONSERVATIVE_MAX 4096  /* bytes of an unknown object scanned for pointers */
#define DEQUE_BLOCK 64

struct walk {
    struct pyh_heap *heap;
    pyh_ref_visit visit;
    void *ctx;
    bool stop;
};

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

/* A pointer field at a layout offset (absent fields are skipped). */
static void field(struct walk *w, uint64_t obj, int32_t off, const char *name)
{
    if (off < 0) return;
    struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = name};
    emit(w, read_ptr(w, obj + (uint64_t)off), &ref);
}

/* n pointers at addr, read in chunks: items [first, first + n). */
static void items(struct walk *w, uint64_t addr, uint64_t n, enum pyh_ref_kind kind, uint64_t first,
                  uint64_t code)
{
    if (n >= MAX_ITEMS) return;
    uint64_t buf[CHUNK];
    for (uint64_t i = 0; i < n && !w->stop; i += CHUNK) {
        size_t k = n - i < CHUNK ? (size_t)(n - i) : CHUNK;
        struct pyh_error *err = pyh_target_read(w->heap->rt->target, addr + 8 * i, buf, 8 * k);
        if (err) {
            pyh_error_free(err);
            return;
        }
        for (size_t j = 0; j < k && !w->stop; j++) {
            struct pyh_ref ref = {.kind = kind, .index = first + i + j, .code = code};
            emit(w, buf[j], &ref);
        }
    }
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
            pyh_error_free(err);
            return;
        }
        uint64_t k, v;
        while (!w->stop && pyh_dict_iter_next(&it, &k, &v)) {
            struct pyh_ref ref = {.kind = PYH_REF_ATTR_KEY, .key = k};
            emit(w, v, &ref);
        }
        pyh_error_free(it.err);
        return;
    }
    if (t->dictoffset > 0) {
        struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = "__dict__"};
        emit(w, read_ptr(w, obj + (uint64_t)t->dictoffset), &ref);
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

/* A 3.11+ interpreter frame's references. stacktop counts the valid slots of localsplus
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
    uint64_t co = read_ptr(w, f + (uint64_t)L->iframe_code);
    field(w, f, L->iframe_code, "f_code");
    field(w, f, L->iframe_func, "f_func");
    field(w, f, L->iframe_globals, "f_globals");
    field(w, f, L->iframe_builtins, "f_builtins");
    field(w, f, L->iframe_locals, "f_locals");
    field(w, f, L->iframe_frame_obj, "frame_obj");
    int32_t stacktop = 0, nlocalsplus = 0;
    pyh_error_free(pyh_target_read(w->heap->rt->target, f + (uint64_t)L->iframe_stacktop, &stacktop, 4));
    if (co) pyh_error_free(pyh_target_read(w->heap->rt->target, co + (uint64_t)L->code_nlocalsplus, &nlocalsplus, 4));
    if (stacktop < 0 && thread_frame) {
        if (nlocalsplus > 0 && nlocalsplus <= MAX_FRAME_SLOTS)
            items(w, f + (uint64_t)L->iframe_localsplus, (uint64_t)nlocalsplus, PYH_REF_LOCAL,
                  0, co);
        return;
    }
    if (stacktop < 0 || stacktop > MAX_FRAME_SLOTS) return;
    uint64_t n = (uint64_t)stacktop, nl = nlocalsplus > 0 && (uint64_t)nlocalsplus < n ? (uint64_t)nlocalsplus : n;
    items(w, f + (uint64_t)L->iframe_localsplus, nl, PYH_REF_LOCAL, 0, co);
    if (n > nl) items(w, f + (uint64_t)L->iframe_localsplus + 8 * nl, n - nl, PYH_REF_STACK, 0, 0);
}

void pyh_iframe_referents(struct pyh_heap *heap, uint64_t f, pyh_ref_visit visit, void *ctx)
{
    struct walk w = {heap, visit, ctx, false};
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
    if (owner == 2) iframe(w, f, false);
}

static void generator(struct walk *w, uint64_t obj)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    if (L->gen_iframe < 0) { /* 3.8-3.10: PyGenObject fields */
        field(w, obj, 16, "gi_frame");
        field(w, obj, 24, "gi_code");
        field(w, obj, 40, "__name__");
        field(w, obj, 48, "__qualname__");
        return;
    }
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

/* Every word of an unknown object that is the address of an object. */
static void conservative(struct walk *w, uint64_t obj, const struct pyh_type *t)
{
    struct pyh_heap *heap = w->heap;
    uint64_t size = (uint64_t)t->basicsize;
    if (t->itemsize > 0 && t->kind != PYH_KIND_GENERATOR && t->kind != PYH_KIND_FRAME) {
        int64_t n = (int64_t)read_ptr(w, obj + (uint64_t)heap->rt->layout.var_size);
        size += (uint64_t)(n < 0 ? -n : n) * (uint64_t)t->itemsize;
    }
    if (size > CONSERVATIVE_MAX) size = CONSERVATIVE_MAX;
    uint64_t buf[CONSERVATIVE_MAX / 8];
    if (size <= 16) return;
    struct pyh_error *err = pyh_target_read(heap->rt->target, obj + 16, buf, size - 16);
    if (err) {
        pyh_error_free(err);
        return;
    }
    for (uint64_t i = 0; i < (size - 16) / 8 && !w->stop; i++) {
        if (!buf[i] || (buf[i] & 7) || pyh_heap_object_at(heap, buf[i]) == SIZE_MAX) continue;
        struct pyh_ref ref = {.kind = PYH_REF_OFFSET, .index = 16 + 8 * i};
        emit(w, buf[i], &ref);
    }
}

struct pyh_error *pyh_referents(struct pyh_heap *heap, uint64_t obj, uint32_t ti,
                                pyh_ref_visit visit, void *ctx)
{
    struct walk w = {heap, visit, ctx, false};
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
    case PYH_KIND_WEAKREF:
        break;
    case PYH_KIND_TUPLE:
        items(&w, obj + (uint64_t)L->tuple_items, read_ptr(&w, obj + (uint64_t)L->var_size), PYH_REF_ITEM, 0, 0);
        break;
    case PYH_KIND_LIST:
        items(&w, read_ptr(&w, obj + (uint64_t)L->list_items), read_ptr(&w, obj + (uint64_t)L->var_size),
              PYH_REF_ITEM, 0, 0);
        break;
    case PYH_KIND_DICT: {
        struct pyh_dict_iter it;
        struct pyh_error *err = pyh_dict_iter_init(heap->rt, obj, &it);
        if (err) pyh_error_free(err);
        else dict_entries(&w, &it);
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
        break;
    case PYH_KIND_MODULE:
        field(&w, obj, L->module_dict, "__dict__");
        field(&w, obj, L->module_name, "__name__");
        break;
    case PYH_KIND_TYPE: type_object(&w, obj); break;
    case PYH_KIND_CODE: code(&w, obj); break;
    case PYH_KIND_FRAME:
        if (L->tstate_frame >= 0) frame_object_310(&w, obj);
        else frame_object_311(&w, obj);
        break;
    case PYH_KIND_GENERATOR: generator(&w, obj); break;
    case PYH_KIND_DEQUE: deque(&w, obj); break;
    default:
        if (!t->heap) conservative(&w, obj, t);
        break;
    }
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

void pyh_ref_format(struct pyh_heap *heap, const struct pyh_ref *ref, char *buf, size_t cap)
{
    char text[256];
    switch (ref->kind) {
    case PYH_REF_ITEM: snprintf(buf, cap, "[%llu]", (unsigned long long)ref->index); break;
    case PYH_REF_DICT_VALUE:
        key_repr(heap, ref->key, text, sizeof(text));
        snprintf(buf, cap, "[%s]", text);
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
    case PYH_REF_OFFSET: snprintf(buf, cap, "->(+0x%llx)", (unsigned long long)ref->index); break;
    }
}
