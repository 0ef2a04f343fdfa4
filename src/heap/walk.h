/* References out of an object, as the per-type readers of heap/kinds/ emit them: what an
 * object refers to and how (the label a path prints). The graph layer builds its edges from
 * them (labels ignored) and labels the few edges a report prints; the readers themselves
 * use the helpers below, which count what they could not read. */
#ifndef PYH_HEAP_WALK_H
#define PYH_HEAP_WALK_H

#include <stdbool.h>
#include <stdint.h>

#include "heap/heap.h"

/* How an object refers to another. */
enum pyh_ref_kind {
    PYH_REF_ITEM,       /* [index]: tuple, list, deque item; closure cell */
    PYH_REF_DICT_VALUE, /* [key]: key is the key object */
    PYH_REF_DICT_KEY,   /* a dict key (the key object itself) */
    PYH_REF_SET_ITEM,   /* a set member */
    PYH_REF_ATTR,       /* .name with name a C string (fields: __dict__, __code__, ...) */
    PYH_REF_ATTR_KEY,   /* .name with name the str object key (instance attributes, slots) */
    PYH_REF_LOCAL,      /* a frame's local variable number index (name from the code) */
    PYH_REF_STACK,      /* a frame's value stack entry */
    PYH_REF_TYPE,       /* ob_type of an instance of a heap type */
    PYH_REF_OFFSET,     /* a C field no reader knows, at byte offset index (conservative) */
};

struct pyh_ref {
    enum pyh_ref_kind kind;
    uint64_t index;   /* ITEM, LOCAL, STACK, OFFSET */
    uint64_t key;     /* DICT_VALUE, ATTR_KEY: the key (str) object; OFFSET: the referrer's
                         type, whose tp_members may name the field */
    const char *name; /* ATTR; DICT_VALUE: the field holding the dict when it is no object
                         of its own ("<cache>") */
    uint64_t code;    /* LOCAL: the code object whose names index refers to; OFFSET: 1 + the
                         offset inside the native block the field points to, 0 if none */
};

/* Called for every referent; return false to stop. */
typedef bool (*pyh_ref_visit)(void *ctx, uint64_t target, const struct pyh_ref *ref);

/* One walk over the referents of one object (or of a thread's frame: obj 0). */
struct pyh_walk {
    struct pyh_heap *heap;
    pyh_ref_visit visit;
    void *ctx;
    bool stop;    /* the visitor asked to stop */
    uint64_t obj; /* the object whose referents these are (0: a frame, a native scan) */
};

#define PYH_WALK_MAX_ITEMS (1ULL << 32) /* a container claiming more is corrupt */
#define PYH_WALK_CHUNK 512              /* pointers read at once from item arrays */

/* A read that failed where edges were expected (a field of the object, its item array, its
 * dict or set table): the edges are lost, so it is counted (heap->refs_unread) and the
 * analyses built on the graph say so. "Not found" (no __dict__) is no failure. */
void pyh_walk_lost(struct pyh_walk *w, uint64_t addr, const struct pyh_error *err);

/* Visits target (0 is skipped); false once the walk stops. */
bool pyh_walk_emit(struct pyh_walk *w, uint64_t target, const struct pyh_ref *ref);

/* The word at addr, 0 when unreadable (a word the object may lack). */
uint64_t pyh_walk_read(struct pyh_walk *w, uint64_t addr);

/* The word at addr, which the object must have: a failure is counted (pyh_walk_lost). */
uint64_t pyh_walk_own(struct pyh_walk *w, uint64_t addr);

/* A pointer field at a layout offset, labelled .name (absent fields, off < 0, are skipped). */
void pyh_walk_field(struct pyh_walk *w, uint64_t obj, int32_t off, const char *name);

/* n pointers at addr: items [first, first + n) of kind (ITEM, LOCAL with code, STACK). */
void pyh_walk_items(struct pyh_walk *w, uint64_t addr, uint64_t n, enum pyh_ref_kind kind,
                    uint64_t first, uint64_t code);

/* n slots of a 3.11+ interpreter frame at addr (3.14+: tagged _PyStackRefs). */
void pyh_walk_frame_slots(struct pyh_walk *w, uint64_t addr, uint64_t n, enum pyh_ref_kind kind,
                          uint64_t code);

/* A frame slot outside localsplus (f_executable, f_funcobj): a _PyStackRef from 3.14. */
void pyh_walk_slot_field(struct pyh_walk *w, uint64_t f, int32_t off, const char *name);

/* Whether v is the address of a live object. */
bool pyh_walk_is_object(const struct pyh_heap *heap, uint64_t v);

/* The words of the native block at `block` that obj alone points to (from its word at
 * offset off of type t), read one level down as part of obj: PYH_REF_OFFSET edges. Needs
 * heap->native_refs (graph/referents.h: pyh_referents_count_native); nothing without. */
void pyh_walk_native_block(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t, uint64_t off,
                           uint64_t block);

/* What the reader of t's kind (heap/kinds/) visits of the object at obj: the fields and
 * items its type's tp_traverse visits, with their labels. Not the parts every object may
 * have (a heap type's class, instance __dict__, __slots__, C fields past the kind's
 * struct): graph/referents.c adds those. */
void pyh_kind_referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t);

/* Visits the references a 3.11+ interpreter frame of a thread's chain (not an object: a
 * root) holds: its code, function, globals, builtins, locals dict, frame object, its locals
 * (also while it executes, when CPython records no stack depth) and, when it is suspended in
 * a call, its value stack. The code object for names is passed in ref->code. */
void pyh_iframe_referents(struct pyh_heap *heap, uint64_t iframe, pyh_ref_visit visit, void *ctx);

#endif
