/* Sorting the object table by address: an in-place introsort that checks for interruption,
 * because qsort cannot be stopped and a census of tens of millions of objects sorts for
 * seconds. */
#ifndef PYH_HEAP_OBJECT_SORT_H
#define PYH_HEAP_OBJECT_SORT_H

#include <stdbool.h>
#include <stddef.h>

#include "heap/heap.h"

/* Sorts objects[0..n) by addr. False when interrupted (the order is then unspecified). */
bool pyh_objects_sort(struct pyh_object *objects, size_t n);

#endif
