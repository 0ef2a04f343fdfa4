/* The object table's sort: every order it meets (random, sorted, reversed, duplicates,
 * organ pipe, median-of-three killers, a sorted prefix with a tail to merge in) sorts like
 * qsort, and an interruption stops it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "heap/object_sort.h"
#include "pyheap.h"
#include "util/interrupt.h"

static int by_addr(const void *a, const void *b)
{
    uint64_t x = ((const struct pyh_object *)a)->addr, y = ((const struct pyh_object *)b)->addr;
    return x < y ? -1 : x > y;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Sorts v with pyh_objects_sort and checks the result is ordered and a permutation (the
 * payload fields travel with their address). */
static void check_sorts(struct pyh_object *v, size_t n)
{
    struct pyh_object *expected = malloc((n ? n : 1) * sizeof(*v));
    memcpy(expected, v, n * sizeof(*v));
    qsort(expected, n, sizeof(*v), by_addr);
    assert_true(pyh_objects_sort(v, n));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].addr, expected[i].addr);
        assert_int_equal(v[i].size, (uint32_t)(v[i].addr * 7));
    }
    free(expected);
}

static void fill(struct pyh_object *v, size_t n, int shape)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t a;
        switch (shape) {
        case 0: a = next_random() & 0x7fffffffffff; break;   /* random */
        case 1: a = 0x7f0000000000 + i * 16; break;          /* sorted */
        case 2: a = 0x7f0000000000 + (n - i) * 16; break;    /* reversed */
        case 3: a = next_random() % 8; break;                /* many duplicates */
        case 4: a = i < n / 2 ? i : n - i; break;            /* organ pipe */
        case 5: a = (i & 1) ? i : n + i / 2; break;          /* interleaved runs */
        case 7: /* a sorted prefix (pymalloc) and a short random tail (glibc, static) */
            a = i < n - n / 8 ? 0x7f0000000000 + i * 16 : 0x7f0000000000 + (next_random() % n) * 16;
            break;
        case 8: /* a tail wholly below the prefix, with duplicates of prefix addresses */
            a = i < n - n / 5 ? 1000 + i : next_random() % (n / 4 + 1) + (i % 2 ? 1000 : 0);
            break;
        case 9: a = i < n - n / 4 ? i : n + (n - i); break;  /* a reversed tail above */
        default: a = 0x7f0000000000 + i * 16 + (i % 100 == 0 ? 8 : 0) - (i % 1000 == 1 ? 1000 : 0);
        }
        v[i].addr = a;
        v[i].type = (uint32_t)i;
        v[i].size = (uint32_t)(a * 7);
    }
}

static void test_sorts_every_shape(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 3, 15, 16, 17, 100, 1000, 100003};
    for (int shape = 0; shape <= 9; shape++)
        for (size_t k = 0; k < sizeof(sizes) / sizeof(*sizes); k++) {
            size_t n = sizes[k];
            struct pyh_object *v = malloc((n ? n : 1) * sizeof(*v));
            fill(v, n, shape);
            check_sorts(v, n);
            free(v);
        }
}

static void test_interrupt_stops_it(void **state)
{
    (void)state;
    size_t n = 100000;
    struct pyh_object *v = malloc(n * sizeof(*v));
    fill(v, n, 0);
    pyh_interrupt();
    assert_false(pyh_objects_sort(v, n));
    pyh_interrupt_clear();
    assert_true(pyh_objects_sort(v, n));
    for (size_t i = 1; i < n; i++) assert_true(v[i - 1].addr <= v[i].addr);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sorts_every_shape),
        cmocka_unit_test(test_interrupt_stops_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
