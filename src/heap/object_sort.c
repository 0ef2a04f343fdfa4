/* Sorting the object table by address; see object_sort.h.
 *
 * The table usually comes as a long sorted prefix (pymalloc's blocks, visited in address
 * order) and a short tail (glibc's chunks, static objects): the tail is sorted alone and
 * merged in, through a copy of it, in one pass. Anything else is introsorted: quicksort with
 * a median-of-three pivot, insertion sort below 16 elements and heapsort when the recursion
 * gets deeper than 2 log2 n (adversarial orders), so the worst case stays n log n. The
 * recursion is on the smaller side only, so the stack is O(log n). */
#include "heap/object_sort.h"

#include <stdlib.h>
#include <string.h>

#include "util/interrupt.h"

#define SMALL 16

static inline void swap(struct pyh_object *a, struct pyh_object *b)
{
    struct pyh_object t = *a;
    *a = *b;
    *b = t;
}

static void insertion_sort(struct pyh_object *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct pyh_object x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1].addr > x.addr) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

static void sift_down(struct pyh_object *v, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && v[child + 1].addr > v[child].addr) child++;
        if (v[root].addr >= v[child].addr) return;
        swap(&v[root], &v[child]);
        root = child;
    }
}

static bool heap_sort(struct pyh_object *v, size_t n)
{
    for (size_t i = n / 2; i-- > 0;) sift_down(v, i, n);
    for (size_t end = n; end > 1; end--) {
        if ((end & 0xffff) == 0 && pyh_interrupted()) return false;
        swap(&v[0], &v[end - 1]);
        sift_down(v, 0, end - 1);
    }
    return true;
}

/* Partitions v[0..n) around the median of its first, middle and last elements; returns the
 * pivot's final index. Elements equal to the pivot may go either way. */
static size_t partition(struct pyh_object *v, size_t n)
{
    size_t mid = n / 2;
    if (v[mid].addr < v[0].addr) swap(&v[mid], &v[0]);
    if (v[n - 1].addr < v[0].addr) swap(&v[n - 1], &v[0]);
    if (v[n - 1].addr < v[mid].addr) swap(&v[n - 1], &v[mid]);
    /* v[0] <= v[mid] <= v[n-1]: put the pivot at n-2 and partition v[1..n-2). */
    swap(&v[mid], &v[n - 2]);
    uint64_t pivot = v[n - 2].addr;
    size_t i = 0, j = n - 2;
    for (;;) {
        while (v[++i].addr < pivot) {}
        while (v[--j].addr > pivot) {}
        if (i >= j) break;
        swap(&v[i], &v[j]);
    }
    swap(&v[i], &v[n - 2]);
    return i;
}

static bool intro_sort(struct pyh_object *v, size_t n, unsigned depth)
{
    while (n > SMALL) {
        if (pyh_interrupted()) return false;
        if (depth-- == 0) return heap_sort(v, n);
        size_t p = partition(v, n);
        /* Recurse into the smaller side, loop on the larger. */
        if (p < n - p - 1) {
            if (!intro_sort(v, p, depth)) return false;
            v += p + 1;
            n -= p + 1;
        } else {
            if (!intro_sort(v + p + 1, n - p - 1, depth)) return false;
            n = p;
        }
    }
    insertion_sort(v, n);
    return true;
}

/* Merges the sorted v[0..m) and the sorted v[m..n) in place, through a copy of the second
 * part; on equal addresses the first part's element comes first. False when there is no
 * memory for the copy (nothing moved). Only the elements of the first part above the
 * second's least move. */
static bool merge_tail(struct pyh_object *v, size_t m, size_t n)
{
    size_t t = n - m, lo = 0, hi = m;
    uint64_t least = v[m].addr;
    while (lo < hi) { /* the first element of the first part above the least */
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].addr <= least) lo = mid + 1;
        else hi = mid;
    }
    if (lo == m) return true;
    struct pyh_object *tail = malloc(t * sizeof(*tail));
    if (!tail) return false;
    memcpy(tail, v + m, t * sizeof(*tail));
    size_t i = m, j = t, w = n;
    while (j > 0 && i > lo) {
        if (v[i - 1].addr > tail[j - 1].addr) v[--w] = v[--i];
        else v[--w] = tail[--j];
    }
    memcpy(v + lo, tail, j * sizeof(*tail)); /* i == lo: w == lo + j */
    free(tail);
    return true;
}

bool pyh_objects_sort(struct pyh_object *objects, size_t n)
{
    unsigned depth = 0;
    for (size_t m = n; m > 1; m >>= 1) depth += 2;
    /* Already sorted (a re-sort, or a heap found in address order): one pass. */
    size_t i = 1;
    while (i < n && objects[i - 1].addr <= objects[i].addr) i++;
    if (i >= n) return true;
    /* A sorted prefix and a tail of at most a quarter: the tail's copy costs at most 4
     * bytes an object, where sorting the whole table costs ~200 instructions an object. */
    if (n - i <= n / 4) {
        if (!intro_sort(objects + i, n - i, depth)) return false;
        if (pyh_interrupted()) return false;
        if (merge_tail(objects, i, n)) return true;
    }
    return intro_sort(objects, n, depth);
}
