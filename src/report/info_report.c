/* The `info` report in text and JSON; the JSON schema is in docs/json-schema.md. */
#include "report/report.h"

#include <string.h>

#include "target/elf_util.h"

static const char *build_id_of(const struct pyh_module *m, char *buf, size_t cap)
{
    if (!m->build_id_len) return NULL;
    return pyh_build_id_hex(m->build_id, m->build_id_len, buf, cap);
}

static const char *symbols_of(const struct pyh_module *m)
{
    return m->has_symtab ? "symtab" : "dynsym";
}

static const char *debug_file_of(const struct pyh_module *m)
{
    return m->debug_file ? m->debug_file->path : m->dwarf_path;
}

static json_t *json_string_or_null(const char *s) { return s ? pyh_json_text(s) : json_null(); }

static json_t *binary_json(const struct pyh_info_binary *b)
{
    char id[130];
    const struct pyh_module *m = b->module;
    json_t *o = json_object();
    json_object_set_new(o, "role", pyh_json_text(b->role));
    json_object_set_new(o, "path", pyh_json_text(m->path));
    json_object_set_new(o, "local_path", json_string_or_null(m->file ? m->file->path : NULL));
    json_object_set_new(o, "build_id", json_string_or_null(build_id_of(m, id, sizeof(id))));
    json_object_set_new(o, "base", pyh_json_address(m->base));
    json_object_set_new(o, "symbols", pyh_json_text(symbols_of(m)));
    json_object_set_new(o, "debug_file", json_string_or_null(debug_file_of(m)));
    return o;
}

/* A GC state's counts (null when they could not be read). */
static json_t *gc_json(const struct pyh_gc_counts *gc, bool known)
{
    if (!known) return json_null();
    json_t *o = json_object();
    json_t *gens = json_array();
    for (int g = 0; g < 3; g++) json_array_append_new(gens, json_integer((json_int_t)gc->generations[g]));
    json_object_set_new(o, "generations", gens);
    json_object_set_new(o, "permanent", json_integer((json_int_t)gc->permanent));
    json_object_set_new(o, "collecting", json_boolean(gc->collecting));
    json_object_set_new(o, "collector", json_string(gc->incremental ? "incremental" : "generational"));
    return o;
}

static json_t *thread_json(const struct pyh_pythread *th)
{
    json_t *o = json_object();
    json_object_set_new(o, "thread_id", json_integer((json_int_t)th->thread_id));
    json_object_set_new(o, "native_id", th->native_id >= 0 ? json_integer(th->native_id) : json_null());
    json_object_set_new(o, "name", th->has_name ? pyh_json_text(th->name) : json_null());
    json_object_set_new(o, "interpreter", json_integer(th->interp_id));
    if (th->has_frame) {
        json_t *f = json_object();
        json_object_set_new(f, "function", pyh_json_text(th->top.function));
        json_object_set_new(f, "file", pyh_json_text(th->top.file));
        json_object_set_new(f, "line", th->top.line >= 0 ? json_integer(th->top.line) : json_null());
        json_object_set_new(o, "top_frame", f);
    } else {
        json_object_set_new(o, "top_frame", json_null());
    }
    return o;
}

struct pyh_error *pyh_report_info_json(const struct pyh_report_context *ctx,
                                       struct pyh_runtime *rt, const struct pyh_info *info,
                                       FILE *out)
{
    json_t *root = pyh_report_json_envelope(ctx);
    json_t *py = json_object();
    char hex[16];
    json_object_set_new(py, "version", pyh_json_text(rt->version));
    snprintf(hex, sizeof(hex), "0x%08x", rt->version_hex);
    json_object_set_new(py, "version_hex", rt->version_hex ? pyh_json_text(hex) : json_null());
    json_object_set_new(py, "sys_version", json_string_or_null(rt->sys_version));
    json_object_set_new(py, "debug_info", json_boolean(rt->debug_info));
    json_object_set_new(py, "layout_source", pyh_json_text(pyh_layout_source_name(rt->layout_source)));
    json_t *notes = json_array();
    for (size_t i = 0; i < rt->nlayout_notes; i++)
        json_array_append_new(notes, pyh_json_text(rt->layout_notes[i]));
    json_object_set_new(py, "layout_notes", notes);
    json_object_set_new(py, "runtime_address", pyh_json_address(rt->runtime_addr));
    json_object_set_new(py, "interpreters", json_integer((json_int_t)rt->ninterps));
    json_object_set_new(py, "free_threaded", json_boolean(rt->free_threaded));
    json_object_set_new(py, "mimalloc", json_string_or_null(info->mimalloc_version));
    json_object_set_new(root, "python", py);

    json_t *binaries = json_array();
    for (size_t i = 0; i < info->nbinaries; i++)
        json_array_append_new(binaries, binary_json(&info->binaries[i]));
    json_object_set_new(root, "binaries", binaries);

    json_object_set_new(root, "modules",
                        info->modules_known ? json_integer((json_int_t)info->modules) : json_null());
    json_t *threads = json_array();
    for (size_t i = 0; i < info->nthreads; i++)
        json_array_append_new(threads, thread_json(&info->threads[i]));
    json_object_set_new(root, "threads", threads);

    json_object_set_new(root, "gc", gc_json(&info->gc, info->gc_known));
    json_t *interps = json_array();
    for (size_t k = 0; k < info->ninterps; k++) {
        const struct pyh_info_interp *in = &info->interps[k];
        json_t *o = json_object();
        json_object_set_new(o, "id", in->id >= 0 ? json_integer((json_int_t)in->id) : json_null());
        json_object_set_new(o, "address", pyh_json_address(in->address));
        json_object_set_new(o, "main", json_boolean(k == 0));
        json_object_set_new(o, "own_allocator", json_boolean(in->own_allocator));
        json_object_set_new(o, "gc", gc_json(&in->gc, in->gc_known));
        json_array_append_new(interps, o);
    }
    json_object_set_new(root, "interpreters", interps);

    json_t *mem = json_object();
    for (int k = 0; k < PYH_MAP_KINDS; k++)
        json_object_set_new(mem, pyh_map_kind_name(k), json_integer((json_int_t)info->memory.bytes[k]));
    json_object_set_new(mem, "total", json_integer((json_int_t)info->memory.total));
    json_object_set_new(root, "memory", mem);
    return pyh_report_json_print(ctx, root, out);
}

struct pyh_error *pyh_report_info_text(const struct pyh_report_context *ctx,
                                       struct pyh_runtime *rt, const struct pyh_info *info,
                                       FILE *out)
{
    char a[64], b[64], id[130];
    fprintf(out, "Target       %s%s\n", ctx->target->description,
            ctx->target->kind == PYH_TARGET_LIVE && !ctx->target->stopped ? " (not stopped)" : "");
    /* sys.version of 3.8 and 3.9 has a newline before the compiler; keep one line. */
    char version[512];
    snprintf(version, sizeof(version), "%s", rt->sys_version ? rt->sys_version : rt->version);
    for (char *c = version; *c; c++)
        if (*c == '\n') *c = ' ';
    fprintf(out, "Python       %s\n", version);
    if (rt->free_threaded) {
        char segments[48] = "";
        if (info->mimalloc_version)
            snprintf(segments, sizeof(segments), ", mimalloc %s (%zu segment%s)",
                     info->mimalloc_version, info->mimalloc_segments,
                     info->mimalloc_segments == 1 ? "" : "s");
        fprintf(out, "Build        free-threaded (no GIL)%s\n",
                info->mimalloc_version ? segments : ", no mimalloc segment found");
    }
    fprintf(out, "Layout       %s%s\n", pyh_layout_source_name(rt->layout_source),
            rt->debug_info ? " (debug info used)" : " (no debug info)");
    for (size_t i = 0; i < rt->nlayout_notes; i++) fprintf(out, "             %s\n", rt->layout_notes[i]);
    for (size_t i = 0; i < info->nbinaries; i++) {
        const struct pyh_module *m = info->binaries[i].module;
        const char *bid = build_id_of(m, id, sizeof(id));
        fprintf(out, "%-12s %s\n", i == 0 && m->is_exe ? "Executable" : "libpython", m->path);
        fprintf(out, "             build-id %s, %s%s%s\n", bid ? bid : "none", symbols_of(m),
                debug_file_of(m) ? ", DWARF from " : "", debug_file_of(m) ? debug_file_of(m) : "");
    }
    fprintf(out, "_PyRuntime   0x%llx, %zu interpreter%s\n", (unsigned long long)rt->runtime_addr,
            rt->ninterps, rt->ninterps == 1 ? "" : "s");
    /* The subinterpreters, one line each (the main one is what the rest of info is about). */
    for (size_t k = 1; k < info->ninterps; k++) {
        const struct pyh_info_interp *in = &info->interps[k];
        uint64_t tracked = in->gc.generations[0] + in->gc.generations[1] + in->gc.generations[2];
        fprintf(out, "             interpreter %lld at 0x%llx: %s allocator", (long long)in->id,
                (unsigned long long)in->address, in->own_allocator ? "its own" : "the main");
        if (in->gc_known && rt->layout.rt_gc < 0) /* 3.8: one GC state for all */
            fprintf(out, ", %s GC-tracked objects", pyh_format_count(tracked, a, sizeof(a)));
        fputc('\n', out);
    }
    if (info->modules_known)
        fprintf(out, "Modules      %s in sys.modules\n", pyh_format_count(info->modules, a, sizeof(a)));
    if (info->gc_known && info->gc.incremental) {
        /* 3.14.0-3.14.4: the collector's own words (runtime/gc.h). */
        fprintf(out, "GC           young: %llu, old: %llu visited + %llu unvisited, permanent: %llu "
                     "(incremental collector)%s\n",
                (unsigned long long)info->gc.generations[0], (unsigned long long)info->gc.generations[1],
                (unsigned long long)info->gc.generations[2], (unsigned long long)info->gc.permanent,
                info->gc.collecting ? " (collecting)" : "");
    } else if (info->gc_known) {
        fprintf(out, "GC           generation 0: %llu, 1: %llu, 2: %llu, permanent: %llu%s\n",
                (unsigned long long)info->gc.generations[0], (unsigned long long)info->gc.generations[1],
                (unsigned long long)info->gc.generations[2], (unsigned long long)info->gc.permanent,
                info->gc.collecting ? " (collecting)" : "");
    }
    fprintf(out, "Memory       %s mapped:", pyh_format_bytes(info->memory.total, a, sizeof(a)));
    for (int k = 0; k < PYH_MAP_KINDS; k++)
        fprintf(out, "%s %s %s", k ? "," : "", pyh_format_bytes(info->memory.bytes[k], b, sizeof(b)),
                pyh_map_kind_name(k));
    fprintf(out, "\n\nThreads (%zu)\n", info->nthreads);
    fprintf(out, "  %-16s %-8s %-20s %s\n", "thread id", "native", "name", "top frame");
    for (size_t i = 0; i < info->nthreads; i++) {
        const struct pyh_pythread *th = &info->threads[i];
        char native[24], frame[1400];
        snprintf(native, sizeof(native), th->native_id >= 0 ? "%lld" : "-", (long long)th->native_id);
        if (th->has_frame) {
            /* 80 columns: the frame starts at column 49; a long file keeps its end (the
             * file's name and line), its start elided. */
            const char *file = th->top.file;
            char line_no[16];
            int tail = snprintf(line_no, sizeof(line_no), ":%d)", th->top.line);
            int room = 80 - 49 - (int)strlen(th->top.function) - 2 - tail - 3;
            bool elide = !ctx->wide && (int)strlen(file) > room + 3 && room >= 12;
            snprintf(frame, sizeof(frame), "%s (%s%s%s", th->top.function, elide ? "..." : "",
                     elide ? file + strlen(file) - room : file, line_no);
        } else {
            snprintf(frame, sizeof(frame), "-");
        }
        fprintf(out, "  %-16llu %-8s %-20s %s\n", (unsigned long long)th->thread_id, native,
                th->has_name ? th->name : "-", frame);
    }
    return NULL;
}
