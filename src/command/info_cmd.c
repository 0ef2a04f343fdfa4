/* The `info` verb. */
#include "analysis/info.h"
#include "command/command.h"
#include "report/report.h"
#include "util/interrupt.h"

struct pyh_error *pyh_cmd_info(struct pyh_session *s, const struct pyh_parsed *p,
                               const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    struct pyh_info info;
    struct pyh_error *err = pyh_info_gather(s->runtime, &info);
    if (!err) err = pyh_check_interrupt(); /* never print results an interruption cut short */
    if (!err) {
        struct pyh_report_context ctx = {"info", s->target, s->core_path, &s->diag, p->wide};
        err = p->format == PYH_FORMAT_JSON ? pyh_report_info_json(&ctx, s->runtime, &info, out)
                                           : pyh_report_info_text(&ctx, s->runtime, &info, out);
    }
    pyh_info_free(&info);
    return err;
}
