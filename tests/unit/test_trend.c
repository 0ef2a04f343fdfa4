/* The trend classifier (src/analysis/trend.c) on synthetic series whose answer is known by
 * construction: steady growth at every length is growing (a steady leak once called
 * "plateau" with enough snapshots, because only the last step was looked at), a cache that
 * fills and stays is plateau at every length, a spike that returns is transient, noise of
 * +-2 % around a level is stable, a slow leak of 1 % a snapshot in the largest type is
 * growing, a 40-byte change is stable. And the statistics themselves against values worked
 * out by hand. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analysis/trend.h"

#define HEAP (64.0 * 1024 * 1024) /* the heap the series are a share of */
static const size_t LENGTHS[] = {3, 5, 12, 50, 200};

/* Snapshot times: about 30 s apart, unevenly (a scheduler is never exact). */
static void times(double *t, size_t n)
{
    for (size_t k = 0; k < n; k++)
        t[k] = 1.7e9 + 30.0 * (double)k + 4.0 * (double)(k % 3);
}

/* A fixed pseudo-random sequence in [-1, 1] (a 32-bit LCG): the same numbers on every run. */
static double noise(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (double)(*state >> 8) / (double)(1u << 24) * 2 - 1;
}

static enum pyh_trend_class judge(const double *v, size_t n, struct pyh_trend_stats *st)
{
    double t[256];
    assert_true(n <= 256);
    times(t, n);
    assert_int_equal(pyh_trend_judge(t, v, n, HEAP, st), 0);
    return st->cls;
}

static void expect(const double *v, size_t n, enum pyh_trend_class want, const char *what)
{
    struct pyh_trend_stats st;
    enum pyh_trend_class got = judge(v, n, &st);
    if (got != want) {
        fprintf(stderr, "%s, %zu snapshots: %s, wanted %s (%s)\n  ", what, n,
                pyh_trend_class_name(got), pyh_trend_class_name(want), st.reason);
        for (size_t k = 0; k < n && k < 24; k++)
            fprintf(stderr, "%.0f ", v[k]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(got, want);
    assert_true(st.reason[0] != 0);
}

static void test_statistics(void **state)
{
    (void)state;
    /* Theil–Sen: one outlier does not bend the slope. Pairwise slopes of 1,2,3,4,100 at
     * t=0..4: six of 1 and 24.75, 32.67, 48.5, 96: the median is 1. */
    double t[] = {0, 1, 2, 3, 4}, v[] = {1, 2, 3, 4, 100};
    double lo, hi;
    assert_true(pyh_theil_sen(t, v, 5, &lo, &hi) == 1.0);
    assert_true(lo <= 1.0 && hi >= 1.0);
    /* Uneven times: slope per second, not per snapshot. */
    double t2[] = {0, 10, 40}, v2[] = {0, 100, 400};
    assert_true(fabs(pyh_theil_sen(t2, v2, 3, NULL, NULL) - 10.0) < 1e-12);
    /* Mann–Kendall, 5 rising points: S = 10, var = 5*4*15/18, z = 9/sqrt(var),
     * p = erfc(z/sqrt 2)/2 = 0.013745. */
    double p;
    assert_true(pyh_mann_kendall(v, 5, &p) == 10);
    assert_true(fabs(p - 0.5 * erfc(9 / sqrt(50.0 / 3) / sqrt(2.0))) < 1e-12);
    assert_true(fabs(p - 0.013745) < 1e-5);
    /* Ties: 1,1,1,2,2: S = 6; var = (5*4*15 - 3*2*11 - 2*1*9)/18 = 12. */
    double v3[] = {1, 1, 1, 2, 2};
    assert_true(pyh_mann_kendall(v3, 5, &p) == 6);
    assert_true(fabs(p - 0.5 * erfc(5 / sqrt(12.0) / sqrt(2.0))) < 1e-12);
}

static void test_steady_growth(void **state)
{
    (void)state;
    /* 10,000 objects of 56 bytes and 1,000 more each snapshot (the example). */
    for (size_t i = 0; i < sizeof(LENGTHS) / sizeof(LENGTHS[0]); i++) {
        size_t n = LENGTHS[i];
        double v[256];
        for (size_t k = 0; k < n; k++)
            v[k] = 56.0 * (10000 + 1000 * (double)k);
        expect(v, n, PYH_TREND_GROWING, "steady growth");
        /* The rate per hour is the slope over the times: 56,000 B per ~30 s. */
        struct pyh_trend_stats st;
        judge(v, n, &st);
        assert_true(st.per_hour > 56000.0 * 3600 / 36 && st.per_hour < 56000.0 * 3600 / 26);
        /* and with noise of +-1 % of a step's growth on top */
        uint32_t seed = 7;
        for (size_t k = 0; k < n; k++)
            v[k] += 560 * noise(&seed);
        expect(v, n, PYH_TREND_GROWING, "steady growth with noise");
    }
}

static void test_cache_plateau(void **state)
{
    (void)state;
    /* A cache of 2 MiB filled in the first quarter (at least one step), then full. */
    for (size_t i = 0; i < sizeof(LENGTHS) / sizeof(LENGTHS[0]); i++) {
        size_t n = LENGTHS[i], fill = n / 4 > 1 ? n / 4 : 1;
        double v[256], full = 2.0 * 1024 * 1024;
        for (size_t k = 0; k < n; k++)
            v[k] = k >= fill ? full : full * (double)k / (double)fill;
        expect(v, n, PYH_TREND_PLATEAU, "cache");
        struct pyh_trend_stats st;
        judge(v, n, &st);
        assert_true(st.plateau_level == full);
        /* since it came within half the threshold of its level: the last step of filling
         * may already count */
        assert_true(st.plateau_points >= n - fill && st.plateau_points <= n);
        for (size_t k = n - st.plateau_points; k < n; k++)
            assert_true(fabs(v[k] - full) <= st.threshold / 2);
        if (st.plateau_points < n)
            assert_true(fabs(v[n - st.plateau_points - 1] - full) > st.threshold / 2);
        /* a full cache still churns a little: +-0.5 % */
        uint32_t seed = 11;
        for (size_t k = fill; k < n; k++)
            v[k] += 0.005 * full * noise(&seed);
        expect(v, n, PYH_TREND_PLATEAU, "cache with churn");
        /* filled over the first half */
        size_t half = n / 2 > 1 ? n / 2 : 1;
        for (size_t k = 0; k < n; k++)
            v[k] = k >= half ? full : full * (double)k / (double)half;
        expect(v, n, PYH_TREND_PLATEAU, "cache filled over half the series");
    }
}

static void test_spike(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(LENGTHS) / sizeof(LENGTHS[0]); i++) {
        size_t n = LENGTHS[i];
        double v[256], base = 1024.0 * 1024;
        for (size_t k = 0; k < n; k++)
            v[k] = base;
        v[n / 2] = 5 * base; /* one snapshot caught in a batch job's peak */
        expect(v, n, PYH_TREND_TRANSIENT, "spike");
        struct pyh_trend_stats st;
        judge(v, n, &st);
        assert_true(st.peak == 5 * base && st.baseline == base && st.peak_at == n / 2);
        if (n < 12) continue;
        /* A job that spikes every fourth snapshot, the last one too. */
        for (size_t k = 0; k < n; k++)
            v[k] = k % 4 == 1 ? 4 * base : base;
        v[n - 1] = 4 * base;
        expect(v, n, PYH_TREND_TRANSIENT, "recurring spikes");
    }
}

static void test_noise_stable(void **state)
{
    (void)state;
    /* +-2 % around 40 MiB: the largest type, most of the heap. */
    for (uint32_t seed = 1; seed <= 20; seed++) {
        for (size_t i = 0; i < sizeof(LENGTHS) / sizeof(LENGTHS[0]); i++) {
            size_t n = LENGTHS[i];
            double v[256];
            uint32_t s = seed;
            for (size_t k = 0; k < n; k++)
                v[k] = 40.0 * 1024 * 1024 * (1 + 0.02 * noise(&s));
            expect(v, n, PYH_TREND_STABLE, "noise of 2 %");
        }
    }
}

static void test_slow_leak_in_largest_type(void **state)
{
    (void)state;
    /* 1 % a snapshot in a 32 MiB type: a tenth of its own size takes 10 snapshots, but half
     * a percent of the heap is passed after one. */
    static const size_t lengths[] = {5, 12, 50, 200};
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        size_t n = lengths[i];
        double v[256];
        for (size_t k = 0; k < n; k++)
            v[k] = 32.0 * 1024 * 1024 * pow(1.01, (double)k);
        expect(v, n, PYH_TREND_GROWING, "slow leak");
    }
    /* The same 1 % in a 200 KiB type in a 64 MiB heap, over 5 snapshots: 8 KiB in all, under
     * a tenth of its size, and only 0.01 % of the heap: not a verdict of growth. */
    double v[5];
    for (size_t k = 0; k < 5; k++)
        v[k] = 200.0 * 1024 * pow(1.01, (double)k);
    expect(v, 5, PYH_TREND_STABLE, "1 % of a small type over 5 snapshots");
}

static void test_tiny_changes_stable(void **state)
{
    (void)state;
    double one[] = {0, 0, 0, 40, 40};
    expect(one, 5, PYH_TREND_STABLE, "a single 40-byte object appears");
    double two[] = {40, 80};
    expect(two, 2, PYH_TREND_STABLE, "40 bytes more");
    double climbing[] = {40, 80, 120, 160, 200, 240};
    expect(climbing, 6, PYH_TREND_STABLE, "a 40-byte object a snapshot");
    double spike[] = {40, 40, 80, 40, 40};
    expect(spike, 5, PYH_TREND_STABLE, "a 40-byte spike");
    struct pyh_trend_stats st;
    judge(one, 5, &st);
    assert_non_null(strstr(st.reason, "under the"));
}

static void test_degenerate(void **state)
{
    (void)state;
    struct pyh_trend_stats st;
    double v[] = {1e6, 2e6, 3e6};
    double t[] = {5, 5, 5}; /* one second, no fractions: order only, no rate per hour */
    assert_int_equal(pyh_trend_judge(t, v, 3, HEAP, &st), 0);
    assert_int_equal(st.cls, PYH_TREND_GROWING);
    assert_true(st.per_hour == 0);
    assert_int_equal(pyh_trend_judge(t, v, 1, HEAP, &st), 0);
    assert_int_equal(st.cls, PYH_TREND_STABLE);
    assert_int_equal(pyh_trend_judge(t, v, 0, HEAP, &st), 0);
    assert_int_equal(st.cls, PYH_TREND_STABLE);
    double falling[] = {3e6, 2e6, 1e6};
    assert_int_equal(judge(falling, 3, &st), PYH_TREND_STABLE);
    assert_non_null(strstr(st.reason, "fell"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statistics),
        cmocka_unit_test(test_steady_growth),
        cmocka_unit_test(test_cache_plateau),
        cmocka_unit_test(test_spike),
        cmocka_unit_test(test_noise_stable),
        cmocka_unit_test(test_slow_leak_in_largest_type),
        cmocka_unit_test(test_tiny_changes_stable),
        cmocka_unit_test(test_degenerate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
