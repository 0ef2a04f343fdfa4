/* Snapshots compared; see snapshot.h. */
#include "analysis/snapshot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/hashmap.h"
#include "util/mem.h"

void pyh_snapshot_free(struct pyh_snapshot *s)
{
    if (!s) return;
    free(s->source);
    free(s->partial_reason);
    for (size_t i = 0; i < s->ntypes; i++) free(s->types[i].name);
    free(s->types);
    for (size_t i = 0; i < s->nretainers; i++) {
        free(s->retainers[i].path);
        free(s->retainers[i].type);
    }
    free(s->retainers);
    free(s->frag.verdict);
    free(s);
}

const char *pyh_trend_class_name(enum pyh_trend_class c)
{
    static const char *const names[] = {"stable", "growing", "plateau", "transient"};
    return names[c];
}

/* Changes below these are noise: 5% of the series' largest value, and at least 16 (objects
 * or bytes) so that tiny series stay stable. */
#define NOISE_SHARE 0.05
#define NOISE_FLOOR 16.0

enum pyh_trend_class pyh_trend_classify(const double *v, size_t n)
{
    if (n < 2) return PYH_TREND_STABLE;
    double lo = v[0], hi = v[0];
    size_t at_max = 0;
    for (size_t i = 1; i < n; i++) {
        if (v[i] < lo) lo = v[i];
        if (v[i] > hi) {
            hi = v[i];
            at_max = i;
        }
    }
    double noise = fmax(NOISE_SHARE * fabs(hi), NOISE_FLOOR);
    double range = hi - lo, first = v[0], last = v[n - 1], step = last - v[n - 2];
    if (range <= noise) return PYH_TREND_STABLE;
    /* Rose and fell back: the peak stands well above where the series ends and starts. */
    if (hi - last > range / 2 && hi - first > range / 2 && at_max > 0 && at_max < n - 1)
        return PYH_TREND_TRANSIENT;
    if (last - first <= noise) return PYH_TREND_STABLE;
    /* It grew. Still rising at the end, or flat since it got there? */
    if (step > noise) return PYH_TREND_GROWING;
    if (n >= 3 && fabs(step) <= noise && hi - last <= noise) return PYH_TREND_PLATEAU;
    return last >= hi - noise ? PYH_TREND_PLATEAU : PYH_TREND_TRANSIENT;
}

void pyh_series_free(struct pyh_series *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].count);
        free(s[i].size);
    }
    free(s);
}

static int by_growth(const void *a, const void *b, void *arg)
{
    size_t last = *(const size_t *)arg;
    const struct pyh_series *x = a, *y = b;
    int64_t gx = (int64_t)x->size[last] - (int64_t)x->size[0];
    int64_t gy = (int64_t)y->size[last] - (int64_t)y->size[0];
    if (gx != gy) return gx > gy ? -1 : 1;
    return strcmp(x->name, y->name);
}

struct pyh_error *pyh_series_build(struct pyh_snapshot *const *snaps, size_t n, bool retainers,
                                   struct pyh_series **out, size_t *nseries)
{
    struct pyh_strmap index = {0};
    struct pyh_series *series = NULL;
    size_t count = 0, cap = 0;
    struct pyh_error *err = NULL;
    for (size_t k = 0; k < n && !err; k++) {
        size_t items = retainers ? snaps[k]->nretainers : snaps[k]->ntypes;
        for (size_t i = 0; i < items && !err; i++) {
            const char *name = retainers ? snaps[k]->retainers[i].path : snaps[k]->types[i].name;
            uint64_t c = retainers ? snaps[k]->retainers[i].retained_count : snaps[k]->types[i].count;
            uint64_t sz = retainers ? snaps[k]->retainers[i].retained_size : snaps[k]->types[i].size;
            uint64_t at;
            if (!pyh_strmap_get(&index, name, &at)) {
                struct pyh_series s = {.name = name, .type = retainers ? snaps[k]->retainers[i].type : NULL,
                                       .count = calloc(n, sizeof(uint64_t)),
                                       .size = calloc(n, sizeof(uint64_t))};
                if (!s.count || !s.size || (err = PYH_APPEND(series, count, cap, &s))) {
                    free(s.count);
                    free(s.size);
                    err = err ? err : pyh_error_nomem();
                    break;
                }
                at = count - 1;
                err = pyh_strmap_put(&index, name, at, false);
            }
            series[at].count[k] += c;
            series[at].size[k] += sz;
        }
    }
    pyh_strmap_free(&index);
    if (err) {
        pyh_series_free(series, count);
        return err;
    }
    double hours = n > 1 ? (snaps[n - 1]->time - snaps[0]->time) / 3600.0 : 0;
    double *values = malloc((n ? n : 1) * sizeof(double));
    if (!values) {
        pyh_series_free(series, count);
        return pyh_error_nomem();
    }
    for (size_t i = 0; i < count; i++) {
        struct pyh_series *s = &series[i];
        double growth = (double)s->size[n - 1] - (double)s->size[0];
        s->growth_per_snapshot = n > 1 ? growth / (double)(n - 1) : 0;
        s->growth_per_hour = hours > 0 ? growth / hours : 0;
        /* Counts classify better than sizes (one growing dict aside): use whichever moves
         * more, relative to its own size. */
        double cr = 0, sr = 0;
        for (size_t k = 0; k < n; k++) {
            cr = fmax(cr, (double)s->count[k]);
            sr = fmax(sr, (double)s->size[k]);
        }
        enum pyh_trend_class by_count, by_size;
        for (size_t k = 0; k < n; k++) values[k] = (double)s->count[k];
        by_count = pyh_trend_classify(values, n);
        for (size_t k = 0; k < n; k++) values[k] = (double)s->size[k];
        by_size = pyh_trend_classify(values, n);
        s->cls = by_count != PYH_TREND_STABLE ? by_count : by_size;
    }
    free(values);
    size_t last = n - 1;
    if (count > 1) qsort_r(series, count, sizeof(*series), by_growth, &last); /* NULL when empty */
    *out = series;
    *nseries = count;
    return NULL;
}
