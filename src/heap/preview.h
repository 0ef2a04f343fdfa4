/* Previews of objects as Python would show them, read from target memory: the value of
 * str, bytes, int (of any size), float, bool, None; the first items of tuples, lists, dicts
 * and sets; names of modules, functions, classes and code; and the attributes of instances.
 * Every preview is bounded in length and depth, so a huge or cyclic structure cannot make it
 * slow or endless. */
#ifndef PYH_HEAP_PREVIEW_H
#define PYH_HEAP_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "heap/heap.h"

/* A short repr of the object at addr (its type resolved through the heap's registry), at
 * most cap-1 bytes; nested items are shown depth levels deep. Never fails: an unreadable
 * object reads `<unreadable object at 0x...>`. */
void pyh_preview(struct pyh_heap *heap, uint64_t addr, int depth, char *buf, size_t cap);

/* One item of a container or one attribute of an instance. */
struct pyh_preview_item {
    char key[256];   /* dict key preview or attribute name; empty for sequences */
    char value[512]; /* value preview */
    uint64_t value_addr;
};

/* What `show` prints about an object's contents. */
struct pyh_details {
    char value[2048];     /* the preview of the object itself */
    int64_t length;       /* len() of containers and strings, -1 otherwise */
    struct pyh_preview_item items[20]; /* first items, or instance attributes */
    size_t nitems;
    bool items_are_attributes;
};

/* Fills details for the object at addr of type index type. */
void pyh_details(struct pyh_heap *heap, uint64_t addr, uint32_t type, struct pyh_details *d);

#endif
