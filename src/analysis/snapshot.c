/* Snapshots compared; see snapshot.h. */
#include "analysis/snapshot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/format.h"
#include "util/hashmap.h"
#include "util/mem.h"

void pyh_snapshots_sort_by_time(struct pyh_snapshot **snaps, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct pyh_snapshot *x = snaps[i];
        size_t j = i;
        for (; j > 0 && snaps[j - 1]->time > x->time; j--)
            snaps[j] = snaps[j - 1];
        snaps[j] = x;
    }
}

void pyh_snapshot_free(struct pyh_snapshot *s)
{
    if (!s) return;
    free(s->source);
    free(s->executable);
    free(s->partial_reason);
    for (size_t i = 0; i < s->ntypes; i++) free(s->types[i].name);
    free(s->types);
    for (size_t i = 0; i < s->nretainers; i++) {
        free(s->retainers[i].path);
        free(s->retainers[i].type);
    }
    free(s->retainers);
    free(s->frag.verdict);
    for (size_t i = 0; i < s->gc.ntypes; i++) free(s->gc.types[i].name);
    free(s->gc.types);
    free(s);
}

const char *pyh_snapshot_identity(const struct pyh_snapshot *s, char *buf, size_t cap)
{
    char pid[32] = "process unknown";
    if (s->pid >= 0) snprintf(pid, sizeof(pid), "process %lld", (long long)s->pid);
    snprintf(buf, cap, "%s, %s%s%s%s, Python %s", pid, s->executable ? s->executable : "executable unknown",
             s->build_id[0] ? " (build ID " : "", s->build_id[0] ? s->build_id : "", s->build_id[0] ? ")" : "",
             s->python[0] ? s->python : "?");
    return buf;
}

/* Whether a and b differ in what: 0 (agree), else a bit per difference. Unknowns agree. */
enum { MIX_EXE = 1, MIX_PYTHON = 2, MIX_PROCESS = 4 };

static int differ(const struct pyh_snapshot *a, const struct pyh_snapshot *b)
{
    int what = 0;
    if (a->build_id[0] && b->build_id[0] ? strcmp(a->build_id, b->build_id) != 0
        : a->executable && b->executable && strcmp(a->executable, b->executable) != 0)
        what |= MIX_EXE;
    if (a->python[0] && b->python[0] && strcmp(a->python, "?") != 0 && strcmp(b->python, "?") != 0 &&
        strcmp(a->python, b->python) != 0)
        what |= MIX_PYTHON;
    if (a->pid >= 0 && b->pid >= 0 && a->pid != b->pid) what |= MIX_PROCESS;
    return what;
}

char *pyh_snapshots_mixed(struct pyh_snapshot *const *snaps, size_t n)
{
    int what = 0;
    for (size_t i = 1; i < n; i++) what |= differ(snaps[0], snaps[i]);
    if (!what) return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    /* Out of memory: still mixed (NULL would pass the inputs as agreeing), in fewer words. */
    if (!f) return strdup("the inputs come from different programs (no memory to say more)");
    fprintf(f, "the inputs come from different %s%s%s%s%s:",
            what & MIX_EXE ? "executables" : "",
            what & MIX_EXE && what & (MIX_PYTHON | MIX_PROCESS) ? (what & MIX_PYTHON && what & MIX_PROCESS ? ", " : " and ") : "",
            what & MIX_PYTHON ? "Python versions" : "",
            what & MIX_PYTHON && what & MIX_PROCESS ? " and " : "",
            what & MIX_PROCESS ? "processes" : "");
    char id[512];
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s %s is %s", i ? ";" : "", snaps[i]->source ? snaps[i]->source : "?",
                pyh_snapshot_identity(snaps[i], id, sizeof(id)));
    fclose(f);
    return text;
}

void pyh_series_free(struct pyh_series *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].count);
        free(s[i].size);
        free(s[i].garbage);
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

/* A type that grows because its growth is cyclic garbage is a GC backlog, not a leak: a
 * collection would free it. Judged on the last snapshot: its garbage there is at least half
 * of what the type rose above its baseline. */
static void gc_backlog(struct pyh_snapshot *const *snaps, size_t n, struct pyh_series *s)
{
    if (!n || !snaps[n - 1]->gc.garbage_known) return;
    if (s->cls != PYH_TREND_GROWING && s->cls != PYH_TREND_PLATEAU) return;
    double rise = (double)s->size[n - 1] - s->stats.baseline, garbage = (double)s->garbage[n - 1];
    if (rise <= 0 || garbage < rise / 2) return;
    char g[32], r[32], why[sizeof(s->stats.reason)];
    snprintf(why, sizeof(why), "%s (%s), and %s of it is cyclic garbage: a gc.collect() would free it%s",
             s->cls == PYH_TREND_GROWING ? "grew" : "rose, then flat", pyh_format_bytes((uint64_t)rise, r, sizeof(r)),
             pyh_format_bytes((uint64_t)garbage, g, sizeof(g)),
             snaps[n - 1]->gc.known && !snaps[n - 1]->gc.enabled ? " (the collector is disabled)" : "");
    memcpy(s->stats.reason, why, sizeof(why));
    s->cls = PYH_TREND_GC_BACKLOG;
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
                                       .size = calloc(n, sizeof(uint64_t)),
                                       .garbage = calloc(n, sizeof(uint64_t))};
                if (!s.count || !s.size || !s.garbage || (err = PYH_APPEND(series, count, cap, &s))) {
                    free(s.count);
                    free(s.size);
                    free(s.garbage);
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
    /* Each type's cyclic garbage in each snapshot (a type with garbage has instances, so
     * it has its series already). */
    for (size_t k = 0; k < n && !err && !retainers; k++)
        for (size_t i = 0; i < snaps[k]->gc.ntypes; i++) {
            uint64_t at;
            if (pyh_strmap_get(&index, snaps[k]->gc.types[i].name, &at)) series[at].garbage[k] += snaps[k]->gc.types[i].size;
        }
    pyh_strmap_free(&index);
    if (err) {
        pyh_series_free(series, count);
        return err;
    }
    double hours = n > 1 ? (snaps[n - 1]->time - snaps[0]->time) / 3600.0 : 0;
    double heap = 0;
    for (size_t k = 0; k < n; k++) heap = fmax(heap, (double)snaps[k]->objects_size);
    double *values = malloc((n ? n : 1) * sizeof(double)), *times = malloc((n ? n : 1) * sizeof(double));
    /* A retainer's absence says only that it was not among the top ones: there it retained
     * at most the smallest one listed (the snapshot's cut-off), and is judged at that bound,
     * never at 0 — one that merely enters the list has not grown from nothing. */
    double *cutoff = calloc(n ? n : 1, sizeof(double));
    for (size_t k = 0; retainers && cutoff && k < n; k++)
        for (size_t i = 0; i < snaps[k]->nretainers; i++)
            if (i == 0 || (double)snaps[k]->retainers[i].retained_size < cutoff[k])
                cutoff[k] = (double)snaps[k]->retainers[i].retained_size;
    for (size_t i = 0; i < count && values && times && cutoff && !err; i++) {
        struct pyh_series *s = &series[i];
        size_t m = 0;
        for (size_t k = 0; k < n; k++) {
            bool in = !retainers || s->count[k] || s->size[k];
            m += in;
            times[k] = snaps[k]->time;
            values[k] = in ? (double)s->size[k] : cutoff[k];
        }
        s->present = m;
        if (pyh_trend_judge(times, values, n, heap, &s->stats) != 0) err = pyh_error_nomem();
        if (retainers && m < n) {
            /* Rising into the list, or flat since, from fewer than three snapshots of it
             * is not a verdict: the bound below the list may be far above what it held. A
             * spike is one: the bound after it proves the fall. */
            char why[2 * sizeof(s->stats.reason)];
            if (m < 3 && s->stats.cls != PYH_TREND_TRANSIENT) {
                s->stats.cls = PYH_TREND_STABLE;
                snprintf(why, sizeof(why),
                         "among the top retainers in only %zu of %zu snapshots: too few to judge", m, n);
            } else {
                snprintf(why, sizeof(why), "among the top retainers in %zu of %zu snapshots (at most the "
                         "smallest listed in the others); %s", m, n, s->stats.reason);
            }
            /* cut to the reason's size (the prefix first) */
            memcpy(s->stats.reason, why, sizeof(s->stats.reason) - 1);
            s->stats.reason[sizeof(s->stats.reason) - 1] = 0;
        }
        s->cls = s->stats.cls;
        gc_backlog(snaps, n, s);
        double growth = (double)s->size[n - 1] - (double)s->size[0];
        s->growth_per_snapshot = n > 1 ? growth / (double)(n - 1) : 0;
        s->growth_per_hour = hours > 0 ? s->stats.per_hour : 0;
    }
    if (!values || !times || !cutoff) err = pyh_error_nomem();
    free(cutoff);
    free(values);
    free(times);
    if (err) {
        pyh_series_free(series, count);
        return err;
    }
    size_t last = n - 1;
    if (count > 1) qsort_r(series, count, sizeof(*series), by_growth, &last); /* NULL when empty */
    *out = series;
    *nseries = count;
    return NULL;
}
