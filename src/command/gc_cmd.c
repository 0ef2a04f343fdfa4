/* The `gc` verb: the collector's generations and the GC backlog (cyclic garbage by type). */
#include "analysis/gc_view.h"
#include "command/command.h"
#include "report/report.h"

struct pyh_error *pyh_gc_view_take(struct pyh_session *s, struct pyh_gc_view *v)
{
    pyh_gc_view_read(s->runtime, v);
    struct pyh_graph *g;
    const struct pyh_reach *r;
    struct pyh_error *err = pyh_session_graph(s, &g, &r);
    if (!err) err = pyh_garbage_compute(g, r, &v->garbage);
    v->garbage_known = !err;
    return err;
}

struct pyh_error *pyh_cmd_gc(struct pyh_session *s, const struct pyh_parsed *p,
                             const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    long limit = pyh_parsed_int(p, "limit", 20);
    struct pyh_gc_view v;
    struct pyh_error *err = pyh_gc_view_take(s, &v);
    struct pyh_heap *heap = NULL;
    if (!err) err = pyh_session_heap(s, &heap);
    if (!err) {
        struct pyh_report_context ctx = {"gc", s->target, s->core_path, &s->diag, p->wide};
        err = pyh_report_gc(&ctx, heap, &v, limit, p->format, out);
    }
    pyh_gc_view_free(&v);
    return err;
}
