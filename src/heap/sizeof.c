/* sys.getsizeof() as the target's own Python version computes it: the type's __sizeof__
 * (object.__sizeof__, or the core types' own: str, int, bytearray, list, dict, set, type)
 * plus the pre-header getsizeof adds — the GC head for GC objects, and from 3.11 the
 * managed-dict/weakref words — with each version's exceptions for type objects:
 *   3.8-3.10  GC head only when the object itself is GC (tp_is_gc: static types are not);
 *   3.11-3.12 the GC head of every type object, static ones included;
 *   3.13      nothing for static type objects.
 * Types whose __sizeof__ counts more than their items (code, frame, deque) are sized from
 * the fields their own __sizeof__ reads, per version (see code_sizeof, frame_sizeof,
 * deque_sizeof below).
 * (Measured with sys.getsizeof on every interpreter; tests/integration checks it.) */
#include <string.h>

#include "heap/heap_internal.h"
#include "runtime/objects.h"
#include "runtime/stackref.h"

#define MANAGED_WEAKREF (1UL << 3)
#define MAX_CO_EXTRA_USERS 255 /* ceval.c: co_extra never has more slots */
#define MAX_ITEMS (1ULL << 40) /* a count above this is not a count */
#define DEQUE_BLOCKLEN 64      /* _collectionsmodule.c BLOCKLEN, every version */
#define DEQUE_BLOCK_SIZE (8 * DEQUE_BLOCKLEN + 16) /* sizeof(block): two links and the items */

/* A field of the object: from the copy when it holds it, else from the target. Inline: the
 * census sizes every object from its copy. */
static inline struct pyh_error *field(const struct pyh_heap *heap, uint64_t obj, const uint8_t *bytes,
                               size_t avail, int32_t off, size_t width, uint64_t *out)
{
    *out = 0;
    if (off < 0) return pyh_error_create(PYH_ERR_UNSUPPORTED, "field absent in this version");
    if (bytes && (size_t)off + width <= avail) {
        memcpy(out, bytes + off, width);
        return NULL;
    }
    return pyh_target_read(heap->rt->target, obj + (uint64_t)off, out, width);
}

/* USABLE_FRACTION of dictobject.c. */
static uint64_t usable_fraction(uint64_t n) { return (n << 1) / 3; }

/* Bytes of a dict keys object (_PyDict_KeysSize), and whether it is shared (refcount > 1). */
static struct pyh_error *keys_size(const struct pyh_heap *heap, uint64_t keys, uint64_t *size,
                                   uint64_t *refcnt, uint64_t *entries_usable)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t n;
    struct pyh_error *err = field(heap, keys, NULL, 0, L->keys_refcnt, 8, refcnt);
    if (err) return err;
    if (L->keys_log2_size >= 0) {
        uint64_t log2_size = 0, log2_index = 0, kind = 0;
        if ((err = field(heap, keys, NULL, 0, L->keys_log2_size, 1, &log2_size)) ||
            (err = field(heap, keys, NULL, 0, L->keys_log2_index_bytes, 1, &log2_index)) ||
            (err = field(heap, keys, NULL, 0, L->keys_kind, 1, &kind)))
            return err;
        if (log2_size >= 40 || log2_index >= 44) return pyh_error_create(PYH_ERR_CORRUPT, "dict keys");
        n = 1ULL << log2_size;
        *size = (uint64_t)L->keys_header_size + (1ULL << log2_index) +
                usable_fraction(n) * (kind == 0 ? 24 : 16);
    } else {
        if ((err = field(heap, keys, NULL, 0, L->keys_size, 8, &n))) return err;
        if (n == 0 || n >= (1ULL << 40)) return pyh_error_create(PYH_ERR_CORRUPT, "dict keys");
        uint64_t ix = n <= 0xff ? 1 : n <= 0xffff ? 2 : n <= 0xffffffffULL ? 4 : 8;
        *size = (uint64_t)L->keys_header_size + ix * n + 24 * usable_fraction(n);
    }
    if (entries_usable) {
        uint64_t nentries = 0, usable = 0;
        if ((err = field(heap, keys, NULL, 0, L->keys_nentries, 8, &nentries)) ||
            (err = field(heap, keys, NULL, 0, L->keys_usable, 8, &usable)))
            return err;
        /* The values array of a split table: 3.8-3.10 size it from the keys' size, 3.11+
         * from the entries used and still usable. */
        *entries_usable = L->keys_log2_size >= 0 ? nentries + usable : usable_fraction(n);
    }
    return NULL;
}

/* The first 3.13 known to count a dict's embedded values in sys.getsizeof (3.13.18, final). */
#define EMBEDDED_COUNTED_313 0x030d12f0u

static struct pyh_error *dict_sizeof(const struct pyh_heap *heap, uint64_t obj, const uint8_t *bytes,
                                     size_t avail, uint64_t base, uint64_t *size)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t keys, values, ksize, refcnt, nvalues;
    struct pyh_error *err = field(heap, obj, bytes, avail, L->dict_keys, 8, &keys);
    if (!err) err = field(heap, obj, bytes, avail, L->dict_values, 8, &values);
    if (!err) err = keys_size(heap, keys, &ksize, &refcnt, &nvalues);
    if (err) return err;
    *size = base;
    bool embedded = false;
    if (values && heap->rt->minor == 13 && heap->rt->version_hex < EMBEDDED_COUNTED_313) {
        /* 3.13: values embedded in their object are that object's memory, not the dict's —
         * until a 3.13 patch release after 3.13.5 (Debian's 3.13.18 counts them, as the
         * dict of an object whose values were materialized: measured against
         * sys.getsizeof; 3.13.0 and 3.13.5 do not). */
        uint64_t flag;
        if ((err = field(heap, values, NULL, 0, 2, 1, &flag))) return err;
        embedded = flag != 0;
    }
    if (values && !embedded) *size += nvalues * 8;
    if (refcnt == 1) *size += ksize;
    return NULL;
}

static struct pyh_error *str_sizeof(const struct pyh_heap *heap, uint64_t obj, const uint8_t *bytes,
                                    size_t avail, uint64_t *size)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t length, state, data = 0;
    struct pyh_error *err = field(heap, obj, bytes, avail, L->ascii_length, 8, &length);
    if (!err) err = field(heap, obj, bytes, avail, L->ascii_state, 4, &state);
    if (err) return err;
    unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
    if (compact && ascii) {
        *size = (uint64_t)L->ascii_size + length + 1;
        data = obj + (uint64_t)L->ascii_size;
    } else if (compact) {
        *size = (uint64_t)L->compact_size + (length + 1) * kind;
        data = obj + (uint64_t)L->compact_size;
    } else {
        if ((err = field(heap, obj, bytes, avail, L->compact_size, 8, &data))) return err;
        *size = (uint64_t)L->compact_size + 8 + (data ? (length + 1) * kind : 0);
    }
    if (!(compact && ascii)) {
        /* A UTF-8 copy made by PyUnicode_AsUTF8 counts when it is its own buffer. */
        uint64_t utf8, utf8_length;
        if ((err = field(heap, obj, bytes, avail, L->compact_utf8, 8, &utf8)) ||
            (err = field(heap, obj, bytes, avail, L->compact_utf8_length, 8, &utf8_length)))
            return err;
        if (utf8 && utf8 != data) *size += utf8_length + 1;
    }
    if (L->ascii_wstr >= 0) {
        /* 3.8-3.11: a wchar_t copy (PyUnicode_AsUnicode) counts unless it is the data. */
        uint64_t wstr, wlen = length;
        if ((err = field(heap, obj, bytes, avail, L->ascii_wstr, 8, &wstr))) return err;
        if (wstr && wstr != data) {
            if (!(compact && ascii) &&
                (err = field(heap, obj, bytes, avail, L->compact_wstr_length, 8, &wlen)))
                return err;
            *size += (wlen + 1) * 4;
        }
    }
    return NULL;
}

/* ob_size of the variable-size object at obj (a code object's co_cellvars tuple, its co_code
 * bytes ...), capped; 0 for NULL. */
static struct pyh_error *var_len(const struct pyh_heap *heap, uint64_t obj, uint64_t *n)
{
    *n = 0;
    if (!obj) return NULL;
    struct pyh_error *err = field(heap, obj, NULL, 0, heap->rt->layout.var_size, 8, n);
    if (!err && *n >= MAX_ITEMS)
        err = pyh_error_create(PYH_ERR_CORRUPT, "object at 0x%llx has %llu items",
                               (unsigned long long)obj, (unsigned long long)*n);
    return err;
}

/* What a code object's co_extra adds: sizeof(_PyCodeObjectExtra) + (ce_size - 1) slots,
 * the same in every version that has it. */
static struct pyh_error *code_extra_size(const struct pyh_heap *heap, uint64_t obj,
                                         const uint8_t *bytes, size_t avail, uint64_t *size)
{
    uint64_t extra, ce_size;
    *size = 0;
    struct pyh_error *err = field(heap, obj, bytes, avail, heap->rt->layout.code_extra, 8, &extra);
    if (err || !extra) return err;
    if ((err = field(heap, extra, NULL, 0, 0, 8, &ce_size))) return err;
    if (ce_size > MAX_CO_EXTRA_USERS)
        return pyh_error_create(PYH_ERR_CORRUPT,
                                "co_extra of the code object at 0x%llx has %llu slots",
                                (unsigned long long)obj, (unsigned long long)ce_size);
    *size = 8 + 8 * ce_size;
    return NULL;
}

/* code.__sizeof__. 3.8-3.10: the struct, plus the cell-to-argument map (one Py_ssize_t per
 * cell variable) when there is one, plus the LOAD_GLOBAL/LOAD_ATTR cache once the code has
 * run often enough (a byte per code unit for the map and one _PyOpcache per entry).
 * 3.11+: the struct and its bytecode, rounded up to a word (_PyObject_VAR_SIZE). Every
 * version adds co_extra. */
static struct pyh_error *code_sizeof(const struct pyh_heap *heap, const struct pyh_type *t,
                                     uint64_t obj, const uint8_t *bytes, size_t avail,
                                     uint64_t *size)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t v = 0, extra = 0;
    struct pyh_error *err;
    *size = (uint64_t)t->basicsize;
    if (heap->rt->minor >= 11) {
        if ((err = field(heap, obj, bytes, avail, L->var_size, 8, &v))) return err;
        if (v >= MAX_ITEMS)
            return pyh_error_create(PYH_ERR_CORRUPT, "code object with %llu code units",
                                    (unsigned long long)v);
        *size = (*size + v * (uint64_t)t->itemsize + 7) & ~7ULL;
    } else {
        uint64_t cell2arg, cellvars, opcache, opcache_size, code, ncells, ncode;
        if ((err = field(heap, obj, bytes, avail, L->code_cell2arg, 8, &cell2arg)) ||
            (err = field(heap, obj, bytes, avail, L->code_cellvars, 8, &cellvars)) ||
            (err = field(heap, obj, bytes, avail, L->code_opcache, 8, &opcache)) ||
            (err = field(heap, obj, bytes, avail, L->code_opcache_size, 1, &opcache_size)))
            return err;
        if (cell2arg && cellvars) {
            if ((err = var_len(heap, cellvars, &ncells))) return err;
            *size += 8 * ncells;
        }
        if (opcache) {
            if ((err = field(heap, obj, bytes, avail, L->code_code, 8, &code)) ||
                (err = var_len(heap, code, &ncode)))
                return err;
            *size += ncode / 2 + opcache_size * (uint64_t)L->opcache_entry_size;
        }
    }
    if ((err = code_extra_size(heap, obj, bytes, avail, &extra))) return err;
    *size += extra;
    return NULL;
}

/* frame.__sizeof__ and generator.__sizeof__. 3.8-3.10 (frames only: generators then had no
 * frame inside): sizeof(PyFrameObject), which holds one slot, plus a slot per local, cell,
 * free variable and stack entry of f_code — not ob_size, which a frame reused from the free
 * list may have larger. 3.11+: the basic size plus one slot per local and stack entry of
 * the frame's code object (the embedded frame's for generators, f_frame's for frame
 * objects). */
static struct pyh_error *frame_sizeof(const struct pyh_heap *heap, const struct pyh_type *t,
                                      uint64_t obj, const uint8_t *bytes, size_t avail,
                                      uint64_t *size)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t code = 0, nlocals = 0, stack = 0, ncells = 0, nfrees = 0, cells, frees;
    struct pyh_error *err = NULL;
    *size = (uint64_t)t->basicsize;
    if (heap->rt->minor <= 10) {
        if (t->kind != PYH_KIND_FRAME) return NULL;
        if ((err = field(heap, obj, bytes, avail, L->frame_code, 8, &code)) ||
            (err = field(heap, code, NULL, 0, L->code_nlocals, 4, &nlocals)) ||
            (err = field(heap, code, NULL, 0, L->code_stacksize, 4, &stack)) ||
            (err = field(heap, code, NULL, 0, L->code_cellvars, 8, &cells)) ||
            (err = field(heap, code, NULL, 0, L->code_freevars, 8, &frees)) ||
            (err = var_len(heap, cells, &ncells)) || (err = var_len(heap, frees, &nfrees)))
            return err;
        uint64_t extras = nlocals + stack + ncells + nfrees;
        *size += extras ? 8 * (extras - 1) : 0;
        return NULL;
    }
    if (t->itemsize <= 0) return NULL;
    uint64_t iframe = t->kind == PYH_KIND_GENERATOR ? obj + (uint64_t)L->gen_iframe : 0;
    if (t->kind == PYH_KIND_FRAME)
        err = field(heap, obj, bytes, avail, L->frame_iframe, 8, &iframe);
    if (!err) err = field(heap, iframe, NULL, 0, L->iframe_code, 8, &code);
    code = pyh_stackref_object(heap->rt, code);
    if (!err) err = field(heap, code, NULL, 0, L->code_nlocalsplus, 4, &nlocals);
    if (!err) err = field(heap, code, NULL, 0, L->code_stacksize, 4, &stack);
    *size += 8 * (nlocals + stack);
    return err;
}

/* deque.__sizeof__: the type's basic size plus every block the items span, counted from
 * leftindex (a deque always has at least one block). */
static struct pyh_error *deque_sizeof(const struct pyh_heap *heap, const struct pyh_type *t,
                                      uint64_t obj, const uint8_t *bytes, size_t avail,
                                      uint64_t *size)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t n, left;
    struct pyh_error *err = field(heap, obj, bytes, avail, L->var_size, 8, &n);
    if (!err) err = field(heap, obj, bytes, avail, L->deque_leftindex, 8, &left);
    if (err) return err;
    if (n >= MAX_ITEMS || left >= DEQUE_BLOCKLEN)
        return pyh_error_create(PYH_ERR_CORRUPT, "deque at 0x%llx: %llu items from index %llu",
                                (unsigned long long)obj, (unsigned long long)n,
                                (unsigned long long)left);
    *size = (uint64_t)t->basicsize +
            (left + n + DEQUE_BLOCKLEN - 1) / DEQUE_BLOCKLEN * DEQUE_BLOCK_SIZE;
    return NULL;
}

/* The pre-header sys.getsizeof adds to __sizeof__. */
static inline uint64_t preheader(const struct pyh_heap *heap, const struct pyh_type *t, uint64_t obj,
                          const uint8_t *bytes, size_t avail)
{
    int minor = heap->rt->minor;
    bool gc = (t->flags & PYH_TPFLAGS_HAVE_GC) != 0;
    if (t->kind == PYH_KIND_TYPE) {
        /* Is the object itself a static type? */
        uint64_t flags = 0;
        struct pyh_error *err = field(heap, obj, bytes, avail, heap->rt->layout.type_flags, 8, &flags);
        pyh_error_free(err);
        bool is_static = !(flags & PYH_TPFLAGS_HEAPTYPE);
        if (is_static && (minor <= 10 || minor >= 13)) return 0;
    }
    uint64_t pre = gc ? 16 : 0;
    if (minor == 11 && (t->flags & PYH_TPFLAGS_MANAGED_DICT)) pre += 16;
    if (minor >= 12 && (t->flags & (PYH_TPFLAGS_MANAGED_DICT | MANAGED_WEAKREF))) pre += 16;
    return pre;
}

/* The C __sizeof__ of some extension types (heap.h: enum pyh_sizeof_rule), added to what
 * the core rule gave (*size). Their layouts are the same in 3.8-3.13 (DWARF of the pyenv
 * builds): odictobject.c od_fast_nodes_size at 72, a list node of 32 bytes (key, hash, next,
 * prev); _elementtree.c extra at 40, ElementObjectExtra of 64 bytes {attrib, length,
 * allocated, children, _children[4]}; bufferedio.c buffer at 56, buffer_size at 120;
 * _struct.c s_codes at 32, formatcode of 32 bytes, ended by one whose fmtdef is NULL;
 * arraymodule.c allocated at 32, ob_descr at 40, its itemsize (int) at 4. */
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

static struct pyh_error *c_sizeof(const struct pyh_heap *heap, const struct pyh_type *t,
                                  uint64_t obj, const uint8_t *bytes, size_t avail, uint64_t *size)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t a = 0, b = 0;
    struct pyh_error *err = NULL;
    switch ((enum pyh_sizeof_rule)t->sizeof_rule) {
    case PYH_SIZEOF_DEFAULT:
        break;
    case PYH_SIZEOF_ODICT:
        if (!(err = field(heap, obj, bytes, avail, ODICT_FAST_NODES_SIZE, 8, &a)) &&
            !(err = field(heap, obj, bytes, avail, L->dict_used, 8, &b)) && a < MAX_ITEMS &&
            b < MAX_ITEMS)
            *size += 8 * a + ODICT_NODE * b;
        break;
    case PYH_SIZEOF_ELEMENT:
        if ((err = field(heap, obj, bytes, avail, PYH_ELEMENT_EXTRA, 8, &a)) || !a) break;
        *size += ELEMENT_EXTRA_SIZE;
        if ((err = field(heap, a, NULL, 0, EXTRA_CHILDREN, 8, &b))) break;
        if (b != a + EXTRA_STATIC_CHILDREN) {
            uint64_t allocated;
            if (!(err = field(heap, a, NULL, 0, EXTRA_ALLOCATED, 8, &allocated)) &&
                allocated < MAX_ITEMS)
                *size += 8 * allocated;
        }
        break;
    case PYH_SIZEOF_BUFFERED:
        if (!(err = field(heap, obj, bytes, avail, PYH_BUFFERED_BUFFER, 8, &a)) && a &&
            !(err = field(heap, obj, bytes, avail, BUFFERED_BUFFER_SIZE, 8, &b)) && b < MAX_ITEMS)
            *size += b;
        break;
    case PYH_SIZEOF_STRUCT: {
        if ((err = field(heap, obj, bytes, avail, PYH_STRUCT_CODES, 8, &a)) || !a) break;
        uint64_t n = 0;
        for (; n < MAX_STRUCT_CODES; n++) { /* the codes, then the end marker: all counted */
            if ((err = field(heap, a + STRUCT_CODE_SIZE * n, NULL, 0, 0, 8, &b))) break;
            if (!b) break;
        }
        if (!err) *size += STRUCT_CODE_SIZE * (n + 1);
        break;
    }
    case PYH_SIZEOF_ARRAY:
        if (!(err = field(heap, obj, bytes, avail, ARRAY_ALLOCATED, 8, &a)) &&
            !(err = field(heap, obj, bytes, avail, ARRAY_DESCR, 8, &b)) && b && a < MAX_ITEMS) {
            uint64_t itemsize = 0;
            if (!(err = field(heap, b, NULL, 0, DESCR_ITEMSIZE, 4, &itemsize)) && itemsize <= 16)
                *size += a * itemsize;
        }
        break;
    }
    return err;
}

struct pyh_error *pyh_heap_sizeof(const struct pyh_heap *heap, uint64_t obj, uint32_t ti,
                                  const uint8_t *bytes, size_t avail, uint64_t *size)
{
    const struct pyh_layout *L = &heap->rt->layout;
    const struct pyh_type *t = &heap->types[ti];
    uint64_t v = 0, base = (uint64_t)t->basicsize;
    struct pyh_error *err = NULL;
    switch (t->kind) {
    case PYH_KIND_STR:
        err = str_sizeof(heap, obj, bytes, avail, size);
        break;
    case PYH_KIND_INT: {
        /* offsetof(ob_digit) + 4 * digits; from 3.11 at least one digit (0 has one). */
        uint64_t ndigits;
        if (L->long_tag >= 0) {
            err = field(heap, obj, bytes, avail, L->long_tag, 8, &v);
            ndigits = v >> 3;
        } else {
            err = field(heap, obj, bytes, avail, L->var_size, 8, &v);
            ndigits = (int64_t)v < 0 ? (uint64_t)-(int64_t)v : v;
        }
        if (heap->rt->minor >= 11 && ndigits < 1) ndigits = 1;
        *size = (uint64_t)L->long_digits + 4 * ndigits;
        break;
    }
    case PYH_KIND_BYTEARRAY:
        err = field(heap, obj, bytes, avail, L->bytearray_alloc, 8, &v);
        /* 3.15: the buffer is a bytes object of ob_alloc bytes (ob_bytes_object), counted
         * whole — its header and NUL too — unless it is the empty one (measured:
         * getsizeof(bytearray(n)) = 64 + 33 + n for n > 0, 64 for n = 0). */
        if (L->bytearray_bytes_object >= 0)
            *size = base + (v ? (uint64_t)L->bytes_sval + 1 + v : 0);
        else
            *size = base + v;
        break;
    case PYH_KIND_LIST:
        err = field(heap, obj, bytes, avail, L->list_allocated, 8, &v);
        *size = base + 8 * v;
        break;
    case PYH_KIND_DICT:
        err = dict_sizeof(heap, obj, bytes, avail, base, size);
        break;
    case PYH_KIND_SET: {
        uint64_t table;
        err = field(heap, obj, bytes, avail, L->set_table, 8, &table);
        if (!err) err = field(heap, obj, bytes, avail, L->set_mask, 8, &v);
        *size = base + (table != obj + (uint64_t)L->set_smalltable ? (v + 1) * 16 : 0);
        break;
    }
    case PYH_KIND_TYPE: {
        uint64_t flags = 0, keys = 0, ksize = 0, refcnt;
        err = field(heap, obj, bytes, avail, L->type_flags, 8, &flags);
        if (!err && (flags & PYH_TPFLAGS_HEAPTYPE)) {
            *size = (uint64_t)L->heaptype_size;
            err = field(heap, obj, bytes, avail, L->heaptype_cached_keys, 8, &keys);
            if (!err && keys && !(err = keys_size(heap, keys, &ksize, &refcnt, NULL))) *size += ksize;
        } else {
            *size = (uint64_t)L->type_size;
        }
        break;
    }
    case PYH_KIND_GENERATOR:
    case PYH_KIND_FRAME:
        err = frame_sizeof(heap, t, obj, bytes, avail, size);
        break;
    case PYH_KIND_CODE:
        err = code_sizeof(heap, t, obj, bytes, avail, size);
        break;
    case PYH_KIND_DEQUE:
        err = deque_sizeof(heap, t, obj, bytes, avail, size);
        break;
    default:
        *size = base;
        if (t->itemsize > 0) {
            err = field(heap, obj, bytes, avail, L->var_size, 8, &v);
            int64_t n = (int64_t)v;
            *size += (uint64_t)(n < 0 ? -n : n) * (uint64_t)t->itemsize;
        }
        break;
    }
    if (!err && t->sizeof_rule) err = c_sizeof(heap, t, obj, bytes, avail, size);
    if (err) return err;
    *size += preheader(heap, t, obj, bytes, avail);
    return NULL;
}

struct pyh_error *pyh_object_sizeof(struct pyh_heap *heap, uint64_t addr, uint32_t t,
                                    uint64_t *size)
{
    return pyh_heap_sizeof(heap, addr, t, NULL, 0, size);
}
