/* Sets of address ranges kept sorted and disjoint: the pages of a process that hold data,
 * that are resident, or that a copy covers. Built in address order, combined by set
 * operations, and asked how many bytes of any range they cover. */
#ifndef PYH_UTIL_RANGES_H
#define PYH_UTIL_RANGES_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct pyh_range {
    uint64_t start, end; /* [start, end) */
};

struct pyh_ranges {
    struct pyh_range *v; /* sorted by start, disjoint, never touching */
    size_t n, cap;
    uint64_t bytes; /* their total size */
};

/* Appends [start, end) to r, merging it into the last range when they touch or overlap:
 * ranges must be added in address order (a range starting below the last one's start is a
 * caller's bug). An empty range adds nothing. */
struct pyh_error *pyh_ranges_add(struct pyh_ranges *r, uint64_t start, uint64_t end);

enum pyh_ranges_op { PYH_RANGES_AND, PYH_RANGES_OR, PYH_RANGES_AND_NOT };

/* *out = a OP b; out must start empty. */
struct pyh_error *pyh_ranges_combine(const struct pyh_ranges *a, const struct pyh_ranges *b,
                                     enum pyh_ranges_op op, struct pyh_ranges *out);

/* Frees r's array and empties it. */
void pyh_ranges_free(struct pyh_ranges *r);

/* Bytes of [start, end) that r covers. O(log n) with the prefix sums of pyh_ranges_index
 * (below, n entries); O(log n + ranges crossed) without (below NULL). */
uint64_t pyh_ranges_covered(const struct pyh_ranges *r, const uint64_t *below, uint64_t start,
                            uint64_t end);

/* below[i] = bytes of r's ranges before range i, for pyh_ranges_covered; caller frees.
 * NULL when out of memory (or when r is empty). */
uint64_t *pyh_ranges_index(const struct pyh_ranges *r);

#endif
