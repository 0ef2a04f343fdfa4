/* The type registry: every type object of the target, found without symbols.
 *
 * Static types (builtins, extension modules) live in the binaries' writable data and are
 * found by scanning it for objects whose type is `type`. Heap types (classes) are GC objects
 * larger than pymalloc's threshold, so they live in glibc chunks: the chunks big enough for
 * a PyHeapTypeObject are collected once, and a fixpoint registers those whose type is `type`
 * or an already registered metatype (ABCMeta, EnumMeta, ...). When glibc's heap cannot be
 * walked, the candidates come from the GC lists instead (every heap type is GC-tracked):
 * without them no instance of a class would be recognised, in pymalloc either. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap/kinds/kind.h"
#include "runtime/gc.h"
#include "runtime/objects.h"
#include "runtime/refcount.h"
#include "util/interrupt.h"
#include "util/mem.h"

#define TPFLAGS_READY (1UL << 12)
#define TPFLAGS_TYPE_SUBCLASS (1UL << 31)
#define MAX_BASICSIZE (1 << 24)
#define MAX_ITEMSIZE (1 << 16)
#define MAX_BASE_DEPTH 64

/* Reads and checks the type object at addr; adds it unless already known. */
struct pyh_error *pyh_heap_add_type(struct pyh_heap *heap, uint64_t addr, bool *added)
{
    const struct pyh_layout *L = &heap->rt->layout;
    *added = false;
    if (pyh_heap_type_at(heap, addr) != UINT32_MAX) return NULL;
    uint8_t buf[512];
    size_t need = (size_t)L->type_size;
    if (need > sizeof(buf)) need = sizeof(buf);
    struct pyh_error *err = pyh_target_read(heap->rt->target, addr, buf, need);
    if (err) {
        if (err->code == PYH_ERR_INTERRUPTED) return err;
        pyh_error_free(err);
        return NULL; /* not a readable type: not an error of the registry */
    }
    struct pyh_type t = {.addr = addr};
    memcpy(&t.metatype, buf + L->object_type, 8);
    memcpy(&t.flags, buf + L->type_flags, 8);
    memcpy(&t.basicsize, buf + L->type_basicsize, 8);
    memcpy(&t.itemsize, buf + L->type_itemsize, 8);
    memcpy(&t.dictoffset, buf + L->type_dictoffset, 8);
    memcpy(&t.weaklistoffset, buf + L->type_weaklistoffset, 8);
    memcpy(&t.base, buf + L->type_base, 8);
    memcpy(&t.members, buf + L->type_members, 8);
    if (!pyh_refcnt_of(heap->rt, buf).plausible || !(t.flags & TPFLAGS_READY) || t.basicsize < 16 ||
        t.basicsize > MAX_BASICSIZE || t.itemsize < 0 || t.itemsize > MAX_ITEMSIZE)
        return NULL;
    t.heap = (t.flags & PYH_TPFLAGS_HEAPTYPE) != 0;
    t.is_metatype = addr == heap->rt->types.type || (t.flags & TPFLAGS_TYPE_SUBCLASS);
    t.header_pos = (uint8_t)pyh_heap_header_position(heap->rt, t.flags);
    if ((err = PYH_APPEND(heap->types, heap->ntypes, heap->types_cap, &t))) return err;
    if ((err = pyh_u64map_put(&heap->type_index, addr, heap->ntypes - 1))) return err;
    *added = true;
    return NULL;
}

/* The part of mapping i that is a module's writable data, in [*start, *end); false for none:
 * its own writable mappings, and an anonymous writable mapping right after its image (.bss),
 * clipped to the image's end — an arena mmap'ed next to a library is not its data. */
static bool data_region(const struct pyh_heap *heap, size_t i, uint64_t *start, uint64_t *end)
{
    const struct pyh_target *t = heap->rt->target;
    struct pyh_images *im = heap->rt->images;
    const struct pyh_mapping *m = &t->maps[i];
    *start = m->start, *end = m->end;
    if (!(m->prot & PYH_PROT_W)) return false;
    if (m->path) return pyh_images_module_at(im, m->start) != NULL;
    struct pyh_module *mod = i > 0 && t->maps[i - 1].end == m->start
                                 ? pyh_images_module_at(im, t->maps[i - 1].start) : NULL;
    if (!mod || mod->image_end <= m->start) return false;
    if (*end > mod->image_end) *end = mod->image_end;
    return true;
}

/* The writable data of every module (data_region). Calls fn for each region. */
struct pyh_error *pyh_heap_for_each_data_region(struct pyh_heap *heap,
                                                struct pyh_error *(*fn)(struct pyh_heap *, uint64_t,
                                                                        uint64_t, void *),
                                                void *ctx)
{
    for (size_t i = 0; i < heap->rt->target->nmaps; i++) {
        uint64_t start, end;
        if (!data_region(heap, i, &start, &end)) continue;
        struct pyh_error *err = fn(heap, start, end, ctx);
        if (err) return err;
    }
    return NULL;
}

bool pyh_heap_in_data_region(const struct pyh_heap *heap, uint64_t addr)
{
    const struct pyh_target *t = heap->rt->target;
    const struct pyh_mapping *m = pyh_target_mapping_at(t, addr);
    uint64_t start, end;
    return m && data_region(heap, (size_t)(m - t->maps), &start, &end) && addr >= start &&
           addr < end;
}

/* Scans one data region for static type objects: 8-aligned words equal to &PyType_Type at
 * ob_type's offset of a candidate. */
static struct pyh_error *scan_for_types(struct pyh_heap *heap, uint64_t start, uint64_t end,
                                        void *ctx)
{
    (void)ctx;
    uint64_t type_type = heap->rt->types.type;
    uint8_t *buf = malloc(1 << 20);
    if (!buf) return pyh_error_nomem();
    struct pyh_error *err = NULL;
    for (uint64_t pos = start; pos < end && !err; pos += 1 << 20) {
        size_t len = end - pos < (1 << 20) ? (size_t)(end - pos) : 1 << 20;
        struct pyh_error *rerr = pyh_target_read(heap->rt->target, pos, buf, len);
        if (rerr && rerr->code == PYH_ERR_INTERRUPTED) {
            err = rerr;
            break;
        }
        if (rerr) { /* a region the core lacks: nothing to find there */
            pyh_error_free(rerr);
            continue;
        }
        size_t at = (size_t)heap->rt->layout.object_type;
        for (size_t off = 0; off + at + 8 <= len; off += 8) {
            uint64_t word;
            memcpy(&word, buf + off + at, 8);
            if (word != type_type) continue;
            bool added;
            if ((err = pyh_heap_add_type(heap, pos + off, &added))) break;
        }
    }
    free(buf);
    return err;
}

/* A glibc chunk that may hold a heap type: its object and ob_type. */
struct type_candidate {
    uint64_t obj, metatype;
};

struct candidates {
    struct type_candidate *items;
    size_t n, cap;
    uint64_t min_size;        /* of a chunk holding a GC head and a PyHeapTypeObject */
    uint64_t min_size_bare;   /* of a chunk holding a PyTypeObject alone */
    struct pyh_heap *heap;
    const struct pyh_pymalloc *pm;
};

static struct pyh_error *collect_candidate(const struct pyh_glibc_chunk *c, void *ctx)
{
    struct candidates *cs = ctx;
    if ((c->kind != PYH_GLIBC_INUSE && c->kind != PYH_GLIBC_MMAPPED) ||
        c->size < cs->min_size_bare)
        return NULL;
    /* A type is a GC object without a pre-header: [chunk header 16][GC head 16][object] —
     * or, made by C code with a plain malloc and never tracked (numpy's DType classes,
     * PyMem_Malloc'd copies of a static prototype), [chunk header 16][object]. A GC head
     * read as (count, type) never passes: its _gc_prev points at a GC head, never at a
     * registered type. */
    uint64_t w[4];
    size_t n = c->size >= cs->min_size ? 4 : 2;
    struct pyh_error *err = pyh_target_read(cs->heap->rt->target, c->address + 16, w, n * 8);
    if (err) {
        pyh_error_free(err);
        return NULL;
    }
    for (size_t i = 0; i < n && !err; i += 2) {
        if ((int64_t)w[i] <= 0 || w[i + 1] == 0 || (w[i + 1] & 7)) continue;
        struct type_candidate tc = {c->address + 16 + i * 8, w[i + 1]};
        err = PYH_APPEND(cs->items, cs->n, cs->cap, &tc);
    }
    return err;
}

/* Is the object at metatype (the ob_type of a GC object) a metatype — type or a subclass:
 * Py_TPFLAGS_TYPE_SUBCLASS? Answers are kept in seen (1 yes, 0 no): GC objects have few
 * distinct types. */
static bool flagged_metatype(struct pyh_heap *heap, struct pyh_u64map *seen, uint64_t metatype)
{
    uint64_t known, flags;
    if (pyh_u64map_get(seen, metatype, &known)) return known != 0;
    struct pyh_error *err =
        pyh_read_u64(heap->rt->target, metatype + (uint64_t)heap->rt->layout.type_flags, &flags);
    bool yes = !err && (flags & TPFLAGS_TYPE_SUBCLASS);
    pyh_error_free(err);
    pyh_error_free(pyh_u64map_put(seen, metatype, yes));
    return yes;
}

struct gc_candidates {
    struct candidates *cs;
    struct pyh_u64map seen; /* flagged_metatype's answers */
};

static struct pyh_error *collect_gc_candidate(uint64_t node, size_t interp, int generation,
                                              uint64_t *next,
                                              bool *stop, void *ctx)
{
    (void)interp, (void)generation, (void)stop;
    struct gc_candidates *gc = ctx;
    struct pyh_heap *heap = gc->cs->heap;
    /* The GC head (_gc_next, _gc_prev) and the object's ob_refcnt and ob_type, in one read;
     * _gc_next handed back so that the visit does not read it again. */
    uint64_t w[4];
    struct pyh_error *err = pyh_target_read(heap->rt->target, node, w, sizeof(w));
    if (err) {
        if (pyh_error_is(err, PYH_ERR_INTERRUPTED)) return err;
        pyh_error_free(err);
        return NULL; /* the visit's own read of _gc_next says what is wrong */
    }
    *next = w[0];
    uint64_t *obj = w + 2;
    if ((int64_t)obj[0] <= 0 || !obj[1] || (obj[1] & 7) ||
        !flagged_metatype(heap, &gc->seen, obj[1]))
        return NULL;
    struct type_candidate tc = {node + 16, obj[1]};
    return PYH_APPEND(gc->cs->items, gc->cs->n, gc->cs->cap, &tc);
}

/* Candidates from the GC lists: the tracked objects whose type is a metatype. A list that
 * cannot be read to its end still gives what was read (and marks the results partial). */
static struct pyh_error *collect_gc_candidates(struct candidates *cs)
{
    struct gc_candidates gc = {cs, {0}};
    struct pyh_error *err = pyh_gc_visit(cs->heap->rt, true, collect_gc_candidate, &gc);
    pyh_u64map_free(&gc.seen);
    return err;
}

static struct pyh_error *add_candidate(void *ctx, uint64_t obj, uint64_t metatype)
{
    struct candidates *cs = ctx;
    struct type_candidate tc = {obj, metatype};
    return PYH_APPEND(cs->items, cs->n, cs->cap, &tc);
}

struct pyh_error *pyh_heap_find_types(struct pyh_heap *heap, struct pyh_glibc *glibc,
                                      const struct pyh_mimalloc *mi)
{
    struct pyh_error *err = pyh_heap_for_each_data_region(heap, scan_for_types, NULL);
    if (err) return err;
    if (pyh_heap_type_at(heap, heap->rt->types.type) == UINT32_MAX)
        return pyh_error_create(PYH_ERR_CORRUPT, "the type object `type` at 0x%llx is unreadable",
                                (unsigned long long)heap->rt->types.type);
    struct candidates cs = {.heap = heap,
                            .min_size = (uint64_t)heap->rt->layout.heaptype_size + 16 + 16,
                            .min_size_bare = (uint64_t)heap->rt->layout.type_size + 16};
    /* Under mimalloc (free-threaded, PYTHONMALLOC=mimalloc) types are in its pages; glibc's
     * chunks are read with the default build's header (a free-threaded target's hold only
     * types C code mallocs itself, not looked for). */
    if (mi) err = pyh_heap_mimalloc_type_candidates(heap, mi, add_candidate, &cs);
    if (!err && glibc && !heap->rt->free_threaded) err = pyh_glibc_visit(glibc, collect_candidate, &cs);
    if (!err && !glibc && !mi) err = collect_gc_candidates(&cs);
    if (err) {
        free(cs.items);
        return err;
    }
    /* Fixpoint: a candidate is a type when its metatype is; metatypes are found in earlier
     * rounds (type first, then ABCMeta, then classes whose metaclass is ABCMeta ...). */
    bool progress = true;
    for (int round = 0; progress && round < 64 && !err; round++) {
        progress = false;
        for (size_t i = 0; i < cs.n && !err; i++) {
            if (!cs.items[i].obj) continue;
            uint32_t meta = pyh_heap_type_at(heap, cs.items[i].metatype);
            if (meta == UINT32_MAX || !heap->types[meta].is_metatype) continue;
            bool added;
            err = pyh_heap_add_type(heap, cs.items[i].obj, &added);
            cs.items[i].obj = 0;
            progress |= added;
        }
    }
    free(cs.items);
    return err;
}

/* Whether heap type t, over base b, is a class statement's layer: all it adds to its base's
 * instance struct is its __slots__ (ht_slots, less __dict__ and __weakref__), a __dict__
 * word and a __weakref__ word (none of them inside the struct when 3.11+ manage them before
 * the object). A type made by C (PyType_FromSpec, mypyc's templates) adds C fields. */
static bool python_layer(struct pyh_heap *heap, const struct pyh_type *t, const struct pyh_type *b)
{
    const struct pyh_layout *L = &heap->rt->layout;
    if (t->itemsize != b->itemsize) return false;
    int64_t explained = 0;
    uint64_t slots = 0, n = 0;
    struct pyh_error *err =
        pyh_read_u64(heap->rt->target, t->addr + (uint64_t)L->heaptype_slots, &slots);
    if (!err && slots) err = pyh_read_u64(heap->rt->target, slots + (uint64_t)L->var_size, &n);
    for (uint64_t i = 0; !err && slots && i < n && i < 4096; i++) {
        uint64_t name;
        if ((err = pyh_read_u64(heap->rt->target, slots + (uint64_t)L->tuple_items + 8 * i, &name)))
            break;
        if (!pyh_str_equals(heap->rt, name, "__dict__") &&
            !pyh_str_equals(heap->rt, name, "__weakref__"))
            explained += 8;
    }
    if (err) {
        pyh_error_free(err);
        return false;
    }
    if (t->dictoffset && !b->dictoffset && !(t->flags & PYH_TPFLAGS_MANAGED_DICT)) explained += 8;
    if (t->weaklistoffset > 0 && b->weaklistoffset <= 0) explained += 8;
    return t->basicsize - b->basicsize == explained;
}

/* A module that imports a C implementation over its pure-Python one (datetime, ElementTree,
 * OrderedDict ...) leaves the Python class alive when anything still holds it (its own
 * class attributes do): both are named module.QualName. The Python class's name gets
 * " (Python)" so that the census's rows and `--type` tell them apart. */
static void name_shadowed_classes(struct pyh_heap *heap)
{
    struct pyh_strmap c_names = {0};
    for (size_t i = 0; i < heap->ntypes; i++)
        if (!heap->types[i].python_class && heap->types[i].kind != PYH_KIND_TYPE)
            pyh_error_free(
                pyh_strmap_put(&c_names, pyh_heap_type_name(heap, (uint32_t)i), 1, false));
    for (size_t i = 0; i < heap->ntypes; i++) {
        struct pyh_type *t = &heap->types[i];
        if (!t->python_class ||
            !pyh_strmap_get(&c_names, pyh_heap_type_name(heap, (uint32_t)i), NULL))
            continue;
        char *renamed = NULL;
        if (asprintf(&renamed, "%s (Python)", t->name) < 0) continue;
        free(t->name);
        t->name = renamed;
    }
    pyh_strmap_free(&c_names);
}

/* The kind (heap/kinds/) of the C type of an extension module named name, by the kinds'
 * c_names, PYH_KIND_OTHER for none: BaseException too, which no exported symbol of the
 * static types table names. */
static enum pyh_type_kind named_kind(const char *name)
{
    for (int k = 0; k < PYH_KIND_COUNT; k++) {
        const struct pyh_kind *kind = pyh_kinds[k];
        for (size_t j = 0; j < sizeof(kind->c_names) / sizeof(kind->c_names[0]) && kind->c_names[j]; j++)
            if (strcmp(name, kind->c_names[j]) == 0) return (enum pyh_type_kind)k;
    }
    return PYH_KIND_OTHER;
}

void pyh_heap_assign_kinds(struct pyh_heap *heap)
{
    const struct pyh_static_types *st = &heap->rt->types;
    /* c_size, base first: a type's value is known once its base's is (index order need not
     * be base order: each round settles at least the types whose bases are settled). */
    bool *done = calloc(heap->ntypes ? heap->ntypes : 1, sizeof(bool));
    for (int round = 0; done && round < MAX_BASE_DEPTH; round++) {
        bool progress = false;
        for (size_t i = 0; i < heap->ntypes; i++) {
            struct pyh_type *t = &heap->types[i];
            if (done[i]) continue;
            uint32_t bi = pyh_heap_type_at(heap, t->base);
            if (!t->heap || bi == UINT32_MAX) {
                t->c_size = (uint32_t)t->basicsize;
            } else if (!done[bi]) {
                continue;
            } else {
                const struct pyh_type *b = &heap->types[bi];
                t->python_class = python_layer(heap, t, b);
                t->c_size = t->python_class ? b->c_size : (uint32_t)t->basicsize;
            }
            done[i] = progress = true;
        }
        if (!progress) break;
    }
    for (size_t i = 0; i < heap->ntypes; i++)
        if (!done || !done[i]) heap->types[i].c_size = (uint32_t)heap->types[i].basicsize;
    free(done);
    /* The C types named by a kind or an extension's __sizeof__ rule (kinds/c_sizeof.c), each
     * type of that name (a subinterpreter has its own heap types of a module): their
     * subclasses follow them through their bases. Only a C type is matched: not a class
     * statement's of the same name (the ElementTree module defines one before importing the
     * C one), nor a core kind's. */
    struct pyh_u64map statics = {0}, named = {0}, sized = {0};
    pyh_error_free(pyh_kind_statics_map(st, &statics)); /* a lookup per type and base */
    for (size_t i = 0; i < heap->ntypes; i++) {
        const struct pyh_type *t = &heap->types[i];
        if (t->python_class || pyh_u64map_get(&statics, t->addr, NULL)) continue;
        const char *name = pyh_heap_type_name(heap, (uint32_t)i);
        enum pyh_type_kind kind = named_kind(name);
        enum pyh_sizeof_rule rule = pyh_sizeof_rule_named(name);
        if (kind != PYH_KIND_OTHER) pyh_error_free(pyh_u64map_put(&named, t->addr, kind));
        if (rule != PYH_SIZEOF_DEFAULT) pyh_error_free(pyh_u64map_put(&sized, t->addr, rule));
    }
    name_shadowed_classes(heap);
    for (size_t i = 0; i < heap->ntypes; i++) {
        struct pyh_type *t = &heap->types[i];
        enum pyh_type_kind kind = PYH_KIND_OTHER;
        uint64_t addr = t->addr;
        uint32_t known = (uint32_t)heap->rt->layout.object_size;
        uint64_t a = t->addr;
        for (int depth = 0; a && depth < MAX_BASE_DEPTH && !t->sizeof_rule; depth++) {
            uint64_t rule;
            if (pyh_u64map_get(&sized, a, &rule)) t->sizeof_rule = (uint8_t)rule;
            uint32_t j = pyh_heap_type_at(heap, a);
            a = j == UINT32_MAX ? 0 : heap->types[j].base;
        }
        for (int depth = 0; addr && depth < MAX_BASE_DEPTH && kind == PYH_KIND_OTHER; depth++) {
            uint64_t found;
            if (pyh_u64map_get(&statics, addr, &found) || pyh_u64map_get(&named, addr, &found))
                kind = (enum pyh_type_kind)found;
            uint32_t j = pyh_heap_type_at(heap, addr);
            if (kind != PYH_KIND_OTHER && j != UINT32_MAX)
                known = (uint32_t)heap->types[j].basicsize;
            addr = j == UINT32_MAX ? 0 : heap->types[j].base;
        }
        t->kind = kind;
        if (t->is_metatype) {
            t->kind = PYH_KIND_TYPE;
            uint32_t j = pyh_heap_type_at(heap, st->type);
            known = j == UINT32_MAX ? (uint32_t)heap->rt->layout.heaptype_size
                                    : (uint32_t)heap->types[j].basicsize;
        }
        if (t->kind == PYH_KIND_OTHER && t->itemsize > 0)
            known = (uint32_t)heap->rt->layout.var_size + 8; /* past ob_size */
        t->known_size = known;
        if (pyh_kinds[t->kind]->type_setup) pyh_kinds[t->kind]->type_setup(heap, t);
    }
    pyh_u64map_free(&statics);
    pyh_u64map_free(&named);
    pyh_u64map_free(&sized);
}

/* ---- Names --------------------------------------------------------------------------- */

static char *heap_type_name(struct pyh_heap *heap, const struct pyh_type *t)
{
    struct pyh_runtime *rt = heap->rt;
    char qualname[512], module[512];
    uint64_t qual_obj, dict, mod_obj;
    struct pyh_error *err = pyh_rt_read_ptr(rt, t->addr, rt->layout.heaptype_qualname, &qual_obj);
    if (!err) err = pyh_str_read(rt, qual_obj, qualname, sizeof(qualname), NULL);
    if (err) {
        pyh_error_free(err);
        return NULL;
    }
    module[0] = '\0';
    err = pyh_rt_read_ptr(rt, t->addr, rt->layout.type_dict, &dict);
    if (!err && dict) err = pyh_dict_get_str(rt, dict, "__module__", &mod_obj);
    if (!err && dict) err = pyh_str_read(rt, mod_obj, module, sizeof(module), NULL);
    pyh_error_free(err);
    char *name = NULL;
    if (!module[0] || strcmp(module, "builtins") == 0)
        name = strdup(qualname);
    else if (asprintf(&name, "%s.%s", module, qualname) < 0)
        name = NULL;
    return name;
}

static char *static_type_name(struct pyh_heap *heap, const struct pyh_type *t)
{
    uint64_t ptr;
    char buf[512];
    struct pyh_error *err = pyh_rt_read_ptr(heap->rt, t->addr, heap->rt->layout.type_name, &ptr);
    if (!err) err = pyh_read_cstr(heap->rt->target, ptr, buf, sizeof(buf));
    if (err) {
        pyh_error_free(err);
        return NULL;
    }
    for (char *c = buf; *c; c++) /* a name is printed in tables and JSON: keep it one line */
        if ((unsigned char)*c < 32) *c = '?';
    return strdup(buf);
}

const char *pyh_heap_type_name(struct pyh_heap *heap, uint32_t i)
{
    struct pyh_type *t = &heap->types[i];
    if (t->name) return t->name;
    t->name = t->heap ? heap_type_name(heap, t) : static_type_name(heap, t);
    if (!t->name && t->heap) t->name = static_type_name(heap, t);
    if (!t->name && asprintf(&t->name, "<type at 0x%llx>", (unsigned long long)t->addr) < 0)
        t->name = NULL;
    return t->name ? t->name : "<type>";
}
