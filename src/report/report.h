/* The report layer: text and JSON, the same for the CLI and gdb. Every command's output is
 * built here from the results of an analysis; nothing else prints.
 *
 * Renderers take results, never the target: the analyses' result structures (census,
 * fragmentation, info, object details, referrers, paths, retention, snapshots and series),
 * the strings a command prepared for them (previews), and the heap's own tables for type
 * names and addresses (py-heap's memory, not the target's). A renderer reads no target
 * memory, so a third one (HTML) renders from the same arguments as these. Text is written in
 * 80 columns (ctx->wide: as wide as it needs); command.c folds what no layout bounds. */
#ifndef PYH_REPORT_REPORT_H
#define PYH_REPORT_REPORT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis/census.h"
#include "analysis/fragmentation.h"
#include "analysis/info.h"
#include "analysis/object_info.h"
#include "analysis/paths.h"
#include "analysis/retention.h"
#include "analysis/snapshot.h"
#include "analysis/verdict.h"
#include "target/target.h"
#include "util/diag.h"
#include "util/error.h"
#include "util/format.h"

/* What every report says about where its data came from. */
struct pyh_report_context {
    const char *command;          /* the verb */
    struct pyh_target *target;
    const char *core_path;        /* NULL unless a core */
    const struct pyh_diag *diag;
    bool wide; /* --wide: text lines as long as they need; else tables fit 80 columns */
};

/* A JSON string of s, exact when s is valid UTF-8 (the encoder escapes controls, and with
 * JSON_ENSURE_ASCII everything past ASCII); otherwise s's invalid bytes as the four
 * characters \xNN (util/sanitize.h). null for NULL. Every string from the target goes
 * into JSON through it. */
json_t *pyh_json_text(const char *s);

/* A new JSON object with the members every command's JSON has (command, pyheap_version,
 * target). partial and warnings are added by pyh_report_json_print, after the analysis. */
json_t *pyh_report_json_envelope(const struct pyh_report_context *ctx);

/* Adds partial/warnings to root, prints it (indented, keys in insertion order) and a
 * newline, and releases root. */
struct pyh_error *pyh_report_json_print(const struct pyh_report_context *ctx, json_t *root,
                                        FILE *out);

/* An address as JSON: a hex string, since JSON numbers lose precision above 2^53. */
json_t *pyh_json_address(uint64_t addr);

/* The `info` report. */
struct pyh_error *pyh_report_info_text(const struct pyh_report_context *ctx,
                                       struct pyh_runtime *rt, const struct pyh_info *info,
                                       FILE *out);
struct pyh_error *pyh_report_info_json(const struct pyh_report_context *ctx,
                                       struct pyh_runtime *rt, const struct pyh_info *info,
                                       FILE *out);

/* mimalloc's segments, pages and block sizes (the fragmentation report's section). */
void pyh_report_mimalloc_text(const struct pyh_mimalloc *m, FILE *out);
json_t *pyh_report_mimalloc_json(const struct pyh_mimalloc *m);

/* The `fragmentation` report. */
struct pyh_error *pyh_report_fragmentation_text(const struct pyh_report_context *ctx,
                                                const struct pyh_fragmentation *f, FILE *out);
struct pyh_error *pyh_report_fragmentation_json(const struct pyh_report_context *ctx,
                                                const struct pyh_fragmentation *f, FILE *out);

/* The `summary` report: version, totals, top types, verdict. */
struct pyh_gc_view;
struct pyh_error *pyh_report_summary(const struct pyh_report_context *ctx, struct pyh_runtime *rt,
                                     const struct pyh_census *c, const struct pyh_fragmentation *f,
                                     const struct pyh_gc_view *gc, const struct pyh_verdict *v,
                                     enum pyh_format format,
                                     FILE *out);

/* A snapshot in the OpenMetrics text format (openmetrics.c): per-type gauges for the top
 * types by bytes (0: all) and the rest as type="(other)", allocator and GC figures. */
void pyh_openmetrics_write(const struct pyh_snapshot *s, size_t top, FILE *out);
/* The same to path, whole (a temporary file renamed). */
struct pyh_error *pyh_openmetrics_save(const struct pyh_snapshot *s, size_t top, const char *path);

/* The members `summary --json` and `report --json` share: totals (with the memory the
 * verdict divides), top_types, verdict (the sentence) and allocators_verdict. */
void pyh_summary_json_totals(json_t *root, const struct pyh_census *c,
                             const struct pyh_fragmentation *f, const struct pyh_verdict *v,
                             const char *sentence);

/* The verdict in one sentence ("of 18.0 MiB resident, live Python objects take 77% (most
 * held by sys.modules['app']._SESSIONS), ..."): summary's and the HTML report's. */
void pyh_verdict_sentence(struct pyh_heap *heap, const struct pyh_verdict *v, char *buf, size_t cap);

/* Snapshot files (snapshot_json.c): to JSON, written to out, read back with checks. */
json_t *pyh_snapshot_to_json(const struct pyh_snapshot *s);
struct pyh_error *pyh_snapshot_save(const struct pyh_snapshot *s, FILE *out);
struct pyh_error *pyh_snapshot_load(const char *path, struct pyh_snapshot **out);

/* The `diff` report of two snapshots (series built by pyh_series_build over both). */
struct pyh_error *pyh_report_diff(struct pyh_snapshot *const *snaps, const struct pyh_series *types,
                                  size_t ntypes, const struct pyh_series *retainers,
                                  size_t nretainers, long limit, enum pyh_format format, FILE *out);

/* The `trend` report of n >= 3 snapshots. */
struct pyh_error *pyh_report_trend(struct pyh_snapshot *const *snaps, size_t n,
                                   const struct pyh_series *types, size_t ntypes,
                                   const struct pyh_series *retainers, size_t nretainers, long limit,
                                   enum pyh_format format, FILE *out);

/* What of the census a report shows. */
struct pyh_census_view {
    long limit;         /* rows; <= 0 for all */
    uint64_t min_count; /* rows with fewer objects are left out */
};

/* The `types` report. */
struct pyh_error *pyh_report_types_text(const struct pyh_report_context *ctx,
                                        const struct pyh_census *c,
                                        const struct pyh_census_view *v, FILE *out);
struct pyh_error *pyh_report_types_json(const struct pyh_report_context *ctx,
                                        const struct pyh_census *c,
                                        const struct pyh_census_view *v, FILE *out);

/* The `objects` report: the objects at indices (n of them) of the type called name, of
 * which there are total objects and total_size bytes; previews[i] is the preview of the
 * i-th (made by the command: no renderer reads target memory). */
struct pyh_error *pyh_report_objects(const struct pyh_report_context *ctx, struct pyh_heap *heap,
                                     const char *name, const size_t *indices, size_t n,
                                     uint64_t total, uint64_t total_size, char *const *previews,
                                     enum pyh_format format, FILE *out);

/* A text cell of at most width columns: s, or its start and "..." (--wide: s whole). */
const char *pyh_report_fit(const struct pyh_report_context *ctx, const char *s, int width,
                           char *buf, size_t cap);

/* The `show` report of one object. */
struct pyh_error *pyh_report_show(const struct pyh_report_context *ctx, struct pyh_heap *heap,
                                  const struct pyh_object_info *info, enum pyh_format format,
                                  FILE *out);

/* The graph reports. paths (for `retained`): ntop + nsuspects expressions, NULL allowed. */
/* previews: the object's first, then each referrer's (NULL for roots). */
struct pyh_error *pyh_report_referrers(const struct pyh_report_context *ctx,
                                       const struct pyh_graph *g, uint32_t node,
                                       const struct pyh_referrer *refs, size_t n,
                                       char *const *previews, enum pyh_format format, FILE *out);
struct pyh_error *pyh_report_paths(const struct pyh_report_context *ctx, const struct pyh_graph *g,
                                   const char *what, const struct pyh_path_group *groups, size_t n,
                                   uint64_t instances, uint64_t unreached, enum pyh_format format,
                                   FILE *out);
struct pyh_error *pyh_report_retained(const struct pyh_report_context *ctx, const struct pyh_graph *g,
                                      const struct pyh_retention *r, char **paths,
                                      enum pyh_format format, FILE *out);
/* The `gc` report (gc_report.c); pyh_gc_view_json is also summary's and the snapshot's
 * "gc" member (garbage types up to limit; 0: all). */
struct pyh_gc_view;
struct pyh_error *pyh_report_gc(const struct pyh_report_context *ctx, struct pyh_heap *heap,
                                const struct pyh_gc_view *v, long limit, enum pyh_format format, FILE *out);
json_t *pyh_gc_view_json(struct pyh_heap *heap, const struct pyh_gc_view *v, long limit);

struct pyh_error *pyh_report_unreachable(const struct pyh_report_context *ctx,
                                         const struct pyh_graph *g, const struct pyh_unreachable *u,
                                         enum pyh_format format, FILE *out);

/* Writes g's object-to-object references to path (format: `edges --help`) and a one-line
 * summary (or JSON) to out. */
struct pyh_error *pyh_report_edges(const struct pyh_report_context *ctx, const struct pyh_graph *g,
                                   const char *path, enum pyh_format format, FILE *out);

#endif
