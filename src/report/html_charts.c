/* The HTML report's charts, drawn as inline SVG by py-heap itself (docs/internals.md says
 * why: no script library to embed, keep up or trust; the file opens offline and the charts
 * are there without JavaScript). Each chart has a title and a description for screen
 * readers, and every number it shows is also in a table of the report. */
#include "report/html_charts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/format.h"

static void svg_open(FILE *out, const char *id, double w, double h, const char *title,
                     const char *desc)
{
    fprintf(out,
            "<svg id=\"%s\" class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"100%%\" "
            "role=\"img\" aria-labelledby=\"%s-t %s-d\" xmlns=\"http://www.w3.org/2000/svg\">"
            "<title id=\"%s-t\">",
            id, w, h, id, id, id);
    pyh_html_text(out, title);
    fprintf(out, "</title><desc id=\"%s-d\">", id);
    pyh_html_text(out, desc);
    fputs("</desc>", out);
}

/* A label cut to what fits in width pixels (about 6.6 px a character at 11 px). */
static void fitted_label_end(FILE *out, double x, double y, double width, const char *text,
                             const char *cls, bool tail)
{
    size_t room = width > 8 ? (size_t)((width - 6) / 6.6) : 0;
    if (room < 3) return;
    char buf[400];
    size_t len = strlen(text);
    if (len > room && tail && room < sizeof(buf) - 4) {
        /* "…" then the last room - 1 bytes, from a character's start. */
        const char *start = text + len - (room - 1);
        while (*start && ((unsigned char)*start & 0xc0) == 0x80)
            start++;
        memcpy(buf, "\xe2\x80\xa6", 3);
        snprintf(buf + 3, sizeof(buf) - 3, "%s", start);
        text = buf;
    } else if (len > room) {
        /* Cut on a character boundary, then "…". */
        size_t cut = room - 1 < sizeof(buf) - 4 ? room - 1 : sizeof(buf) - 4;
        while (cut > 0 && ((unsigned char)text[cut] & 0xc0) == 0x80)
            cut--;
        memcpy(buf, text, cut);
        memcpy(buf + cut, "\xe2\x80\xa6", 4);
        text = buf;
    }
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"%s\">", x, y, cls);
    pyh_html_text(out, text);
    fputs("</text>", out);
}

static void fitted_label(FILE *out, double x, double y, double width, const char *text,
                         const char *cls)
{
    fitted_label_end(out, x, y, width, text, cls, false);
}

void pyh_chart_treemap(FILE *out, const char *id, const char *title, const char *desc,
                       const struct pyh_tile *tiles, size_t n)
{
    const double W = 960, H = 420;
    svg_open(out, id, W, H, title, desc);
    struct pyh_rect *rects = calloc(n ? n : 1, sizeof(*rects));
    double *values = calloc(n ? n : 1, sizeof(*values));
    size_t m = 0;
    while (rects && values && m < n && tiles[m].value > 0) {
        values[m] = (double)tiles[m].value;
        m++;
    }
    if (rects && values) pyh_treemap_layout(values, m, (struct pyh_rect){0, 0, W, H}, rects);
    for (size_t i = 0; rects && values && i < m; i++) {
        struct pyh_rect r = rects[i];
        char colour[40], a[32];
        fputs("<g class=\"tile\"><title>", out);
        pyh_html_text(out, tiles[i].label);
        fprintf(out, ": %s", pyh_format_bytes(tiles[i].value, a, sizeof(a)));
        if (tiles[i].detail) {
            fputs(" \xe2\x80\x94 ", out);
            pyh_html_text(out, tiles[i].detail);
        }
        fprintf(out,
                "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>",
                r.x, r.y, r.w, r.h,
                tiles[i].colour_key ? pyh_html_colour(tiles[i].colour_key, colour, sizeof(colour))
                                    : "#d8d8d8");
        if (r.h >= 16)
            fitted_label_end(out, r.x + 3, r.y + 13, r.w, tiles[i].label, "tl", tiles[i].tail);
        if (r.h >= 30) fitted_label(out, r.x + 3, r.y + 26, r.w, a, "tv");
        fputs("</g>", out);
    }
    free(rects);
    free(values);
    fputs("</svg>\n", out);
}

void pyh_chart_stacked_bar(FILE *out, const char *id, const char *title, const char *desc,
                           const struct pyh_part *parts, size_t n)
{
    const double W = 960, H = 40 + 22 * (double)((n + 2) / 3);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += parts[i].value;
    svg_open(out, id, W, H, title, desc);
    double x = 0;
    char a[32];
    for (size_t i = 0; i < n && total; i++) {
        double w = W * (double)parts[i].value / (double)total;
        fputs("<g><title>", out);
        pyh_html_text(out, parts[i].label);
        fprintf(out, ": %s (%.1f%%)</title>", pyh_format_bytes(parts[i].value, a, sizeof(a)),
                100.0 * (double)parts[i].value / (double)total);
        fprintf(out, "<rect x=\"%.1f\" y=\"0\" width=\"%.1f\" height=\"28\" fill=\"%s\"/></g>", x,
                w, parts[i].colour);
        x += w;
    }
    for (size_t i = 0; i < n; i++) {
        double lx = (double)(i % 3) * 320, ly = 44 + 22 * (double)(i / 3);
        fprintf(out, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\" fill=\"%s\"/>", lx,
                ly - 10, parts[i].colour);
        char text[200];
        snprintf(text, sizeof(text), "%s %s (%.1f%%)", parts[i].label,
                 pyh_format_bytes(parts[i].value, a, sizeof(a)),
                 total ? 100.0 * (double)parts[i].value / (double)total : 0.0);
        fitted_label(out, lx + 16, ly, 300, text, "lg");
    }
    fputs("</svg>\n", out);
}

void pyh_chart_bars(FILE *out, const char *id, const char *title, const char *desc,
                    const struct pyh_bar *bars, size_t n, const char *used_label,
                    const char *free_label)
{
    const double W = 960, H = 260, left = 60, bottom = 40, top = 24;
    uint64_t max = 1;
    for (size_t i = 0; i < n; i++)
        if (bars[i].used + bars[i].free > max) max = bars[i].used + bars[i].free;
    svg_open(out, id, W, H, title, desc);
    char a[32], b[32];
    /* The scale: four lines. */
    for (int k = 0; k <= 4; k++) {
        double y = top + (H - top - bottom) * (1 - k / 4.0);
        fprintf(out, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", left,
                W, y, y);
        fprintf(out, "<text x=\"%.0f\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\">%s</text>",
                left - 4, y + 4, pyh_format_bytes((uint64_t)((double)max * k / 4), a, sizeof(a)));
    }
    double slot = n ? (W - left) / (double)n : 0, bw = slot * 0.8;
    for (size_t i = 0; i < n; i++) {
        double x = left + slot * (double)i + slot * 0.1, span = H - top - bottom;
        double hu = span * (double)bars[i].used / (double)max;
        double hf = span * (double)bars[i].free / (double)max;
        fputs("<g><title>", out);
        pyh_html_text(out, bars[i].label);
        fprintf(out, ": %s %s, %s %s</title>", pyh_format_bytes(bars[i].used, a, sizeof(a)),
                used_label, pyh_format_bytes(bars[i].free, b, sizeof(b)), free_label);
        fprintf(out,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"used\"/>"
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"free\"/></g>",
                x, top + span - hu, bw, hu, x, top + span - hu - hf, bw, hf);
        if (n <= 40 || i % 2 == 0) {
            fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"ax\" text-anchor=\"middle\">",
                    x + bw / 2, H - bottom + 14);
            pyh_html_text(out, bars[i].label);
            fputs("</text>", out);
        }
    }
    fprintf(out,
            "<rect x=\"%.0f\" y=\"4\" width=\"12\" height=\"12\" class=\"used\"/>"
            "<text x=\"%.0f\" y=\"14\" class=\"lg\">%s</text>"
            "<rect x=\"%.0f\" y=\"4\" width=\"12\" height=\"12\" class=\"free\"/>"
            "<text x=\"%.0f\" y=\"14\" class=\"lg\">%s</text>",
            left, left + 16, used_label, left + 160, left + 176, free_label);
    fputs("</svg>\n", out);
}

/* "+42 s", "+3.5 min", "+2.0 h" */
static const char *elapsed(double s, char *buf, size_t cap)
{
    if (s < 120)
        snprintf(buf, cap, "+%.0f s", s);
    else if (s < 7200)
        snprintf(buf, cap, "+%.1f min", s / 60);
    else
        snprintf(buf, cap, "+%.1f h", s / 3600);
    return buf;
}

void pyh_chart_lines(FILE *out, const char *id, const char *title, const char *desc,
                     const double *times, size_t npoints, const struct pyh_line *lines,
                     size_t nlines, bool bytes)
{
    const double W = 960, H = 300, left = 70, right = 190, top = 16, bottom = 36;
    if (npoints > 128) npoints = 128; /* more snapshots than verbs take */
    double t0 = npoints ? times[0] : 0, span_t = npoints ? times[npoints - 1] - t0 : 0;
    double maxv = 1;
    for (size_t l = 0; l < nlines; l++)
        for (size_t k = 0; k < npoints; k++)
            if ((double)lines[l].values[k] > maxv) maxv = (double)lines[l].values[k];
    svg_open(out, id, W, H, title, desc);
    char a[32];
    double pw = W - left - right, ph = H - top - bottom;
    for (int k = 0; k <= 4; k++) {
        double y = top + ph * (1 - k / 4.0);
        uint64_t v = (uint64_t)(maxv * k / 4);
        fprintf(out, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", left,
                left + pw, y, y);
        fprintf(out, "<text x=\"%.0f\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\">%s</text>",
                left - 4, y + 4,
                bytes ? pyh_format_bytes(v, a, sizeof(a)) : pyh_format_count(v, a, sizeof(a)));
    }
    /* x: time since the first snapshot; by rank when they all have the same time. */
    double xs[128];
    for (size_t k = 0; k < npoints; k++) {
        double f = span_t > 0 ? (times[k] - t0) / span_t
                              : (npoints > 1 ? (double)k / (double)(npoints - 1) : 0);
        xs[k] = left + pw * f;
        fprintf(out, "<text x=\"%.1f\" y=\"%.0f\" class=\"ax\" text-anchor=\"middle\">%s</text>",
                xs[k], H - bottom + 16, elapsed(times[k] - t0, a, sizeof(a)));
    }
    for (size_t l = 0; l < nlines; l++) {
        char colour[40];
        pyh_html_colour(lines[l].name, colour, sizeof(colour));
        fputs("<g class=\"series\"><title>", out);
        pyh_html_text(out, lines[l].name);
        fputs(": ", out);
        pyh_html_text(out, lines[l].verdict);
        fprintf(out, "</title><polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" points=\"",
                colour);
        double last_y = top + ph;
        for (size_t k = 0; k < npoints; k++) {
            last_y = top + ph * (1 - (double)lines[l].values[k] / maxv);
            fprintf(out, "%s%.1f,%.1f", k ? " " : "", xs[k], last_y);
        }
        fputs("\"/>", out);
        for (size_t k = 0; k < npoints; k++)
            fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", xs[k],
                    top + ph * (1 - (double)lines[l].values[k] / maxv), colour);
        char label[300];
        snprintf(label, sizeof(label), "%s (%s)", lines[l].name, lines[l].verdict);
        (void)last_y;
        fprintf(out, "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"10\" fill=\"%s\"/>",
                left + pw + 8, top + 4 + 16 * (double)l, colour);
        fitted_label(out, left + pw + 22, top + 13 + 16 * (double)l, right - 22, label, "lg");
        fputs("</g>", out);
    }
    fputs("</svg>\n", out);
}
