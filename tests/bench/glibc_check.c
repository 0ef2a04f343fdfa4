/* glibc_check: runs the glibc malloc walker (src/allocators/glibc.h) on a live process or a
 * core file and prints what it found as JSON, with the time taken by pyh_glibc_open and by one
 * pyh_glibc_visit over every chunk. glibc_compare.py (beside it) compares this output with
 * what the target process said about itself (mallinfo2, malloc_info) just before the dump.
 *
 * Not built by CMake (tests/bench has no CMakeLists); glibc_compare.py builds it with:
 *   gcc -std=gnu11 -O2 -Isrc tests/bench/glibc_check.c BUILD/libpyheap_static.a \
 *       -lelf -ldwarf -ljansson [-fsanitize=address,undefined]
 *
 * Usage: glibc_check (--pid PID | --core PATH) [--debug-dirs DIRS] [--no-symbols] [--no-code]
 *   --debug-dirs ""   no separate debug files: libc's symbols are only its .dynsym
 *   --no-symbols      heuristics even when symbols exist
 *   --no-code         no decoding of libc's code: main_arena from the data scan */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "allocators/glibc.h"
#include "image/image.h"
#include "target/target.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static json_t *hex(uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
    return json_string(buf);
}

/* What the visitor saw, per arena (the last slot is for mmapped chunks). */
struct seen {
    size_t narenas;
    struct pyh_glibc_count (*kinds)[PYH_GLIBC_NKINDS];
    uint64_t chunks;
};

static struct pyh_error *count_chunk(const struct pyh_glibc_chunk *c, void *ctx)
{
    struct seen *s = ctx;
    size_t a = c->arena == PYH_GLIBC_NO_ARENA ? s->narenas : c->arena;
    s->kinds[a][c->kind].count++;
    s->kinds[a][c->kind].bytes += c->size;
    s->chunks++;
    return NULL;
}

static json_t *kinds_json(const struct pyh_glibc_count *k)
{
    json_t *o = json_object();
    for (int i = 0; i < PYH_GLIBC_NKINDS; i++)
        json_object_set_new(o, pyh_glibc_kind_name((enum pyh_glibc_kind)i),
                            json_pack("[II]", (json_int_t)k[i].count, (json_int_t)k[i].bytes));
    return o;
}

int main(int argc, char **argv)
{
    int pid = 0;
    const char *core = NULL, *debug_dirs = NULL;
    struct pyh_glibc_options opts = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--pid") && i + 1 < argc)
            pid = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--core") && i + 1 < argc)
            core = argv[++i];
        else if (!strcmp(argv[i], "--debug-dirs") && i + 1 < argc)
            debug_dirs = argv[++i];
        else if (!strcmp(argv[i], "--no-symbols"))
            opts.no_symbols = true;
        else if (!strcmp(argv[i], "--no-code"))
            opts.no_code = true;
        else {
            fprintf(stderr,
                    "usage: %s (--pid PID | --core PATH) [--debug-dirs DIRS] "
                    "[--no-symbols] [--no-code]\n",
                    argv[0]);
            return 2;
        }
    }
    struct pyh_diag diag = {0};
    struct pyh_target *t = NULL;
    struct pyh_images *images = NULL;
    struct pyh_glibc *g = NULL;
    struct pyh_file_search search = {0};
    double t0 = now();
    struct pyh_error *err = core ? pyh_target_open_core(core, &search, &diag, &t)
                                 : pyh_target_open_live(pid, PYH_LIVE_STOP, NULL, 0, &diag, &t);
    if (!err) err = pyh_images_load(t, debug_dirs, &diag, &images);
    double t1 = now();
    if (!err) err = pyh_glibc_open(t, images, &opts, &diag, &g);
    double t2 = now();
    struct seen seen = {0};
    if (!err) {
        seen.narenas = g->narenas;
        seen.kinds = calloc(g->narenas + 1, sizeof(*seen.kinds));
        err = pyh_glibc_visit(g, count_chunk, &seen);
    }
    double t3 = now();
    if (err) {
        fprintf(stderr, "glibc_check: %s\n", pyh_error_message(err));
        pyh_error_free(err);
        pyh_glibc_free(g);
        pyh_images_free(images);
        pyh_target_close(t);
        pyh_diag_free(&diag);
        free(seen.kinds);
        return 1;
    }
    json_t *out = json_object();
    json_object_set_new(out, "main_arena", hex(g->main_arena));
    json_object_set_new(out, "main_arena_how", json_string(pyh_glibc_how_name(g->main_arena_how)));
    json_object_set_new(out, "mp", hex(g->mp));
    json_object_set_new(out, "mp_how", json_string(pyh_glibc_how_name(g->mp_how)));
    json_object_set_new(out, "version", json_integer(g->layout.version));
    json_object_set_new(out, "version_source", json_string(g->version_source));
    json_object_set_new(out, "heap_max_size", json_integer((json_int_t)g->heap_max_size));
    json_object_set_new(out, "complete", json_boolean(g->complete));
    json_object_set_new(out, "open_target_seconds", json_real(t1 - t0));
    json_object_set_new(out, "open_seconds", json_real(t2 - t1));
    json_object_set_new(out, "visit_seconds", json_real(t3 - t2));
    json_object_set_new(out, "visited_chunks", json_integer((json_int_t)seen.chunks));
    bool visit_matches = true;
    json_t *arenas = json_array();
    for (size_t i = 0; i < g->narenas; i++) {
        const struct pyh_glibc_arena *a = &g->arenas[i];
        uint64_t aspace = 0;
        for (uint32_t h = a->first_heap; h < a->first_heap + a->nheaps; h++)
            aspace += g->heaps[h].end - (g->heaps[h].info ? g->heaps[h].info : g->heaps[h].start);
        json_t *listed = json_object();
        for (int k = 0; k < PYH_GLIBC_NKINDS; k++)
            if (a->listed[k])
                json_object_set_new(listed, pyh_glibc_kind_name((enum pyh_glibc_kind)k),
                                    json_integer((json_int_t)a->listed[k]));
        json_t *o = json_pack(
            "{s:o,s:b,s:i,s:I,s:I,s:o,s:I,s:I,s:I,s:I,s:b,s:o,s:o}", "address", hex(a->address),
            "main", a->is_main, "nheaps", (int)a->nheaps, "system_mem", (json_int_t)a->system_mem,
            "max_system_mem", (json_int_t)a->max_system_mem, "top", hex(a->top), "top_size",
            (json_int_t)a->top_size, "overhead", (json_int_t)a->overhead, "aspace",
            (json_int_t)aspace, "attached_threads", (json_int_t)a->attached_threads, "complete",
            a->complete, "kinds", kinds_json(a->kinds), "listed", listed);
        json_array_append_new(arenas, o);
        visit_matches &= memcmp(seen.kinds[i], a->kinds, sizeof(a->kinds)) == 0;
    }
    json_object_set_new(out, "arenas", arenas);
    visit_matches &= seen.kinds[g->narenas][PYH_GLIBC_MMAPPED].count == g->mmapped_total.count &&
                     seen.kinds[g->narenas][PYH_GLIBC_MMAPPED].bytes == g->mmapped_total.bytes;
    json_object_set_new(out, "visit_matches_stats", json_boolean(visit_matches));
    json_t *tcaches = json_array();
    for (size_t i = 0; i < g->ntcaches; i++)
        json_array_append_new(
            tcaches,
            json_pack("{s:o,s:i,s:I,s:I,s:b}", "address", hex(g->tcaches[i].address), "arena",
                      (int)g->tcaches[i].arena, "count", (json_int_t)g->tcaches[i].chunks.count,
                      "bytes", (json_int_t)g->tcaches[i].chunks.bytes, "wide", g->tcaches[i].wide));
    json_object_set_new(out, "tcaches", tcaches);
    json_object_set_new(
        out, "mmapped",
        json_pack("[II]", (json_int_t)g->mmapped_total.count, (json_int_t)g->mmapped_total.bytes));
    json_object_set_new(
        out, "mp_mmapped",
        json_pack("[II]", (json_int_t)g->mp_n_mmaps, (json_int_t)g->mp_mmapped_mem));
    json_t *warnings = json_array();
    for (size_t i = 0; i < diag.nwarnings; i++)
        json_array_append_new(warnings, json_string(diag.warnings[i]));
    json_object_set_new(out, "warnings", warnings);
    json_object_set_new(out, "partial", json_boolean(diag.partial));
    json_dumpf(out, stdout, JSON_INDENT(1));
    fputc('\n', stdout);
    json_decref(out);
    free(seen.kinds);
    pyh_glibc_free(g);
    pyh_images_free(images);
    pyh_target_close(t);
    pyh_diag_free(&diag);
    return 0;
}
