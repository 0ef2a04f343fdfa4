/* Sorting the object table by address: a sorted prefix with a short tail is merged with
 * the tail sorted alone (a copy of the tail: 16 bytes an object of it), anything else
 * introsorted in place; both check for interruption, because qsort cannot be stopped and a
 * census of tens of millions of objects in random order sorts for seconds. */
#ifndef PYH_HEAP_OBJECT_SORT_H
#define PYH_HEAP_OBJECT_SORT_H

#include <stdbool.h>
#include <stddef.h>

#include "heap/heap.h"

/* Sorts objects[0..n) by addr. Equal addresses keep no particular order, except that a
 * merged tail's come after the prefix's. False when interrupted (the order is then
 * unspecified). */
bool pyh_objects_sort(struct pyh_object *objects, size_t n);

#endif
