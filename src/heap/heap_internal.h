/* Shared between the files of the heap layer; not part of its face. */
#ifndef PYH_HEAP_HEAP_INTERNAL_H
#define PYH_HEAP_HEAP_INTERNAL_H

#include "heap/heap.h"

/* Registers the type object at addr after checking it; *added tells whether it was new. An
 * unreadable or implausible type is skipped, not an error. */
struct pyh_error *pyh_heap_add_type(struct pyh_heap *heap, uint64_t addr, bool *added);

/* Registers every static type (the binaries' data) and heap type (glibc chunks). */
struct pyh_error *pyh_heap_find_types(struct pyh_heap *heap, struct pyh_glibc *glibc);

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
