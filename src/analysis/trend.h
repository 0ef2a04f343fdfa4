/* Is it growing? The statistics behind `trend`'s verdicts.
 *
 * A series is one type's (or retainer's) bytes in n snapshots taken at times t. It is judged
 * on the slope over time, not on its last step:
 *   - the Theil–Sen slope (the median of the slopes between every pair of snapshots: one
 *     snapshot taken in the middle of a spike does not bend it) with Sen's 95 % interval;
 *   - the Mann–Kendall rank test for a monotonic rise (one-sided p, ties corrected);
 *   - the baseline (the low level the series returns to: its lower quartile) and the peak;
 *   - a threshold of what matters: at least PYH_TREND_FLOOR bytes, and either a tenth of the
 *     type's own size or half a percent of the heap, whichever is smaller — noise in a tiny
 *     type is not a leak, a slow leak in a big type is;
 *   - the scatter between neighbouring snapshots (a robust estimate), so that a change the
 *     series makes all the time anyway is not taken for a trend.
 * The classes: growing (rises, the rank test says so, and still rising in the last third),
 * plateau (rose, then flat in the last third: a cache that reached its size), transient (rose
 * and came back down: a hotspot), stable (everything else, with the reason). */
#ifndef PYH_ANALYSIS_TREND_H
#define PYH_ANALYSIS_TREND_H

#include <stddef.h>

/* GC backlog is not the statistics' verdict but the snapshots': a type whose growth is
 * cyclic garbage a collection would free (snapshot.c). */
enum pyh_trend_class {
    PYH_TREND_STABLE,
    PYH_TREND_GROWING,
    PYH_TREND_PLATEAU,
    PYH_TREND_TRANSIENT,
    PYH_TREND_GC_BACKLOG
};

#define PYH_TREND_FLOOR 4096.0     /* bytes: below this a change is noise, whatever the type */
#define PYH_TREND_OWN_SHARE 0.10   /* of the type's own peak size */
#define PYH_TREND_HEAP_SHARE 0.005 /* of the heap */
#define PYH_TREND_P 0.05           /* the rank test's level */

struct pyh_trend_stats {
    enum pyh_trend_class cls;
    size_t n;                         /* the points judged */
    double slope, slope_lo, slope_hi; /* Theil–Sen, bytes per second, and Sen's 95 % interval */
    double per_hour, per_hour_error;  /* slope * 3600, and half the interval's width */
    double mk_s, mk_p;                /* Mann–Kendall S, one-sided p for a rise */
    double baseline, peak, last;      /* bytes */
    size_t peak_at;                   /* index of the peak */
    double threshold;                 /* the change that matters for this series, bytes */
    double scatter;                   /* robust scatter between neighbours, bytes */
    double plateau_level;             /* plateau: the level of the last third */
    size_t plateau_points;            /* plateau: how many snapshots it has stayed there */
    char reason[192];                 /* one line: why this verdict */
};

const char *pyh_trend_class_name(enum pyh_trend_class c);

/* Judges n values v (bytes) taken at times t (seconds, non-decreasing); heap is the heap's
 * size (bytes, the largest of the snapshots) the share is taken of. n may be anything: below
 * 2 it is stable. Allocates only for n above 64 (the pairwise slopes); returns -1 when that
 * fails, else 0. */
int pyh_trend_judge(const double *t, const double *v, size_t n, double heap,
                    struct pyh_trend_stats *out);

/* The statistics alone, for tests. */
double pyh_theil_sen(const double *t, const double *v, size_t n, double *lo, double *hi);
double pyh_mann_kendall(const double *v, size_t n, double *p_rise);

#endif
