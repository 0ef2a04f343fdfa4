/* A snapshot in the OpenMetrics text format (https://openmetrics.io), for Prometheus'
 * node_exporter textfile collector or any OpenMetrics scraper: py-heap builds no aggregator
 * of its own. Every family is a gauge named pyheap_..., base units (bytes, seconds) in the
 * name and in # UNIT; every sample has the label pid (several processes in one textfile
 * directory stay apart). Per type: the N biggest types by bytes, the rest summed as
 * type="(other)", so that the per-type series add up to the totals. The text is also valid
 * in Prometheus' own text format (# UNIT and # EOF are comments there). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/report.h"
#include "util/sanitize.h"

/* A label value: OpenMetrics allows any UTF-8 with \\, \" and \n escaped; bytes that are not
 * UTF-8 (a hostile core's type name) become the text \xNN. */
static void label_value(FILE *out, const char *s)
{
    char *clean = pyh_escape_invalid_utf8(s ? s : "");
    for (const char *c = clean ? clean : "?"; *c; c++) {
        if (*c == '\\' || *c == '"')
            fprintf(out, "\\%c", *c);
        else if (*c == '\n')
            fputs("\\n", out);
        else
            fputc(*c, out);
    }
    free(clean);
}

static void family(FILE *out, const char *name, const char *unit, const char *help)
{
    fprintf(out, "# TYPE %s gauge\n", name);
    if (unit) fprintf(out, "# UNIT %s %s\n", name, unit);
    fprintf(out, "# HELP %s %s\n", name, help);
}

static void sample(FILE *out, const char *name, long long pid, const char *label, const char *value,
                   double v)
{
    fprintf(out, "%s{pid=\"%lld\"", name, pid);
    if (label) {
        fprintf(out, ",%s=\"", label);
        label_value(out, value);
        fputc('"', out);
    }
    fprintf(out, "} %.17g\n", v);
}

void pyh_openmetrics_write(const struct pyh_snapshot *s, size_t top, FILE *out)
{
    long long pid = s->pid >= 0 ? s->pid : 0;
    size_t shown = top && top < s->ntypes ? top : s->ntypes;
    uint64_t other_count = 0, other_size = 0;
    for (size_t i = shown; i < s->ntypes; i++) {
        other_count += s->types[i].count;
        other_size += s->types[i].size;
    }
    family(out, "pyheap_python_info", NULL,
           "The Python and executable the snapshot is of (value 1).");
    fprintf(out, "pyheap_python_info{pid=\"%lld\",version=\"", pid);
    label_value(out, s->python);
    fputs("\",executable=\"", out);
    label_value(out, s->executable ? s->executable : "");
    fputs("\"} 1\n", out);
    family(out, "pyheap_snapshot_timestamp_seconds", "seconds",
           "When the heap was read, seconds since the epoch.");
    sample(out, "pyheap_snapshot_timestamp_seconds", pid, NULL, NULL, s->time);
    family(out, "pyheap_snapshot_partial", NULL,
           "1 when the heap was read only in part (counts are lower bounds).");
    sample(out, "pyheap_snapshot_partial", pid, NULL, NULL, s->partial);
    family(out, "pyheap_objects", NULL, "Live Python objects.");
    sample(out, "pyheap_objects", pid, NULL, NULL, (double)s->objects);
    family(out, "pyheap_object_bytes", "bytes",
           "Bytes of the live Python objects (sys.getsizeof).");
    sample(out, "pyheap_object_bytes", pid, NULL, NULL, (double)s->objects_size);
    family(out, "pyheap_type_objects", NULL,
           "Live objects by type (the biggest types; the rest as (other)).");
    for (size_t i = 0; i < shown; i++)
        sample(out, "pyheap_type_objects", pid, "type", s->types[i].name,
               (double)s->types[i].count);
    if (shown < s->ntypes)
        sample(out, "pyheap_type_objects", pid, "type", "(other)", (double)other_count);
    family(out, "pyheap_type_bytes", "bytes",
           "Bytes of live objects by type (sys.getsizeof; the rest as (other)).");
    for (size_t i = 0; i < shown; i++)
        sample(out, "pyheap_type_bytes", pid, "type", s->types[i].name, (double)s->types[i].size);
    if (shown < s->ntypes)
        sample(out, "pyheap_type_bytes", pid, "type", "(other)", (double)other_size);
    family(out, "pyheap_heap_bytes", "bytes",
           "The heap: pymalloc's arenas and glibc malloc's heaps and mmapped chunks.");
    sample(out, "pyheap_heap_bytes", pid, NULL, NULL, (double)s->frag.heap_total);
    family(out, "pyheap_allocator_bytes", "bytes",
           "Bytes of each allocator, used (live blocks) or free (held, not used).");
    static const char *const states[] = {"pymalloc_used", "pymalloc_free", "malloc_used",
                                         "malloc_free"};
    const uint64_t values[] = {s->frag.pymalloc_used, s->frag.pymalloc_free, s->frag.glibc_used,
                               s->frag.glibc_free};
    for (int k = 0; k < 4; k++) {
        fprintf(out, "pyheap_allocator_bytes{pid=\"%lld\",allocator=\"%s\",state=\"%s\"} %llu\n",
                pid, k < 2 ? "pymalloc" : "malloc", strchr(states[k], '_') + 1,
                (unsigned long long)values[k]);
    }
    family(out, "pyheap_malloc_mmapped_bytes", "bytes",
           "glibc malloc's chunks in mappings of their own.");
    sample(out, "pyheap_malloc_mmapped_bytes", pid, NULL, NULL, (double)s->frag.mmapped);
    family(out, "pyheap_pymalloc_arenas", NULL, "pymalloc's arenas.");
    sample(out, "pyheap_pymalloc_arenas", pid, NULL, NULL, (double)s->frag.pymalloc_arenas);
    if (s->resident >= 0) {
        family(out, "pyheap_resident_bytes", "bytes",
               "Resident memory of the process when it was read.");
        sample(out, "pyheap_resident_bytes", pid, NULL, NULL, (double)s->resident);
    }
    if (s->gc.known) {
        family(out, "pyheap_gc_enabled", NULL,
               "1 when the garbage collector is enabled (gc.isenabled()).");
        sample(out, "pyheap_gc_enabled", pid, NULL, NULL, s->gc.enabled);
        family(out, "pyheap_gc_generation_threshold", NULL, "gc.get_threshold() by generation.");
        for (int g = 0; g < 3; g++) {
            char gen[4];
            snprintf(gen, sizeof(gen), "%d", g);
            sample(out, "pyheap_gc_generation_threshold", pid, "generation", gen,
                   s->gc.threshold[g]);
        }
        family(out, "pyheap_gc_generation_pending", NULL,
               "gc.get_count() by generation: what counts towards its next collection.");
        for (int g = 0; g < 3; g++) {
            char gen[4];
            snprintf(gen, sizeof(gen), "%d", g);
            sample(out, "pyheap_gc_generation_pending", pid, "generation", gen, s->gc.count[g]);
        }
    }
    if (s->gc.garbage_known) {
        family(out, "pyheap_gc_garbage_objects", NULL,
               "Cyclic garbage a gc.collect() would free now: objects.");
        sample(out, "pyheap_gc_garbage_objects", pid, NULL, NULL, (double)s->gc.garbage_count);
        family(out, "pyheap_gc_garbage_bytes", "bytes",
               "Cyclic garbage a gc.collect() would free now: bytes (sys.getsizeof).");
        sample(out, "pyheap_gc_garbage_bytes", pid, NULL, NULL, (double)s->gc.garbage_bytes);
    }
    fputs("# EOF\n", out);
}

struct pyh_error *pyh_openmetrics_save(const struct pyh_snapshot *s, size_t top, const char *path)
{
    /* Whole or not at all: a scraper (the textfile collector) may read it at any moment. */
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp", path) < 0) return pyh_error_nomem();
    FILE *f = fopen(tmp, "w");
    struct pyh_error *err = f ? NULL : pyh_error_errno(errno, "cannot write %s", tmp);
    if (!err) pyh_openmetrics_write(s, top, f);
    if (f && (ferror(f) | fclose(f)) && !err)
        err = pyh_error_errno(errno ? errno : EIO, "cannot write %s", tmp);
    if (!err && rename(tmp, path) != 0) err = pyh_error_errno(errno, "cannot rename %s", tmp);
    if (err) unlink(tmp);
    free(tmp);
    return err;
}
