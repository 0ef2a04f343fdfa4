/* The `types` verb: the census. */
#include <stdlib.h>
#include <string.h>

#include "analysis/census.h"
#include "analysis/interpreters.h"
#include "command/command.h"
#include "report/report.h"
#include "util/interrupt.h"

struct pyh_error *pyh_census_take(struct pyh_session *s, enum pyh_census_sort sort, bool census_only,
                                  struct pyh_fragmentation *frag, struct pyh_census *census)
{
    struct pyh_pymalloc *pm;
    struct pyh_glibc *glibc;
    struct pyh_heap *heap;
    struct pyh_error *err = pyh_session_allocators(s, &pm, &glibc);
    if (!err)
        err = census_only && s->runtime->ninterps <= 1 ? pyh_session_heap_census(s, &heap)
                                                       : pyh_session_heap(s, &heap);
    uint8_t *interp_of = NULL; /* with subinterpreters: the census by interpreter too */
    if (!err) err = pyh_fragmentation_gather(s->runtime, pm, s->mimalloc, glibc, !census_only, frag);
    if (!err && s->runtime->ninterps > 1) err = pyh_objects_interpreters(heap, pm, &interp_of);
    if (!err) err = pyh_census_gather(heap, frag, sort, interp_of, census);
    free(interp_of);
    return err;
}

struct pyh_error *pyh_cmd_types(struct pyh_session *s, const struct pyh_parsed *p,
                                const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    long limit = pyh_parsed_int(p, "limit", 30), min_count = pyh_parsed_int(p, "min-count", 0);
    const char *sort = pyh_parsed_option(NULL, p, "sort");
    struct pyh_fragmentation frag = {0};
    struct pyh_census census = {0};
    struct pyh_error *err = pyh_census_take(
        s, sort && !strcmp(sort, "count") ? PYH_SORT_COUNT : PYH_SORT_SIZE, true, &frag, &census);
    if (!err)
        err = pyh_native_by_type(census.heap, &census.native_owners, &census.nnative_owners,
                                 &census.native_owned_bytes);
    if (!err) err = pyh_check_interrupt();
    if (!err) {
        struct pyh_report_context ctx = {"types", s->target, s->core_path, &s->diag, p->wide};
        struct pyh_census_view view = {limit, (uint64_t)min_count};
        err = p->format == PYH_FORMAT_JSON ? pyh_report_types_json(&ctx, &census, &view, out)
                                           : pyh_report_types_text(&ctx, &census, &view, out);
    }
    pyh_census_free(&census);
    pyh_fragmentation_free(&frag);
    return err;
}
