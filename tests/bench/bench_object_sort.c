/* Sorting the object table: pyh_objects_sort against glibc's qsort, side by side, on 10
 * million objects in random order, in address-ordered runs of arenas found out of order,
 * and in the census's order since pymalloc is visited in address order (a sorted prefix, then
 * 1% of glibc chunks and static objects anywhere). Build and run:
 *
 *   gcc -O2 -D_GNU_SOURCE -Isrc tests/bench/bench_object_sort.c src/heap/object_sort.c \
 *       src/util/interrupt.c src/util/error.c -o /tmp/bench_object_sort && /tmp/bench_object_sort
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heap/object_sort.h"

static int by_addr(const void *a, const void *b)
{
    uint64_t x = ((const struct pyh_object *)a)->addr, y = ((const struct pyh_object *)b)->addr;
    return x < y ? -1 : x > y;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(void)
{
    const size_t n = 10000000, run = 65536;
    struct pyh_object *v = malloc(n * sizeof(*v)), *w = malloc(n * sizeof(*v));
    if (!v || !w) return 1;
    uint64_t r = 88172645463325252ULL;
    for (int shape = 0; shape < 3; shape++) {
        for (size_t i = 0; i < n; i++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            if (shape == 0)
                v[i].addr = r & 0x7fffffffffff;
            else if (shape == 1)
                v[i].addr = 0x7f0000000000 + i * 32 + (r % 50 == 0 ? (r % 4096) * 16 : 0);
            else /* the last 1% anywhere, between the others */
                v[i].addr = 0x7f0000000000 + (i < n - n / 100 ? i * 32 : (r % n) * 32 + 16);
            v[i].type = (uint32_t)i;
            v[i].size = 1;
        }
        if (shape == 1) /* swap runs around: arenas are not found in address order */
            for (size_t b = 0; b < n / run; b += 2) {
                size_t j = (b * 7919) % (n / run);
                memcpy(w, v + b * run, run * sizeof(*v));
                memcpy(v + b * run, v + j * run, run * sizeof(*v));
                memcpy(v + j * run, w, run * sizeof(*v));
            }
        memcpy(w, v, n * sizeof(*v));
        double t0 = now();
        qsort(w, n, sizeof(*w), by_addr);
        double t1 = now();
        pyh_objects_sort(v, n);
        double t2 = now();
        int same = 1;
        for (size_t i = 0; i < n; i++) same &= v[i].addr == w[i].addr;
        static const char *const names[] = {"random       ", "arena runs   ", "prefix + 1%  "};
        printf("%s: qsort %.2f s, pyh_objects_sort %.2f s (%s)\n", names[shape],
               t1 - t0, t2 - t1, same ? "same order" : "DIFFERENT ORDER");
    }
    free(v);
    free(w);
    return 0;
}
