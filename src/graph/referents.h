/* Per-type referent readers: what an object refers to, and how (the label a path prints).
 * Used to build the graph (labels ignored) and to label the few edges a report prints. */
#ifndef PYH_GRAPH_REFERENTS_H
#define PYH_GRAPH_REFERENTS_H

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

/* Counts, for every native block (heap->native_blocks), how many objects' C fields point to
 * its start, into heap->native_refs: a block one object alone points to is read one level
 * down as part of that object. One pass over the objects of types with C fields no reader
 * knows; called once before the graph is built (pyh_referents then reads no native block
 * without it). */
struct pyh_error *pyh_referents_count_native(struct pyh_heap *heap);

/* Calls fn once for each native block (an index into heap->native_blocks) whose start a
 * word of object i's struct holds: its C fields pointing to C memory (a module's state, an
 * ndarray's data, an extension's malloc'ed struct). Objects whose kind holds no such field
 * (str, tuple, dict, class instances ...) are not read. */
void pyh_referents_native_fields(struct pyh_heap *heap, size_t i,
                                 void (*fn)(void *ctx, size_t block), void *ctx);

/* Visits the referents of the object at obj of type index type. Unreadable parts are
 * skipped (a corrupt object yields fewer edges, never an error); only an interruption is
 * returned. Edges of C fields that no reader knows are reported with PYH_REF_OFFSET and only
 * when they point at a known object. */
struct pyh_error *pyh_referents(struct pyh_heap *heap, uint64_t obj, uint32_t type,
                                pyh_ref_visit visit, void *ctx);

/* Visits the references a 3.11+ interpreter frame of a thread's chain (not an object: a
 * root) holds: its code, function, globals, builtins, locals dict, frame object, its locals
 * (also while it executes, when CPython records no stack depth) and, when it is suspended in
 * a call, its value stack. The code object for names is passed in ref->code. */
void pyh_iframe_referents(struct pyh_heap *heap, uint64_t iframe, pyh_ref_visit visit, void *ctx);

/* Formats a ref as a Python expression suffix: "[3]", "['key']", ".attr", "<key>",
 * ".f_locals['x']" ... */
void pyh_ref_format(struct pyh_heap *heap, const struct pyh_ref *ref, char *buf, size_t cap);

#endif
