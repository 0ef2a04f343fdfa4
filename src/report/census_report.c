/* The `types` report (the census) in text and JSON; schema in docs/json-schema.md. */
#include "analysis/gc_view.h"
#include "report/report.h"

#include <stdio.h>
#include <string.h>

#define NATIVE_OWNERS_SHOWN 5 /* owner types listed under the native allocations */

/* The rows shown: at most limit, with at least min_count objects. */
static bool shown(const struct pyh_census *c, size_t i, const struct pyh_census_view *v)
{
    return (v->limit <= 0 || (long)i < v->limit) && c->rows[i].count >= v->min_count;
}

/* Row i's objects by interpreter: [{id, count}] for those with any, id null for the objects
 * not attributed (analysis/interpreters.h). */
static json_t *row_interpreters_json(const struct pyh_census *c, size_t i)
{
    json_t *a = json_array();
    for (size_t k = 0; k < c->ninterps; k++) {
        uint64_t n = c->row_interps[i * c->ninterps + k];
        if (!n) continue;
        json_t *e = json_object();
        bool attributed = k + 1 < c->ninterps;
        json_object_set_new(e, "id", attributed && c->interps[k].id >= 0
                                         ? json_integer((json_int_t)c->interps[k].id) : json_null());
        json_object_set_new(e, "count", json_integer((json_int_t)n));
        json_array_append_new(a, e);
    }
    return a;
}

struct pyh_error *pyh_report_types_json(const struct pyh_report_context *ctx,
                                        const struct pyh_census *c,
                                        const struct pyh_census_view *v, FILE *out)
{
    json_t *root = pyh_report_json_envelope(ctx);
    json_t *types = json_array();
    size_t listed = 0;
    for (size_t i = 0; i < c->nrows; i++) {
        if (!shown(c, i, v)) continue;
        const struct pyh_census_row *r = &c->rows[i];
        json_t *e = json_object();
        json_object_set_new(e, "name", pyh_json_text(pyh_heap_type_name(c->heap, r->type)));
        json_object_set_new(e, "count", json_integer((json_int_t)r->count));
        json_object_set_new(e, "size", json_integer((json_int_t)r->size));
        json_object_set_new(e, "type_address", pyh_json_address(c->heap->types[r->type].addr));
        if (c->interps) json_object_set_new(e, "interpreters", row_interpreters_json(c, i));
        json_array_append_new(types, e);
        listed++;
    }
    json_object_set_new(root, "types", types);
    json_object_set_new(root, "types_total", json_integer((json_int_t)c->nrows));
    json_t *totals = json_object();
    json_object_set_new(totals, "objects", json_integer((json_int_t)c->objects));
    json_object_set_new(totals, "size", json_integer((json_int_t)c->size));
    json_object_set_new(root, "totals", totals);
    json_t *st = json_object();
    json_object_set_new(st, "count", json_integer((json_int_t)c->static_count));
    json_object_set_new(st, "size", json_integer((json_int_t)c->static_size));
    json_object_set_new(root, "static", st);
    json_t *acc = json_object();
    json_object_set_new(acc, "objects_size", json_integer((json_int_t)c->size));
    json_object_set_new(acc, "native_bytes", json_integer((json_int_t)c->native_bytes));
    json_object_set_new(acc, "native_blocks", json_integer((json_int_t)c->native_blocks));
    json_object_set_new(acc, "native_owned_bytes", json_integer((json_int_t)c->native_owned_bytes));
    json_t *owners = json_array();
    for (size_t i = 0; i < c->nnative_owners; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "type",
                            pyh_json_text(pyh_heap_type_name(c->heap, c->native_owners[i].type)));
        json_object_set_new(e, "bytes", json_integer((json_int_t)c->native_owners[i].bytes));
        json_object_set_new(e, "blocks", json_integer((json_int_t)c->native_owners[i].blocks));
        json_array_append_new(owners, e);
    }
    json_object_set_new(acc, "native_owners", owners);
    json_object_set_new(acc, "rounding_bytes", json_integer((json_int_t)c->rounding));
    json_object_set_new(acc, "free_bytes", json_integer((json_int_t)c->free_bytes));
    json_object_set_new(acc, "heap_total", json_integer((json_int_t)c->heap_total));
    json_object_set_new(root, "accounting", acc);
    json_t *interps = json_array();
    for (size_t k = 0; k < c->ninterps; k++) {
        json_t *e = json_object();
        bool attributed = k + 1 < c->ninterps;
        json_object_set_new(e, "id", attributed && c->interps[k].id >= 0
                                         ? json_integer((json_int_t)c->interps[k].id) : json_null());
        json_object_set_new(e, "attributed", json_boolean(attributed));
        json_object_set_new(e, "count", json_integer((json_int_t)c->interps[k].count));
        json_object_set_new(e, "size", json_integer((json_int_t)c->interps[k].size));
        json_array_append_new(interps, e);
    }
    json_object_set_new(root, "interpreters", interps);
    json_t *gc = json_object();
    json_object_set_new(gc, "tracked", json_integer((json_int_t)c->heap->gc_tracked));
    json_object_set_new(gc, "not_found", json_integer((json_int_t)c->heap->gc_missing));
    json_object_set_new(root, "gc_check", gc);
    return pyh_report_json_print(ctx, root, out);
}

#define NAME_COLUMN 33 /* the type column in 80 columns; --wide: the longest name */

static void row(FILE *out, int w, const char *name, const char *count, uint64_t size,
                uint64_t total, const char *avg)
{
    char s[32];
    fprintf(out, "%-*s %11s %10s %5.1f%% %9s\n", w, name, count, pyh_format_bytes(size, s, sizeof(s)),
            total ? 100.0 * (double)size / (double)total : 0.0, avg);
}

struct pyh_error *pyh_report_types_text(const struct pyh_report_context *ctx,
                                        const struct pyh_census *c,
                                        const struct pyh_census_view *v, FILE *out)
{
    char n[32], a[32], name[1024];
    int w = NAME_COLUMN;
    for (size_t i = 0; ctx->wide && i < c->nrows; i++) {
        int len = (int)strlen(pyh_heap_type_name(c->heap, c->rows[i].type));
        if (shown(c, i, v) && len > w) w = len < (int)sizeof(name) - 1 ? len : (int)sizeof(name) - 1;
    }
    uint64_t total = c->heap_total ? c->heap_total : c->size;
    fprintf(out, "%-*s %11s %10s %6s %9s\n", w, "type", "count", "size", "share", "avg size");
    size_t listed = 0;
    for (size_t i = 0; i < c->nrows; i++) {
        if (!shown(c, i, v)) continue;
        const struct pyh_census_row *r = &c->rows[i];
        const char *tn = pyh_heap_type_name(c->heap, r->type);
        snprintf(name, (size_t)w + 1, "%s", tn);
        if ((int)strlen(tn) > w) memcpy(name + w - 3, "...", 4); /* the whole name: --wide */
        row(out, w, name, pyh_format_count(r->count, n, sizeof(n)), r->size, total,
            pyh_format_bytes(r->size / r->count, a, sizeof(a)));
        listed++;
    }
    if (listed < c->nrows) {
        uint64_t count = 0, size = 0;
        for (size_t i = 0; i < c->nrows; i++)
            if (!shown(c, i, v)) {
                count += c->rows[i].count;
                size += c->rows[i].size;
            }
        snprintf(name, sizeof(name), "(%zu other types)", c->nrows - listed);
        row(out, w, name, pyh_format_count(count, n, sizeof(n)), size, total, "");
    }
    fprintf(out, "\n");
    row(out, w, "Python objects (sys.getsizeof)", pyh_format_count(c->objects, n, sizeof(n)), c->size,
        total, "");
    row(out, w, "native allocations (no object)", pyh_format_count(c->native_blocks, n, sizeof(n)),
        c->native_bytes, total, "");
    for (size_t i = 0; i < c->nnative_owners && i < NATIVE_OWNERS_SHOWN; i++) {
        char label[300], cell[300];
        snprintf(label, sizeof(label), "  owned by %s",
                 pyh_heap_type_name(c->heap, c->native_owners[i].type));
        row(out, w, pyh_report_fit(ctx, label, w, cell, sizeof(cell)),
            pyh_format_count(c->native_owners[i].blocks, n, sizeof(n)), c->native_owners[i].bytes,
            total, "");
    }
    if (c->rounding >= 0)
        row(out, w, "allocator rounding, buffers", "", (uint64_t)c->rounding, total, "");
    else
        fprintf(out, "%-*s %11s %9s-%s\n", w, "rounding (getsizeof counts more)", "", "",
                pyh_format_bytes((uint64_t)-c->rounding, a, sizeof(a)));
    row(out, w, "free and allocator overhead", "", c->free_bytes, total, "");
    row(out, w, "heap total (see fragmentation)", "", c->heap_total, total, "");
    fprintf(out, "\n%s static objects in the binaries' data (%s), not in the heap.\n",
            pyh_format_count(c->static_count, n, sizeof(n)),
            pyh_format_bytes(c->static_size, a, sizeof(a)));
    for (size_t k = 0; k < c->ninterps; k++) {
        /* With subinterpreters: whose objects they are (analysis/interpreters.h). */
        char label[64];
        if (k + 1 == c->ninterps)
            snprintf(label, sizeof(label), "not attributed (static, shared, big non-GC)");
        else if (c->interps[k].id < 0)
            snprintf(label, sizeof(label), "interpreter #%zu%s", k, k ? "" : " (main)");
        else
            snprintf(label, sizeof(label), "interpreter %lld%s", (long long)c->interps[k].id,
                     k ? "" : " (main)");
        if (k == 0) fprintf(out, "\nBy interpreter:\n");
        fprintf(out, "  %-44s %11s objects %10s\n", label,
                pyh_format_count(c->interps[k].count, n, sizeof(n)),
                pyh_format_bytes(c->interps[k].size, a, sizeof(a)));
    }
    if (c->heap->gc_missing)
        fprintf(out, "%s of %s GC-tracked objects were not found in allocator blocks.\n",
                pyh_format_count(c->heap->gc_missing, n, sizeof(n)),
                pyh_format_count(c->heap->gc_tracked, a, sizeof(a)));
    return NULL;
}
