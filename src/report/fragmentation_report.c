/* The `fragmentation` report in text and JSON; schema in docs/json-schema.md. */
#include "report/report.h"

#include <string.h>

static json_t *int_or_null(bool known, uint64_t v) { return known ? json_integer((json_int_t)v) : json_null(); }

static json_t *pymalloc_json(const struct pyh_fragmentation *f)
{
    const struct pyh_pymalloc *pm = f->pymalloc;
    if (!pm) return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "found_by", pyh_json_text(pm->found_by));
    json_object_set_new(o, "arena_size", json_integer((json_int_t)pm->arena_size));
    json_object_set_new(o, "pool_size", json_integer((json_int_t)pm->pool_size));
    json_object_set_new(o, "arenas_current", json_integer((json_int_t)pm->narenas));
    json_object_set_new(o, "arenas_allocated_total", int_or_null(pm->have_counters, pm->ntimes_arena_allocated));
    json_object_set_new(o, "arenas_reclaimed",
                        int_or_null(pm->have_counters, pm->ntimes_arena_allocated - pm->narenas_currently_allocated));
    json_object_set_new(o, "arenas_highwater", int_or_null(pm->have_counters, pm->narenas_highwater));
    json_object_set_new(o, "arenas_pinned", json_integer((json_int_t)f->pymalloc_pinned));
    json_t *classes = json_array();
    for (unsigned i = 0; i < PYH_PYMALLOC_CLASSES; i++) {
        const struct pyh_pymalloc_class *c = &pm->classes[i];
        if (!c->pools) continue;
        json_t *e = json_object();
        json_object_set_new(e, "size_class", json_integer(i));
        json_object_set_new(e, "block_size", json_integer(c->block_size));
        json_object_set_new(e, "pools", json_integer((json_int_t)c->pools));
        json_object_set_new(e, "blocks_used", json_integer((json_int_t)c->blocks_used));
        json_object_set_new(e, "blocks_free", json_integer((json_int_t)c->blocks_free));
        json_array_append_new(classes, e);
    }
    json_object_set_new(o, "size_classes", classes);
    json_object_set_new(o, "blocks_used", json_integer((json_int_t)pm->blocks_used));
    json_object_set_new(o, "bytes_used", json_integer((json_int_t)pm->bytes_used));
    json_object_set_new(o, "raw_allocated_blocks", int_or_null(pm->have_raw_blocks, pm->raw_allocated_blocks));
    json_object_set_new(o, "bytes_free_in_used_pools", json_integer((json_int_t)pm->bytes_free_in_used_pools));
    json_object_set_new(o, "pools_used", json_integer((json_int_t)pm->pools_used));
    json_object_set_new(o, "pools_empty", json_integer((json_int_t)pm->pools_empty));
    json_object_set_new(o, "pools_never_used", json_integer((json_int_t)pm->pools_never_used));
    json_object_set_new(o, "bytes_in_empty_pools", json_integer((json_int_t)pm->bytes_in_empty_pools));
    json_object_set_new(o, "bytes_overhead",
                        json_integer((json_int_t)(pm->bytes_pool_overhead + pm->bytes_alignment_lost)));
    return o;
}

static void set_count(json_t *o, const char *prefix, struct pyh_glibc_count c)
{
    char key[64];
    snprintf(key, sizeof(key), "%s_chunks", prefix);
    json_object_set_new(o, key, json_integer((json_int_t)c.count));
    snprintf(key, sizeof(key), "%s_bytes", prefix);
    json_object_set_new(o, key, json_integer((json_int_t)c.bytes));
}

static struct pyh_glibc_count bins_of(const struct pyh_glibc_arena *a)
{
    struct pyh_glibc_count c = {0, 0};
    static const enum pyh_glibc_kind kinds[] = {PYH_GLIBC_UNSORTED, PYH_GLIBC_SMALLBIN, PYH_GLIBC_LARGEBIN};
    for (int k = 0; k < 3; k++) {
        c.count += a->kinds[kinds[k]].count;
        c.bytes += a->kinds[kinds[k]].bytes;
    }
    return c;
}

static json_t *glibc_json(const struct pyh_fragmentation *f)
{
    const struct pyh_glibc *g = f->glibc;
    if (!g) return json_null();
    json_t *o = json_object();
    char version[16];
    snprintf(version, sizeof(version), "%u.%u", g->layout.version / 100, g->layout.version % 100);
    json_object_set_new(o, "version", g->layout.version ? pyh_json_text(version) : json_null());
    json_object_set_new(o, "main_arena", pyh_json_address(g->main_arena));
    json_object_set_new(o, "main_arena_found_by", pyh_json_text(pyh_glibc_how_name(g->main_arena_how)));
    json_object_set_new(o, "mp_found_by", pyh_json_text(pyh_glibc_how_name(g->mp_how)));
    json_t *arenas = json_array();
    for (size_t i = 0; i < g->narenas; i++) {
        const struct pyh_glibc_arena *a = &g->arenas[i];
        json_t *e = json_object();
        json_object_set_new(e, "address", pyh_json_address(a->address));
        json_object_set_new(e, "main", json_boolean(a->is_main));
        json_object_set_new(e, "heaps", json_integer(a->nheaps));
        json_object_set_new(e, "system_bytes", json_integer((json_int_t)a->system_mem));
        set_count(e, "in_use", a->kinds[PYH_GLIBC_INUSE]);
        json_object_set_new(e, "internal_bytes", json_integer((json_int_t)(a->kinds[PYH_GLIBC_INTERNAL].bytes + a->overhead)));
        set_count(e, "fastbin", a->kinds[PYH_GLIBC_FASTBIN]);
        set_count(e, "unsorted", a->kinds[PYH_GLIBC_UNSORTED]);
        set_count(e, "smallbin", a->kinds[PYH_GLIBC_SMALLBIN]);
        set_count(e, "largebin", a->kinds[PYH_GLIBC_LARGEBIN]);
        set_count(e, "bin", bins_of(a));
        json_object_set_new(e, "top_bytes", json_integer((json_int_t)a->top_size));
        set_count(e, "tcache", a->kinds[PYH_GLIBC_TCACHE]);
        if (a->kinds[PYH_GLIBC_FREE_LOST].count) set_count(e, "free_unlisted", a->kinds[PYH_GLIBC_FREE_LOST]);
        json_object_set_new(e, "complete", json_boolean(a->complete));
        json_array_append_new(arenas, e);
    }
    json_object_set_new(o, "arenas", arenas);
    json_object_set_new(o, "mmapped_chunks", json_integer((json_int_t)g->mmapped_total.count));
    json_object_set_new(o, "mmapped_bytes", json_integer((json_int_t)g->mmapped_total.bytes));
    json_object_set_new(o, "trim_releasable_bytes", json_integer((json_int_t)f->trim_releasable));
    return o;
}

static json_t *split_json(const struct pyh_memory_split *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "pymalloc_used", json_integer((json_int_t)s->pymalloc_used));
    json_object_set_new(o, "pymalloc_free", json_integer((json_int_t)s->pymalloc_free));
    json_object_set_new(o, "glibc_used", json_integer((json_int_t)s->glibc_used));
    json_object_set_new(o, "glibc_free", json_integer((json_int_t)s->glibc_free));
    json_object_set_new(o, "stacks", json_integer((json_int_t)s->stacks));
    json_object_set_new(o, "other", json_integer((json_int_t)s->other));
    return o;
}

struct pyh_error *pyh_report_fragmentation_json(const struct pyh_report_context *ctx,
                                                const struct pyh_fragmentation *f, FILE *out)
{
    json_t *root = pyh_report_json_envelope(ctx);
    json_t *res = json_object();
    json_object_set_new(res, "bytes", int_or_null(f->resident_known, f->resident));
    json_object_set_new(res, "source", f->resident_known ? pyh_json_text(f->resident_source) : json_null());
    json_object_set_new(res, "how", f->resident_known ? pyh_json_text(f->resident_how) : json_null());
    json_object_set_new(res, "exact", json_boolean(f->resident_known && f->resident_exact));
    json_object_set_new(res, "mapped", json_integer((json_int_t)f->mapped));
    if (f->resident_known) json_object_set_new(res, "split", split_json(&f->split));
    else json_object_set_new(res, "split", json_null());
    json_object_set_new(res, "mapped_split", split_json(&f->mapped_split));
    json_object_set_new(root, "resident", res);
    json_object_set_new(root, "pymalloc", pymalloc_json(f));
    json_object_set_new(root, "glibc", glibc_json(f));
    json_object_set_new(root, "mimalloc", f->mimalloc ? pyh_report_mimalloc_json(f->mimalloc) : json_null());
    json_object_set_new(root, "verdict", pyh_json_text(f->verdict));
    return pyh_report_json_print(ctx, root, out);
}

/* "  label   1.50 MiB  12.3%" */
/* "  label   1.50 MiB  12.3%   of 2.00 MiB": the resident bytes of a part, its share of
 * the total, and what it holds in all when that is more (not all of it resident). */
static void split_line(FILE *out, const char *label, uint64_t bytes, uint64_t total,
                       uint64_t mapped)
{
    char b[32], m[32];
    fprintf(out, "  %-22s %11s %5.1f%%", label, pyh_format_bytes(bytes, b, sizeof(b)),
            total ? 100.0 * (double)bytes / (double)total : 0.0);
    if (mapped > bytes) fprintf(out, "   of %s", pyh_format_bytes(mapped, m, sizeof(m)));
    fprintf(out, "\n");
}

static void pymalloc_text(const struct pyh_fragmentation *f, FILE *out)
{
    const struct pyh_pymalloc *pm = f->pymalloc;
    char a[32], b[32], c[32], d[32];
    if (!pm) {
        fprintf(out, "pymalloc: not in use\n\n");
        return;
    }
    fprintf(out, "pymalloc (arena table found by %s): %zu arenas of %s, %llu pinned (<= 5%% used)\n",
            pm->found_by, pm->narenas, pyh_format_bytes(pm->arena_size, a, sizeof(a)),
            (unsigned long long)f->pymalloc_pinned);
    if (pm->have_counters)
        fprintf(out, "  arenas allocated total %llu, reclaimed %llu, highwater %llu\n",
                (unsigned long long)pm->ntimes_arena_allocated,
                (unsigned long long)(pm->ntimes_arena_allocated - pm->narenas_currently_allocated),
                (unsigned long long)pm->narenas_highwater);
    fprintf(out, "  %5s %6s %8s %12s %12s %12s\n", "class", "size", "pools", "blocks used",
            "blocks free", "bytes used");
    for (unsigned i = 0; i < PYH_PYMALLOC_CLASSES; i++) {
        const struct pyh_pymalloc_class *k = &pm->classes[i];
        if (!k->pools) continue;
        fprintf(out, "  %5u %6u %8llu %12s %12s %12s\n", i, k->block_size,
                (unsigned long long)k->pools, pyh_format_count(k->blocks_used, a, sizeof(a)),
                pyh_format_count(k->blocks_free, b, sizeof(b)),
                pyh_format_bytes(k->blocks_used * k->block_size, c, sizeof(c)));
    }
    fprintf(out, "  in use %s in %s blocks; free %s in pools in use, %s in %llu empty pools\n\n",
            pyh_format_bytes(pm->bytes_used, a, sizeof(a)),
            pyh_format_count(pm->blocks_used, b, sizeof(b)),
            pyh_format_bytes(pm->bytes_free_in_used_pools, c, sizeof(c)),
            pyh_format_bytes(pm->bytes_in_empty_pools, d, sizeof(d)),
            (unsigned long long)(pm->pools_empty + pm->pools_never_used));
}

static void glibc_text(const struct pyh_fragmentation *f, FILE *out)
{
    const struct pyh_glibc *g = f->glibc;
    char a[32], b[32], c[32], d[32], e[32], h[32], i2[32];
    if (!g) {
        fprintf(out, "glibc malloc: state not found\n\n");
        return;
    }
    fprintf(out, "glibc %u.%u malloc (main_arena found by %s): %zu arena%s\n", g->layout.version / 100,
            g->layout.version % 100, pyh_glibc_how_name(g->main_arena_how), g->narenas,
            g->narenas == 1 ? "" : "s");
    /* 80 columns: the main arena by name, others by address (both in JSON); sizes fit 8. */
    fprintf(out, "  %-14s %8s %8s %8s %8s %8s %8s %6s\n", "arena", "system", "in use", "tcache",
            "fastbins", "bins", "top", "free %");
    for (size_t k = 0; k < g->narenas; k++) {
        const struct pyh_glibc_arena *ar = &g->arenas[k];
        struct pyh_glibc_count bins = bins_of(ar);
        uint64_t free_bytes = pyh_glibc_arena_free_bytes(ar);
        char name[32];
        if (ar->is_main)
            snprintf(name, sizeof(name), "main");
        else
            snprintf(name, sizeof(name), "0x%llx", (unsigned long long)ar->address);
        fprintf(out, "  %-14s %8s %8s %8s %8s %8s %8s %5.1f%%\n", name,
                pyh_format_bytes(ar->system_mem, a, sizeof(a)),
                pyh_format_bytes(ar->kinds[PYH_GLIBC_INUSE].bytes, b, sizeof(b)),
                pyh_format_bytes(ar->kinds[PYH_GLIBC_TCACHE].bytes, c, sizeof(c)),
                pyh_format_bytes(ar->kinds[PYH_GLIBC_FASTBIN].bytes, d, sizeof(d)),
                pyh_format_bytes(bins.bytes, e, sizeof(e)), pyh_format_bytes(ar->top_size, h, sizeof(h)),
                ar->system_mem ? 100.0 * (double)free_bytes / (double)ar->system_mem : 0.0);
    }
    fprintf(out, "  mmapped chunks: %s in %s; malloc_trim(0) could return at most %s\n\n",
            pyh_format_bytes(g->mmapped_total.bytes, a, sizeof(a)),
            pyh_format_count(g->mmapped_total.count, b, sizeof(b)),
            pyh_format_bytes(f->trim_releasable, i2, sizeof(i2)));
}

struct pyh_error *pyh_report_fragmentation_text(const struct pyh_report_context *ctx,
                                                const struct pyh_fragmentation *f, FILE *out)
{
    (void)ctx;
    char a[32];
    const struct pyh_memory_split *s = f->resident_known ? &f->split : &f->mapped_split;
    const struct pyh_memory_split *m = &f->mapped_split;
    if (f->resident_known)
        fprintf(out, "Resident memory %s (%s)\n", pyh_format_bytes(f->resident, a, sizeof(a)),
                f->resident_how);
    else
        fprintf(out, "Resident memory unknown; allocator totals:\n");
    uint64_t total = f->resident_known ? f->resident
                                       : s->pymalloc_used + s->pymalloc_free + s->glibc_used + s->glibc_free;
    split_line(out, "pymalloc, live blocks", s->pymalloc_used, total, m->pymalloc_used);
    split_line(out, "pymalloc, free", s->pymalloc_free, total, m->pymalloc_free);
    split_line(out, "malloc, in use", s->glibc_used, total, m->glibc_used);
    split_line(out, "malloc, free", s->glibc_free, total, m->glibc_free);
    if (f->resident_known) {
        split_line(out, "thread stacks", s->stacks, total, m->stacks);
        split_line(out, "other", s->other, total, m->other);
    }
    fprintf(out, "\n");
    pymalloc_text(f, out);
    if (f->mimalloc) pyh_report_mimalloc_text(f->mimalloc, out);
    glibc_text(f, out);
    fprintf(out, "Verdict: %s\n", f->verdict);
    return NULL;
}
