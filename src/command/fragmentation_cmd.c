/* The `fragmentation` verb. */
#include "analysis/fragmentation.h"
#include "command/command.h"
#include "report/report.h"
#include "util/interrupt.h"

struct pyh_error *pyh_cmd_fragmentation(struct pyh_session *s, const struct pyh_parsed *p,
                                        const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    struct pyh_fragmentation f = {0};
    struct pyh_pymalloc *pm;
    struct pyh_glibc *glibc;
    struct pyh_error *err = pyh_session_allocators(s, &pm, &glibc);
    if (!err) err = pyh_fragmentation_gather(s->runtime, pm, s->mimalloc, glibc, true, &f);
    if (!err && s->mimalloc) {
        /* measured already by the gather (kept on the target): no second read */
        const struct pyh_residency *r = NULL;
        struct pyh_error *rerr = pyh_target_residency(s->target, &r);
        if (rerr) pyh_error_free(rerr);
        else pyh_mimalloc_resident(s->mimalloc, r);
    }
    if (!err) err = pyh_check_interrupt();
    if (!err) {
        struct pyh_report_context ctx = {"fragmentation", s->target, s->core_path, &s->diag, p->wide};
        err = p->format == PYH_FORMAT_JSON ? pyh_report_fragmentation_json(&ctx, &f, out)
                                           : pyh_report_fragmentation_text(&ctx, &f, out);
    }
    pyh_fragmentation_free(&f);
    return err;
}
