/* SVG charts of the HTML report (html_charts.c): what each draws and from what. Labels are
 * escaped (they may come from the target). */
#ifndef PYH_REPORT_HTML_CHARTS_H
#define PYH_REPORT_HTML_CHARTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "report/html.h"

/* A treemap tile: tiles come largest first; a tile of value 0 ends the list. */
struct pyh_tile {
    const char *label;      /* drawn when it fits; the tooltip always */
    const char *detail;     /* more for the tooltip, or NULL */
    const char *colour_key; /* what its colour is made from; NULL: grey (the rest) */
    uint64_t value;
    bool tail; /* a label too long keeps its end (a path's last steps) */
};

void pyh_chart_treemap(FILE *out, const char *id, const char *title, const char *desc,
                       const struct pyh_tile *tiles, size_t n);

/* One part of a stacked bar (a whole split in parts). */
struct pyh_part {
    const char *label, *colour;
    uint64_t value;
};

void pyh_chart_stacked_bar(FILE *out, const char *id, const char *title, const char *desc,
                           const struct pyh_part *parts, size_t n);

/* One bar of used and free bytes. */
struct pyh_bar {
    const char *label;
    uint64_t used, free;
};

void pyh_chart_bars(FILE *out, const char *id, const char *title, const char *desc,
                    const struct pyh_bar *bars, size_t n, const char *used_label,
                    const char *free_label);

/* One line over time, with its verdict. */
struct pyh_line {
    const char *name, *verdict;
    const uint64_t *values; /* npoints */
};

void pyh_chart_lines(FILE *out, const char *id, const char *title, const char *desc,
                     const double *times, size_t npoints, const struct pyh_line *lines,
                     size_t nlines, bool bytes);

#endif
