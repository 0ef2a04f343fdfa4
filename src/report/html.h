/* The HTML report (`py-heap report`): one self-contained file, drawn from the same result
 * structures as the text and JSON reports. What it is given is all it shows: the renderer
 * reads no target memory. Strings from the target (type names, paths, thread names, file
 * names) are escaped wherever they are written (pyh_html_text): a core is untrusted input,
 * and a class called "<script>" exists. */
#ifndef PYH_REPORT_HTML_H
#define PYH_REPORT_HTML_H

#include <stdio.h>

#include "analysis/census.h"
#include "analysis/domtree.h"
#include "analysis/fragmentation.h"
#include "analysis/info.h"
#include "analysis/retention.h"
#include "analysis/snapshot.h"
#include "report/report.h"

struct pyh_html_report {
    struct pyh_runtime *rt;          /* its version strings */
    const struct pyh_info *info;     /* binaries, threads, GC generations */
    const struct pyh_census *census; /* sorted by size */
    const struct pyh_fragmentation *frag;
    const struct pyh_graph *graph; /* the objects' types and addresses */
    const struct pyh_retention *retention;
    char *const *retention_paths; /* ntop then nsuspects; NULL entries allowed */
    const struct pyh_domtree *tree;
    char *const *tree_paths; /* one per tree node; NULL entries allowed */
    const struct pyh_unreachable *unreachable;
    const struct pyh_verdict *verdict; /* every cause with its share (analysis/verdict.h) */
    const char *verdict_sentence;      /* pyh_verdict_sentence: summary's words */
    /* With snapshots: all of them in time order, the target's own among them, and the types
     * across them (pyh_series_build); nsnaps 0 without. */
    struct pyh_snapshot *const *snaps;
    size_t nsnaps;
    const struct pyh_series *series;
    size_t nseries;
    double dump_time; /* seconds since the epoch: when the data was read */
    long type_rows;   /* rows of the type table (<= 0: all) */
};

struct pyh_error *pyh_report_html(const struct pyh_report_context *ctx,
                                  const struct pyh_html_report *r, FILE *out);

/* ---- Helpers (html_util.c) ---------------------------------------------------------- */

/* s as HTML text or attribute value: & < > " ' escaped, bytes that are not UTF-8 and
 * control characters written as U+FFFD. */
void pyh_html_text(FILE *out, const char *s);

/* The colour of a name (stable across reports): "hsl(H,55%,72%)" into buf. */
const char *pyh_html_colour(const char *name, char *buf, size_t cap);

/* One rectangle of a treemap. */
struct pyh_rect {
    double x, y, w, h;
};

/* Squarified treemap: values (sorted largest first, all > 0) laid out in r; out[i] for
 * values[i]. */
void pyh_treemap_layout(const double *values, size_t n, struct pyh_rect r, struct pyh_rect *out);

#endif
