/* Shared between the files of the heap layer; not part of its face. */
#ifndef PYH_HEAP_HEAP_INTERNAL_H
#define PYH_HEAP_HEAP_INTERNAL_H

#include "heap/heap.h"

/* Registers the type object at addr after checking it; *added tells whether it was new. An
 * unreadable or implausible type is skipped, not an error. */
struct pyh_error *pyh_heap_add_type(struct pyh_heap *heap, uint64_t addr, bool *added);

/* Registers every static type (the binaries' data) and heap type (glibc chunks and mimalloc
 * pages; either may be NULL: without both, the GC lists). */
struct pyh_error *pyh_heap_find_types(struct pyh_heap *heap, struct pyh_glibc *glibc,
                                      const struct pyh_mimalloc *mi);

/* Where build.c takes what the mimalloc walk finds: objects (bytes: avail bytes of a copy of
 * the object; block_size: its block's) and the other live blocks. An error stops the walk. */
struct pyh_heap_mimalloc_sink {
    struct pyh_error *(*object)(void *ctx, uint64_t obj, uint32_t type, const uint8_t *bytes,
                                size_t avail, uint64_t block_size);
    struct pyh_error *(*block)(void *ctx, uint64_t addr, uint64_t size);
    void *ctx;
};

/* Classifies every live block of mi's pages (build_mimalloc.c): a free-threaded target's by
 * its page's heap tag, a GIL build's as pymalloc's blocks; counts the GC-tracked objects of
 * a free-threaded target (ob_gc_bits) in heap->gc_tracked. Each page is read once. */
struct pyh_error *pyh_heap_mimalloc_visit(struct pyh_heap *heap, const struct pyh_mimalloc *mi,
                                          const struct pyh_heap_mimalloc_sink *sink);

/* The live blocks of mi that may hold a heap type (GC blocks large enough for a type): add is
 * called with the would-be object and its ob_type. */
struct pyh_error *pyh_heap_mimalloc_type_candidates(
    struct pyh_heap *heap, const struct pyh_mimalloc *mi,
    struct pyh_error *(*add)(void *ctx, uint64_t obj, uint64_t metatype), void *ctx);

/* pyh_heap_classify for a free-threaded target (its 32-byte header; no GC head): the
 * object of a block at one of the positions tag allows (a PYH_MI_TAG_*; -1 unknown: a glibc
 * chunk), its type in *type; 0 when none. */
uint64_t pyh_heap_classify_ft(const struct pyh_heap *heap, uint64_t block, const uint8_t *bytes,
                              size_t avail, uint64_t usable, int tag, uint32_t *type);

/* Sets each type's kind from its flags and base chain. */
void pyh_heap_assign_kinds(struct pyh_heap *heap);

/* Calls fn on the writable data of every module (its own writable mappings and the .bss
 * mapping after it). */
struct pyh_error *pyh_heap_for_each_data_region(struct pyh_heap *heap,
                                                struct pyh_error *(*fn)(struct pyh_heap *, uint64_t,
                                                                        uint64_t, void *),
                                                void *ctx);

/* The offset of the object from the start of its allocation for a type with these flags:
 * 0, 16 (GC head) or 32 (3.11+ pre-header too). */
size_t pyh_heap_header_position(const struct pyh_runtime *rt, uint64_t flags);

/* Whether an object of type ti whose first avail bytes are obj fits in room bytes. */
bool pyh_heap_object_fits(const struct pyh_heap *heap, uint32_t ti, const uint8_t *obj,
                          size_t avail, uint64_t room);

/* Whether a would-be reference count is in fact the address of an object: it lies in the
 * target's memory and the word after it there is a registered type. Only non-PIE targets
 * have addresses small enough to ask (one read when they do). */
bool pyh_heap_count_is_address(const struct pyh_heap *heap, uint64_t count);

/* The rules a candidate in a binary's data (reference count, registered type ti, fitting
 * the region; obj holds avail bytes of it) must also pass to be a static object: its type
 * is static; from 3.12 its count is immortal, except a module def's, whose m_index must be
 * set; its count is not an object's address. These reject the (count, type) pairs of the
 * runtime's own tables. */
bool pyh_heap_static_object_plausible(const struct pyh_heap *heap, uint32_t ti, const uint8_t *obj,
                                      size_t avail);

/* sys.getsizeof of the object at obj of type t; bytes (avail of them) is a copy of the object
 * when the caller has one (may be NULL), else fields are read from the target. */
struct pyh_error *pyh_heap_sizeof(const struct pyh_heap *heap, uint64_t obj, uint32_t t,
                                  const uint8_t *bytes, size_t avail, uint64_t *size);

#endif
