/* The `objects` and `show` verbs: from the census down to single objects. */
#include <stdlib.h>

#include "analysis/object_info.h"
#include "command/command.h"
#include "report/report.h"
#include "util/interrupt.h"
#include "util/mem.h"

struct pyh_error *pyh_cmd_objects(struct pyh_session *s, const struct pyh_parsed *p,
                                  const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    const char *name = pyh_parsed_option(NULL, p, "type");
    if (!name) return pyh_error_create(PYH_ERR_USAGE, "objects: --type NAME is required");
    long limit = pyh_parsed_int(p, "limit", 20), min_size = pyh_parsed_int(p, "min-size", 0);
    struct pyh_heap *heap;
    struct pyh_error *err = pyh_session_heap(s, &heap);
    if (err) return err;
    size_t *indices = NULL, n = 0;
    uint64_t total = 0, total_size = 0;
    err = pyh_objects_of_type(heap, name, (uint64_t)min_size, (size_t)limit, &indices, &n, &total, &total_size);
    if (!err) err = pyh_check_interrupt();
    /* The previews are part of the text's result (JSON has none): the report reads no
     * target memory. */
    bool text = p->format == PYH_FORMAT_TEXT;
    char **previews = err ? NULL : calloc(n ? n : 1, sizeof(char *));
    if (!err && !previews) err = pyh_error_nomem();
    for (size_t i = 0; !err && text && i < n; i++) {
        char preview[160];
        pyh_preview(heap, heap->objects[indices[i]].addr, 0, preview, sizeof(preview));
        if (!(previews[i] = pyh_strdup(preview))) err = pyh_error_nomem();
    }
    if (!err) {
        struct pyh_report_context ctx = {"objects", s->target, s->core_path, &s->diag, p->wide};
        err = pyh_report_objects(&ctx, heap, name, indices, n, total, total_size, previews, p->format, out);
    }
    for (size_t i = 0; previews && i < n; i++) free(previews[i]);
    free(previews);
    free(indices);
    return err;
}

struct pyh_error *pyh_cmd_show(struct pyh_session *s, const struct pyh_parsed *p,
                               const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    uint64_t addr;
    struct pyh_error *err = pyh_parse_address("show", p->positionals[0], &addr);
    struct pyh_heap *heap;
    if (!err) err = pyh_session_heap(s, &heap);
    if (err) return err;
    struct pyh_object_info info;
    if ((err = pyh_object_info(heap, addr, &info))) return err;
    struct pyh_report_context ctx = {"show", s->target, s->core_path, &s->diag, p->wide};
    return pyh_report_show(&ctx, heap, &info, p->format, out);
}
