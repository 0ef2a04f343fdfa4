/* The graph verbs: `referrers`, `path`, `retained`, `unreachable`. */
#include <stdlib.h>
#include <string.h>

#include "analysis/paths.h"
#include "analysis/retention.h"
#include "command/command.h"
#include "report/report.h"
#include "heap/preview.h"
#include "util/interrupt.h"
#include "util/mem.h"

/* The node of the object at the address argument. */
static struct pyh_error *node_arg(const char *verb, struct pyh_graph *g, const char *text, uint32_t *node)
{
    uint64_t addr;
    struct pyh_error *err = pyh_parse_address(verb, text, &addr);
    if (err) return err;
    size_t i = pyh_heap_object_at(g->heap, addr);
    if (i == SIZE_MAX)
        return pyh_error_create(PYH_ERR_NOT_FOUND,
                                "0x%llx is not the address of a live object (see `show` for what "
                                "is there)",
                                (unsigned long long)addr);
    *node = (uint32_t)i;
    return NULL;
}

static struct pyh_report_context context(struct pyh_session *s, const char *verb,
                                          const struct pyh_parsed *p)
{
    struct pyh_report_context ctx = {verb, s->target, s->core_path, &s->diag, p->wide};
    return ctx;
}

struct pyh_error *pyh_cmd_referrers(struct pyh_session *s, const struct pyh_parsed *p,
                                    const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    struct pyh_graph *g;
    uint32_t node = 0;
    struct pyh_referrer *refs = NULL;
    size_t n = 0;
    struct pyh_error *err = pyh_session_graph(s, &g, NULL);
    if (!err) err = node_arg("referrers", g, p->positionals[0], &node);
    if (!err) err = pyh_referrers(g, node, &refs, &n);
    /* The previews of the object and its referrers are part of the result: the report reads
     * no target memory. */
    bool text = p->format == PYH_FORMAT_TEXT; /* JSON has no previews */
    char **previews = err ? NULL : calloc(n + 1, sizeof(char *));
    if (!err && !previews) err = pyh_error_nomem();
    for (size_t i = 0; !err && text && i <= n; i++) {
        if (i > 0 && refs[i - 1].from == g->n) continue;
        char preview[200];
        pyh_preview(g->heap, g->heap->objects[i ? refs[i - 1].from : node].addr, 0, preview, sizeof(preview));
        if (!(previews[i] = pyh_strdup(preview))) err = pyh_error_nomem();
    }
    if (!err) {
        struct pyh_report_context ctx = context(s, "referrers", p);
        err = pyh_report_referrers(&ctx, g, node, refs, n, previews, p->format, out);
    }
    for (size_t i = 0; previews && i <= n; i++) free(previews[i]);
    free(previews);
    free(refs);
    return err;
}

struct pyh_error *pyh_cmd_path(struct pyh_session *s, const struct pyh_parsed *p,
                               const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    const char *type = pyh_parsed_option(NULL, p, "type");
    if (!type == !p->npositionals)
        return pyh_error_create(PYH_ERR_USAGE, "path: give either ADDR or --type NAME");
    long max = pyh_parsed_int(p, "max", type ? 10 : 5);
    struct pyh_graph *g;
    const struct pyh_reach *r;
    struct pyh_error *err = pyh_session_graph(s, &g, &r);
    if (err) return err;
    struct pyh_path_group *groups = NULL;
    size_t n = 0;
    uint64_t instances = 1, unreached = 0;
    char what[300];
    if (type) {
        snprintf(what, sizeof(what), "%s", type);
        err = pyh_paths_to_type(g, r, type, (size_t)max, &groups, &n, &instances, &unreached);
        /* A name the census did not find is a usage error only when the census is whole:
         * after a partial one, the type may be among what could not be read — say that. */
        const char *partial = pyh_session_partial_reason(s);
        if (err && pyh_error_code(err) == PYH_ERR_USAGE && partial) {
            pyh_error_free(err);
            err = pyh_error_create(PYH_ERR_PARTIAL,
                                   "no object of type '%s' was found, but results are partial: %s",
                                   type, partial);
        }
    } else {
        uint32_t node = 0;
        if (!(err = node_arg("path", g, p->positionals[0], &node))) {
            snprintf(what, sizeof(what), "0x%llx (%s)", (unsigned long long)g->heap->objects[node].addr,
                     pyh_heap_type_name(g->heap, g->heap->objects[node].type));
            unreached = r->parent[node] == PYH_UNREACHED;
            err = pyh_paths_to_object(g, r, node, (size_t)max, &groups, &n);
        }
    }
    if (!err) err = pyh_check_interrupt();
    if (!err) {
        struct pyh_report_context ctx = context(s, "path", p);
        err = pyh_report_paths(&ctx, g, what, groups, n, instances, unreached, p->format, out);
    }
    pyh_path_groups_free(groups, n);
    return err;
}

struct pyh_error *pyh_cmd_retained(struct pyh_session *s, const struct pyh_parsed *p,
                                   const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    long limit = pyh_parsed_int(p, "limit", 20);
    struct pyh_graph *g;
    const struct pyh_reach *r;
    const struct pyh_dominators *d;
    struct pyh_error *err = pyh_session_graph(s, &g, &r);
    if (!err) err = pyh_session_dominators(s, &d);
    if (err) return err;
    struct pyh_retention ret;
    if ((err = pyh_retention_compute(g, d, (size_t)limit, &ret))) return err;
    ret.native_bytes = s->native.owned_bytes;
    size_t npaths = ret.ntop + ret.nsuspects;
    char **paths = calloc(npaths ? npaths : 1, sizeof(char *));
    if (!paths) err = pyh_error_nomem();
    for (size_t i = 0; i < npaths && !err; i++) {
        uint32_t node = i < ret.ntop ? ret.top[i].node : ret.suspects[i - ret.ntop].node;
        struct pyh_error *e = pyh_path_expression(g, r, node, false, &paths[i]);
        if (e && e->code == PYH_ERR_INTERRUPTED) err = e;
        else pyh_error_free(e);
    }
    if (!err) {
        struct pyh_report_context ctx = context(s, "retained", p);
        err = pyh_report_retained(&ctx, g, &ret, paths, p->format, out);
    }
    for (size_t i = 0; paths && i < npaths; i++) free(paths[i]);
    free(paths);
    pyh_retention_free(&ret);
    return err;
}

struct pyh_error *pyh_cmd_unreachable(struct pyh_session *s, const struct pyh_parsed *p,
                                      const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    struct pyh_graph *g;
    const struct pyh_reach *r;
    struct pyh_error *err = pyh_session_graph(s, &g, &r);
    if (err) return err;
    struct pyh_unreachable u;
    if ((err = pyh_unreachable_compute(g, r, NULL, &u))) return err;
    struct pyh_report_context ctx = context(s, "unreachable", p);
    err = pyh_report_unreachable(&ctx, g, &u, p->format, out);
    pyh_unreachable_free(&u);
    return err;
}

struct pyh_error *pyh_cmd_edges(struct pyh_session *s, const struct pyh_parsed *p,
                                const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    const char *path = pyh_parsed_option(pyh_verb_of(p), p, "output");
    if (!path) return pyh_error_create(PYH_ERR_USAGE, "edges: -o FILE is required");
    struct pyh_graph *g;
    struct pyh_error *err = pyh_session_graph(s, &g, NULL);
    if (err) return err;
    struct pyh_report_context ctx = context(s, "edges", p);
    return pyh_report_edges(&ctx, g, path, p->format, out);
}
