/* The `report` verb: every analysis once, rendered as one self-contained HTML file
 * (report/html.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analysis/census.h"
#include "analysis/domtree.h"
#include "analysis/info.h"
#include "analysis/retention.h"
#include "command/command.h"
#include "report/html.h"
#include "report/report.h"
#include "util/interrupt.h"
#include "util/mem.h"

#define REPORT_RETAINERS 20
#define TREE_SHARE 0.001 /* tree nodes retain at least 0.1% of the live heap */

struct report_data {
    struct pyh_fragmentation frag;
    struct pyh_census census;
    struct pyh_info info;
    bool info_done;
    struct pyh_retention ret;
    char **paths; /* ntop + nsuspects */
    struct pyh_domtree tree;
    char **tree_paths;
    struct pyh_unreachable unreachable;
    struct pyh_verdict verdict; /* summary's: every cause, its share, the holders */
    char sentence[2048];
    struct pyh_snapshot **snaps;
    size_t nsnaps;
    struct pyh_series *series;
    size_t nseries;
};

static void data_free(struct report_data *d)
{
    for (size_t i = 0; d->paths && i < d->ret.ntop + d->ret.nsuspects; i++)
        free(d->paths[i]);
    free(d->paths);
    for (size_t i = 0; d->tree_paths && i < d->tree.n; i++)
        free(d->tree_paths[i]);
    free(d->tree_paths);
    pyh_retention_free(&d->ret);
    pyh_domtree_free(&d->tree);
    pyh_unreachable_free(&d->unreachable);
    pyh_verdict_free(&d->verdict);
    pyh_series_free(d->series, d->nseries);
    for (size_t i = 0; d->snaps && i < d->nsnaps; i++)
        pyh_snapshot_free(d->snaps[i]);
    free(d->snaps);
    if (d->info_done) pyh_info_free(&d->info);
    pyh_census_free(&d->census);
    pyh_fragmentation_free(&d->frag);
}

/* n path expressions of nodes (an unreadable path is NULL, shown as "?"). */
static struct pyh_error *expressions(struct pyh_graph *g, const struct pyh_reach *r,
                                     const uint32_t *nodes, size_t stride, size_t n, char ***out)
{
    *out = calloc(n ? n : 1, sizeof(char *));
    if (!*out) return pyh_error_nomem();
    for (size_t i = 0; i < n; i++) {
        uint32_t node = *(const uint32_t *)((const char *)nodes + i * stride);
        struct pyh_error *e = pyh_path_expression(g, r, node, false, &(*out)[i]);
        if (e && e->code == PYH_ERR_INTERRUPTED) return e;
        pyh_error_free(e);
    }
    return NULL;
}

static struct pyh_error *gather(struct pyh_session *s, const struct pyh_parsed *p,
                                struct report_data *d)
{
    struct pyh_graph *g;
    const struct pyh_reach *reach;
    const struct pyh_dominators *dom;
    struct pyh_error *err = pyh_census_take(s, PYH_SORT_SIZE, false, &d->frag, &d->census);
    if (!err && !(err = pyh_info_gather(s->runtime, &d->info))) d->info_done = true;
    if (!err) err = pyh_session_graph(s, &g, &reach);
    if (!err) err = pyh_session_dominators(s, &dom);
    if (!err) err = pyh_retention_compute(g, dom, REPORT_RETAINERS, &d->ret);
    if (err) return err;
    d->ret.native_bytes = s->native.owned_bytes;
    size_t ntop = d->ret.ntop, nsus = d->ret.nsuspects;
    uint32_t *nodes = malloc((ntop + nsus + 1) * sizeof(uint32_t));
    if (!nodes) return pyh_error_nomem();
    for (size_t i = 0; i < ntop; i++)
        nodes[i] = d->ret.top[i].node;
    for (size_t i = 0; i < nsus; i++)
        nodes[ntop + i] = d->ret.suspects[i].node;
    err = expressions(g, reach, nodes, sizeof(uint32_t), ntop + nsus, &d->paths);
    free(nodes);
    if (err) return err;
    long depth = pyh_parsed_int(p, "depth", 6), max_nodes = pyh_parsed_int(p, "tree-nodes", 1500);
    err = pyh_domtree_build(g, dom, d->ret.live_bytes, TREE_SHARE, (uint32_t)depth,
                            (size_t)max_nodes, &d->tree);
    if (!err && d->tree.n)
        err = expressions(g, reach, &d->tree.nodes[0].node, sizeof(struct pyh_domtree_node),
                          d->tree.n, &d->tree_paths);
    /* The cyclic garbage once, for the unreachable objects and the verdict. */
    struct pyh_garbage gb = {0};
    if (!err) err = pyh_garbage_compute(g, reach, &gb);
    if (!err) err = pyh_unreachable_compute(g, reach, &gb, &d->unreachable);
    if (!err)
        err = pyh_verdict_compute(&d->census, &d->frag, &gb, g, reach, dom, &s->native, &d->verdict);
    pyh_garbage_free(&gb);
    if (!err) pyh_verdict_sentence(d->census.heap, &d->verdict, d->sentence, sizeof(d->sentence));
    if (err || !p->npositionals) return err;
    /* The snapshots given, and the target's own: the trend up to now. */
    d->snaps = calloc((size_t)p->npositionals + 1, sizeof(*d->snaps));
    if (!d->snaps) return pyh_error_nomem();
    for (int i = 0; i < p->npositionals && !err; i++) {
        err = pyh_snapshot_load(p->positionals[i], &d->snaps[d->nsnaps]);
        if (!err) d->nsnaps++;
    }
    if (!err) err = pyh_snapshot_take(s, true, &d->snaps[d->nsnaps]);
    if (err) return err;
    d->nsnaps++;
    pyh_snapshots_sort_by_time(d->snaps, d->nsnaps);
    return pyh_series_build(d->snaps, d->nsnaps, false, &d->series, &d->nseries);
}

/* Writes the report to path whole (a temporary name first); *bytes its size. */
static struct pyh_error *write_file(const struct pyh_report_context *ctx,
                                    const struct pyh_html_report *r, const char *path,
                                    uint64_t *bytes)
{
    char *tmp = NULL;
    FILE *f = NULL;
    struct pyh_error *err = NULL;
    if (asprintf(&tmp, "%s.tmp", path) < 0) tmp = NULL;
    if (!tmp)
        err = pyh_error_nomem();
    else if (!(f = fopen(tmp, "w")))
        err = pyh_error_errno(errno, "cannot write %s", tmp);
    if (!err) err = pyh_report_html(ctx, r, f);
    if (f && fclose(f) != 0 && !err) err = pyh_error_errno(errno, "cannot write %s", tmp);
    if (!err && rename(tmp, path) != 0) err = pyh_error_errno(errno, "cannot rename %s", tmp);
    struct stat st;
    *bytes = !err && stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (err && tmp) unlink(tmp);
    free(tmp);
    return err;
}

static struct pyh_error *print_result(const struct pyh_report_context *ctx,
                                      const struct report_data *d, const char *path, uint64_t bytes,
                                      enum pyh_format format, FILE *out)
{
    const struct pyh_census *c = &d->census;
    if (format != PYH_FORMAT_JSON) {
        char a[32];
        fprintf(out, "report written to %s (%s)\n", path, pyh_format_bytes(bytes, a, sizeof(a)));
        return NULL;
    }
    json_t *root = pyh_report_json_envelope(ctx);
    json_object_set_new(root, "output", pyh_json_text(path));
    json_object_set_new(root, "bytes", json_integer((json_int_t)bytes));
    pyh_summary_json_totals(root, c, &d->frag, &d->verdict, d->sentence);
    json_t *sus = json_array();
    for (size_t i = 0; i < d->ret.nsuspects; i++) {
        const char *p = d->paths[d->ret.ntop + i];
        json_t *e = json_object();
        json_object_set_new(e, "path", p ? pyh_json_text(p) : json_null());
        json_object_set_new(e, "retained_size",
                            json_integer((json_int_t)d->ret.suspects[i].retained));
        json_object_set_new(e, "retained_count", json_integer(d->ret.suspects[i].count));
        json_array_append_new(sus, e);
    }
    json_object_set_new(root, "suspects", sus);
    json_object_set_new(root, "tree_nodes", json_integer((json_int_t)d->tree.n));
    json_object_set_new(root, "snapshots", json_integer((json_int_t)d->nsnaps));
    return pyh_report_json_print(ctx, root, out);
}

struct pyh_error *pyh_cmd_report(struct pyh_session *s, const struct pyh_parsed *p,
                                 const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    const char *path = pyh_parsed_option(NULL, p, "output");
    if (!path) return pyh_error_create(PYH_ERR_USAGE, "report: -o FILE is required");
    /* When the data was read: a core's modification time, else now (before the analysis,
     * which can take seconds). */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double read_at = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    struct stat st;
    if (s->core_path && stat(s->core_path, &st) == 0)
        read_at = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
    struct report_data d = {0};
    struct pyh_error *err = gather(s, p, &d);
    if (!err) err = pyh_check_interrupt();
    if (!err) {
        struct pyh_report_context ctx = {"report", s->target, s->core_path, &s->diag, p->wide};
        struct pyh_html_report r = {
            .rt = s->runtime,
            .info = &d.info,
            .census = &d.census,
            .frag = &d.frag,
            .graph = NULL,
            .retention = &d.ret,
            .retention_paths = d.paths,
            .tree = &d.tree,
            .tree_paths = d.tree_paths,
            .unreachable = &d.unreachable,
            .verdict = &d.verdict,
            .verdict_sentence = d.sentence,
            .snaps = d.snaps,
            .nsnaps = d.nsnaps,
            .series = d.series,
            .nseries = d.nseries,
            .dump_time = read_at,
            .type_rows = pyh_parsed_int(p, "types", 1000),
        };
        struct pyh_graph *g;
        err = pyh_session_graph(s, &g, NULL);
        r.graph = g;
        uint64_t bytes = 0;
        if (!err) err = write_file(&ctx, &r, path, &bytes);
        if (!err) err = print_result(&ctx, &d, path, bytes, p->format, out);
    }
    data_free(&d);
    return err;
}
