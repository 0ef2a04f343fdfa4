/* The C types of extension modules whose __sizeof__ counts blocks of their own beyond what
 * their kind's rule gives (heap.h: enum pyh_sizeof_rule): the size those blocks add and
 * where the object keeps them (its buffers). Their layouts are the same in 3.8-3.13 (DWARF
 * of the pyenv builds): odictobject.c od_fast_nodes at 64, od_fast_nodes_size at 72, a list
 * node of 32 bytes (key, hash, next, prev); _elementtree.c extra at 40, ElementObjectExtra
 * of 64 bytes {attrib, length, allocated, children, _children[4]}; bufferedio.c buffer at 56,
 * buffer_size at 120; _struct.c s_codes at 32, formatcode of 32 bytes, ended by one whose
 * fmtdef is NULL; arraymodule.c ob_item at 24, allocated at 32, ob_descr at 40, its itemsize
 * (int) at 4. */
#include "heap/kinds/kind.h"

#define ODICT_FAST_NODES_SIZE 72
#define ODICT_NODE 32
#define ELEMENT_EXTRA_SIZE 64
#define EXTRA_ALLOCATED 16
#define EXTRA_CHILDREN 24
#define EXTRA_STATIC_CHILDREN 32
#define BUFFERED_BUFFER_SIZE 120
#define STRUCT_CODE_SIZE 32
#define MAX_STRUCT_CODES (1 << 20)
#define ARRAY_ALLOCATED 32
#define ARRAY_DESCR 40
#define DESCR_ITEMSIZE 4

/* The C types whose __sizeof__ this file follows, by tp_name (their C subclasses and
 * classes inherit it). */
static const struct {
    const char *name;
    enum pyh_sizeof_rule rule;
} named[] = {
    {"collections.OrderedDict", PYH_SIZEOF_ODICT},
    {"xml.etree.ElementTree.Element", PYH_SIZEOF_ELEMENT},
    {"_io.BufferedReader", PYH_SIZEOF_BUFFERED},
    {"_io.BufferedWriter", PYH_SIZEOF_BUFFERED},
    {"_io.BufferedRandom", PYH_SIZEOF_BUFFERED},
    {"_struct.Struct", PYH_SIZEOF_STRUCT},
    {"array.array", PYH_SIZEOF_ARRAY},
};

enum pyh_sizeof_rule pyh_sizeof_rule_named(const char *name)
{
    for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++)
        if (strcmp(name, named[k].name) == 0) return named[k].rule;
    return PYH_SIZEOF_DEFAULT;
}

void pyh_sizeof_rule_buffers(enum pyh_sizeof_rule rule, int32_t fields[2])
{
    switch (rule) {
    case PYH_SIZEOF_ODICT: fields[1] = PYH_ODICT_FAST_NODES; break;
    case PYH_SIZEOF_ELEMENT: fields[0] = PYH_ELEMENT_EXTRA; break;
    case PYH_SIZEOF_BUFFERED: fields[0] = PYH_BUFFERED_BUFFER; break;
    case PYH_SIZEOF_STRUCT: fields[0] = PYH_STRUCT_CODES; break;
    case PYH_SIZEOF_ARRAY: fields[0] = PYH_ARRAY_ITEMS; break;
    case PYH_SIZEOF_DEFAULT: break;
    }
}

struct pyh_error *pyh_sizeof_rule_extra(const struct pyh_heap *heap, const struct pyh_type *t,
                                        uint64_t obj, const uint8_t *bytes, size_t avail,
                                        uint64_t *size)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t a = 0, b = 0;
    struct pyh_error *err = NULL;
    switch ((enum pyh_sizeof_rule)t->sizeof_rule) {
    case PYH_SIZEOF_DEFAULT:
        break;
    case PYH_SIZEOF_ODICT:
        if (!(err = pyh_kind_field(heap, obj, bytes, avail, ODICT_FAST_NODES_SIZE, 8, &a)) &&
            !(err = pyh_kind_field(heap, obj, bytes, avail, L->dict_used, 8, &b)) &&
            a < PYH_KIND_MAX_ITEMS && b < PYH_KIND_MAX_ITEMS)
            *size += 8 * a + ODICT_NODE * b;
        break;
    case PYH_SIZEOF_ELEMENT:
        if ((err = pyh_kind_field(heap, obj, bytes, avail, PYH_ELEMENT_EXTRA, 8, &a)) || !a) break;
        *size += ELEMENT_EXTRA_SIZE;
        if ((err = pyh_kind_field(heap, a, NULL, 0, EXTRA_CHILDREN, 8, &b))) break;
        if (b != a + EXTRA_STATIC_CHILDREN) {
            uint64_t allocated;
            if (!(err = pyh_kind_field(heap, a, NULL, 0, EXTRA_ALLOCATED, 8, &allocated)) &&
                allocated < PYH_KIND_MAX_ITEMS)
                *size += 8 * allocated;
        }
        break;
    case PYH_SIZEOF_BUFFERED:
        if (!(err = pyh_kind_field(heap, obj, bytes, avail, PYH_BUFFERED_BUFFER, 8, &a)) && a &&
            !(err = pyh_kind_field(heap, obj, bytes, avail, BUFFERED_BUFFER_SIZE, 8, &b)) &&
            b < PYH_KIND_MAX_ITEMS)
            *size += b;
        break;
    case PYH_SIZEOF_STRUCT: {
        if ((err = pyh_kind_field(heap, obj, bytes, avail, PYH_STRUCT_CODES, 8, &a)) || !a) break;
        uint64_t n = 0;
        for (; n < MAX_STRUCT_CODES; n++) { /* the codes, then the end marker: all counted */
            if ((err = pyh_kind_field(heap, a + STRUCT_CODE_SIZE * n, NULL, 0, 0, 8, &b))) break;
            if (!b) break;
        }
        if (!err) *size += STRUCT_CODE_SIZE * (n + 1);
        break;
    }
    case PYH_SIZEOF_ARRAY:
        if (!(err = pyh_kind_field(heap, obj, bytes, avail, ARRAY_ALLOCATED, 8, &a)) &&
            !(err = pyh_kind_field(heap, obj, bytes, avail, ARRAY_DESCR, 8, &b)) && b &&
            a < PYH_KIND_MAX_ITEMS) {
            uint64_t itemsize = 0;
            if (!(err = pyh_kind_field(heap, b, NULL, 0, DESCR_ITEMSIZE, 4, &itemsize)) && itemsize <= 16)
                *size += a * itemsize;
        }
        break;
    }
    return err;
}
