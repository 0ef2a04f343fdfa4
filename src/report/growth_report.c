/* The `diff` and `trend` reports; schema in docs/json-schema.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

static json_t *snapshot_ref(const struct pyh_snapshot *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "source", pyh_json_text(s->source ? s->source : ""));
    json_object_set_new(o, "time", json_real(s->time));
    json_object_set_new(o, "pid", s->pid >= 0 ? json_integer(s->pid) : json_null());
    json_object_set_new(o, "python", pyh_json_text(s->python));
    json_object_set_new(o, "executable", s->executable ? pyh_json_text(s->executable) : json_null());
    json_object_set_new(o, "build_id", s->build_id[0] ? pyh_json_text(s->build_id) : json_null());
    json_object_set_new(o, "heap_total", json_integer((json_int_t)s->frag.heap_total));
    json_object_set_new(o, "partial", json_boolean(s->partial));
    return o;
}

/* "S was read only in part: why", for the warnings of diff and trend. malloc'ed. */
static char *partial_warning(const struct pyh_snapshot *s)
{
    char *text = NULL;
    if (asprintf(&text, "%s was read only in part: %s", s->source ? s->source : "?",
                 s->partial_reason ? s->partial_reason : "no reason recorded") < 0)
        return NULL;
    return text;
}

static json_t *json_envelope(const char *command, struct pyh_snapshot *const *snaps, size_t n)
{
    json_t *root = json_object();
    json_object_set_new(root, "command", pyh_json_text(command));
    json_object_set_new(root, "pyheap_version", pyh_json_text(PYHEAP_VERSION));
    json_t *list = json_array(), *warnings = json_array();
    bool partial = false;
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(list, snapshot_ref(snaps[i]));
        if (!snaps[i]->partial) continue;
        partial = true;
        char *w = partial_warning(snaps[i]);
        if (w) json_array_append_new(warnings, pyh_json_text(w));
        free(w);
    }
    json_object_set_new(root, "snapshots", list);
    /* Inputs of different programs (only with --allow-mixed: refused otherwise). */
    char *mixed = pyh_snapshots_mixed(snaps, n);
    json_object_set_new(root, "mixed", mixed ? pyh_json_text(mixed) : json_null());
    if (mixed) json_array_append_new(warnings, pyh_json_text(mixed));
    free(mixed);
    /* The members every JSON output has (docs/json-schema.md): an input read only in part
     * makes the comparison partial too. */
    json_object_set_new(root, "partial", json_boolean(partial));
    json_object_set_new(root, "warnings", warnings);
    return root;
}

static struct pyh_error *print_json(json_t *root, FILE *out)
{
    int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(root);
    if (rc != 0 || fputc('\n', out) == EOF) return pyh_error_create(PYH_ERR_OS, "writing the JSON output");
    return NULL;
}

/* With --allow-mixed: what differs, first, in words. */
static void print_mixed(struct pyh_snapshot *const *snaps, size_t n, FILE *out)
{
    char *mixed = pyh_snapshots_mixed(snaps, n);
    if (mixed) fprintf(out, "WARNING (--allow-mixed): %s.\n\n", mixed);
    free(mixed);
}

/* "+1.50 MiB" / "-812 B" */
static const char *signed_bytes(int64_t v, char *buf, size_t cap)
{
    if (cap < 2) return buf;
    buf[0] = v < 0 ? '-' : '+';
    pyh_format_bytes((uint64_t)(v < 0 ? -v : v), buf + 1, cap - 1);
    return buf;
}

static int64_t delta(const uint64_t *v, size_t last) { return (int64_t)v[last] - (int64_t)v[0]; }

struct pyh_error *pyh_report_diff(struct pyh_snapshot *const *snaps, const struct pyh_series *types,
                                  size_t ntypes, const struct pyh_series *retainers,
                                  size_t nretainers, long limit, enum pyh_format format, FILE *out)
{
    const struct pyh_snapshot *a = snaps[0], *b = snaps[1];
    size_t shown = limit > 0 && (size_t)limit < ntypes ? (size_t)limit : ntypes;
    if (format == PYH_FORMAT_JSON) {
        json_t *root = json_envelope("diff", snaps, 2);
        json_t *list = json_array();
        for (size_t i = 0; i < ntypes; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "name", pyh_json_text(types[i].name));
            json_object_set_new(e, "count_before", json_integer((json_int_t)types[i].count[0]));
            json_object_set_new(e, "count_after", json_integer((json_int_t)types[i].count[1]));
            json_object_set_new(e, "size_before", json_integer((json_int_t)types[i].size[0]));
            json_object_set_new(e, "size_after", json_integer((json_int_t)types[i].size[1]));
            json_array_append_new(list, e);
        }
        json_object_set_new(root, "types", list);
        json_t *rets = json_array();
        for (size_t i = 0; i < nretainers; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "path", pyh_json_text(retainers[i].name));
            json_object_set_new(e, "type", pyh_json_text(retainers[i].type ? retainers[i].type : ""));
            json_object_set_new(e, "size_before", json_integer((json_int_t)retainers[i].size[0]));
            json_object_set_new(e, "size_after", json_integer((json_int_t)retainers[i].size[1]));
            json_object_set_new(e, "listed_before", json_boolean(retainers[i].count[0] != 0));
            json_object_set_new(e, "listed_after", json_boolean(retainers[i].count[1] != 0));
            json_array_append_new(rets, e);
        }
        json_object_set_new(root, "retainers", rets);
        json_t *f = json_object();
        json_object_set_new(f, "heap_total", json_integer((json_int_t)b->frag.heap_total - (json_int_t)a->frag.heap_total));
        json_object_set_new(f, "pymalloc_used", json_integer((json_int_t)b->frag.pymalloc_used - (json_int_t)a->frag.pymalloc_used));
        json_object_set_new(f, "pymalloc_free", json_integer((json_int_t)b->frag.pymalloc_free - (json_int_t)a->frag.pymalloc_free));
        json_object_set_new(f, "glibc_used", json_integer((json_int_t)b->frag.glibc_used - (json_int_t)a->frag.glibc_used));
        json_object_set_new(f, "glibc_free", json_integer((json_int_t)b->frag.glibc_free - (json_int_t)a->frag.glibc_free));
        json_object_set_new(root, "fragmentation_delta", f);
        return print_json(root, out);
    }
    /* One buffer per number of a line: the formatters return their buffer, and a printf's
     * arguments are all evaluated before it formats any of them. */
    char x[32], y[32], z[32], w[32], v[32];
    char ida[512], idb[512];
    print_mixed(snaps, 2, out);
    fprintf(out, "From %s (%s%s)\n  to %s (%s%s), %.0f s later\n\n", a->source,
            pyh_snapshot_identity(a, ida, sizeof(ida)), a->partial ? "; read only in part" : "", b->source,
            pyh_snapshot_identity(b, idb, sizeof(idb)), b->partial ? "; read only in part" : "",
            b->time - a->time);
    fprintf(out, "%-32s %10s %10s %12s %12s\n", "type", "count", "change", "size", "change");
    for (size_t i = 0; i < shown; i++) {
        const struct pyh_series *s = &types[i];
        fprintf(out, "%-32.32s %10s %+10" PRId64 " %12s %12s\n", s->name, pyh_format_count(s->count[1], x, sizeof(x)),
                delta(s->count, 1), pyh_format_bytes(s->size[1], y, sizeof(y)),
                signed_bytes(delta(s->size, 1), z, sizeof(z)));
    }
    if (nretainers) fprintf(out, "\nRetainers that grew most\n");
    /* A retainer absent from one side was not among its top retainers: not 0 bytes, so it
     * is said as such ("not listed"), never as growth from nothing. */
    for (size_t i = 0; i < nretainers && i < 10; i++)
        fprintf(out, "  %12s -> %-12s %s\n",
                retainers[i].count[0] ? pyh_format_bytes(retainers[i].size[0], x, sizeof(x)) : "(not listed)",
                retainers[i].count[1] ? pyh_format_bytes(retainers[i].size[1], y, sizeof(y)) : "(not listed)",
                retainers[i].name);
    fprintf(out, "\nHeap %s -> %s (%s); pymalloc free %s, malloc free %s\n",
            pyh_format_bytes(a->frag.heap_total, x, sizeof(x)), pyh_format_bytes(b->frag.heap_total, y, sizeof(y)),
            signed_bytes((int64_t)b->frag.heap_total - (int64_t)a->frag.heap_total, z, sizeof(z)),
            signed_bytes((int64_t)b->frag.pymalloc_free - (int64_t)a->frag.pymalloc_free, w, sizeof(w)),
            signed_bytes((int64_t)b->frag.glibc_free - (int64_t)a->frag.glibc_free, v, sizeof(v)));
    return NULL;
}

static json_t *trend_entry(const struct pyh_series *s, size_t n, bool retainer)
{
    const struct pyh_trend_stats *st = &s->stats;
    json_t *e = json_object(), *counts = json_array(), *sizes = json_array();
    json_object_set_new(e, retainer ? "path" : "name", pyh_json_text(s->name));
    if (retainer) json_object_set_new(e, "type", pyh_json_text(s->type ? s->type : ""));
    json_object_set_new(e, "class", pyh_json_text(pyh_trend_class_name(s->cls)));
    json_object_set_new(e, "reason", pyh_json_text(st->reason));
    for (size_t k = 0; k < n; k++) {
        json_array_append_new(counts, json_integer((json_int_t)s->count[k]));
        json_array_append_new(sizes, json_integer((json_int_t)s->size[k]));
    }
    json_object_set_new(e, "counts", counts);
    json_object_set_new(e, "sizes", sizes);
    if (!retainer) {
        json_t *garbage = json_array();
        for (size_t k = 0; k < n; k++) json_array_append_new(garbage, json_integer((json_int_t)s->garbage[k]));
        json_object_set_new(e, "garbage_sizes", garbage);
    }
    if (retainer) json_object_set_new(e, "present", json_integer((json_int_t)s->present));
    json_object_set_new(e, "growth_per_snapshot", json_real(s->growth_per_snapshot));
    json_object_set_new(e, "growth_per_hour", json_real(s->growth_per_hour));
    json_object_set_new(e, "growth_per_hour_error", json_real(st->per_hour_error));
    json_object_set_new(e, "rank_test_p", json_real(st->mk_p));
    json_object_set_new(e, "baseline", json_integer((json_int_t)st->baseline));
    json_object_set_new(e, "peak", json_integer((json_int_t)st->peak));
    json_object_set_new(e, "threshold", json_integer((json_int_t)st->threshold));
    json_object_set_new(e, "plateau_level",
                        s->cls == PYH_TREND_PLATEAU ? json_integer((json_int_t)st->plateau_level) : json_null());
    return e;
}

struct pyh_error *pyh_report_trend(struct pyh_snapshot *const *snaps, size_t n,
                                   const struct pyh_series *types, size_t ntypes,
                                   const struct pyh_series *retainers, size_t nretainers, long limit,
                                   enum pyh_format format, FILE *out)
{
    if (format == PYH_FORMAT_JSON) {
        json_t *root = json_envelope("trend", snaps, n);
        for (int which = 0; which < 2; which++) {
            const struct pyh_series *list = which ? retainers : types;
            size_t count = which ? nretainers : ntypes;
            json_t *arr = json_array();
            for (size_t i = 0; i < count; i++) json_array_append_new(arr, trend_entry(&list[i], n, which));
            json_object_set_new(root, which ? "retainers" : "types", arr);
        }
        json_t *backlog = json_array();
        for (size_t k = 0; k < n; k++) {
            json_t *e = json_object();
            const struct pyh_snapshot *sn = snaps[k];
            json_object_set_new(e, "enabled", sn->gc.known ? json_boolean(sn->gc.enabled) : json_null());
            json_object_set_new(e, "objects", sn->gc.garbage_known ? json_integer((json_int_t)sn->gc.garbage_count) : json_null());
            json_object_set_new(e, "bytes", sn->gc.garbage_known ? json_integer((json_int_t)sn->gc.garbage_bytes) : json_null());
            json_array_append_new(backlog, e);
        }
        json_object_set_new(root, "gc_backlog", backlog);
        return print_json(root, out);
    }
    char a[32], b[32], c[32], d[32];
    char id[512];
    print_mixed(snaps, n, out);
    fprintf(out, "%zu snapshots over %.0f s; bytes, judged on the slope over time\n", n,
            snaps[n - 1]->time - snaps[0]->time);
    /* What the inputs are: one line when they agree (the first says it for all). */
    char *mixed = pyh_snapshots_mixed(snaps, n);
    if (!mixed) fprintf(out, "Of %s\n", pyh_snapshot_identity(snaps[0], id, sizeof(id)));
    free(mixed);
    size_t npartial = 0;
    for (size_t i = 0; i < n; i++)
        if (snaps[i]->partial)
            fprintf(out, "%s%s",
                    npartial++ ? ", " : "Read only in part (counts are lower bounds): ",
                    snaps[i]->source);
    fprintf(out, npartial ? "\n\n" : "\n");
    static const enum pyh_trend_class order[] = {PYH_TREND_GROWING, PYH_TREND_GC_BACKLOG, PYH_TREND_PLATEAU,
                                                 PYH_TREND_TRANSIENT};
    for (int k = 0; k < 4; k++) {
        size_t shown = 0;
        for (size_t i = 0; i < ntypes; i++) {
            const struct pyh_series *s = &types[i];
            const struct pyh_trend_stats *st = &s->stats;
            if (s->cls != order[k] || (limit > 0 && shown >= (size_t)limit)) continue;
            if (!shown++)
                fprintf(out, "%s\n", order[k] == PYH_TREND_GROWING      ? "Growing (leak-like)"
                                     : order[k] == PYH_TREND_GC_BACKLOG ? "GC backlog (cyclic garbage a collection would free)"
                                     : order[k] == PYH_TREND_PLATEAU    ? "Plateau (cache-like)"
                                                                        : "Transient (rose and fell)");
            if (order[k] == PYH_TREND_GC_BACKLOG)
                fprintf(out, "  %-30.30s %10s -> %-10s garbage %s\n", s->name,
                        pyh_format_bytes(s->size[0], a, sizeof(a)), pyh_format_bytes(s->size[n - 1], b, sizeof(b)),
                        pyh_format_bytes(s->garbage[n - 1], c, sizeof(c)));
            else if (order[k] == PYH_TREND_GROWING)
                fprintf(out, "  %-30.30s %10s -> %-10s %s/h ± %s\n", s->name,
                        pyh_format_bytes(s->size[0], a, sizeof(a)), pyh_format_bytes(s->size[n - 1], b, sizeof(b)),
                        signed_bytes((int64_t)st->per_hour, c, sizeof(c)),
                        pyh_format_bytes((uint64_t)st->per_hour_error, d, sizeof(d)));
            else if (order[k] == PYH_TREND_PLATEAU)
                fprintf(out, "  %-30.30s at %s since %zu snapshots\n", s->name,
                        pyh_format_bytes((uint64_t)st->plateau_level, a, sizeof(a)), st->plateau_points);
            else
                fprintf(out, "  %-30.30s peak %s, baseline %s\n", s->name,
                        pyh_format_bytes((uint64_t)st->peak, a, sizeof(a)),
                        pyh_format_bytes((uint64_t)st->baseline, b, sizeof(b)));
            fprintf(out, "    %s\n", st->reason);
        }
        if (shown) fprintf(out, "\n");
    }
    size_t stable = 0;
    for (size_t i = 0; i < ntypes; i++) stable += types[i].cls == PYH_TREND_STABLE;
    fprintf(out, "%zu types stable.\n", stable);
    const struct pyh_snapshot *first = snaps[0], *last = snaps[n - 1];
    if (last->gc.garbage_known && last->gc.garbage_bytes)
        fprintf(out, "Cyclic garbage in the last snapshot: %s (%s in the first)%s.\n",
                pyh_format_bytes(last->gc.garbage_bytes, a, sizeof(a)),
                first->gc.garbage_known ? pyh_format_bytes(first->gc.garbage_bytes, b, sizeof(b)) : "unknown",
                last->gc.known && !last->gc.enabled ? "; the collector is disabled" : "");
    for (size_t i = 0, shown = 0; i < nretainers && shown < 10; i++) {
        if (retainers[i].cls != PYH_TREND_GROWING) continue;
        if (!shown++) fprintf(out, "\nRetainers still growing\n");
        fprintf(out, "  %12s/h ± %s  %s\n", signed_bytes((int64_t)retainers[i].stats.per_hour, a, sizeof(a)),
                pyh_format_bytes((uint64_t)retainers[i].stats.per_hour_error, b, sizeof(b)), retainers[i].name);
    }
    return NULL;
}
