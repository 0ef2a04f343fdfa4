/* The `referrers`, `path`, `retained` and `unreachable` reports; schema in
 * docs/json-schema.md. */
#include "report/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap/preview.h"
#include "util/interrupt.h"

static const char *type_of(const struct pyh_graph *g, uint32_t node)
{
    return pyh_heap_type_name(g->heap, g->heap->objects[node].type);
}

struct pyh_error *pyh_report_referrers(const struct pyh_report_context *ctx,
                                       const struct pyh_graph *g, uint32_t node,
                                       const struct pyh_referrer *refs, size_t n,
                                       char *const *previews, enum pyh_format format, FILE *out)
{
    struct pyh_heap *heap = g->heap;
    uint64_t addr = heap->objects[node].addr;
    if (format == PYH_FORMAT_JSON) {
        json_t *root = pyh_report_json_envelope(ctx);
        json_object_set_new(root, "address", pyh_json_address(addr));
        json_object_set_new(root, "type", pyh_json_text(type_of(g, node)));
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_object();
            bool is_root = refs[i].from == g->n;
            json_object_set_new(e, "root", json_boolean(is_root));
            json_object_set_new(e, "address", is_root ? json_null() : pyh_json_address(heap->objects[refs[i].from].addr));
            json_object_set_new(e, "type", is_root ? json_null() : pyh_json_text(type_of(g, refs[i].from)));
            json_object_set_new(e, "how", pyh_json_text(refs[i].how));
            json_object_set_new(e, "conservative", json_boolean(refs[i].conservative));
            json_array_append_new(list, e);
        }
        json_object_set_new(root, "referrers", list);
        return pyh_report_json_print(ctx, root, out);
    }
    char cell[200], head[300];
    int used = snprintf(head, sizeof(head), "0x%llx %s: ", (unsigned long long)addr, type_of(g, node));
    fprintf(out, "%s%s\n", head, pyh_report_fit(ctx, previews[0] ? previews[0] : "?", 80 - used, cell, sizeof(cell)));
    fprintf(out, "%zu referrer%s:\n", n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        if (refs[i].from == g->n) {
            fprintf(out, "  root: %s\n", refs[i].how);
            continue;
        }
        /* The referrer and how on one line, its value under it, fitted to 80 columns. */
        fprintf(out, "  0x%llx %s via %s%s\n", (unsigned long long)heap->objects[refs[i].from].addr,
                type_of(g, refs[i].from), refs[i].how, refs[i].conservative ? " (conservative)" : "");
        fprintf(out, "      %s\n", pyh_report_fit(ctx, previews[i + 1] ? previews[i + 1] : "?", 80 - 6, cell, sizeof(cell)));
    }
    return NULL;
}

struct pyh_error *pyh_report_paths(const struct pyh_report_context *ctx, const struct pyh_graph *g,
                                   const char *what, const struct pyh_path_group *groups, size_t n,
                                   uint64_t instances, uint64_t unreached, enum pyh_format format,
                                   FILE *out)
{
    char a[32], b[32];
    if (format == PYH_FORMAT_JSON) {
        json_t *root = pyh_report_json_envelope(ctx);
        json_object_set_new(root, "of", pyh_json_text(what));
        json_object_set_new(root, "objects", json_integer((json_int_t)instances));
        json_object_set_new(root, "unreachable", json_integer((json_int_t)unreached));
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_object();
            char *expr = NULL;
            if (asprintf(&expr, "%s%s%s%s", groups[i].expression, groups[i].chain[0] ? "(" : "",
                         groups[i].chain, groups[i].chain[0] ? ")*" : "") < 0)
                expr = NULL;
            json_object_set_new(e, "expression", pyh_json_text(expr ? expr : groups[i].expression));
            free(expr);
            json_object_set_new(e, "count", json_integer((json_int_t)groups[i].count));
            json_object_set_new(e, "example", pyh_json_address(g->heap->objects[groups[i].example].addr));
            json_array_append_new(list, e);
        }
        json_object_set_new(root, "paths", list);
        return pyh_report_json_print(ctx, root, out);
    }
    if (n == 0)
        fprintf(out, "No root reaches %s%s\n", what,
                unreached ? ": it is held by native code, leaked, or garbage (see `unreachable`)" : "");
    /* In 80 columns an expression that does not fit after its count goes on a line of its
     * own (and one longer than a line is folded at its spaces, never inside a word; --wide
     * prints each on one line, to copy it). */
    for (size_t i = 0; i < n; i++) {
        if (instances > 1) {
            char head[400];
            int used = snprintf(head, sizeof(head), "%s of %s %s held via",
                                pyh_format_count(groups[i].count, a, sizeof(a)),
                                pyh_format_count(instances, b, sizeof(b)), what);
            size_t len = (size_t)used + 1 + strlen(groups[i].expression) +
                         (groups[i].chain[0] ? strlen(groups[i].chain) + 3 : 0);
            fprintf(out, "%s%s%s%s%s%s\n", head, ctx->wide || len <= 80 ? " " : "\n  ",
                    groups[i].expression, groups[i].chain[0] ? "(" : "", groups[i].chain,
                    groups[i].chain[0] ? ")*" : "");
        } else {
            fprintf(out, "%s\n", groups[i].expression);
        }
    }
    if (instances > 1 && unreached)
        fprintf(out, "%s of %s %s are reached by no root (see `unreachable`)\n",
                pyh_format_count(unreached, a, sizeof(a)), pyh_format_count(instances, b, sizeof(b)), what);
    return NULL;
}

struct pyh_error *pyh_report_retained(const struct pyh_report_context *ctx, const struct pyh_graph *g,
                                      const struct pyh_retention *r, char **paths,
                                      enum pyh_format format, FILE *out)
{
    struct pyh_heap *heap = g->heap;
    char a[32], b[32];
    double live = r->live_bytes ? (double)r->live_bytes : 1.0;
    if (format == PYH_FORMAT_JSON) {
        json_t *root = pyh_report_json_envelope(ctx);
        json_object_set_new(root, "live_bytes", json_integer((json_int_t)r->live_bytes));
        json_object_set_new(root, "live_objects", json_integer((json_int_t)r->live_objects));
        json_object_set_new(root, "native_bytes", json_integer((json_int_t)r->native_bytes));
        json_t *top = json_array();
        for (size_t i = 0; i < r->ntop; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "address", pyh_json_address(heap->objects[r->top[i].node].addr));
            json_object_set_new(e, "type", pyh_json_text(type_of(g, r->top[i].node)));
            json_object_set_new(e, "retained_size", json_integer((json_int_t)r->top[i].retained));
            json_object_set_new(e, "retained_count", json_integer(r->top[i].count));
            json_object_set_new(e, "path", paths[i] ? pyh_json_text(paths[i]) : json_null());
            json_array_append_new(top, e);
        }
        json_object_set_new(root, "retainers", top);
        json_t *types = json_array();
        for (size_t i = 0; i < r->ntypes; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "name", pyh_json_text(pyh_heap_type_name(heap, r->types[i].type)));
            json_object_set_new(e, "retained_size", json_integer((json_int_t)r->types[i].retained));
            json_object_set_new(e, "retained_count", json_integer((json_int_t)r->types[i].count));
            json_object_set_new(e, "instances", json_integer((json_int_t)r->types[i].instances));
            json_array_append_new(types, e);
        }
        json_object_set_new(root, "types", types);
        json_t *sus = json_array();
        for (size_t i = 0; i < r->nsuspects; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "address", pyh_json_address(heap->objects[r->suspects[i].node].addr));
            json_object_set_new(e, "type", pyh_json_text(type_of(g, r->suspects[i].node)));
            json_object_set_new(e, "retained_size", json_integer((json_int_t)r->suspects[i].retained));
            json_object_set_new(e, "retained_count", json_integer(r->suspects[i].count));
            json_object_set_new(e, "share", json_real((double)r->suspects[i].retained / live));
            json_object_set_new(e, "path", paths[r->ntop + i] ? pyh_json_text(paths[r->ntop + i]) : json_null());
            json_array_append_new(sus, e);
        }
        json_object_set_new(root, "suspects", sus);
        return pyh_report_json_print(ctx, root, out);
    }
    fprintf(out, "Live: %s in %s objects reachable from the roots",
            pyh_format_bytes(r->live_bytes, a, sizeof(a)),
            pyh_format_count(r->live_objects, b, sizeof(b)));
    if (r->native_bytes)
        fprintf(out, ", %s of it native memory they own",
                pyh_format_bytes(r->native_bytes, a, sizeof(a)));
    fprintf(out, "\n\n");
    if (r->nsuspects) fprintf(out, "Leak suspects\n");
    for (size_t i = 0; i < r->nsuspects; i++)
        fprintf(out, "  %s retains %.0f%% of live bytes (%s) in %s objects\n",
                paths[r->ntop + i] ? paths[r->ntop + i] : "?", 100.0 * (double)r->suspects[i].retained / live,
                pyh_format_bytes(r->suspects[i].retained, a, sizeof(a)),
                pyh_format_count(r->suspects[i].count, b, sizeof(b)));
    if (r->nsuspects) fprintf(out, "\n");
    fprintf(out, "Largest retainers\n  %12s %10s  %-24s %s\n", "retained", "objects", "type", "path");
    for (size_t i = 0; i < r->ntop; i++)
        fprintf(out, "  %12s %10s  %-24s %s\n", pyh_format_bytes(r->top[i].retained, a, sizeof(a)),
                pyh_format_count(r->top[i].count, b, sizeof(b)), type_of(g, r->top[i].node),
                paths[i] ? paths[i] : "?");
    fprintf(out, "\nRetained by type (instances not inside another of their type)\n");
    fprintf(out, "  %12s %10s %10s  %s\n", "retained", "objects", "instances", "type");
    for (size_t i = 0; i < r->ntypes; i++) {
        char c[32];
        fprintf(out, "  %12s %10s %10s  %s\n", pyh_format_bytes(r->types[i].retained, a, sizeof(a)),
                pyh_format_count(r->types[i].count, b, sizeof(b)),
                pyh_format_count(r->types[i].instances, c, sizeof(c)),
                pyh_heap_type_name(heap, r->types[i].type));
    }
    return NULL;
}

struct pyh_error *pyh_report_unreachable(const struct pyh_report_context *ctx,
                                         const struct pyh_graph *g, const struct pyh_unreachable *u,
                                         enum pyh_format format, FILE *out)
{
    struct pyh_heap *heap = g->heap;
    char a[32], b[32], c[32], d[32];
    if (format == PYH_FORMAT_JSON) {
        json_t *root = pyh_report_json_envelope(ctx);
        json_t *types = json_array();
        for (size_t i = 0; i < u->ntypes; i++) {
            const struct pyh_unreachable_type *t = &u->types[i];
            json_t *e = json_object();
            json_object_set_new(e, "name", pyh_json_text(pyh_heap_type_name(heap, t->type)));
            json_object_set_new(e, "count", json_integer((json_int_t)t->count));
            json_object_set_new(e, "size", json_integer((json_int_t)t->size));
            json_object_set_new(e, "native_refs", json_integer((json_int_t)t->native_refs));
            json_object_set_new(e, "garbage", json_integer((json_int_t)t->garbage));
            json_object_set_new(e, "garbage_size", json_integer((json_int_t)t->garbage_size));
            json_object_set_new(e, "immortal", json_integer((json_int_t)t->immortal));
            json_array_append_new(types, e);
        }
        json_object_set_new(root, "types", types);
        json_t *totals = json_object();
        json_object_set_new(totals, "objects", json_integer((json_int_t)u->count));
        json_object_set_new(totals, "size", json_integer((json_int_t)u->size));
        json_object_set_new(totals, "garbage", json_integer((json_int_t)u->garbage));
        json_object_set_new(totals, "garbage_size", json_integer((json_int_t)u->garbage_size));
        json_object_set_new(root, "totals", totals);
        return pyh_report_json_print(ctx, root, out);
    }
    fprintf(out, "%s objects (%s) are alive but reachable from no root:\n",
            pyh_format_count(u->count, a, sizeof(a)), pyh_format_bytes(u->size, b, sizeof(b)));
    fprintf(out,
            "  garbage: %s objects (%s) in reference cycles nothing else holds, their counts\n"
            "    explained by the cycles: a gc.collect() would free them;\n",
            pyh_format_count(u->garbage, a, sizeof(a)),
            pyh_format_bytes(u->garbage_size, b, sizeof(b)));
    fprintf(out,
            "  held: %s objects (%s) by references py-heap could not follow (native code,\n"
            "    leaked references, C fields it has no reader for).\n\n",
            pyh_format_count(u->count - u->garbage, a, sizeof(a)),
            pyh_format_bytes(u->size - u->garbage_size, b, sizeof(b)));
    fprintf(out, "  %-32s %10s %9s %12s %9s\n", "type", "count", "size", "native refs", "garbage");
    for (size_t i = 0; i < u->ntypes; i++) {
        const struct pyh_unreachable_type *t = &u->types[i];
        char cell[300];
        fprintf(out, "  %-32s %10s %9s %12s %9s\n",
                pyh_report_fit(ctx, pyh_heap_type_name(heap, t->type), 32, cell, sizeof(cell)),
                pyh_format_count(t->count, a, sizeof(a)), pyh_format_bytes(t->size, b, sizeof(b)),
                pyh_format_count(t->native_refs, c, sizeof(c)), pyh_format_count(t->garbage, d, sizeof(d)));
    }
    return NULL;
}

struct pyh_error *pyh_report_edges(const struct pyh_report_context *ctx, const struct pyh_graph *g,
                                   const char *path, enum pyh_format format, FILE *out)
{
    const struct pyh_heap *heap = g->heap;
    FILE *f = fopen(path, "wb");
    if (!f) return pyh_error_errno(errno, "cannot write %s", path);
    struct pyh_error *err = NULL;
    uint64_t buf[2 * 1024];
    size_t k = 0;
    if (fwrite("PYHEDGE1", 8, 1, f) != 1) err = pyh_error_errno(errno, "cannot write %s", path);
    for (uint32_t v = 0; v < g->n && !err; v++) {
        for (uint64_t e = g->offsets[v]; e < g->offsets[v + 1] && !err; e++) {
            uint32_t t = g->targets[e];
            buf[k++] = heap->objects[v].addr;
            buf[k++] = heap->objects[PYH_EDGE_INDEX(t)].addr |
                       (t & PYH_EDGE_CONSERVATIVE ? 1ULL << 63 : 0);
            if (k == sizeof(buf) / sizeof(buf[0])) {
                if (fwrite(buf, 8, k, f) != k)
                    err = pyh_error_errno(errno, "cannot write %s", path);
                k = 0;
            }
        }
        if (!err && (v & 0xffff) == 0) err = pyh_check_interrupt();
    }
    if (!err && k && fwrite(buf, 8, k, f) != k)
        err = pyh_error_errno(errno, "cannot write %s", path);
    if (fclose(f) != 0 && !err) err = pyh_error_errno(errno, "cannot write %s", path);
    if (err) return err;
    uint64_t edges = g->offsets[g->n];
    if (format == PYH_FORMAT_JSON) {
        json_t *root = pyh_report_json_envelope(ctx);
        json_object_set_new(root, "file", pyh_json_text(path));
        json_object_set_new(root, "objects", json_integer((json_int_t)g->n));
        json_object_set_new(root, "edges", json_integer((json_int_t)edges));
        json_object_set_new(root, "conservative", json_integer((json_int_t)g->nconservative));
        return pyh_report_json_print(ctx, root, out);
    }
    char a[32], b[32], c[32];
    fprintf(out,
            "%s references between %s objects written to %s (%s found by a conservative scan)\n",
            pyh_format_count(edges, a, sizeof(a)), pyh_format_count(g->n, b, sizeof(b)), path,
            pyh_format_count(g->nconservative, c, sizeof(c)));
    return NULL;
}
