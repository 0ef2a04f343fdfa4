/* The heap layer: every live Python object of the target — its address, type and size —
 * found by classifying the blocks the allocators hand out (pymalloc blocks, glibc chunks),
 * not only from the GC lists: str, int, float, bytes and objects that only native code
 * holds are found too. Also the type registry, static objects in the binaries' data, the
 * buffers objects own, and the allocations that are no Python object at all.
 *
 * A block holds an object when, at one of the header positions the version allows (no GC
 * head; after the GC head; after the 3.11+ managed-dict pre-header), it has a registered
 * type pointer whose flags call for exactly that position, a live reference count that is
 * not an object's address, a valid GC head before it if its type is GC, and a size that
 * fits the block. */
#ifndef PYH_HEAP_HEAP_H
#define PYH_HEAP_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocators/glibc.h"
#include "allocators/mimalloc.h"
#include "allocators/pymalloc.h"
#include "runtime/runtime.h"
#include "util/hashmap.h"

/* The core types whose size or referents need their own code: one file each in
 * heap/kinds/, which holds all py-heap knows of the type (heap/kinds/kind.h). */
enum pyh_type_kind {
    PYH_KIND_OTHER,
    PYH_KIND_TYPE, /* type and metatypes */
    PYH_KIND_STR,
    PYH_KIND_BYTES,
    PYH_KIND_BYTEARRAY,
    PYH_KIND_INT, /* int and bool */
    PYH_KIND_FLOAT,
    PYH_KIND_TUPLE,
    PYH_KIND_LIST,
    PYH_KIND_DICT,
    PYH_KIND_SET, /* set and frozenset */
    PYH_KIND_CODE,
    PYH_KIND_MODULE,
    PYH_KIND_FUNCTION,
    PYH_KIND_GENERATOR, /* generator, coroutine, async generator */
    PYH_KIND_FRAME,
    PYH_KIND_CELL,
    PYH_KIND_METHOD,      /* bound method */
    PYH_KIND_CFUNCTION,   /* builtin function or method */
    PYH_KIND_CLASSMETHOD, /* classmethod and staticmethod */
    PYH_KIND_PROPERTY,
    PYH_KIND_WEAKREF,   /* weakref.ref and proxies: no strong reference */
    PYH_KIND_DEQUE,     /* collections.deque */
    PYH_KIND_EXCEPTION, /* BaseException and its subclasses */
    PYH_KIND_ELEMENT,   /* xml.etree.ElementTree.Element (the C one of _elementtree) */
    PYH_KIND_NDARRAY,   /* numpy.ndarray */
    PYH_KIND_LRU_CACHE, /* functools._lru_cache_wrapper */
    PYH_KIND_LRU_ELEM,  /* a link of a bounded lru_cache: the cache's values */
    PYH_KIND_DATETIME,  /* datetime.time and datetime.datetime: a naive one (no tzinfo) is
                           allocated 8 bytes short of its basic size */
    PYH_KIND_COUNT
};

/* What the kinds table (heap/kinds/) says of a kind, for the layers above: how a
 * generalized path step out of one of its objects reads ("[*]", " {member}"; NULL: the step
 * keeps its key). */
const char *pyh_kind_any_step(enum pyh_type_kind kind);

/* Types whose C __sizeof__ counts memory past the struct (set by name, with subclasses;
 * heap/kinds/c_sizeof.c). */
enum pyh_sizeof_rule {
    PYH_SIZEOF_DEFAULT,
    PYH_SIZEOF_ODICT,    /* collections.OrderedDict: + its fast-nodes array and list nodes */
    PYH_SIZEOF_ELEMENT,  /* xml.etree.ElementTree.Element: + its extra block and children */
    PYH_SIZEOF_BUFFERED, /* _io.BufferedReader/Writer/Random: + the buffer */
    PYH_SIZEOF_STRUCT,   /* _struct.Struct: + its format codes */
    PYH_SIZEOF_ARRAY,    /* array.array: + the items allocated */
};


/* One type object of the target. */
struct pyh_type {
    uint64_t addr;
    uint64_t metatype; /* its ob_type */
    uint64_t flags;
    int64_t basicsize, itemsize, dictoffset, weaklistoffset;
    uint64_t base;
    uint64_t members; /* tp_members: its PyMemberDef array (named C fields), 0 if none */
    /* The instance struct, for the referents of what no reader knows: its first known_size
     * bytes are read by the reader of its kind (16 for PYH_KIND_OTHER: the header), and
     * C code lays it out up to c_size (the basic size of the nearest type in the base chain
     * that adds C fields: not a class statement's __slots__, __dict__, __weakref__). */
    uint32_t known_size, c_size;
    bool python_class;         /* a class statement's type (its own layer adds no C field) */
    uint32_t structseq_fields; /* a struct sequence's n_fields (its items, hidden ones too) */
    uint8_t sizeof_rule;       /* enum pyh_sizeof_rule */
    enum pyh_type_kind kind; /* of the nearest core base type, for sizes and referents */
    bool heap;               /* a heap type (class statement, PyType_FromSpec) */
    bool is_metatype;        /* type or a subclass of it: its instances are types */
    uint8_t header_pos;      /* where its instances start in their block: 0, 16 or 32 */
    char *name;              /* resolved on first use (pyh_heap_type_name) */
};

/* Where an object lives. */
enum pyh_location {
    PYH_LOC_PYMALLOC,
    PYH_LOC_MALLOC,  /* a glibc chunk of an arena */
    PYH_LOC_MMAPPED, /* a glibc chunk of its own mapping */
    PYH_LOC_STATIC,  /* in a binary's data (static types, singletons, 3.12+ static strings) */
    PYH_LOC_MIMALLOC, /* a block of a mimalloc page (free-threaded, PYTHONMALLOC=mimalloc) */
};

/* Whether t's instances may point to C memory of their own (read by the native scan): its
 * kind's struct may, or C code lays out fields past what the kind's reader knows. */
bool pyh_type_holds_native_pointers(const struct pyh_type *t);

/* One live object: 16 bytes, in one array sorted by address. */
struct pyh_object {
    uint64_t addr;
    uint32_t type; /* index into heap->types */
    uint32_t size; /* sys.getsizeof(); UINT32_MAX: look it up in heap->big_sizes */
};

/* Blocks that hold no object, by what they are. */
struct pyh_block_stats {
    uint64_t count, bytes;
};

/* An in-use block that holds no object and is no buffer of a core type: memory of C code
 * (an extension's struct, a library's data), which an object's C fields may point to. */
struct pyh_native_block {
    uint64_t addr, size; /* the allocation's start (what malloc returned) and usable bytes */
};

/* Reads that failed where an answer depends on them (an object's size, its references):
 * counted, with the first kept, so that a damaged object is said — a warning, results
 * marked partial — and never turns silently into a smaller or different answer. */
struct pyh_read_failures {
    uint64_t count;
    uint64_t object;       /* the object being read at the first failure */
    uint32_t type;         /* its type, when typed (an object the table may not list) */
    bool typed;
    uint64_t address;      /* the address that failed, 0 when the message says */
    char message[160];     /* what failed first */
};

/* Records one failure (the first one's details kept). */
void pyh_read_failure(struct pyh_read_failures *f, uint64_t object, uint64_t address,
                      const char *message);

/* What the objects table lists. */
enum pyh_heap_listing {
    PYH_LIST_ALL,    /* every object: for the graph, show, paths and every verb that asks
                        for objects one by one */
    PYH_LIST_CENSUS, /* what the census reads one by one: the objects that own buffers or
                        may point to native memory, the static ones, and those outside
                        pymalloc and glibc's small chunks; the rest (str, int, tuple, class
                        instances ...) is counted by type as it is found (heap->tally) */
};

/* Objects of one type counted and not listed (PYH_LIST_CENSUS). */
struct pyh_heap_tally {
    uint64_t count, size; /* sum of sys.getsizeof */
};

struct pyh_heap {
    struct pyh_runtime *rt; /* borrowed */

    struct pyh_type *types;
    size_t ntypes, types_cap;
    struct pyh_u64map type_index; /* type address -> index */

    struct pyh_object *objects; /* sorted by address; the static ones included */
    size_t nobjects, objects_cap;
    /* PYH_LIST_CENSUS: per type, the objects counted and not listed (heap objects, never
     * static ones); NULL when the table lists every object (PYH_LIST_ALL). */
    struct pyh_heap_tally *tally;
    uint8_t *locations; /* enum pyh_location per object */
    size_t locations_cap;
    /* objects and locations come from pyh_big_grow (util/mem.h), not malloc: set by
     * pyh_heap_build; a heap made by hand (tests) leaves it false. */
    bool tables_mapped;
    struct pyh_u64map big_sizes; /* object address -> size, for sizes >= UINT32_MAX */

    /* Bytes of the blocks holding objects (block sizes, not object sizes), by location. */
    uint64_t object_block_bytes;
    struct pyh_block_stats buffers; /* blocks an object owns: list items, dict tables, ... */
    struct pyh_block_stats native;  /* in-use blocks that are neither */
    struct pyh_native_block *native_blocks; /* those blocks, sorted by address */
    size_t nnative_blocks;
    /* Per native block, how many objects' C fields point to its start (2: two or more):
     * filled by the graph layer (pyh_referents_count_native), NULL until then. */
    uint8_t *native_refs;
    uint64_t static_objects;

    /* Sizes that could not be read (the object counted at its basic size), and sizes
     * larger than the allocator blocks that hold the object and its buffers (bounded by
     * them: a corrupt count of items is not 10 GiB of dict); see session.c's warnings. */
    struct pyh_read_failures size_unread, size_bounded;
    /* Containers whose buffer pointer (list items, dict keys, set table, bytearray bytes)
     * leads to unreadable memory: their buffer block, if any, is not found. */
    struct pyh_read_failures buffers_unread;
    /* Blocks holding an object header whose item count does not fit the block: not counted
     * as objects (pyh_heap_classify's misfit), and said. */
    struct pyh_read_failures misfits;
    /* Reads that failed while following references (graph/referents.c). */
    struct pyh_read_failures refs_unread;

    /* The GC lists against the objects found. */
    uint64_t gc_tracked;   /* objects in the GC lists (free-threaded: ob_gc_bits says tracked) */
    uint64_t gc_missing;   /* of those, not found as objects */
    uint64_t gc_missing_sample[8];
};

/* Finds every object: the type registry first (static types in the binaries' data, heap
 * types in large glibc chunks or mimalloc pages), then every in-use pymalloc block, mimalloc
 * block and glibc chunk, then the static objects, the buffers, and the check against the GC
 * lists (a free-threaded target has none). pm, mi or glibc may be NULL (then their blocks are
 * not searched, said in a warning by the caller). The cost: one pass over every in-use block,
 * and 16 bytes per object listed (PYH_LIST_CENSUS lists few: on a heap of 15 M str, int and
 * tuple objects the table was 240 MB, whose fresh pages the kernel zeroed in a quarter of the
 * census's time, and its sort and passes took as much again). */
struct pyh_error *pyh_heap_build(struct pyh_runtime *rt, const struct pyh_pymalloc *pm,
                                 const struct pyh_mimalloc *mi, struct pyh_glibc *glibc,
                                 enum pyh_heap_listing listing,
                                 struct pyh_heap **out);

void pyh_heap_free(struct pyh_heap *heap);

/* The name of type i, as Python shows it: `module.QualName` for heap types (builtins left
 * out), tp_name for static types; `<type at 0x...>` when unreadable. Owned by the heap. */
const char *pyh_heap_type_name(struct pyh_heap *heap, uint32_t i);

/* The index of the type at addr, or UINT32_MAX. Inline: asked for every block. */
static inline uint32_t pyh_heap_type_at(const struct pyh_heap *heap, uint64_t addr)
{
    uint64_t i;
    return pyh_u64map_get(&heap->type_index, addr, &i) ? (uint32_t)i : UINT32_MAX;
}

/* The index of the object at addr (its PyObject address), or SIZE_MAX. O(log n). */
size_t pyh_heap_object_at(const struct pyh_heap *heap, uint64_t addr);

/* Whether addr lies in a binary's writable data (its own writable mappings, and the .bss
 * after its image up to the image's end): where static objects live. */
bool pyh_heap_in_data_region(const struct pyh_heap *heap, uint64_t addr);

/* The same, among objects [lo, hi) of the table only. */
size_t pyh_heap_object_in(const struct pyh_heap *heap, size_t lo, size_t hi, uint64_t addr);

/* The index of the native block that starts at addr, or SIZE_MAX. O(log n). */
size_t pyh_heap_native_at(const struct pyh_heap *heap, uint64_t addr);

/* sys.getsizeof of object i. */
uint64_t pyh_heap_object_size(const struct pyh_heap *heap, size_t i);

/* The size sys.getsizeof reports for the object at addr of type t (reads what it needs). */
struct pyh_error *pyh_object_sizeof(struct pyh_heap *heap, uint64_t addr, uint32_t t,
                                    uint64_t *size);

#endif
