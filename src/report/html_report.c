/* The HTML report (`py-heap report`): verdict, types, retainers, memory, trend, target —
 * one self-contained file; see html.h. Numbers the tests compare with --json are also in
 * data-* attributes, raw (the text shows them rounded for people). */
#include "report/html.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/html_charts.h"
#include "util/format.h"

#define TREEMAP_TYPES 60     /* tiles of the types' treemap; the rest is one tile */
#define TREEMAP_RETAINERS 60 /* top nodes of the retainers' treemap */
#define TREND_LINES 8        /* types drawn over time */
#define OPEN_DEPTH 1         /* tree levels shown open */

static const char STYLE[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}"
    "header{background:#22303c;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}"
    "header p{margin:4px 0 0;color:#cfd8e0}nav{padding:6px 24px;background:#e9eef2}"
    "nav a{margin-right:14px;color:#22303c}main{padding:0 24px 40px;max-width:1200px}"
    "section{background:#fff;border:1px solid #dde3e8;border-radius:6px;margin:18px 0;"
    "padding:8px 18px 16px}h2{font-size:17px;margin:10px 0}h3{font-size:15px;margin:14px 0 6px}"
    ".headline{font-size:17px;font-weight:600}code{font:12.5px ui-monospace,monospace;"
    "background:#f1f3f5;padding:1px 3px;border-radius:3px;word-break:break-all}"
    "table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:3px 8px;"
    "border-bottom:1px solid #eceff1;text-align:left;vertical-align:top}td.n,th.n{text-align:right;"
    "font-variant-numeric:tabular-nums;white-space:nowrap}th{background:#f4f6f8;position:sticky;"
    "top:0}th.sortable{cursor:pointer}th.sortable:after{content:' \\2195';color:#9aa}"
    ".scroll{max-height:520px;overflow:auto}input[type=search]{width:320px;padding:4px 6px;"
    "margin:4px 0 8px}svg.chart{display:block;margin:6px 0;font:11px system-ui,sans-serif}"
    "svg .tile rect{stroke:#fff;stroke-width:1}svg .tl{font-size:11px;fill:#1d1d1f}"
    "svg .tv{font-size:10px;fill:#333}svg .ax{font-size:10.5px;fill:#555}svg .lg{font-size:11.5px;"
    "fill:#1d1d1f}svg .grid{stroke:#e3e7ea}svg .used{fill:#3f6f9f}svg .free{fill:#f0a868}"
    "details.dt{margin-left:18px}details.dt>summary{cursor:pointer;padding:1px 0}"
    ".dtroot>details.dt{margin-left:0}.rb{display:inline-block;min-width:84px;text-align:right;"
    "font-variant-numeric:tabular-nums;font-weight:600}.pct{display:inline-block;min-width:52px;"
    "text-align:right;color:#555}.ty{color:#6b4c9a}.rest{margin-left:36px;color:#666;"
    "font-style:italic}.cls-growing{color:#b3261e;font-weight:600}.cls-plateau{color:#8a6d00}"
    ".cls-transient{color:#00639b}.cls-stable{color:#4a4a4a}.warn{color:#b3261e}"
    "th.why{min-width:300px}#trend-table td:first-child{min-width:170px;overflow-wrap:anywhere}"
    "body.one-part header,body.one-part nav{display:none}"
    "body.one-part main>section:not(.shown){display:none}";

/* Sorting and filtering of the type table, and #part-ID (one part alone, for a screenshot
 * or a ticket). No data lives in the script: it only reorders and hides rows. */
static const char SCRIPT[] =
    "(function(){'use strict';"
    "var t=document.getElementById('type-table');"
    "if(t){var body=t.tBodies[0],heads=t.tHead.rows[0].cells;"
    "Array.prototype.forEach.call(heads,function(th,i){th.classList.add('sortable');"
    "th.addEventListener('click',function(){var num=th.classList.contains('n');"
    "var dir=th.dataset.dir==='desc'?'asc':'desc';th.dataset.dir=dir;"
    "var rows=Array.prototype.slice.call(body.rows);rows.sort(function(a,b){"
    "var x=a.cells[i],y=b.cells[i],r;if(num){r=Number(x.dataset.v)-Number(y.dataset.v);}"
    "else{r=x.textContent.localeCompare(y.textContent);}return dir==='desc'?-r:r;});"
    "rows.forEach(function(r){body.appendChild(r);});});});"
    "var f=document.getElementById('type-filter');if(f){f.addEventListener('input',function(){"
    "var q=f.value.toLowerCase();Array.prototype.forEach.call(body.rows,function(r){"
    "r.style.display=r.dataset.name.toLowerCase().indexOf(q)>=0?'':'none';});});}}"
    "var m=/^#part-([a-z]+)$/.exec(location.hash);if(m){var s=document.getElementById(m[1]);"
    "if(s){document.body.classList.add('one-part');s.classList.add('shown');}}"
    "})();";

static const char *fmt_bytes(uint64_t v, char *buf)
{
    return pyh_format_bytes(v, buf, 32);
}
static const char *fmt_count(uint64_t v, char *buf)
{
    return pyh_format_count(v, buf, 32);
}

static double share(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static const char *type_of(const struct pyh_html_report *r, uint32_t node)
{
    return pyh_heap_type_name(r->graph->heap, r->graph->heap->objects[node].type);
}

static const char *census_type(const struct pyh_census *c, size_t i)
{
    return pyh_heap_type_name(c->heap, c->rows[i].type);
}

/* ---- The verdict ---------------------------------------------------------------------- */

static const struct pyh_series *growing_types(const struct pyh_html_report *r, size_t *n)
{
    *n = 0;
    if (r->nsnaps < 3) return NULL;
    for (size_t i = 0; i < r->nseries; i++)
        *n += r->series[i].cls == PYH_TREND_GROWING;
    return r->series;
}

static void verdict(const struct pyh_html_report *r, FILE *out)
{
    const struct pyh_census *c = r->census;
    const struct pyh_fragmentation *f = r->frag;
    char a[32], b[32], d[32];
    uint64_t garbage = r->unreachable ? r->unreachable->garbage_size : 0;
    /* The kind of the largest cause (summary's verdict, analysis/verdict.h). */
    const struct pyh_verdict *v = r->verdict;
    enum pyh_cause_kind top = v->causes[0].kind;
    for (int i = 0; i < PYH_CAUSE_COUNT; i++)
        if (v->causes[i].kind != PYH_CAUSE_OTHER && v->causes[i].kind != PYH_CAUSE_STACKS) {
            top = v->causes[i].kind;
            break;
        }
    const char *kind = top == PYH_CAUSE_PYMALLOC_FREE || top == PYH_CAUSE_MALLOC_FREE ? "fragmentation"
                       : top == PYH_CAUSE_GARBAGE                                    ? "gc"
                       : top == PYH_CAUSE_NATIVE_OWNED || top == PYH_CAUSE_NATIVE_OTHER ? "native"
                                                                                       : "live";
    fputs("<section id=\"verdict\"><h2>Verdict</h2>\n", out);
    fprintf(out, "<p class=\"headline\" data-kind=\"%s\"><span id=\"verdict-sentence\">", kind);
    pyh_html_text(out, r->verdict_sentence);
    fputs("</span></p>\n<table id=\"causes\"><thead><tr><th>share</th><th>bytes</th>"
          "<th>cause</th></tr></thead><tbody>\n", out);
    for (int i = 0; i < PYH_CAUSE_COUNT; i++) {
        const struct pyh_cause *k = &v->causes[i];
        if (!k->matters) continue;
        fprintf(out, "<tr data-cause=\"%s\" data-bytes=\"%llu\"><td class=\"num\">%.0f%%</td>"
                     "<td class=\"num\">%s</td><td>%s</td></tr>\n",
                pyh_cause_key(k->kind), (unsigned long long)k->bytes, 100 * k->share,
                fmt_bytes(k->bytes, a), pyh_cause_name(k->kind));
    }
    fputs("</tbody></table>\n", out);
    fputs("<ul>\n", out);
    /* What takes the space. */
    fputs("<li>What takes the space: ", out);
    for (size_t i = 0; i < c->nrows && i < 3; i++) {
        fputs(i ? ", " : "", out);
        fputs("<b>", out);
        pyh_html_text(out, census_type(c, i));
        fprintf(out, "</b> %s (%s objects)", fmt_bytes(c->rows[i].size, a),
                fmt_count(c->rows[i].count, b));
    }
    fputs(c->nrows ? ".</li>\n" : "no objects were found.</li>\n", out);
    /* What holds it. */
    const struct pyh_retention *ret = r->retention;
    fputs("<li>What holds it: ", out);
    if (ret && ret->nsuspects) {
        for (size_t i = 0; i < ret->nsuspects && i < 3; i++) {
            const char *path = r->retention_paths[ret->ntop + i];
            fputs(i ? "; " : "", out);
            fputs("<code>", out);
            pyh_html_text(out, path ? path : "?");
            fprintf(out, "</code> retains %.0f%% of the live heap (%s in %s objects)",
                    share(ret->suspects[i].retained, ret->live_bytes),
                    fmt_bytes(ret->suspects[i].retained, a), fmt_count(ret->suspects[i].count, b));
        }
        fputs(".</li>\n", out);
    } else {
        fputs("no single object holds more than a tenth of the live heap (see the dominator "
              "tree below).</li>\n",
              out);
    }
    /* Fragmentation (the verdict `summary` and `fragmentation` give, word for word). */
    fputs("<li>Allocators: <span id=\"frag-verdict\">", out);
    pyh_html_text(out, f->verdict);
    fputs("</span></li>\n", out);
    if (r->unreachable) {
        fprintf(out,
                "<li>Garbage collection: <span id=\"gc-backlog\" data-garbage-size=\"%llu\" "
                "data-garbage-objects=\"%llu\">",
                (unsigned long long)garbage, (unsigned long long)r->unreachable->garbage);
        if (r->unreachable->garbage)
            fprintf(out,
                    "%s in %s objects wait in reference cycles that nothing holds (a "
                    "gc.collect() would free them)",
                    fmt_bytes(garbage, a), fmt_count(r->unreachable->garbage, b));
        else
            fputs("no reference cycles are waiting for the collector", out);
        fputs(".</span></li>\n", out);
    }
    /* Growth. */
    size_t ngrowing;
    const struct pyh_series *s = growing_types(r, &ngrowing);
    if (r->nsnaps >= 3) {
        fprintf(out, "<li>Growth: across %zu snapshots, ", r->nsnaps);
        if (!ngrowing)
            fputs("no type keeps growing.", out);
        else
            fprintf(out, "%zu type%s keep%s growing: ", ngrowing, ngrowing == 1 ? "" : "s",
                    ngrowing == 1 ? "s" : "");
        for (size_t i = 0, shown = 0; s && i < r->nseries && shown < 3; i++) {
            if (s[i].cls != PYH_TREND_GROWING) continue;
            fputs(shown++ ? ", " : "", out);
            fputs("<b>", out);
            pyh_html_text(out, s[i].name);
            fprintf(out, "</b> %s%s an hour", s[i].growth_per_hour < 0 ? "-" : "+",
                    fmt_bytes((uint64_t)(s[i].growth_per_hour < 0 ? -s[i].growth_per_hour
                                                                  : s[i].growth_per_hour),
                              a));
        }
        fputs(ngrowing ? " (see Over time).</li>\n" : "</li>\n", out);
    } else {
        fputs("<li>Growth: one dump cannot tell; give this report three or more snapshots "
              "(<code>py-heap snapshot</code>) to see which types grow.</li>\n",
              out);
    }
    fputs("</ul>\n", out);
    fprintf(out,
            "<dl id=\"totals\" data-objects=\"%llu\" data-size=\"%llu\" data-heap-total=\"%llu\" "
            "data-types=\"%zu\"><dt>Heap</dt><dd>%s held by the allocators; ",
            (unsigned long long)c->objects, (unsigned long long)c->size,
            (unsigned long long)c->heap_total, c->nrows, fmt_bytes(c->heap_total, a));
    fprintf(out, "%s objects of %zu types take %s (sys.getsizeof)</dd>", fmt_count(c->objects, b),
            c->nrows, fmt_bytes(c->size, d));
    if (f->resident_known) fprintf(out, "<dt>Resident</dt><dd>%s</dd>", fmt_bytes(f->resident, a));
    fputs("</dl>\n</section>\n", out);
}

/* ---- Types ---------------------------------------------------------------------------- */

static void types_section(const struct pyh_html_report *r, FILE *out)
{
    const struct pyh_census *c = r->census;
    char a[32], b[32], d[32];
    fputs("<section id=\"types\"><h2>What takes the space: types</h2>\n", out);
    size_t n = c->nrows < TREEMAP_TYPES ? c->nrows : TREEMAP_TYPES;
    struct pyh_tile *tiles = calloc(n + 2, sizeof(*tiles));
    char(*details)[64] = calloc(n + 1, sizeof(*details));
    if (tiles && details) {
        uint64_t rest = 0, rest_count = 0;
        for (size_t i = 0; i < c->nrows; i++) {
            if (i < n) {
                snprintf(details[i], sizeof(details[i]), "%s objects",
                         fmt_count(c->rows[i].count, a));
                tiles[i] = (struct pyh_tile){census_type(c, i), details[i], census_type(c, i),
                                             c->rows[i].size, false};
            } else {
                rest += c->rows[i].size;
                rest_count += c->rows[i].count;
            }
        }
        char label[64];
        snprintf(label, sizeof(label), "%zu other types", c->nrows - n);
        snprintf(details[n], sizeof(details[n]), "%s objects", fmt_count(rest_count, a));
        size_t m = n;
        if (rest) {
            /* The rest in its place by size (the layout wants the largest first). */
            size_t at = n;
            while (at > 0 && tiles[at - 1].value < rest)
                at--;
            memmove(tiles + at + 1, tiles + at, (n - at) * sizeof(*tiles));
            tiles[at] = (struct pyh_tile){label, details[n], NULL, rest, false};
            m++;
        }
        pyh_chart_treemap(out, "types-map", "Bytes by type",
                          "Treemap of the live objects' sizes (sys.getsizeof) by type; the same "
                          "numbers are in the table below.",
                          tiles, m);
    }
    free(tiles);
    free(details);
    size_t rows =
        r->type_rows > 0 && (size_t)r->type_rows < c->nrows ? (size_t)r->type_rows : c->nrows;
    fprintf(out,
            "<p><label>Filter types: <input type=\"search\" id=\"type-filter\" "
            "placeholder=\"a type name\"></label> %zu of %zu types listed; click a column to "
            "sort.</p>\n<div class=\"scroll\"><table id=\"type-table\"><thead><tr><th>type</th>"
            "<th class=\"n\">count</th><th class=\"n\">size</th><th class=\"n\">share</th>"
            "<th class=\"n\">avg size</th></tr></thead><tbody>\n",
            rows, c->nrows);
    for (size_t i = 0; i < rows; i++) {
        const struct pyh_census_row *row = &c->rows[i];
        fputs("<tr data-name=\"", out);
        pyh_html_text(out, census_type(c, i));
        fprintf(out, "\" data-count=\"%llu\" data-size=\"%llu\"><td>",
                (unsigned long long)row->count, (unsigned long long)row->size);
        pyh_html_text(out, census_type(c, i));
        fprintf(out,
                "</td><td class=\"n\" data-v=\"%llu\">%s</td><td class=\"n\" data-v=\"%llu\">%s"
                "</td><td class=\"n\" data-v=\"%llu\">%.1f%%</td><td class=\"n\" "
                "data-v=\"%llu\">%s</td></tr>\n",
                (unsigned long long)row->count, fmt_count(row->count, a),
                (unsigned long long)row->size, fmt_bytes(row->size, b),
                (unsigned long long)row->size, share(row->size, c->size),
                (unsigned long long)(row->count ? row->size / row->count : 0),
                fmt_bytes(row->count ? row->size / row->count : 0, d));
    }
    fputs("</tbody></table></div>\n", out);
    if (rows < c->nrows) {
        uint64_t count = 0, size = 0;
        for (size_t i = rows; i < c->nrows; i++) {
            count += c->rows[i].count;
            size += c->rows[i].size;
        }
        fprintf(out, "<p>%zu smaller types (%s objects, %s) are not listed (--types N).</p>\n",
                c->nrows - rows, fmt_count(count, a), fmt_bytes(size, b));
    }
    fprintf(out,
            "<h3>The rest of the heap</h3><table id=\"accounting\"><tbody>"
            "<tr><td>Python objects (sys.getsizeof)</td><td class=\"n\">%s</td></tr>",
            fmt_bytes(c->size, a));
    fprintf(out, "<tr><td>native allocations (no object)</td><td class=\"n\">%s</td></tr>",
            fmt_bytes(c->native_bytes, a));
    if (c->rounding >= 0)
        fprintf(out, "<tr><td>allocator rounding, buffers</td><td class=\"n\">%s</td></tr>",
                fmt_bytes((uint64_t)c->rounding, a));
    fprintf(out,
            "<tr><td>free and allocator overhead</td><td class=\"n\">%s</td></tr>"
            "<tr><th>heap total</th><th class=\"n\">%s</th></tr></tbody></table>\n</section>\n",
            fmt_bytes(c->free_bytes, a), fmt_bytes(c->heap_total, b));
}

/* ---- Retainers ------------------------------------------------------------------------ */

/* The children of each tree node (and of the top) as linked lists in index order. */
struct tree_links {
    uint32_t *first, *next; /* first[n] is the top's first child */
};

static bool tree_links(const struct pyh_domtree *t, struct tree_links *l)
{
    l->first = malloc((t->n + 1) * sizeof(uint32_t));
    l->next = malloc((t->n + 1) * sizeof(uint32_t));
    if (!l->first || !l->next) {
        free(l->first);
        free(l->next);
        return false;
    }
    for (size_t i = 0; i <= t->n; i++)
        l->first[i] = l->next[i] = UINT32_MAX;
    /* Backwards, so that each list comes out in index order (larger retained first). */
    for (size_t i = t->n; i-- > 0;) {
        uint32_t p = t->nodes[i].parent == PYH_DOMTREE_TOP ? (uint32_t)t->n : t->nodes[i].parent;
        l->next[i] = l->first[p];
        l->first[p] = (uint32_t)i;
    }
    return true;
}

static void tree_node(const struct pyh_html_report *r, const struct tree_links *l, uint32_t i,
                      FILE *out)
{
    const struct pyh_domtree *t = r->tree;
    const struct pyh_domtree_node *x = &t->nodes[i];
    char a[32], b[32], c[32];
    fprintf(out,
            "<details class=\"dt\" data-address=\"0x%llx\" data-retained=\"%llu\" "
            "data-count=\"%u\"%s><summary><span class=\"rb\">%s</span><span class=\"pct\">%.1f%%"
            "</span> <span class=\"ty\">",
            (unsigned long long)r->graph->heap->objects[x->node].addr,
            (unsigned long long)x->retained, x->count, x->depth < OPEN_DEPTH ? " open" : "",
            fmt_bytes(x->retained, a), share(x->retained, t->live_bytes));
    pyh_html_text(out, type_of(r, x->node));
    fprintf(out, "</span> %s objects <code>", fmt_count(x->count, b));
    pyh_html_text(out, r->tree_paths && r->tree_paths[i] ? r->tree_paths[i] : "?");
    fputs("</code></summary>\n", out);
    for (uint32_t k = l->first[i]; k != UINT32_MAX; k = l->next[k])
        tree_node(r, l, k, out);
    if (x->rest_children)
        fprintf(out, "<div class=\"rest\">and %s smaller part%s: %s in %s objects</div>\n",
                fmt_count(x->rest_children, a), x->rest_children == 1 ? "" : "s",
                fmt_bytes(x->rest_bytes, b), fmt_count(x->rest_objects, c));
    fputs("</details>\n", out);
}

static void retainers_section(const struct pyh_html_report *r, FILE *out)
{
    const struct pyh_retention *ret = r->retention;
    char a[32], b[32], d[32];
    fputs("<section id=\"retainers\"><h2>What holds it: retainers</h2>\n", out);
    fprintf(out,
            "<p id=\"live\" data-live-bytes=\"%llu\" data-live-objects=\"%llu\">Live: %s in %s "
            "objects reachable from the roots.</p>\n",
            (unsigned long long)ret->live_bytes, (unsigned long long)ret->live_objects,
            fmt_bytes(ret->live_bytes, a), fmt_count(ret->live_objects, b));
    fputs("<h3>Leak suspects</h3>\n", out);
    if (!ret->nsuspects)
        fputs("<p>None: no object holds a tenth of the live heap without one part of it "
              "holding nearly all of that.</p>\n",
              out);
    fputs("<ol id=\"suspects\">\n", out);
    for (size_t i = 0; i < ret->nsuspects; i++) {
        const struct pyh_retainer *s = &ret->suspects[i];
        const char *path = r->retention_paths[ret->ntop + i];
        fprintf(out,
                "<li class=\"suspect\" data-address=\"0x%llx\" data-retained-size=\"%llu\" "
                "data-retained-count=\"%u\"><code class=\"path\">",
                (unsigned long long)r->graph->heap->objects[s->node].addr,
                (unsigned long long)s->retained, s->count);
        pyh_html_text(out, path ? path : "?");
        fputs("</code> (<span class=\"ty\">", out);
        pyh_html_text(out, type_of(r, s->node));
        fprintf(out, "</span>) retains %.0f%% of the live heap: %s in %s objects</li>\n",
                share(s->retained, ret->live_bytes), fmt_bytes(s->retained, a),
                fmt_count(s->count, b));
    }
    fputs("</ol>\n", out);
    /* The treemap of the tree's top two levels: a node's tile holds its children's. */
    const struct pyh_domtree *t = r->tree;
    size_t n = 0;
    struct pyh_tile *tiles = calloc(TREEMAP_RETAINERS + 1, sizeof(*tiles));
    char(*details)[48] = calloc(TREEMAP_RETAINERS + 1, sizeof(*details));
    /* Tiles: the deepest nodes down to depth 1, each with what its parent keeps beyond them
     * counted in the parent's own tile, so that no byte is drawn twice. */
    uint64_t *own = calloc(t->n + 1, sizeof(uint64_t));
    if (tiles && details && own) {
        for (size_t i = 0; i < t->n; i++)
            own[i] = t->nodes[i].retained;
        for (size_t i = 0; i < t->n; i++)
            if (t->nodes[i].depth == 1) own[t->nodes[i].parent] -= t->nodes[i].retained;
        uint64_t drawn = 0;
        for (size_t i = 0; i < t->n && n < TREEMAP_RETAINERS; i++) {
            if (t->nodes[i].depth > 1 || !own[i]) continue;
            const char *p = r->tree_paths && r->tree_paths[i] ? r->tree_paths[i] : "?";
            snprintf(details[n], sizeof(details[n]), "%s objects", fmt_count(t->nodes[i].count, a));
            tiles[n] = (struct pyh_tile){p, details[n], type_of(r, t->nodes[i].node), own[i], true};
            n++;
            drawn += own[i];
        }
        /* Largest first, as the layout wants. */
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && tiles[j - 1].value < tiles[j].value; j--) {
                struct pyh_tile x = tiles[j];
                tiles[j] = tiles[j - 1];
                tiles[j - 1] = x;
            }
        if (ret->live_bytes > drawn) {
            size_t at = n;
            while (at > 0 && tiles[at - 1].value < ret->live_bytes - drawn)
                at--;
            memmove(tiles + at + 1, tiles + at, (n - at) * sizeof(*tiles));
            tiles[at] =
                (struct pyh_tile){"smaller retainers", NULL, NULL, ret->live_bytes - drawn, false};
            n++;
        }
        pyh_chart_treemap(out, "retainers-map", "Bytes by retainer",
                          "Treemap of the live heap by what holds it: the largest retainers of "
                          "the dominator tree's two top levels, each without the parts drawn "
                          "on their own.",
                          tiles, n);
    }
    free(tiles);
    free(details);
    free(own);
    fputs("<h3>Largest retainers</h3><table id=\"retainer-table\"><thead><tr>"
          "<th class=\"n\">retained</th><th class=\"n\">objects</th><th>type</th><th>path</th>"
          "</tr></thead><tbody>\n",
          out);
    for (size_t i = 0; i < ret->ntop; i++) {
        fprintf(out,
                "<tr data-retained=\"%llu\"><td class=\"n\">%s</td><td class=\"n\">%s</td><td>",
                (unsigned long long)ret->top[i].retained, fmt_bytes(ret->top[i].retained, a),
                fmt_count(ret->top[i].count, b));
        pyh_html_text(out, type_of(r, ret->top[i].node));
        fputs("</td><td><code>", out);
        pyh_html_text(out, r->retention_paths[i] ? r->retention_paths[i] : "?");
        fputs("</code></td></tr>\n", out);
    }
    fputs("</tbody></table>\n", out);
    fprintf(out,
            "<h3>Dominator tree</h3><p>Each object with what it retains (what would be freed "
            "with it), from the largest down: the objects retaining at least %s (%.2f%% of the "
            "live heap)%s. Click a line to open it.</p>\n<div id=\"domtree\" class=\"dtroot\" "
            "data-nodes=\"%zu\">\n",
            fmt_bytes(t->threshold, a), share(t->threshold, t->live_bytes),
            t->cut ? ", cut at a depth and a number of nodes" : "", t->n);
    struct tree_links l;
    if (tree_links(t, &l)) {
        for (uint32_t c = l.first[t->n]; c != UINT32_MAX; c = l.next[c])
            tree_node(r, &l, c, out);
        free(l.first);
        free(l.next);
    }
    if (t->rest_children)
        fprintf(out, "<div class=\"rest\">and %s smaller roots' parts: %s in %s objects</div>\n",
                fmt_count(t->rest_children, a), fmt_bytes(t->rest_bytes, b),
                fmt_count(t->rest_objects, d));
    fputs("</div>\n</section>\n", out);
}

/* ---- Memory --------------------------------------------------------------------------- */

static void memory_section(const struct pyh_html_report *r, FILE *out)
{
    const struct pyh_fragmentation *f = r->frag;
    char a[32], b[32], d[32], e[32];
    fputs("<section id=\"memory\"><h2>Where the memory is</h2>\n", out);
    const struct pyh_memory_split *s = f->resident_known ? &f->split : &f->mapped_split;
    struct pyh_part parts[] = {
        {"pymalloc live", "#3f6f9f", s->pymalloc_used},
        {"pymalloc free", "#9cc0e0", s->pymalloc_free},
        {"malloc live", "#6b8e23", s->glibc_used},
        {"malloc free", "#c5d99a", s->glibc_free},
        {"thread stacks", "#b07aa1", s->stacks},
        {"other", "#c8c8c8", s->other},
    };
    char title[96];
    snprintf(title, sizeof(title), "%s memory: %s", f->resident_known ? "Resident" : "Mapped",
             fmt_bytes(f->resident_known ? f->resident : f->mapped, a));
    pyh_chart_stacked_bar(out, "resident-bar", title,
                          "How the process's memory splits between pymalloc, malloc, thread "
                          "stacks and the rest, live and free.",
                          parts, sizeof(parts) / sizeof(parts[0]));
    fprintf(out, "<table id=\"resident\" data-resident=\"%llu\"><tbody>",
            (unsigned long long)(f->resident_known ? f->resident : 0));
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        fprintf(out, "<tr><td>%s</td><td class=\"n\" data-v=\"%llu\">%s</td></tr>", parts[i].label,
                (unsigned long long)parts[i].value, fmt_bytes(parts[i].value, b));
    fputs("</tbody></table>\n", out);
    if (f->resident_known)
        fprintf(out, "<p>Resident memory from %s.</p>\n", f->resident_how ? f->resident_how : "?");
    const struct pyh_pymalloc *pm = f->pymalloc;
    if (pm) {
        struct pyh_bar bars[PYH_PYMALLOC_CLASSES];
        char labels[PYH_PYMALLOC_CLASSES][16];
        size_t n = 0;
        for (unsigned i = 0; i < PYH_PYMALLOC_CLASSES; i++) {
            const struct pyh_pymalloc_class *c = &pm->classes[i];
            if (!c->pools) continue;
            snprintf(labels[n], sizeof(labels[n]), "%u", c->block_size);
            bars[n] = (struct pyh_bar){labels[n], c->blocks_used * c->block_size,
                                       c->blocks_free * c->block_size};
            n++;
        }
        fprintf(out,
                "<h3>pymalloc by size class</h3><p>%s arenas; %s in used blocks, %s free "
                "in used pools, %s in empty pools.</p>\n",
                fmt_count(pm->narenas, a), fmt_bytes(pm->bytes_used, b),
                fmt_bytes(pm->bytes_free_in_used_pools, d), fmt_bytes(pm->bytes_in_empty_pools, e));
        pyh_chart_bars(out, "pymalloc-classes", "pymalloc: bytes used and free by block size",
                       "For each pymalloc size class (block size in bytes), the bytes in used "
                       "blocks and in free blocks of its pools.",
                       bars, n, "used", "free");
    }
    const struct pyh_glibc *g = f->glibc;
    if (g) {
        fputs("<h3>glibc malloc arenas</h3><table id=\"arenas\"><thead><tr><th>arena</th>"
              "<th class=\"n\">system</th><th class=\"n\">in use</th><th class=\"n\">free</th>"
              "<th class=\"n\">top</th></tr></thead><tbody>\n",
              out);
        for (size_t i = 0; i < g->narenas; i++) {
            const struct pyh_glibc_arena *ar = &g->arenas[i];
            char c1[32];
            fprintf(out,
                    "<tr><td>0x%llx%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
                    "<td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
                    (unsigned long long)ar->address, ar->is_main ? " (main)" : "",
                    fmt_bytes(ar->system_mem, a), fmt_bytes(ar->kinds[PYH_GLIBC_INUSE].bytes, b),
                    fmt_bytes(pyh_glibc_arena_free_bytes(ar), d), fmt_bytes(ar->top_size, c1));
        }
        fprintf(out,
                "</tbody></table><p>Mmapped chunks: %s in %s; malloc_trim could give back up "
                "to %s.</p>\n",
                fmt_bytes(g->mmapped_total.bytes, a), fmt_count(g->mmapped_total.count, b),
                fmt_bytes(f->trim_releasable, d));
    }
    fputs("</section>\n", out);
}

/* ---- Over time ------------------------------------------------------------------------ */

static void trend_section(const struct pyh_html_report *r, FILE *out)
{
    size_t n = r->nsnaps;
    char a[32], b[32], d[32];
    fprintf(out, "<section id=\"trend\"><h2>Over time</h2><p>%zu snapshots over %.0f s%s.</p>\n", n,
            r->snaps[n - 1]->time - r->snaps[0]->time,
            n < 3 ? " (three or more give each type a verdict)" : "");
    double times[128];
    size_t npoints = n < 128 ? n : 128;
    for (size_t k = 0; k < npoints; k++)
        times[k] = r->snaps[k]->time;
    /* The leading types: the largest at their peak. */
    size_t lead[TREND_LINES], nlead = 0;
    for (size_t i = 0; i < r->nseries; i++) {
        uint64_t peak = 0, peak_j;
        for (size_t k = 0; k < n; k++)
            peak = r->series[i].size[k] > peak ? r->series[i].size[k] : peak;
        size_t at = nlead;
        while (at > 0) {
            const struct pyh_series *s = &r->series[lead[at - 1]];
            peak_j = 0;
            for (size_t k = 0; k < n; k++)
                peak_j = s->size[k] > peak_j ? s->size[k] : peak_j;
            if (peak_j >= peak) break;
            at--;
        }
        if (at >= TREND_LINES) continue;
        if (nlead < TREND_LINES) nlead++;
        memmove(lead + at + 1, lead + at, (nlead - 1 - at) * sizeof(*lead));
        lead[at] = i;
    }
    struct pyh_line lines[TREND_LINES];
    for (int pass = 0; pass < 2; pass++) {
        for (size_t l = 0; l < nlead; l++) {
            const struct pyh_series *s = &r->series[lead[l]];
            lines[l] =
                (struct pyh_line){s->name, n >= 3 ? pyh_trend_class_name(s->cls) : "two points",
                                  pass ? s->count : s->size};
        }
        fputs(pass ? "<h3>Objects</h3>\n" : "<h3>Bytes</h3>\n", out);
        pyh_chart_lines(out, pass ? "trend-counts" : "trend-bytes",
                        pass ? "Objects of the leading types over time"
                             : "Bytes of the leading types over time",
                        "One line per type among the largest, with its verdict (growing, "
                        "plateau, transient or stable); the table below has the numbers.",
                        times, npoints, lines, nlead, !pass);
    }
    fputs("<table id=\"trend-table\"><thead><tr><th>type</th><th>verdict</th>"
          "<th class=\"n\">baseline</th><th class=\"n\">peak</th><th class=\"n\">last</th>"
          "<th class=\"n\">objects first &#8594; last</th><th class=\"n\">per hour</th>"
          "<th class=\"why\">why</th></tr></thead><tbody>\n",
          out);
    /* The numbers are trend's own (analysis/trend.h): baseline, peak and slope of its
     * judgement, so that the report and `trend` never disagree. */
    for (size_t l = 0; l < r->nseries && l < 40; l++) {
        const struct pyh_series *s = &r->series[l];
        const char *cls = n >= 3 ? pyh_trend_class_name(s->cls) : "";
        double rate = s->growth_per_hour;
        fputs("<tr data-name=\"", out);
        pyh_html_text(out, s->name);
        fprintf(out, "\" data-class=\"%s\"><td>", cls);
        pyh_html_text(out, s->name);
        fprintf(out,
                "</td><td class=\"cls-%s\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
                "<td class=\"n\">%s</td>",
                cls, cls, fmt_bytes((uint64_t)s->stats.baseline, a),
                fmt_bytes((uint64_t)s->stats.peak, b), fmt_bytes(s->size[n - 1], d));
        fprintf(out, "<td class=\"n\">%s &#8594; ", fmt_count(s->count[0], a));
        fprintf(out, "%s</td><td class=\"n\">%s%s</td><td>", fmt_count(s->count[n - 1], b),
                rate < 0 ? "-" : "+", fmt_bytes((uint64_t)(rate < 0 ? -rate : rate), d));
        if (n >= 3) pyh_html_text(out, s->stats.reason);
        fputs("</td></tr>\n", out);
    }
    fputs("</tbody></table>\n", out);
    uint64_t base = r->snaps[0]->frag.heap_total, peak = 0;
    for (size_t k = 0; k < n; k++)
        peak = r->snaps[k]->frag.heap_total > peak ? r->snaps[k]->frag.heap_total : peak;
    fprintf(out, "<p>Heap: baseline %s, peak %s, last %s.</p>\n<ol id=\"snapshots\">",
            fmt_bytes(base, a), fmt_bytes(peak, b), fmt_bytes(r->snaps[n - 1]->frag.heap_total, d));
    for (size_t k = 0; k < n; k++) {
        fputs("<li>", out);
        pyh_html_text(out, r->snaps[k]->source ? r->snaps[k]->source : "?");
        fprintf(out, " (%s)%s</li>", fmt_bytes(r->snaps[k]->frag.heap_total, a),
                r->snaps[k]->partial ? " <span class=\"warn\">read only in part</span>" : "");
    }
    fputs("</ol>\n</section>\n", out);
}

/* ---- The target ----------------------------------------------------------------------- */

static void target_section(const struct pyh_report_context *ctx, const struct pyh_html_report *r,
                           FILE *out)
{
    char when[64] = "?";
    time_t t = (time_t)r->dump_time;
    struct tm tm;
    if (gmtime_r(&t, &tm)) strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    fputs("<section id=\"target\"><h2>The target</h2><table id=\"target-facts\"><tbody>"
          "<tr><th>target</th><td>",
          out);
    pyh_html_text(out, ctx->target->description);
    fprintf(out,
            "</td></tr><tr><th>read at</th><td data-time=\"%.3f\">%s</td></tr>"
            "<tr><th>Python</th><td id=\"python-version\" data-version=\"",
            r->dump_time, when);
    pyh_html_text(out, r->rt->version);
    fputs("\">", out);
    pyh_html_text(out, r->rt->sys_version ? r->rt->sys_version : r->rt->version);
    fputs("</td></tr>", out);
    for (size_t i = 0; r->info && i < r->info->nbinaries; i++) {
        const struct pyh_module *m = r->info->binaries[i].module;
        fputs("<tr><th>", out);
        pyh_html_text(out, r->info->binaries[i].role);
        fputs("</th><td>", out);
        pyh_html_text(out, m->path);
        fprintf(out, " (%s)</td></tr>", m->has_symtab ? "symtab" : "dynsym");
    }
    if (r->info && r->info->gc_known)
        fprintf(out, "<tr><th>GC</th><td>generation 0: %llu, 1: %llu, 2: %llu objects</td></tr>",
                (unsigned long long)r->info->gc.generations[0],
                (unsigned long long)r->info->gc.generations[1],
                (unsigned long long)r->info->gc.generations[2]);
    if (ctx->diag->partial || ctx->diag->nwarnings) {
        fputs("<tr><th>warnings</th><td class=\"warn\">", out);
        for (size_t i = 0; i < ctx->diag->nwarnings; i++) {
            pyh_html_text(out, ctx->diag->warnings[i]);
            fputs("<br>", out);
        }
        if (ctx->diag->partial) fputs("Results are partial: counts are lower bounds.", out);
        fputs("</td></tr>", out);
    }
    fputs("</tbody></table>\n", out);
    size_t nthreads = r->info ? r->info->nthreads : 0;
    fprintf(out,
            "<h3>Threads (%zu)</h3><table id=\"threads\"><thead><tr><th>native id</th>"
            "<th>name</th><th>top frame</th></tr></thead><tbody>\n",
            nthreads);
    for (size_t i = 0; i < nthreads; i++) {
        const struct pyh_pythread *th = &r->info->threads[i];
        fputs("<tr><td>", out);
        if (th->native_id >= 0) fprintf(out, "%lld", (long long)th->native_id);
        fputs("</td><td>", out);
        pyh_html_text(out, th->has_name ? th->name : "");
        fputs("</td><td>", out);
        if (th->has_frame) {
            fputs("<code>", out);
            pyh_html_text(out, th->top.function);
            fputs("</code> (", out);
            pyh_html_text(out, th->top.file);
            fprintf(out, ":%d)", th->top.line);
        }
        fputs("</td></tr>\n", out);
    }
    fputs("</tbody></table>\n</section>\n", out);
}

struct pyh_error *pyh_report_html(const struct pyh_report_context *ctx,
                                  const struct pyh_html_report *r, FILE *out)
{
    /* The policy forbids every fetch: the file opens offline and a hostile string that got
     * past the escaping could still load nothing. */
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
          "<meta name=\"viewport\" content=\"width=device-width\">\n<title>py-heap report: ",
          out);
    pyh_html_text(out, ctx->target->description);
    fprintf(out,
            "</title>\n<meta name=\"generator\" content=\"py-heap %s\">\n<style>%s</style>"
            "</head>\n<body>\n<header><h1>py-heap report</h1><p>",
            PYHEAP_VERSION, STYLE);
    pyh_html_text(out, ctx->target->description);
    fprintf(out, ", Python ");
    pyh_html_text(out, r->rt->version);
    fputs("</p></header>\n<nav><a href=\"#verdict\">Verdict</a><a href=\"#types\">Types</a>"
          "<a href=\"#retainers\">Retainers</a><a href=\"#memory\">Memory</a>",
          out);
    if (r->nsnaps) fputs("<a href=\"#trend\">Over time</a>", out);
    fputs("<a href=\"#target\">Target</a></nav>\n<main>\n", out);
    verdict(r, out);
    types_section(r, out);
    retainers_section(r, out);
    memory_section(r, out);
    if (r->nsnaps) trend_section(r, out);
    target_section(ctx, r, out);
    fprintf(out, "</main>\n<script>%s</script>\n</body></html>\n", SCRIPT);
    if (ferror(out)) return pyh_error_create(PYH_ERR_OS, "writing the report failed");
    return NULL;
}
