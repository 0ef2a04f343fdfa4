/* The `summary` verb: the first minute of an incident (analysis/verdict.h). */
#include "analysis/census.h"
#include "analysis/gc_view.h"
#include "analysis/verdict.h"
#include "command/command.h"
#include "report/report.h"
#include "util/interrupt.h"

struct pyh_error *pyh_cmd_summary(struct pyh_session *s, const struct pyh_parsed *p,
                                  const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    bool quick = pyh_parsed_option(pyh_verb_of(p), p, "quick") != NULL;
    struct pyh_graph *g = NULL;
    const struct pyh_reach *r = NULL;
    const struct pyh_dominators *d = NULL;
    struct pyh_fragmentation frag = {0};
    struct pyh_census census = {0};
    struct pyh_verdict verdict = {0};
    struct pyh_error *err = pyh_census_take(s, PYH_SORT_SIZE, false, &frag, &census);
    /* The holders and the garbage need the graph and its dominators (seconds on a heap of
     * millions of objects; --quick leaves them out). */
    /* The collector's generations, and its backlog (the cyclic garbage) with the graph. */
    struct pyh_gc_view gc = {0};
    if (!err && quick) pyh_gc_view_read(s->runtime, &gc);
    if (!err && !quick) err = pyh_gc_view_take(s, &gc);
    if (!err && !quick) err = pyh_session_graph(s, &g, &r);
    if (!err && !quick) err = pyh_session_dominators(s, &d);
    if (!err)
        err = pyh_verdict_compute(&census, &frag, gc.garbage_known ? &gc.garbage : NULL, g, r, d,
                                  quick ? NULL : &s->native, &verdict);
    if (!err) err = pyh_check_interrupt();
    if (!err) {
        struct pyh_report_context ctx = {"summary", s->target, s->core_path, &s->diag, p->wide};
        err = pyh_report_summary(&ctx, s->runtime, &census, &frag, &gc, &verdict, p->format, out);
    }
    pyh_verdict_free(&verdict);
    pyh_gc_view_free(&gc);
    pyh_census_free(&census);
    pyh_fragmentation_free(&frag);
    return err;
}
