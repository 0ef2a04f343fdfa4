/* The `gc` report: the collector's generations and the GC backlog; schema docs/schemas/gc.json. */
#include <stdio.h>

#include "analysis/gc_view.h"
#include "report/report.h"

json_t *pyh_gc_view_json(struct pyh_heap *heap, const struct pyh_gc_view *v, long limit)
{
    json_t *o = json_object();
    json_object_set_new(o, "known", json_boolean(v->known));
    json_object_set_new(o, "why", v->known ? json_null() : pyh_json_text(v->why));
    json_object_set_new(o, "enabled", v->known ? json_boolean(v->enabled) : json_null());
    json_object_set_new(o, "collecting", json_boolean(v->collecting));
    json_object_set_new(o, "collector", v->known ? json_string(v->incremental ? "incremental" : "generational")
                                                 : json_null());
    json_t *gens = json_array();
    for (int g = 0; v->known && g < PYH_GC_GENERATIONS; g++) {
        const struct pyh_gc_generation *x = &v->gen[g];
        json_t *e = json_object();
        json_object_set_new(e, "objects", json_integer((json_int_t)x->objects));
        json_object_set_new(e, "count", json_integer(x->count));
        json_object_set_new(e, "threshold", json_integer(x->threshold));
        json_object_set_new(e, "collections",
                            v->stats_known ? json_integer(x->collections) : json_null());
        json_object_set_new(e, "collected",
                            v->stats_known ? json_integer(x->collected) : json_null());
        json_object_set_new(e, "uncollectable",
                            v->stats_known ? json_integer(x->uncollectable) : json_null());
        json_array_append_new(gens, e);
    }
    json_object_set_new(o, "generations", gens);
    json_object_set_new(o, "permanent", json_integer((json_int_t)v->permanent));
    if (v->garbage_known) {
        json_t *gb = json_object(), *types = json_array();
        json_object_set_new(gb, "objects", json_integer((json_int_t)v->garbage.count));
        json_object_set_new(gb, "bytes", json_integer((json_int_t)v->garbage.bytes));
        for (size_t i = 0; i < v->garbage.ntypes && (limit <= 0 || i < (size_t)limit); i++) {
            json_t *e = json_object();
            json_object_set_new(e, "name",
                                pyh_json_text(pyh_heap_type_name(heap, v->garbage.types[i].type)));
            json_object_set_new(e, "count", json_integer((json_int_t)v->garbage.types[i].count));
            json_object_set_new(e, "bytes", json_integer((json_int_t)v->garbage.types[i].bytes));
            json_array_append_new(types, e);
        }
        json_object_set_new(gb, "types", types);
        json_object_set_new(o, "garbage", gb);
    } else {
        json_object_set_new(o, "garbage", json_null());
    }
    return o;
}

struct pyh_error *pyh_report_gc(const struct pyh_report_context *ctx, struct pyh_heap *heap,
                                const struct pyh_gc_view *v, long limit, enum pyh_format format,
                                FILE *out)
{
    if (format == PYH_FORMAT_JSON) {
        json_t *root = pyh_report_json_envelope(ctx);
        json_object_set_new(root, "gc", pyh_gc_view_json(heap, v, limit));
        return pyh_report_json_print(ctx, root, out);
    }
    char a[32], b[32];
    if (!v->known) {
        fprintf(out, "Collector: %s\n", v->why);
    } else {
        fprintf(out, "Collector: %s%s\n", v->enabled ? "enabled" : "DISABLED (gc.disable())",
                v->collecting ? "; a collection was running" : "");
        fprintf(out, "%-10s %12s %16s %12s %12s %13s\n", "generation", "objects", "count/threshold",
                "collections", "collected", "uncollectable");
        for (int g = 0; g < PYH_GC_GENERATIONS; g++) {
            const struct pyh_gc_generation *x = &v->gen[g];
            char ct[40];
            snprintf(ct, sizeof(ct), "%d/%d", x->count, x->threshold);
            char st[3][24];
            const int64_t stats[3] = {x->collections, x->collected, x->uncollectable};
            for (int k = 0; k < 3; k++) /* "-": 3.15 keeps them in a ring not read here */
                snprintf(st[k], sizeof(st[k]), v->stats_known ? "%lld" : "-", (long long)stats[k]);
            /* The incremental collector's own words for its lists (runtime/gc.h). */
            static const char *const spaces[] = {"young", "visited", "unvisited"};
            char name[16];
            snprintf(name, sizeof(name), "%d", g);
            fprintf(out, "%-10s %12s %16s %12s %12s %13s\n", v->incremental ? spaces[g] : name,
                    pyh_format_count(x->objects, a, sizeof(a)), ct, st[0], st[1], st[2]);
        }
        if (v->permanent)
            fprintf(out, "Permanent (gc.freeze()): %s objects\n",
                    pyh_format_count(v->permanent, a, sizeof(a)));
    }
    if (!v->garbage_known) return NULL;
    if (!v->garbage.count) {
        fprintf(out, "\nNo cyclic garbage: a gc.collect() would free nothing now.\n");
        return NULL;
    }
    char line[512];
    pyh_gc_backlog_line(v, NULL, line, sizeof(line));
    fprintf(out, "\nGC backlog: %s.\n", line);
    fprintf(out, "%-40s %12s %12s\n", "type", "objects", "bytes");
    for (size_t i = 0; i < v->garbage.ntypes && (limit <= 0 || i < (size_t)limit); i++)
        fprintf(out, "%-40.40s %12s %12s\n", pyh_heap_type_name(heap, v->garbage.types[i].type),
                pyh_format_count(v->garbage.types[i].count, a, sizeof(a)),
                pyh_format_bytes(v->garbage.types[i].bytes, b, sizeof(b)));
    return NULL;
}
