/* The references of an object; see referents.h. The fields each type refers through follow
 * the type's tp_traverse in CPython (heap/kinds/), so that referrers agree with
 * gc.get_referrers(). */
#include "graph/referents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap/preview.h"
#include "runtime/objects.h"
#include "runtime/stackref.h"
#include "util/interrupt.h"

#define MAX_ITEMS PYH_WALK_MAX_ITEMS
#define CONSERVATIVE_MAX 4096 /* bytes of an unknown object scanned for pointers */

/* Instance attributes: a __dict__ object when there is one (an edge to it, as the dict is an
 * object of its own), else 3.11+ values without a dict (an edge per attribute). */
static void instance_dict(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    struct pyh_runtime *rt = w->heap->rt;
    if (rt->minor >= 11 && (t->flags & PYH_TPFLAGS_MANAGED_DICT)) {
        uint64_t slot = pyh_walk_read(w, pyh_managed_dict_slot(rt, obj));
        bool tagged = rt->minor == 12 && (slot & 1);
        if (slot && !tagged) {
            struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = "__dict__"};
            pyh_walk_emit(w, slot, &ref);
            return;
        }
        struct pyh_dict_iter it;
        struct pyh_error *err = pyh_instance_dict_iter(rt, obj, &it);
        if (err) {
            pyh_walk_lost(w, 0, err);
            pyh_error_free(err);
            return;
        }
        uint64_t k, v;
        while (!w->stop && pyh_dict_iter_next(&it, &k, &v)) {
            struct pyh_ref ref = {.kind = PYH_REF_ATTR_KEY, .key = k};
            pyh_walk_emit(w, v, &ref);
        }
        if (it.err) pyh_walk_lost(w, 0, it.err);
        pyh_error_free(it.err);
        return;
    }
    struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = "__dict__"};
    if (t->dictoffset > 0) {
        pyh_walk_emit(w, pyh_walk_read(w, obj + (uint64_t)t->dictoffset), &ref);
    } else if (t->dictoffset < -1) {
        /* A variable-size base (int, tuple, bytes): the dict word ends the items, where
         * _PyObject_ComputedDictPointer finds it from ob_size (the word at var_size, read
         * as CPython reads it) and the basic and item sizes, 8-aligned. */
        int64_t n = (int64_t)pyh_walk_read(w, obj + (uint64_t)rt->layout.var_size);
        uint64_t items = (uint64_t)(n < 0 ? -n : n);
        if (items >= MAX_ITEMS) return;
        uint64_t size = ((uint64_t)t->basicsize + items * (uint64_t)t->itemsize + 7) & ~(uint64_t)7;
        pyh_walk_emit(w, pyh_walk_read(w, obj + size + (uint64_t)t->dictoffset), &ref);
    }
}

/* __slots__ of every heap type in the base chain: ht_slots names members laid out from the
 * base's basicsize, in the (sorted) order of the tuple. */
static void slots(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    struct pyh_heap *heap = w->heap;
    const struct pyh_layout *L = &heap->rt->layout;
    for (int depth = 0; t && t->heap && depth < 64 && !w->stop; depth++) {
        uint64_t names = pyh_walk_read(w, t->addr + (uint64_t)L->heaptype_slots);
        uint32_t bi = pyh_heap_type_at(heap, t->base);
        const struct pyh_type *base = bi == UINT32_MAX ? NULL : &heap->types[bi];
        if (names && base) {
            uint64_t n = pyh_walk_read(w, names + (uint64_t)L->var_size), at = (uint64_t)base->basicsize;
            for (uint64_t i = 0; i < n && i < 1024 && !w->stop; i++) {
                uint64_t name = pyh_walk_read(w, names + (uint64_t)L->tuple_items + 8 * i);
                if (pyh_str_equals(heap->rt, name, "__dict__") || pyh_str_equals(heap->rt, name, "__weakref__"))
                    continue;
                struct pyh_ref ref = {.kind = PYH_REF_ATTR_KEY, .key = name};
                pyh_walk_emit(w, pyh_walk_read(w, obj + at + 8 * i), &ref);
            }
        }
        t = base;
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
static uint64_t c_region(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t, uint64_t *from)
{
    uint64_t end = t->c_size;
    *from = t->known_size;
    if (t->kind == PYH_KIND_OTHER && t->itemsize > 0) {
        int64_t n = (int64_t)pyh_walk_read(w, obj + (uint64_t)w->heap->rt->layout.var_size);
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

/* Whether v is an int object: mypyc keeps an int attribute (CPyTagged) as the value shifted
 * left when it is small, else as the address of an int object with bit 0 set. */
static bool tagged_int(const struct pyh_heap *heap, uint64_t v)
{
    size_t i = v && !(v & 7) ? pyh_heap_object_at(heap, v) : SIZE_MAX;
    return i != SIZE_MAX && heap->types[heap->objects[i].type].kind == PYH_KIND_INT;
}

static void c_fields(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    struct pyh_heap *heap = w->heap;
    uint64_t from, end = c_region(w, obj, t, &from);
    if (!t->heap && t->dictoffset > 0 && (uint64_t)t->dictoffset >= from &&
        (uint64_t)t->dictoffset < end) {
        struct pyh_ref ref = {.kind = PYH_REF_ATTR, .name = "__dict__"};
        pyh_walk_emit(w, pyh_walk_read(w, obj + (uint64_t)t->dictoffset), &ref);
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
            pyh_walk_emit(w, v, &ref);
        } else {
            pyh_walk_native_block(w, obj, t, off, v);
        }
    }
}

/* Whether t's struct may point to C memory of its own (a core type's buffers — list items,
 * dict keys, set tables — are no native blocks: heap/build.c marks them). */
uint8_t *pyh_referents_native_types(const struct pyh_heap *heap)
{
    uint8_t *holds = malloc(heap->ntypes ? heap->ntypes : 1);
    for (size_t t = 0; holds && t < heap->ntypes; t++) holds[t] = pyh_type_holds_native_pointers(&heap->types[t]);
    return holds;
}

void pyh_referents_native_fields(struct pyh_heap *heap, size_t i,
                                 void (*fn)(void *ctx, size_t block), void *ctx)
{
    const struct pyh_object *o = &heap->objects[i];
    const struct pyh_type *t = &heap->types[o->type];
    if (!pyh_type_holds_native_pointers(t) || !heap->nnative_blocks) return;
    struct pyh_walk w = {heap, NULL, NULL, false, 0};
    /* The C struct: past the header, to the end of the C layout or of the core type's
     * struct (a module's, a code object's). A class statement's layers (slots, __dict__,
     * __weakref__) hold objects only: a plain class's instances are not read at all. */
    uint64_t from, end = c_region(&w, o->addr, t, &from);
    if (end < t->known_size) end = t->known_size < CONSERVATIVE_MAX ? t->known_size : CONSERVATIVE_MAX;
    from = (uint64_t)heap->rt->layout.object_size;
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
    uint8_t *holds = pyh_referents_native_types(heap);
    if (!heap->native_refs || !holds) {
        free(holds);
        return pyh_error_nomem();
    }
    struct pyh_error *err = NULL;
    for (size_t i = 0; i < heap->nobjects && !err; i++) {
        if (!holds[heap->objects[i].type]) continue;
        pyh_referents_native_fields(heap, i, count_native, heap);
        err = pyh_check_interrupt(); /* a flag load: some objects read 4 KiB */
    }
    free(holds);
    return err;
}

struct pyh_error *pyh_referents(struct pyh_heap *heap, uint64_t obj, uint32_t ti,
                                pyh_ref_visit visit, void *ctx)
{
    struct pyh_walk w = {heap, visit, ctx, false, obj};
    const struct pyh_type *t = &heap->types[ti];
    if (t->heap) {
        struct pyh_ref ref = {.kind = PYH_REF_TYPE};
        pyh_walk_emit(&w, t->addr, &ref);
    }
    pyh_kind_referents(&w, obj, t);
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
