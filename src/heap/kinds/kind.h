/* The knowledge of the core Python types, one file per type in this folder (tuple.c,
 * dict.c, frame.c ...), each defining one struct pyh_kind: which type objects are of the
 * kind, the least memory an object of it occupies (for recognising it in a block), its
 * sys.getsizeof, the buffers it owns, what it refers to and how (the labels paths print),
 * and its preview. pyh_kinds[] (table.c) lists them by enum pyh_type_kind; the rest of the
 * library asks that table and never switches on a kind.
 *
 * The byte offsets the readers use are the rows of the layout table (runtime/layout.h), one
 * per struct member with its value in every version, checked against DWARF in one test:
 * the runtime layer below reads the same members for its own walks (dict tables, strings,
 * frames, GC lists), so the offsets stay there, and a version's change of a type's code
 * lands in the type's file here. */
#ifndef PYH_HEAP_KINDS_KIND_H
#define PYH_HEAP_KINDS_KIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "heap/heap_internal.h"
#include "heap/preview.h"
#include "heap/walk.h"

#define PYH_KIND_MAX_ITEMS (1ULL << 40) /* a count above this is not a count */

/* Where some extension types keep the blocks their __sizeof__ counts (c_sizeof.c says
 * where they come from; the same in 3.8-3.13). */
#define PYH_ODICT_FAST_NODES 64 /* PyODictObject.od_fast_nodes */
#define PYH_ELEMENT_EXTRA 40    /* ElementObject.extra */
#define PYH_BUFFERED_BUFFER 56  /* buffered.buffer */
#define PYH_STRUCT_CODES 32     /* PyStructObject.s_codes */
#define PYH_ARRAY_ITEMS 24      /* arrayobject.ob_item */

struct pyh_kind {
    const char *name; /* "tuple", for messages */
    /* The types of the kind (their subclasses follow through tp_base): static types of the
     * runtime, by their member of struct pyh_static_types (offsetof + 1; 0 ends the list),
     * and C types of extension modules by tp_name (only a C type matches: not the pure
     * Python class of the same name that some modules define before importing theirs). */
    size_t statics[4];
    const char *c_names[3];
    /* The repr of its own types (not of subclasses) is a literal: previewed even where other
     * objects show as <type object at ...>. */
    bool literal;
    /* sys.getsizeof is all inside the object's own allocator block (no buffer). */
    bool self_contained;
    /* Its struct may point to C memory of its own (the native scan reads it). */
    bool native_pointers;
    /* How a generalized path step out of it reads ("[*]"); NULL: the step keeps its key. */
    const char *any_step;
    /* Its buffers: the layout members holding pointers to blocks it owns (-1: none). A
     * kind with buffers has a size made of its struct and them. */
    void (*buffers)(const struct pyh_layout *L, int32_t fields[2]);
    /* Called once per type of the kind after kinds are assigned (a struct sequence's field
     * count). */
    void (*type_setup)(struct pyh_heap *heap, struct pyh_type *t);
    /* The least memory an object of t occupies, from the avail bytes of it at obj;
     * UINT64_MAX when its fields are implausible. NULL: the basic size plus ob_size items. */
    uint64_t (*least_size)(const struct pyh_heap *heap, const struct pyh_type *t,
                           const uint8_t *obj, size_t avail);
    /* __sizeof__ (sys.getsizeof less the pre-header) of the object at obj, from bytes (avail
     * of them, may be NULL) where they reach, else from the target. NULL: the basic size
     * plus ob_size items. */
    struct pyh_error *(*size)(const struct pyh_heap *heap, const struct pyh_type *t,
                              uint64_t obj, const uint8_t *bytes, size_t avail, uint64_t *size);
    /* What it refers to (heap/walk.h: pyh_kind_referents). NULL: nothing. */
    void (*referents)(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t);
    /* Its preview into buf (cap bytes, holding *len), depth levels deep. NULL: <T object at
     * ADDR>. */
    void (*preview)(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr, int depth,
                    char *buf, size_t cap, size_t *len);
    /* What `show` adds: length and first items (d is cleared and holds the preview). */
    void (*details)(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr,
                    struct pyh_details *d);
};

extern const struct pyh_kind *const pyh_kinds[PYH_KIND_COUNT];

/* Puts every kind's static types into map (address -> kind), for many lookups. */
struct pyh_error *pyh_kind_statics_map(const struct pyh_static_types *st, struct pyh_u64map *map);

/* Whether the type at addr is one of kind k's own static types. */
bool pyh_kind_is_own_static(const struct pyh_static_types *st, const struct pyh_kind *k,
                            uint64_t addr);

/* ---- For the sizes ------------------------------------------------------------------- */

/* A field of the object: from the copy when it holds it, else from the target. Inline: the
 * census sizes every object from its copy. */
static inline struct pyh_error *pyh_kind_field(const struct pyh_heap *heap, uint64_t obj,
                                               const uint8_t *bytes, size_t avail, int32_t off,
                                               size_t width, uint64_t *out)
{
    *out = 0;
    if (off < 0) return pyh_error_create(PYH_ERR_UNSUPPORTED, "field absent in this version");
    if (bytes && (size_t)off + width <= avail) {
        memcpy(out, bytes + off, width);
        return NULL;
    }
    return pyh_target_read(heap->rt->target, obj + (uint64_t)off, out, width);
}

/* A word of a copy of an object (the caller checked avail). */
static inline uint64_t pyh_kind_word(const uint8_t *obj, size_t off)
{
    uint64_t v;
    memcpy(&v, obj + off, 8);
    return v;
}

/* The default least size, of an object whose kind has no rule of its own or defers to it:
 * the basic size plus ob_size items (classify.c). */
uint64_t pyh_kind_least_size_items(const struct pyh_heap *heap, const struct pyh_type *t,
                                   const uint8_t *obj, size_t avail);

/* ob_size of the variable-size object at obj (a code object's co_cellvars tuple ...),
 * capped; 0 for NULL. */
struct pyh_error *pyh_kind_var_len(const struct pyh_heap *heap, uint64_t obj, uint64_t *n);

/* Bytes of a dict keys object (_PyDict_KeysSize), its refcount (shared when > 1) and, when
 * entries_usable is not NULL, the slots a split table's values array has (dict.c). */
struct pyh_error *pyh_dict_keys_size(const struct pyh_heap *heap, uint64_t keys, uint64_t *size,
                                     uint64_t *refcnt, uint64_t *entries_usable);

/* frame.__sizeof__ and generator.__sizeof__ (frame.c), and the least size of both: from
 * 3.11 their item size counts frame slots, not ob_size items. */
struct pyh_error *pyh_kind_frame_size(const struct pyh_heap *heap, const struct pyh_type *t,
                                      uint64_t obj, const uint8_t *bytes, size_t avail,
                                      uint64_t *size);
uint64_t pyh_kind_frame_least_size(const struct pyh_heap *heap, const struct pyh_type *t,
                                   const uint8_t *obj, size_t avail);

/* The extension types' __sizeof__ rules (c_sizeof.c): the rule of the C type named name
 * (PYH_SIZEOF_DEFAULT for none), the buffers an object of the rule keeps (fields[0] or
 * fields[1] set, the others left), and what the rule adds to *size. */
enum pyh_sizeof_rule pyh_sizeof_rule_named(const char *name);
void pyh_sizeof_rule_buffers(enum pyh_sizeof_rule rule, int32_t fields[2]);
struct pyh_error *pyh_sizeof_rule_extra(const struct pyh_heap *heap, const struct pyh_type *t,
                                        uint64_t obj, const uint8_t *bytes, size_t avail,
                                        uint64_t *size);

/* ---- For the referents ---------------------------------------------------------------- */

/* A 3.11+ interpreter frame's references (frame.c); thread_frame: a thread's, a root. */
void pyh_kind_iframe(struct pyh_walk *w, uint64_t f, bool thread_frame);

/* ---- For the previews ----------------------------------------------------------------- */

#define PYH_PREVIEW_ITEMS 5 /* items a container's preview shows */

/* Appends formatted text to buf (of cap bytes, holding len), cutting silently. */
void pyh_put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* True when e is no error; frees it either way (for reads whose failure only skips). */
bool pyh_ok(struct pyh_error *e);

/* Python-style quoted text of a str (UTF-8) or bytes (prefix "b"), cut at `cut` characters,
 * "..." after it when truncated: what repr() shows. */
void pyh_put_quoted(char *buf, size_t cap, size_t *len, const char *prefix, const char *text,
                    size_t text_len, size_t cut, bool truncated);

/* open, the previews of the first items of an item array, close (a 1-tuple's comma too). */
void pyh_preview_items(struct pyh_heap *heap, uint64_t items_at, uint64_t n, int depth,
                       const char *open, const char *close, char *buf, size_t cap, size_t *len);

/* A tuple's or list's preview (<T of N> below the depth asked for) from its item count n and
 * item array, read unless err (which it frees). */
void pyh_preview_sequence(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr,
                          struct pyh_error *err, uint64_t n, uint64_t items, int depth,
                          const char *open, const char *close, char *buf, size_t cap, size_t *len);

/* A str field of an object, without quotes ("" when unreadable). */
void pyh_str_field(struct pyh_heap *heap, uint64_t obj, int32_t off, char *out, size_t cap);

/* Adds one item (key, and the preview of the object at value) to d, while room is left. */
void pyh_details_add(struct pyh_heap *heap, struct pyh_details *d, const char *key,
                     uint64_t value);

/* Sets d's length to n and adds the first of the n items at items_at (a tuple's, a list's). */
void pyh_details_items(struct pyh_heap *heap, struct pyh_details *d, uint64_t items_at, uint64_t n);

/* Calls fn for each live key of the set at addr until it returns false (set.c). */
void pyh_set_each_key(struct pyh_heap *heap, uint64_t addr, bool (*fn)(void *, uint64_t),
                      void *ctx);

#define PYH_KIND_STATIC(member) (offsetof(struct pyh_static_types, member) + 1)

#endif
