/* Single objects: finding them by address or type, and describing one for `show`. */
#ifndef PYH_ANALYSIS_OBJECT_INFO_H
#define PYH_ANALYSIS_OBJECT_INFO_H

#include <stdbool.h>
#include <stdint.h>

#include "heap/preview.h"
#include "heap/heap.h"

/* An object as `show` presents it. */
struct pyh_object_info {
    uint64_t addr;
    uint32_t type;
    int64_t refcount;
    uint64_t size;            /* sys.getsizeof */
    enum pyh_location location;
    bool in_table;            /* found among the heap's objects (else read directly) */
    bool gc_type, tracked;
    int generation;           /* 0-2, 3 permanent, -1 untracked, not GC or free-threaded */
    struct pyh_details details;
};

/* Describes the object at addr: from the objects table, or read directly when the address
 * is not in it (then validated: its type must be registered). An address inside an object
 * is taken to mean that object. PYH_ERR_NOT_FOUND when no object is there. */
struct pyh_error *pyh_object_info(struct pyh_heap *heap, uint64_t addr, struct pyh_object_info *info);

/* The objects of the types named name (several types may share a name), largest first:
 * *indices receives a malloc'ed array of object indices, at most limit of them (0: all),
 * with size >= min_size; *total the number of objects of those types. */
struct pyh_error *pyh_objects_of_type(struct pyh_heap *heap, const char *name, uint64_t min_size,
                                      size_t limit, size_t **indices, size_t *n, uint64_t *total,
                                      uint64_t *total_size);

/* "where an object lives" for reports: "pymalloc", "malloc", "mmap", "static". */
const char *pyh_location_name(enum pyh_location loc);

#endif
