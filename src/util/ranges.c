/* Sorted, disjoint address ranges; see ranges.h. */
#include "util/ranges.h"

#include <stdbool.h>
#include <stdlib.h>

#include "util/mem.h"

struct pyh_error *pyh_ranges_add(struct pyh_ranges *r, uint64_t start, uint64_t end)
{
    if (start >= end) return NULL;
    if (r->n && start <= r->v[r->n - 1].end) {
        struct pyh_range *last = &r->v[r->n - 1];
        if (end > last->end) {
            r->bytes += end - last->end;
            last->end = end;
        }
        return NULL;
    }
    struct pyh_range x = {start, end};
    struct pyh_error *err = PYH_APPEND(r->v, r->n, r->cap, &x);
    if (!err) r->bytes += end - start;
    return err;
}

struct pyh_error *pyh_ranges_combine(const struct pyh_ranges *a, const struct pyh_ranges *b,
                                     enum pyh_ranges_op op, struct pyh_ranges *out)
{
    size_t i = 0, j = 0;
    uint64_t at = 0;
    struct pyh_error *err = NULL;
    while (!err) {
        while (i < a->n && a->v[i].end <= at)
            i++;
        while (j < b->n && b->v[j].end <= at)
            j++;
        if (i == a->n && j == b->n) break;
        bool in_a = i < a->n && a->v[i].start <= at, in_b = j < b->n && b->v[j].start <= at;
        uint64_t next = UINT64_MAX;
        if (i < a->n) next = in_a ? a->v[i].end : a->v[i].start;
        if (j < b->n) {
            uint64_t nb = in_b ? b->v[j].end : b->v[j].start;
            if (nb < next) next = nb;
        }
        bool keep = op == PYH_RANGES_OR    ? in_a || in_b
                    : op == PYH_RANGES_AND ? in_a && in_b
                                           : in_a && !in_b;
        if (keep) err = pyh_ranges_add(out, at, next);
        at = next;
    }
    return err;
}

void pyh_ranges_free(struct pyh_ranges *r)
{
    free(r->v);
    *r = (struct pyh_ranges){0};
}

/* The index of the first range that ends above addr (n when none does). */
static size_t first_ending_above(const struct pyh_ranges *r, uint64_t addr)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->v[mid].end <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Bytes the ranges cover below addr, given the first range that ends above it. */
static uint64_t covered_below(const struct pyh_ranges *r, const uint64_t *below, size_t i,
                              uint64_t addr)
{
    uint64_t in = i < r->n && r->v[i].start < addr ? addr - r->v[i].start : 0;
    return (i < r->n ? below[i] : r->bytes) + in;
}

uint64_t pyh_ranges_covered(const struct pyh_ranges *r, const uint64_t *below, uint64_t start,
                            uint64_t end)
{
    if (start >= end || !r->n) return 0;
    size_t i = first_ending_above(r, start);
    if (below) {
        size_t k = first_ending_above(r, end);
        return covered_below(r, below, k, end) - covered_below(r, below, i, start);
    }
    uint64_t bytes = 0;
    for (; i < r->n && r->v[i].start < end; i++) {
        uint64_t s = r->v[i].start > start ? r->v[i].start : start;
        uint64_t e = r->v[i].end < end ? r->v[i].end : end;
        bytes += e - s;
    }
    return bytes;
}

uint64_t *pyh_ranges_index(const struct pyh_ranges *r)
{
    uint64_t *below = r->n ? malloc(r->n * sizeof(*below)) : NULL;
    uint64_t sum = 0;
    for (size_t i = 0; below && i < r->n; i++) {
        below[i] = sum;
        sum += r->v[i].end - r->v[i].start;
    }
    return below;
}
