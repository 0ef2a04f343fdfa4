/* What the HTML report's parts share: escaping, colours, the treemap layout; see html.h. */
#include "report/html.h"

#include <stdlib.h>
#include <string.h>

/* The length of the UTF-8 sequence at s (1-4), 0 when it is not one (overlong forms,
 * surrogates and code points past U+10FFFF included). */
static size_t utf8_length(const unsigned char *s)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void pyh_html_text(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        size_t len = utf8_length(p);
        switch (len ? *p : 0) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            /* Not UTF-8, C0 controls and DEL, C1 controls (U+0080-U+009F): the replacement
             * character, so that the file stays valid and nothing invisible hides in it. */
            if (!len || (len == 1 && (*p < 0x20 || *p == 0x7f)) ||
                (len == 2 && p[0] == 0xc2 && p[1] < 0xa0))
                fputs("\xef\xbf\xbd", out);
            else
                fwrite(p, 1, len, out);
        }
        p += len ? len : 1;
    }
}

const char *pyh_html_colour(const char *name, char *buf, size_t cap)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)name; c && *c; c++)
        h = (h ^ *c) * 16777619u;
    snprintf(buf, cap, "hsl(%u,%u%%,%u%%)", h % 360, 45 + (h >> 9) % 20, 66 + (h >> 17) % 12);
    return buf;
}

/* The worst aspect ratio of a row of values (largest first) summing to sum along side. */
static double worst(const double *v, size_t n, double sum, double side)
{
    double s2 = side * side, sum2 = sum * sum;
    double a = s2 * v[0] / sum2, b = sum2 / (s2 * v[n - 1]);
    return a > b ? a : b;
}

void pyh_treemap_layout(const double *values, size_t n, struct pyh_rect r, struct pyh_rect *out)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += values[i];
    if (total <= 0 || r.w <= 0 || r.h <= 0) {
        for (size_t i = 0; i < n; i++)
            out[i] = (struct pyh_rect){r.x, r.y, 0, 0};
        return;
    }
    double scale = r.w * r.h / total;
    double *v = malloc(n * sizeof(double));
    if (!v) { /* out of memory: no map, rather than none of the report */
        for (size_t k = 0; k < n; k++)
            out[k] = (struct pyh_rect){r.x, r.y, 0, 0};
        return;
    }
    for (size_t k = 0; k < n; k++)
        v[k] = values[k] * scale;
    size_t i = 0;
    while (i < n) {
        double side = r.w < r.h ? r.w : r.h, sum = v[i];
        size_t j = i + 1;
        while (j < n && worst(v + i, j + 1 - i, sum + v[j], side) <= worst(v + i, j - i, sum, side))
            sum += v[j++];
        double thick = side > 0 ? sum / side : 0, pos = 0;
        for (size_t k = i; k < j; k++) {
            double len = thick > 0 ? v[k] / thick : 0;
            out[k] = r.w >= r.h ? (struct pyh_rect){r.x, r.y + pos, thick, len}
                                : (struct pyh_rect){r.x + pos, r.y, len, thick};
            pos += len;
        }
        if (r.w >= r.h) {
            r.x += thick;
            r.w -= thick;
        } else {
            r.y += thick;
            r.h -= thick;
        }
        if (r.w < 0) r.w = 0;
        if (r.h < 0) r.h = 0;
        i = j;
    }
    free(v);
}
