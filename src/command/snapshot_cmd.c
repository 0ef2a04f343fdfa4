/* Snapshots and their comparison: the `snapshot`, `diff` and `trend` verbs. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/census.h"
#include "analysis/gc_view.h"
#include "analysis/retention.h"
#include "command/command.h"
#include "report/report.h"
#include "util/interrupt.h"
#include "util/progress.h"
#include "util/mem.h"

#define SNAPSHOT_RETAINERS 20

static struct pyh_error *add_retainers(struct pyh_session *s, struct pyh_snapshot *snap)
{
    struct pyh_graph *g;
    const struct pyh_reach *r;
    const struct pyh_dominators *d;
    struct pyh_error *err = pyh_session_graph(s, &g, &r);
    if (!err) err = pyh_session_dominators(s, &d);
    struct pyh_retention ret = {0};
    if (!err) err = pyh_retention_compute(g, d, SNAPSHOT_RETAINERS, &ret);
    for (size_t i = 0; !err && i < ret.ntop; i++) {
        struct pyh_snapshot_retainer sr = {NULL, NULL, ret.top[i].retained, ret.top[i].count};
        struct pyh_error *e = pyh_path_expression(g, r, ret.top[i].node, false, &sr.path);
        if (e) {
            if (e->code == PYH_ERR_INTERRUPTED) err = e;
            else pyh_error_free(e);
            continue;
        }
        sr.type = pyh_strdup(pyh_heap_type_name(g->heap, g->heap->objects[ret.top[i].node].type));
        if (!sr.type || (err = PYH_APPEND(snap->retainers, snap->nretainers, snap->retainers_cap, &sr))) {
            free(sr.path);
            free(sr.type);
            err = err ? err : pyh_error_nomem();
        }
    }
    pyh_retention_free(&ret);
    return err;
}

/* The collector's state, and with the graph (built for the retainers anyway) the GC
 * backlog by type. */
static struct pyh_error *add_gc(struct pyh_session *s, struct pyh_snapshot *snap, bool with_garbage)
{
    struct pyh_gc_view v = {0};
    struct pyh_error *err = NULL;
    if (with_garbage) err = pyh_gc_view_take(s, &v);
    else pyh_gc_view_read(s->runtime, &v);
    snap->gc.known = v.known;
    snap->gc.enabled = v.enabled;
    for (int g = 0; g < 3; g++) {
        snap->gc.count[g] = v.gen[g].count;
        snap->gc.threshold[g] = v.gen[g].threshold;
    }
    snap->gc.garbage_known = !err && v.garbage_known;
    snap->gc.garbage_count = v.garbage.count;
    snap->gc.garbage_bytes = v.garbage.bytes;
    struct pyh_heap *heap = NULL;
    if (!err && v.garbage_known) err = pyh_session_heap(s, &heap);
    for (size_t i = 0; !err && v.garbage_known && i < v.garbage.ntypes; i++) {
        struct pyh_snapshot_type t = {pyh_strdup(pyh_heap_type_name(heap, v.garbage.types[i].type)),
                                      v.garbage.types[i].count, v.garbage.types[i].bytes};
        if (!t.name || (err = PYH_APPEND(snap->gc.types, snap->gc.ntypes, snap->gc.types_cap, &t))) {
            free(t.name);
            err = err ? err : pyh_error_nomem();
        }
    }
    pyh_gc_view_free(&v);
    return err;
}

struct pyh_error *pyh_snapshot_take(struct pyh_session *s, bool retainers, struct pyh_snapshot **out)
{
    *out = NULL;
    /* A live target shows the moment it was stopped (or copied) when the session opened —
     * not now, after the session's opening reads, nor after the analysis: each can take
     * seconds, which a series of quick snapshots would see as a change of pace. */
    double taken = s->target->captured_at > 0 ? s->target->captured_at : pyh_realtime();
    struct pyh_snapshot *snap = calloc(1, sizeof(*snap));
    if (!snap) return pyh_error_nomem();
    struct pyh_fragmentation frag = {0};
    struct pyh_census census = {0};
    struct pyh_error *err = pyh_census_take(s, PYH_SORT_SIZE, false, &frag, &census);
    if (err) goto done;

    snap->source = pyh_strdup(s->target->description);
    snap->pid = s->target->pid ? s->target->pid : -1;
    snprintf(snap->python, sizeof(snap->python), "%s", s->runtime->version);
    /* What the snapshot is of, so that diff and trend can tell a heap over time from two
     * different programs: the executable and its build ID. */
    if (s->target->exe_path && !(snap->executable = pyh_strdup(s->target->exe_path))) err = pyh_error_nomem();
    for (size_t i = 0; s->images && i < s->images->nmods; i++) {
        const struct pyh_module *m = &s->images->mods[i];
        if (!m->is_exe) continue;
        for (size_t b = 0; b < m->build_id_len && b < (sizeof(snap->build_id) - 1) / 2; b++)
            snprintf(snap->build_id + 2 * b, 3, "%02x", m->build_id[b]);
        break;
    }
    /* A core's time is its modification time, to the nanosecond the file system keeps:
     * whole seconds would sort a core made in the same second as the snapshot before it
     * ahead of that snapshot, and turn every delta of diff and trend around. */
    struct stat st;
    snap->time = s->core_path && stat(s->core_path, &st) == 0
                     ? (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9
                     : taken;
    snap->resident = frag.resident_known ? (int64_t)frag.resident : -1;
    snap->objects = census.objects;
    snap->objects_size = census.size;
    for (size_t i = 0; i < census.nrows && !err; i++) {
        struct pyh_snapshot_type t = {pyh_strdup(pyh_heap_type_name(census.heap, census.rows[i].type)),
                                      census.rows[i].count, census.rows[i].size};
        if (!t.name || (err = PYH_APPEND(snap->types, snap->ntypes, snap->types_cap, &t))) {
            free(t.name);
            err = err ? err : pyh_error_nomem();
        }
    }
    snap->frag.heap_total = census.heap_total;
    snap->frag.pymalloc_used = frag.mapped_split.pymalloc_used;
    snap->frag.pymalloc_free = frag.mapped_split.pymalloc_free;
    snap->frag.glibc_used = frag.mapped_split.glibc_used;
    snap->frag.glibc_free = frag.mapped_split.glibc_free;
    snap->frag.mmapped = s->glibc ? s->glibc->mmapped_total.bytes : 0;
    snap->frag.pymalloc_arenas = s->pymalloc ? s->pymalloc->narenas : 0;
    snap->frag.verdict = pyh_strdup(frag.verdict);
    if (!err && retainers) err = add_retainers(s, snap);
    if (!err) err = add_gc(s, snap, retainers);
    /* Last: every step above may find data it cannot read. A partial snapshot that does not
     * say so would make diff and trend take the objects it missed for freed ones. */
    const char *reason = pyh_session_partial_reason(s);
    if (!err && reason) {
        snap->partial = true;
        if (!(snap->partial_reason = pyh_strdup(reason))) err = pyh_error_nomem();
    }
done:
    pyh_census_free(&census);
    pyh_fragmentation_free(&frag);
    if (err) {
        pyh_snapshot_free(snap);
        return err;
    }
    *out = snap;
    return NULL;
}

/* Writes snap to path whole: to a temporary name first, so a reader never sees half a
 * snapshot. */
static struct pyh_error *save_file(const struct pyh_snapshot *snap, const char *path)
{
    char *tmp = NULL;
    FILE *f = NULL;
    struct pyh_error *err = NULL;
    if (asprintf(&tmp, "%s.tmp", path) < 0) tmp = NULL;
    if (!tmp) err = pyh_error_nomem();
    else if (!(f = fopen(tmp, "w"))) err = pyh_error_errno(errno, "cannot write %s", tmp);
    if (!err) err = pyh_snapshot_save(snap, f);
    if (f && fclose(f) != 0 && !err) err = pyh_error_errno(errno, "cannot write %s", tmp);
    if (!err && rename(tmp, path) != 0) err = pyh_error_errno(errno, "cannot rename %s", tmp);
    if (err && tmp) unlink(tmp);
    free(tmp);
    return err;
}

struct pyh_error *pyh_cmd_snapshot(struct pyh_session *s, const struct pyh_parsed *p,
                                   const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    const struct pyh_verb *v = pyh_verb_of(p);
    const char *path = pyh_parsed_option(v, p, "output");
    bool json = p->format == PYH_FORMAT_JSON;
    bool openmetrics = pyh_parsed_option(v, p, "openmetrics") != NULL;
    if (openmetrics && json)
        return pyh_error_create(PYH_ERR_USAGE, "snapshot: --openmetrics and --json are two formats: give one");
    if (!path && !json && !openmetrics)
        return pyh_error_create(PYH_ERR_USAGE, "snapshot: -o FILE is required (- for stdout)");
    struct pyh_snapshot *snap;
    struct pyh_error *err = pyh_snapshot_take(s, !pyh_parsed_option(v, p, "no-retainers"), &snap);
    if (err) return err;
    bool to_stdout = path && strcmp(path, "-") == 0;
    if (openmetrics) {
        size_t top = (size_t)pyh_parsed_int(p, "top", 20);
        if (!path || to_stdout) pyh_openmetrics_write(snap, top, out);
        else err = pyh_openmetrics_save(snap, top, path);
        pyh_snapshot_free(snap);
        return err;
    }
    if (to_stdout) err = pyh_snapshot_save(snap, out);
    else if (path) err = save_file(snap, path);
    if (!err && json && !to_stdout) {
        /* The command's result: where the snapshot went and what it holds; the snapshot
         * itself when it was written nowhere else. */
        struct pyh_report_context ctx = {"snapshot", s->target, s->core_path, &s->diag, p->wide};
        json_t *root = pyh_report_json_envelope(&ctx);
        json_object_set_new(root, "output", path ? pyh_json_text(path) : json_null());
        json_object_set_new(root, "objects", json_integer((json_int_t)snap->objects));
        json_object_set_new(root, "types", json_integer((json_int_t)snap->ntypes));
        json_object_set_new(root, "retainers", json_integer((json_int_t)snap->nretainers));
        json_object_set_new(root, "snapshot", path ? json_null() : pyh_snapshot_to_json(snap));
        err = pyh_report_json_print(&ctx, root, out);
    } else if (!err && !to_stdout) {
        fprintf(out, "snapshot of %s written to %s: %llu objects in %zu types, %zu retainers\n",
                snap->source, path, (unsigned long long)snap->objects, snap->ntypes, snap->nretainers);
    }
    pyh_snapshot_free(snap);
    return err;
}

/* ---- Inputs of diff and trend: snapshot files, cores or PIDs ---------------------------- */

static bool is_pid(const char *text, int *pid)
{
    const char *digits = strncmp(text, "pid:", 4) == 0 ? text + 4 : text;
    if (!*digits) return false;
    for (const char *c = digits; *c; c++)
        if (!isdigit((unsigned char)*c)) return false;
    struct stat st;
    if (digits == text && stat(text, &st) == 0) return false; /* a file called "1234" */
    long v = strtol(digits, NULL, 10);
    if (v <= 0 || v > 0x7fffffff) return false;
    *pid = (int)v;
    return true;
}

/* The first non-blank byte of an input file: '{' or '[' for a snapshot (JSON), 0x7f for an
 * ELF core. A file that holds nothing but blanks is refused here with a message that says
 * so: a snapshot cut to 0 bytes (a full disk, a killed writer) exists, and neither "no such
 * file" nor "not an ELF file" would tell the user what happened to it. */
static struct pyh_error *first_byte(const char *path, int *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return pyh_error_errno(errno, "cannot open %s", path);
    int c;
    unsigned long long blanks = 0;
    while ((c = fgetc(f)) != EOF && isspace(c))
        blanks++;
    int read_errno = ferror(f) ? errno : 0; /* a directory: EISDIR */
    fclose(f);
    if (read_errno) return pyh_error_errno(read_errno, "cannot read %s", path);
    if (c == EOF)
        return blanks
                   ? pyh_error_create(PYH_ERR_FORMAT,
                                      "%s is empty (%llu blank bytes): a truncated snapshot "
                                      "or core?",
                                      path, blanks)
                   : pyh_error_create(PYH_ERR_FORMAT,
                                      "%s is empty (0 bytes): a truncated snapshot or core?", path);
    *out = c;
    return NULL;
}

static struct pyh_error *load_input(const char *text, const struct pyh_target_options *o,
                                    struct pyh_snapshot **out)
{
    int pid;
    struct pyh_session *s = NULL;
    struct pyh_error *err;
    if (is_pid(text, &pid)) {
        err = pyh_session_open_pid(pid, o, &s);
    } else {
        int c = EOF;
        if ((err = first_byte(text, &c))) return err;
        if (c == '{' || c == '[') return pyh_snapshot_load(text, out);
        err = pyh_session_open_core(text, o, &s);
    }
    if (!err) {
        err = pyh_snapshot_take(s, true, out);
        if (!err && (*out)->source) {
            free((*out)->source);
            (*out)->source = pyh_strdup(text);
        }
    }
    pyh_session_close(s); /* a live target is resumed before the next one is opened */
    /* Name the input once: most errors of a core or snapshot already start with its path. */
    if (!err || strstr(pyh_error_message(err), text)) return err;
    return pyh_error_wrap(err, "%s", text);
}

/* Loads every input, in time order. */
static struct pyh_error *load_all(const struct pyh_parsed *p, const struct pyh_target_options *o,
                                  struct pyh_snapshot ***snaps)
{
    *snaps = calloc((size_t)p->npositionals, sizeof(**snaps));
    if (!*snaps) return pyh_error_nomem();
    for (int i = 0; i < p->npositionals; i++) {
        struct pyh_error *err = load_input(p->positionals[i], o, &(*snaps)[i]);
        if (err) return err;
        if ((err = pyh_check_interrupt())) return err;
    }
    pyh_snapshots_sort_by_time(*snaps, (size_t)p->npositionals);
    return NULL;
}

static void free_all(struct pyh_snapshot **snaps, int n)
{
    for (int i = 0; snaps && i < n; i++) pyh_snapshot_free(snaps[i]);
    free(snaps);
}

/* After the report: an input read only in part makes the comparison partial (its missing
 * objects look freed). Said as an error of its own code, so that a front end exits 1 and
 * names the input, as for any partial result, while the report stands. */
static struct pyh_error *partial_inputs(struct pyh_snapshot *const *snaps, size_t n)
{
    size_t npartial = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (snaps[i]->partial && !npartial++) first = i;
    if (!npartial) return NULL;
    const struct pyh_snapshot *s = snaps[first];
    const char *source = s->source ? s->source : "?";
    const char *why = s->partial_reason ? s->partial_reason : "no reason recorded";
    if (npartial == 1)
        return pyh_error_create(PYH_ERR_PARTIAL,
                                "results are partial: %s was read only in part (%s); its counts "
                                "are lower bounds",
                                source, why);
    return pyh_error_create(PYH_ERR_PARTIAL,
                            "results are partial: %zu inputs were read only in part, the first %s "
                            "(%s); their counts are lower bounds",
                            npartial, source, why);
}

static struct pyh_error *compare(const struct pyh_parsed *p, const struct pyh_target_options *o,
                                 const struct pyh_command_defaults *defaults, FILE *out, bool trend)
{
    (void)defaults;
    long limit = pyh_parsed_int(p, "limit", trend ? 20 : 30);
    struct pyh_error *err;
    struct pyh_snapshot **snaps = NULL;
    struct pyh_series *types = NULL, *rets = NULL;
    size_t ntypes = 0, nrets = 0, n = (size_t)p->npositionals;
    err = load_all(p, o, &snaps);
    /* Two programs' heaps compared read as growth that never happened: refused unless asked
     * for (then said in the report). */
    char *mixed = err ? NULL : pyh_snapshots_mixed(snaps, n);
    if (mixed && !pyh_parsed_option(pyh_verb_of(p), p, "allow-mixed"))
        err = pyh_error_create(PYH_ERR_USAGE, "%s %s; --allow-mixed compares them anyway",
                               trend ? "trend:" : "diff:", mixed);
    free(mixed);
    if (!err) err = pyh_series_build(snaps, n, false, &types, &ntypes);
    if (!err) err = pyh_series_build(snaps, n, true, &rets, &nrets);
    if (!err)
        err = trend ? pyh_report_trend(snaps, n, types, ntypes, rets, nrets, limit, p->format, out)
                    : pyh_report_diff(snaps, types, ntypes, rets, nrets, limit, p->format, out);
    if (!err) err = partial_inputs(snaps, n);
    pyh_series_free(types, ntypes);
    pyh_series_free(rets, nrets);
    free_all(snaps, p->npositionals);
    return err;
}

struct pyh_error *pyh_cmd_diff(const struct pyh_parsed *p, const struct pyh_target_options *o,
                               const struct pyh_command_defaults *defaults, FILE *out)
{
    return compare(p, o, defaults, out, false);
}

struct pyh_error *pyh_cmd_trend(const struct pyh_parsed *p, const struct pyh_target_options *o,
                                const struct pyh_command_defaults *defaults, FILE *out)
{
    return compare(p, o, defaults, out, true);
}
