/* Reading Python objects out of target memory: type checks, str, int, tuple, dict (every
 * layout from 3.8 to 3.13: combined, split, managed and inline values), module dicts and
 * instance attributes. All reads are bounded; a corrupt object gives an error, never a
 * crash or an endless loop. */
#ifndef PYH_RUNTIME_OBJECTS_H
#define PYH_RUNTIME_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"

/* tp_flags bits used here (the same values in 3.8-3.13 unless noted). */
#define PYH_TPFLAGS_INLINE_VALUES (1UL << 2) /* 3.13 */
#define PYH_TPFLAGS_MANAGED_WEAKREF (1UL << 3) /* 3.12+ */
#define PYH_TPFLAGS_MANAGED_DICT (1UL << 4)  /* 3.11+ */
#define PYH_TPFLAGS_HEAPTYPE (1UL << 9)
#define PYH_TPFLAGS_HAVE_GC (1UL << 14)
#define PYH_TPFLAGS_LONG_SUBCLASS (1UL << 24)
#define PYH_TPFLAGS_TUPLE_SUBCLASS (1UL << 26)
#define PYH_TPFLAGS_UNICODE_SUBCLASS (1UL << 28)
#define PYH_TPFLAGS_DICT_SUBCLASS (1UL << 29)

/* ob_type of obj. */
struct pyh_error *pyh_obj_type(struct pyh_runtime *rt, uint64_t obj, uint64_t *type);

/* tp_flags of a type object. */
struct pyh_error *pyh_type_flags(struct pyh_runtime *rt, uint64_t type, uint64_t *flags);

/* Fails with PYH_ERR_CORRUPT naming `what` unless obj's type is exactly `type`. */
struct pyh_error *pyh_obj_expect(struct pyh_runtime *rt, uint64_t obj, uint64_t type,
                                 const char *what);

/* How far before an object of a Py_TPFLAGS_MANAGED_DICT type (3.11+) its dict (or values)
 * word is: -24, between the weakref word and the GC head (MANAGED_DICT_OFFSET); -8 in a
 * free-threaded build, whose pre-header has no GC head (Include/internal/pycore_object.h). */
static inline uint64_t pyh_managed_dict_slot(const struct pyh_runtime *rt, uint64_t obj)
{
    return obj - (rt->free_threaded ? 8 : 24);
}

/* The fields of a str's state word (PyASCIIObject.state): interned:2, kind:3, compact:1,
 * ascii:1 from 3.8 on; a free-threaded build makes `interned` a whole byte (it is read
 * atomically), so the others start at bit 8 (Include/cpython/unicodeobject.h 3.14). */
struct pyh_str_state {
    unsigned kind, compact, ascii;
};

static inline struct pyh_str_state pyh_str_state_decode(const struct pyh_runtime *rt, uint32_t state)
{
    if (rt->free_threaded) state >>= 6;
    return (struct pyh_str_state){(state >> 2) & 7, (state >> 5) & 1, (state >> 6) & 1};
}

/* Reads a str object as UTF-8 into buf (always NUL-terminated). Longer strings are cut at
 * cap-1 bytes (on a character boundary) and *truncated is set (may be NULL). */
struct pyh_error *pyh_str_read(struct pyh_runtime *rt, uint64_t obj, char *buf, size_t cap,
                               bool *truncated);

/* True when obj is a str equal to s (false for other types or on read errors). */
bool pyh_str_equals(struct pyh_runtime *rt, uint64_t obj, const char *s);

/* Reads an int object that fits in int64_t. */
struct pyh_error *pyh_long_read(struct pyh_runtime *rt, uint64_t obj, int64_t *value);

/* Iterates the items of a dict; usage:
 *   struct pyh_dict_iter it; err = pyh_dict_iter_init(rt, dict, &it);
 *   while (pyh_dict_iter_next(&it, &key, &value)) ...;  if (it.err) ...  */
struct pyh_dict_iter {
    struct pyh_runtime *rt;
    uint64_t entries;   /* address of the first entry */
    uint64_t values;    /* split table: the values array, else 0 */
    uint32_t entry_size; /* 24 (hash, key, value) or 16 (key, value) */
    uint32_t key_at;     /* offset of the key in an entry */
    uint64_t nentries, next;
    /* A split table's insertion order (3.11+): the entry index of each value, in the
     * order they were set, which is the dict's order (the shared keys' order is the first
     * instance's, or 3.14's sorted __static_attributes__). norder values when ordered. */
    bool ordered;
    uint32_t norder;
    uint8_t order[256];
    struct pyh_error *err; /* set when an entry could not be read; iteration stops */
};

struct pyh_error *pyh_dict_iter_init(struct pyh_runtime *rt, uint64_t dict,
                                     struct pyh_dict_iter *it);

bool pyh_dict_iter_next(struct pyh_dict_iter *it, uint64_t *key, uint64_t *value);

/* Number of items of a dict (ma_used). */
struct pyh_error *pyh_dict_len(struct pyh_runtime *rt, uint64_t dict, uint64_t *len);

/* Looks up a str key in a dict by comparing contents. PYH_ERR_NOT_FOUND when absent. */
struct pyh_error *pyh_dict_get_str(struct pyh_runtime *rt, uint64_t dict, const char *key,
                                   uint64_t *value);

/* The module object sys.modules[name] of interpreter interp. */
struct pyh_error *pyh_module_lookup(struct pyh_runtime *rt, uint64_t interp, const char *name,
                                    uint64_t *module);

/* A global of a module object (its md_dict). */
struct pyh_error *pyh_module_global(struct pyh_runtime *rt, uint64_t module, const char *name,
                                    uint64_t *value);

/* Iterates the attributes held in an instance's own __dict__ (plain dict, managed dict or
 * inline values); PYH_ERR_NOT_FOUND when it has none. */
struct pyh_error *pyh_instance_dict_iter(struct pyh_runtime *rt, uint64_t obj,
                                         struct pyh_dict_iter *it);

/* An attribute held in an instance's own __dict__ (plain dict, managed dict or inline
 * values, as the version stores it); PYH_ERR_NOT_FOUND when absent. */
struct pyh_error *pyh_instance_attr(struct pyh_runtime *rt, uint64_t obj, const char *name,
                                    uint64_t *value);

/* Item i of a tuple (bounds-checked against ob_size). */
struct pyh_error *pyh_tuple_item(struct pyh_runtime *rt, uint64_t tuple, uint64_t i,
                                 uint64_t *item);

#endif
