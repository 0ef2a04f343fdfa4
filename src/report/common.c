/* What every report shares: the JSON envelope and number formatting; see report.h. */
#include "report/report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/sanitize.h"

static const char *kind_name(enum pyh_target_kind kind)
{
    return kind == PYH_TARGET_CORE ? "core" : kind == PYH_TARGET_LIVE ? "live" : "host";
}

json_t *pyh_json_text(const char *s)
{
    if (!s) return json_null();
    /* jansson refuses invalid UTF-8 (json_string returns NULL and the member vanishes):
     * such a string from the target goes in with its bad bytes as visible \xNN escapes,
     * the rest exact. */
    json_t *j = json_string(s);
    if (j) return j;
    char *clean = pyh_escape_invalid_utf8(s);
    j = clean ? json_string(clean) : NULL;
    free(clean);
    return j ? j : json_string("");
}

json_t *pyh_report_json_envelope(const struct pyh_report_context *ctx)
{
    json_t *root = json_object();
    json_object_set_new(root, "command", pyh_json_text(ctx->command));
    json_object_set_new(root, "pyheap_version", pyh_json_text(PYHEAP_VERSION));
    json_t *target = json_object();
    json_object_set_new(target, "kind", pyh_json_text(kind_name(ctx->target->kind)));
    json_object_set_new(target, "description", pyh_json_text(ctx->target->description));
    json_object_set_new(target, "path", ctx->core_path ? pyh_json_text(ctx->core_path) : json_null());
    json_object_set_new(target, "pid", ctx->target->pid ? json_integer(ctx->target->pid) : json_null());
    json_object_set_new(target, "stopped", json_boolean(ctx->target->stopped || ctx->target->copied));
    json_object_set_new(target, "copied", json_boolean(ctx->target->copied));
    /* How long py-heap kept a live process stopped, up to this output (with a copy, the
     * whole pause), and why that long: null for targets it does not stop. */
    double stopped = pyh_target_stopped_seconds(ctx->target);
    json_object_set_new(target, "stopped_seconds", stopped >= 0 ? json_real(stopped) : json_null());
    json_object_set_new(target, "stopped_how", ctx->target->pause_how && stopped >= 0
                                                   ? pyh_json_text(ctx->target->pause_how)
                                                   : json_null());
    json_object_set_new(root, "target", target);
    return root;
}

struct pyh_error *pyh_report_json_print(const struct pyh_report_context *ctx, json_t *root,
                                        FILE *out)
{
    json_object_set_new(root, "partial", json_boolean(ctx->diag->partial));
    json_t *warnings = json_array();
    for (size_t i = 0; i < ctx->diag->nwarnings; i++)
        json_array_append_new(warnings, pyh_json_text(ctx->diag->warnings[i]));
    json_object_set_new(root, "warnings", warnings);
    int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(root);
    if (rc != 0 || fputc('\n', out) == EOF)
        return pyh_error_errno(errno ? errno : EIO, "writing the JSON output");
    return NULL;
}

json_t *pyh_json_address(uint64_t addr)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)addr);
    return pyh_json_text(buf);
}


const char *pyh_report_fit(const struct pyh_report_context *ctx, const char *s, int width,
                           char *buf, size_t cap)
{
    if (ctx->wide || width < 4) return s;
    /* Columns are UTF-8 characters: cut at the width-3th character, never inside one. */
    int col = 0;
    size_t i = 0, cut = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xc0) == 0x80) continue;
        if (col == width - 3) cut = i;
        col++;
    }
    if (col <= width) return s;
    snprintf(buf, cap, "%.*s...", (int)cut, s);
    return buf;
}
