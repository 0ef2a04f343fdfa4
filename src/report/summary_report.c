/* `summary`: the first minute — version, resident memory, the census in one line, and the
 * verdict with every cause that matters, its holders and the command that shows more. */
#include <stdio.h>
#include <string.h>

#include "analysis/gc_view.h"
#include "report/report.h"

#define SUMMARY_TYPES 5
#define COLUMNS 80

/* `py-heap path --type NAME`, the name quoted for a shell when it needs it. */
static const char *path_command(const char *type, char *buf, size_t cap)
{
    bool plain = *type != '\0';
    for (const char *c = type; *c && plain; c++)
        plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                *c == '_' || *c == '.';
    if (plain) {
        snprintf(buf, cap, "py-heap path --type %s", type);
        return buf;
    }
    size_t n = (size_t)snprintf(buf, cap, "py-heap path --type '");
    for (const char *c = type; *c && n + 5 < cap; c++) {
        if (*c == '\'') n += (size_t)snprintf(buf + n, cap - n, "'\\''");
        else buf[n++] = *c;
    }
    snprintf(buf + n, cap - n, "'");
    return buf;
}

static const char *cause_command(const struct pyh_verdict *v, enum pyh_cause_kind kind)
{
    switch (kind) {
    case PYH_CAUSE_LIVE: return "py-heap retained";
    case PYH_CAUSE_GARBAGE: return "py-heap unreachable";
    case PYH_CAUSE_NATIVE_OWNED:
    case PYH_CAUSE_NATIVE_OTHER: return "py-heap types";
    case PYH_CAUSE_PYMALLOC_FREE:
    case PYH_CAUSE_MALLOC_FREE: return "py-heap fragmentation";
    case PYH_CAUSE_STACKS:
    case PYH_CAUSE_OTHER:
    case PYH_CAUSE_COUNT: break;
    }
    (void)v;
    return "py-heap info";
}

/* What the cause's line says after its name. */
static void cause_detail(struct pyh_heap *heap, const struct pyh_verdict *v,
                         enum pyh_cause_kind kind, char *buf, size_t cap)
{
    char a[32], n[32];
    buf[0] = '\0';
    if (kind == PYH_CAUSE_GARBAGE && v->garbage_count)
        snprintf(buf, cap, " (%s objects%s%s; gc.collect() would free them)",
                 pyh_format_count(v->garbage_count, n, sizeof(n)),
                 v->top_garbage_type != UINT32_MAX ? ", most " : "",
                 v->top_garbage_type != UINT32_MAX ? pyh_heap_type_name(heap, v->top_garbage_type) : "");
    else if (kind == PYH_CAUSE_MALLOC_FREE && v->trim_releasable)
        snprintf(buf, cap, " (malloc_trim(0) could return %s)",
                 pyh_format_bytes(v->trim_releasable, a, sizeof(a)));
}

/* "text", then the command: on the same line at the right margin when both fit in 80
 * columns (or with --wide), else on a line of its own, right-aligned. */
static void line_with_command(const struct pyh_report_context *ctx, FILE *out, const char *text,
                              const char *command)
{
    int tl = (int)strlen(text), cl = (int)strlen(command);
    if (ctx->wide) fprintf(out, "%s  %s\n", text, command);
    else if (tl + 2 + cl <= COLUMNS) fprintf(out, "%s%*s\n", text, COLUMNS - tl, command);
    else fprintf(out, "%s\n%*s\n", text, COLUMNS, command);
}

static void holder_text(struct pyh_heap *heap, const struct pyh_holder *h, char *buf, size_t cap)
{
    char a[32], n[32], k[32], addr[32];
    snprintf(addr, sizeof(addr), "%s at 0x%llx", pyh_heap_type_name(heap, heap->objects[h->node].type),
             (unsigned long long)heap->objects[h->node].addr);
    int len = snprintf(buf, cap, "                 held by %s: %s in %s objects",
                       h->expression ? h->expression : addr,
                       pyh_format_bytes(h->retained, a, sizeof(a)), pyh_format_count(h->count, n, sizeof(n)));
    if (h->leading_type != UINT32_MAX && len > 0 && (size_t)len < cap)
        snprintf(buf + len, cap - (size_t)len, ", %s %s", pyh_format_count(h->leading_count, k, sizeof(k)),
                 pyh_heap_type_name(heap, h->leading_type));
}

void pyh_verdict_sentence(struct pyh_heap *heap, const struct pyh_verdict *v, char *buf, size_t cap)
{
    char t[32];
    size_t n = (size_t)snprintf(buf, cap, "of %s %s, ", pyh_format_bytes(v->total, t, sizeof(t)),
                                v->resident ? "resident" : "mapped");
    int listed = 0;
    for (int i = 0; i < PYH_CAUSE_COUNT && n < cap; i++) {
        const struct pyh_cause *c = &v->causes[i];
        if (!c->matters || c->kind == PYH_CAUSE_OTHER || c->kind == PYH_CAUSE_STACKS) continue;
        n += (size_t)snprintf(buf + n, cap - n, listed ? ", %s %.0f%%" : "%s take %.0f%%",
                              pyh_cause_name(c->kind), 100 * c->share);
        if (c->kind == PYH_CAUSE_LIVE && v->nholders && n < cap) {
            const struct pyh_holder *h = &v->holders[0];
            char addr[32];
            snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)heap->objects[h->node].addr);
            n += (size_t)snprintf(buf + n, cap - n, " (most held by %s)",
                                  h->expression ? h->expression : addr);
        }
        listed++;
    }
    if (!listed && n < cap)
        snprintf(buf + n, cap - n, "no cause beyond the binaries and stacks takes %.0f%%",
                 100 * PYH_VERDICT_MATTERS);
    else if (n < cap)
        snprintf(buf + n, cap - n, ".");
}

void pyh_summary_json_totals(json_t *root, const struct pyh_census *c,
                             const struct pyh_fragmentation *f, const struct pyh_verdict *v,
                             const char *sentence)
{
    size_t ntop = c->nrows < SUMMARY_TYPES ? c->nrows : SUMMARY_TYPES;
    json_t *totals = json_object();
    json_object_set_new(totals, "objects", json_integer((json_int_t)c->objects));
    json_object_set_new(totals, "size", json_integer((json_int_t)c->size));
    json_object_set_new(totals, "heap_total", json_integer((json_int_t)c->heap_total));
    json_object_set_new(totals, "memory", json_integer((json_int_t)v->total));
    json_object_set_new(totals, "memory_basis", json_string(v->resident ? "resident" : "mapped"));
    json_object_set_new(root, "totals", totals);
    json_t *types = json_array();
    for (size_t i = 0; i < ntop; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "name", pyh_json_text(pyh_heap_type_name(c->heap, c->rows[i].type)));
        json_object_set_new(e, "count", json_integer((json_int_t)c->rows[i].count));
        json_object_set_new(e, "size", json_integer((json_int_t)c->rows[i].size));
        json_array_append_new(types, e);
    }
    json_object_set_new(root, "top_types", types);
    json_object_set_new(root, "verdict", pyh_json_text(sentence));
    json_object_set_new(root, "allocators_verdict", pyh_json_text(f->verdict));
}

static json_t *summary_json(const struct pyh_report_context *ctx, struct pyh_runtime *rt,
                            const struct pyh_census *c, const struct pyh_fragmentation *f,
                            const struct pyh_gc_view *gc, const char *backlog,
                            const struct pyh_verdict *v,
                            const char *sentence)
{
    json_t *root = pyh_report_json_envelope(ctx);
    json_t *py = json_object();
    json_object_set_new(py, "version", pyh_json_text(rt->version));
    json_object_set_new(root, "python", py);
    pyh_summary_json_totals(root, c, f, v, sentence);
    json_t *causes = json_array();
    for (int i = 0; i < PYH_CAUSE_COUNT; i++) {
        const struct pyh_cause *k = &v->causes[i];
        json_t *e = json_object();
        json_object_set_new(e, "cause", json_string(pyh_cause_key(k->kind)));
        json_object_set_new(e, "bytes", json_integer((json_int_t)k->bytes));
        json_object_set_new(e, "share", json_real(k->share));
        json_object_set_new(e, "matters", json_boolean(k->matters));
        json_object_set_new(e, "command", json_string(cause_command(v, k->kind)));
        json_array_append_new(causes, e);
    }
    json_object_set_new(root, "causes", causes);
    json_object_set_new(root, "garbage_objects", json_integer((json_int_t)v->garbage_count));
    json_t *holders = json_array();
    for (size_t i = 0; i < v->nholders; i++) {
        const struct pyh_holder *h = &v->holders[i];
        json_t *e = json_object();
        json_object_set_new(e, "address", pyh_json_address(c->heap->objects[h->node].addr));
        json_object_set_new(e, "type", pyh_json_text(pyh_heap_type_name(c->heap, c->heap->objects[h->node].type)));
        json_object_set_new(e, "expression", pyh_json_text(h->expression));
        json_object_set_new(e, "retained_size", json_integer((json_int_t)h->retained));
        json_object_set_new(e, "retained_count", json_integer(h->count));
        if (h->leading_type != UINT32_MAX) {
            char cmd[512];
            json_object_set_new(e, "leading_type",
                                pyh_json_text(pyh_heap_type_name(c->heap, h->leading_type)));
            json_object_set_new(e, "leading_count", json_integer((json_int_t)h->leading_count));
            json_object_set_new(e, "command", pyh_json_text(path_command(
                                    pyh_heap_type_name(c->heap, h->leading_type), cmd, sizeof(cmd))));
        }
        json_array_append_new(holders, e);
    }
    json_object_set_new(root, "holders", holders);
    json_object_set_new(root, "gc", pyh_gc_view_json(c->heap, gc, 5));
    json_object_set_new(root, "gc_backlog", backlog ? pyh_json_text(backlog) : json_null());
    return root;
}

struct pyh_error *pyh_report_summary(const struct pyh_report_context *ctx, struct pyh_runtime *rt,
                                     const struct pyh_census *c, const struct pyh_fragmentation *f,
                                     const struct pyh_gc_view *gc, const struct pyh_verdict *v,
                                     enum pyh_format format, FILE *out)
{
    /* The backlog's own line (gc_view.h: when it matters, with what the collector is doing). */
    char line[512] = "";
    const char *backlog = NULL;
    if (gc->garbage_known && gc->garbage.ntypes && pyh_gc_backlog_matters(gc, c->size)) {
        pyh_gc_backlog_line(gc, pyh_heap_type_name(c->heap, gc->garbage.types[0].type), line,
                            sizeof(line));
        backlog = line;
    }
    char a[32], b[32], d[32], sentence[2048], text[4096], cmd[512];
    size_t ntop = c->nrows < SUMMARY_TYPES ? c->nrows : SUMMARY_TYPES;
    pyh_verdict_sentence(c->heap, v, sentence, sizeof(sentence));
    if (format == PYH_FORMAT_JSON)
        return pyh_report_json_print(ctx, summary_json(ctx, rt, c, f, gc, backlog, v, sentence),
                                     out);

    fprintf(out, "Python %s, %s\n", rt->version, ctx->target->description);
    if (f->resident_known)
        fprintf(out, "Resident %s%s (%s); %s mapped\n", f->resident_exact ? "" : "about ",
                pyh_format_bytes(f->resident, a, sizeof(a)), f->resident_how,
                pyh_format_bytes(f->mapped, b, sizeof(b)));
    fprintf(out, "Heap %s: %s objects take %s (sys.getsizeof) in %zu types\n",
            pyh_format_bytes(c->heap_total, a, sizeof(a)), pyh_format_count(c->objects, b, sizeof(b)),
            pyh_format_bytes(c->size, d, sizeof(d)), c->nrows);
    fprintf(out, "Top types:");
    for (size_t i = 0; i < ntop; i++)
        fprintf(out, "%s %s %s (%s)", i ? "," : "", pyh_heap_type_name(c->heap, c->rows[i].type),
                pyh_format_bytes(c->rows[i].size, a, sizeof(a)),
                pyh_format_count(c->rows[i].count, b, sizeof(b)));
    fprintf(out, "\n\nVerdict: %s\n", sentence);
    for (int i = 0; i < PYH_CAUSE_COUNT; i++) {
        const struct pyh_cause *k = &v->causes[i];
        if (!k->matters) continue;
        char detail[512];
        cause_detail(c->heap, v, k->kind, detail, sizeof(detail));
        snprintf(text, sizeof(text), "%5.0f%% %9s  %s%s", 100 * k->share,
                 pyh_format_bytes(k->bytes, a, sizeof(a)), pyh_cause_name(k->kind), detail);
        line_with_command(ctx, out, text, cause_command(v, k->kind));
        if (k->kind != PYH_CAUSE_LIVE) continue;
        for (size_t h = 0; h < v->nholders; h++) {
            holder_text(c->heap, &v->holders[h], text, sizeof(text));
            const struct pyh_holder *hd = &v->holders[h];
            line_with_command(ctx, out, text,
                              hd->leading_type != UINT32_MAX
                                  ? path_command(pyh_heap_type_name(c->heap, hd->leading_type), cmd, sizeof(cmd))
                                  : "py-heap retained");
        }
    }
    if (backlog) fprintf(out, "GC backlog: %s.\n", backlog);
    return NULL;
}
