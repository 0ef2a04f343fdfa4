/* The statistics of a trend; see trend.h. */
#include "analysis/trend.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/format.h"

const char *pyh_trend_class_name(enum pyh_trend_class c)
{
    static const char *const names[] = {"stable", "growing", "plateau", "transient", "gc_backlog"};
    return names[c];
}

static void swap(double *a, double *b)
{
    double x = *a;
    *a = *b;
    *b = x;
}

/* The k-th smallest of a[0..n) (0-based), reordering a: quickselect, O(n) on average, so
 * that thousands of types of a long series cost no sort each. */
static double select_kth(double *a, size_t n, size_t k)
{
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;
    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        ptrdiff_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) swap(&a[i++], &a[j--]);
        }
        if (kk <= j)
            hi = j;
        else if (kk >= i)
            lo = i;
        else
            break;
    }
    return a[k];
}

static double median(double *a, size_t n)
{
    if (n == 0) return 0;
    double m = select_kth(a, n, n / 2);
    if (n % 2) return m;
    return (m + select_kth(a, n, n / 2 - 1)) / 2;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Mann–Kendall: S = sum over pairs of sign(v[j] - v[i]); its variance with the correction
 * for ties; the one-sided p of a rise from the normal approximation with continuity
 * correction. */
static double mk_variance(const double *v, size_t n)
{
    double var = (double)n * (double)(n - 1) * (double)(2 * n + 5);
    double *sorted = malloc(n * sizeof(double));
    if (sorted) {
        memcpy(sorted, v, n * sizeof(double));
        qsort(sorted, n, sizeof(double), cmp_double);
        for (size_t i = 0; i < n;) {
            size_t j = i;
            while (j < n && sorted[j] == sorted[i])
                j++;
            double g = (double)(j - i);
            var -= g * (g - 1) * (2 * g + 5);
            i = j;
        }
        free(sorted);
    }
    return var / 18;
}

double pyh_mann_kendall(const double *v, size_t n, double *p_rise)
{
    double s = 0;
    for (size_t i = 0; i + 1 < n; i++)
        for (size_t j = i + 1; j < n; j++)
            s += (v[j] > v[i]) - (v[j] < v[i]);
    double var = n > 1 ? mk_variance(v, n) : 0;
    if (p_rise) {
        if (var <= 0)
            *p_rise = s > 0 ? 0 : 1;
        else {
            double z = s > 0 ? (s - 1) / sqrt(var) : s < 0 ? (s + 1) / sqrt(var) : 0;
            *p_rise = 0.5 * erfc(z / sqrt(2.0));
        }
    }
    return s;
}

/* Theil–Sen: the median of the slopes of every pair of points with different times, and
 * Sen's 95 % interval (the slopes at the ranks (N -/+ 1.96 sqrt(var S)) / 2). */
double pyh_theil_sen(const double *t, const double *v, size_t n, double *lo, double *hi)
{
    if (lo) *lo = 0;
    if (hi) *hi = 0;
    if (n < 2) return 0;
    double *slopes = malloc(n * (n - 1) / 2 * sizeof(double));
    if (!slopes) return NAN;
    size_t m = 0;
    for (size_t i = 0; i + 1 < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (t[j] > t[i]) slopes[m++] = (v[j] - v[i]) / (t[j] - t[i]);
    double b = 0;
    if (m) {
        b = median(slopes, m);
        double c = 1.959964 * sqrt(mk_variance(v, n));
        double r1 = floor(((double)m - c) / 2), r2 = ceil(((double)m + c) / 2);
        size_t k1 = r1 < 1 ? 0 : (size_t)r1 - 1, k2 = r2 >= (double)m ? m - 1 : (size_t)r2;
        if (lo) *lo = select_kth(slopes, m, k1);
        if (hi) *hi = select_kth(slopes, m, k2);
    }
    free(slopes);
    return b;
}

static double quantile(const double *v, size_t n, double q)
{
    double *a = malloc(n * sizeof(double));
    if (!a) return v[0];
    memcpy(a, v, n * sizeof(double));
    qsort(a, n, sizeof(double), cmp_double);
    double pos = q * (double)(n - 1), f = floor(pos);
    size_t i = (size_t)f;
    double r = i + 1 < n ? a[i] + (pos - f) * (a[i + 1] - a[i]) : a[i];
    free(a);
    return r;
}

/* The scatter of a series: how far its points stray from the median of each point and its
 * two neighbours, as a robust standard deviation. For normal noise the median absolute
 * residual is 0.318 sigma (a third of the points are their own median; found by
 * simulation), hence the factor 3.15. A steady rise and a lone spike have none; noise has
 * its own size. */
static double scatter(const double *v, size_t n)
{
    if (n < 5) return 0; /* one or two residuals: a spike would be its own scatter */
    double *r = malloc((n - 2) * sizeof(double));
    if (!r) return 0;
    for (size_t k = 1; k + 1 < n; k++) {
        double a = v[k - 1], b = v[k], c = v[k + 1];
        double med = fmax(fmin(a, b), fmin(fmax(a, b), c));
        r[k - 1] = fabs(b - med);
    }
    double s = 3.15 * median(r, n - 2);
    free(r);
    return s;
}

static const char *bytes(double b, char *buf, size_t cap)
{
    return pyh_format_bytes(b > 0 ? (uint64_t)b : 0, buf, cap);
}

static const char *signed_rate(double b, char *buf, size_t cap)
{
    char x[32];
    snprintf(buf, cap, "%s%s", b < 0 ? "-" : "+",
             pyh_format_bytes((uint64_t)fabs(b), x, sizeof(x)));
    return buf;
}

int pyh_trend_judge(const double *t_in, const double *v, size_t n, double heap,
                    struct pyh_trend_stats *o)
{
    memset(o, 0, sizeof(*o));
    o->n = n;
    o->cls = PYH_TREND_STABLE;
    if (n == 0) {
        snprintf(o->reason, sizeof(o->reason), "in no snapshot");
        return 0;
    }
    o->last = v[n - 1];
    o->baseline = o->peak = v[0];
    double lo = v[0];
    for (size_t k = 1; k < n; k++) {
        if (v[k] > o->peak) {
            o->peak = v[k];
            o->peak_at = k;
        }
        lo = fmin(lo, v[k]);
    }
    if (n < 2) {
        snprintf(o->reason, sizeof(o->reason), "one snapshot only");
        return 0;
    }
    /* Times all equal (cores of one second on a file system without fractions): the order
     * is all there is; the slope is then per snapshot, not per second. */
    double *t = malloc(n * sizeof(double));
    if (!t) return -1;
    bool timed = t_in[n - 1] > t_in[0];
    for (size_t k = 0; k < n; k++)
        t[k] = timed ? t_in[k] : (double)k;
    double span = t[n - 1] - t[0];

    o->baseline = quantile(v, n, 0.25);
    o->slope = pyh_theil_sen(t, v, n, &o->slope_lo, &o->slope_hi);
    if (isnan(o->slope)) {
        free(t);
        return -1;
    }
    o->per_hour = timed ? o->slope * 3600 : 0;
    o->per_hour_error = timed ? (o->slope_hi - o->slope_lo) / 2 * 3600 : 0;
    o->mk_s = pyh_mann_kendall(v, n, &o->mk_p);
    o->scatter = scatter(v, n);
    o->threshold =
        fmax(PYH_TREND_FLOOR, fmin(PYH_TREND_OWN_SHARE * o->peak, PYH_TREND_HEAP_SHARE * heap));
    double matters = fmax(o->threshold, 3 * o->scatter);
    double pairs = (double)n * (double)(n - 1) / 2;
    char a[32], b[32], c[32], d[32];

    /* The last third (at least two snapshots): still rising there, or flat? */
    size_t w = n / 3 > 2 ? (n + 2) / 3 : 2;
    const double *tv = v + (n - w), *tt = t + (n - w);
    double tail_slope = pyh_theil_sen(tt, tv, w, NULL, NULL);
    double tail_rise = tail_slope * (tt[w - 1] - tt[0]);
    double *tmp = malloc(w * sizeof(double));
    if (!tmp || isnan(tail_slope)) {
        free(tmp);
        free(t);
        return -1;
    }
    memcpy(tmp, tv, w * sizeof(double));
    double tail_level = median(tmp, w);
    free(tmp);
    /* In a plateau even the lowest point of the last third stands above the lowest before
     * it; in noise around a level the last third dips as low as the rest. */
    double head_low = v[0], tail_low = tv[0];
    for (size_t k = 0; k + w < n; k++)
        head_low = fmin(head_low, v[k]);
    for (size_t k = 0; k < w; k++)
        tail_low = fmin(tail_low, tv[k]);

    /* Three snapshots rising in a row happen by chance one time in six: the rank test cannot
     * be significant below four, nor can the scatter be measured. With three, a change
     * counts only when it is big against the type's own size, not merely against the heap. */
    if (n < 4) matters = fmax(matters, PYH_TREND_OWN_SHARE * o->peak);
    bool rising = (o->mk_p < PYH_TREND_P || o->mk_s == pairs) && o->slope_lo > 0 &&
                  o->slope * span >= matters;
    bool still_rising = tail_slope >= 0.5 * o->slope || tail_rise >= matters;
    if (o->peak - lo < o->threshold) {
        snprintf(o->reason, sizeof(o->reason),
                 "changed by at most %s, under the %s that matters here",
                 bytes(o->peak - lo, a, sizeof(a)), bytes(o->threshold, b, sizeof(b)));
    } else if (rising && still_rising) {
        o->cls = PYH_TREND_GROWING;
        if (o->mk_s == pairs)
            snprintf(o->reason, sizeof(o->reason), "rose in every one of %zu snapshots, %s to %s",
                     n, bytes(v[0], a, sizeof(a)), bytes(o->last, b, sizeof(b)));
        else
            snprintf(o->reason, sizeof(o->reason),
                     "rose from %s to %s over %zu snapshots, still rising in the last %zu "
                     "(rank test p=%.2g)",
                     bytes(v[0], a, sizeof(a)), bytes(o->last, b, sizeof(b)), n, w, o->mk_p);
        if (timed) {
            size_t len = strlen(o->reason);
            snprintf(o->reason + len, sizeof(o->reason) - len, "; %s/h ± %s",
                     signed_rate(o->per_hour, c, sizeof(c)),
                     bytes(o->per_hour_error, d, sizeof(d)));
        }
    } else if (tail_level >= o->peak - matters &&
               tail_low - head_low >= fmax(matters, PYH_TREND_OWN_SHARE * tail_level) &&
               fabs(tail_rise) < matters && 3 * fabs(tail_rise) <= tail_level - head_low) {
        o->cls = PYH_TREND_PLATEAU;
        o->plateau_level = tail_level;
        size_t k = n;
        while (k > 0 && fabs(v[k - 1] - tail_level) <= matters / 2)
            k--;
        o->plateau_points = n - k;
        snprintf(o->reason, sizeof(o->reason),
                 "rose from %s, then flat at %s for the last %zu snapshots",
                 bytes(head_low, a, sizeof(a)), bytes(tail_level, b, sizeof(b)), o->plateau_points);
    } else {
        bool back = false;
        for (size_t k = o->peak_at + 1; k < n; k++)
            back |= v[k] <= o->baseline + (o->peak - o->baseline) / 2;
        /* The peak must stand out of the series' low band (its median down to its minimum)
         * by three times that band: in noise around a level the highest point is just the
         * other side of the band. */
        double *tmp2 = malloc(n * sizeof(double));
        if (!tmp2) {
            free(t);
            return -1;
        }
        memcpy(tmp2, v, n * sizeof(double));
        double mid = median(tmp2, n);
        free(tmp2);
        bool stands_out = o->peak - mid >= 3 * (mid - lo);
        /* and a spike is one against the type's own level: a tenth above it at least */
        double spike = fmax(matters, PYH_TREND_OWN_SHARE * o->baseline);
        if (o->peak_at > 0 && back && stands_out && o->peak - o->baseline >= spike) {
            o->cls = PYH_TREND_TRANSIENT;
            snprintf(o->reason, sizeof(o->reason), "peaked at %s (snapshot %zu of %zu), back to %s",
                     bytes(o->peak, a, sizeof(a)), o->peak_at + 1, n, bytes(o->last, b, sizeof(b)));
        } else if (o->peak_at == 0 && o->last < o->peak - matters) {
            snprintf(o->reason, sizeof(o->reason), "fell from %s to %s",
                     bytes(o->peak, a, sizeof(a)), bytes(o->last, b, sizeof(b)));
        } else {
            snprintf(o->reason, sizeof(o->reason),
                     "between %s and %s without a trend (rank test p=%.2g, scatter %s)",
                     bytes(lo, a, sizeof(a)), bytes(o->peak, b, sizeof(b)), o->mk_p,
                     bytes(o->scatter, c, sizeof(c)));
        }
    }
    free(t);
    return 0;
}
