/* The table of kinds: pyh_kinds[kind] is the file of that kind's knowledge. */
#include "heap/kinds/kind.h"

extern const struct pyh_kind pyh_kind_other, pyh_kind_type, pyh_kind_str, pyh_kind_bytes,
    pyh_kind_bytearray, pyh_kind_int, pyh_kind_float, pyh_kind_tuple, pyh_kind_list,
    pyh_kind_dict, pyh_kind_set, pyh_kind_code, pyh_kind_module, pyh_kind_function,
    pyh_kind_generator, pyh_kind_frame, pyh_kind_cell, pyh_kind_method, pyh_kind_cfunction,
    pyh_kind_classmethod, pyh_kind_property, pyh_kind_weakref, pyh_kind_deque,
    pyh_kind_exception, pyh_kind_element, pyh_kind_ndarray, pyh_kind_lru_cache,
    pyh_kind_lru_elem, pyh_kind_datetime;

const struct pyh_kind *const pyh_kinds[PYH_KIND_COUNT] = {
    [PYH_KIND_OTHER] = &pyh_kind_other,
    [PYH_KIND_TYPE] = &pyh_kind_type,
    [PYH_KIND_STR] = &pyh_kind_str,
    [PYH_KIND_BYTES] = &pyh_kind_bytes,
    [PYH_KIND_BYTEARRAY] = &pyh_kind_bytearray,
    [PYH_KIND_INT] = &pyh_kind_int,
    [PYH_KIND_FLOAT] = &pyh_kind_float,
    [PYH_KIND_TUPLE] = &pyh_kind_tuple,
    [PYH_KIND_LIST] = &pyh_kind_list,
    [PYH_KIND_DICT] = &pyh_kind_dict,
    [PYH_KIND_SET] = &pyh_kind_set,
    [PYH_KIND_CODE] = &pyh_kind_code,
    [PYH_KIND_MODULE] = &pyh_kind_module,
    [PYH_KIND_FUNCTION] = &pyh_kind_function,
    [PYH_KIND_GENERATOR] = &pyh_kind_generator,
    [PYH_KIND_FRAME] = &pyh_kind_frame,
    [PYH_KIND_CELL] = &pyh_kind_cell,
    [PYH_KIND_METHOD] = &pyh_kind_method,
    [PYH_KIND_CFUNCTION] = &pyh_kind_cfunction,
    [PYH_KIND_CLASSMETHOD] = &pyh_kind_classmethod,
    [PYH_KIND_PROPERTY] = &pyh_kind_property,
    [PYH_KIND_WEAKREF] = &pyh_kind_weakref,
    [PYH_KIND_DEQUE] = &pyh_kind_deque,
    [PYH_KIND_EXCEPTION] = &pyh_kind_exception,
    [PYH_KIND_ELEMENT] = &pyh_kind_element,
    [PYH_KIND_NDARRAY] = &pyh_kind_ndarray,
    [PYH_KIND_LRU_CACHE] = &pyh_kind_lru_cache,
    [PYH_KIND_LRU_ELEM] = &pyh_kind_lru_elem,
    [PYH_KIND_DATETIME] = &pyh_kind_datetime,
};

bool pyh_kind_is_own_static(const struct pyh_static_types *st, const struct pyh_kind *k,
                            uint64_t addr)
{
    for (size_t i = 0; i < sizeof(k->statics) / sizeof(k->statics[0]) && k->statics[i]; i++) {
        uint64_t a;
        memcpy(&a, (const char *)st + k->statics[i] - 1, 8);
        if (a && a == addr) return true; /* 0: a type this version lacks (frozendict) */
    }
    return false;
}

struct pyh_error *pyh_kind_statics_map(const struct pyh_static_types *st, struct pyh_u64map *map)
{
    for (int k = 0; k < PYH_KIND_COUNT; k++) {
        const struct pyh_kind *kind = pyh_kinds[k];
        for (size_t i = 0; i < sizeof(kind->statics) / sizeof(kind->statics[0]) && kind->statics[i]; i++) {
            uint64_t a;
            memcpy(&a, (const char *)st + kind->statics[i] - 1, 8);
            struct pyh_error *err = a ? pyh_u64map_put(map, a, (uint64_t)k) : NULL;
            if (err) return err;
        }
    }
    return NULL;
}

void pyh_kind_referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    const struct pyh_kind *k = pyh_kinds[t->kind];
    if (k->referents) k->referents(w, obj, t);
}

bool pyh_type_holds_native_pointers(const struct pyh_type *t)
{
    return pyh_kinds[t->kind]->native_pointers || t->c_size > t->known_size;
}

const char *pyh_kind_any_step(enum pyh_type_kind kind)
{
    return pyh_kinds[kind]->any_step;
}
