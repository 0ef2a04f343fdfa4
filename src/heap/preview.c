/* Object previews; see preview.h. */
#include "heap/preview.h"

#include "heap/kinds/kind.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/objects.h"
#include "util/sanitize.h"


void pyh_put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0) *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

bool pyh_ok(struct pyh_error *e)
{
    bool fine = e == NULL;
    pyh_error_free(e);
    return fine;
}

static uint32_t type_index_of(struct pyh_heap *heap, uint64_t addr)
{
    uint64_t type;
    struct pyh_error *err = pyh_obj_type(heap->rt, addr, &type);
    if (err) {
        pyh_error_free(err);
        return UINT32_MAX;
    }
    return pyh_heap_type_at(heap, type);
}

/* Whether Python's repr escapes code point cp: what the output sanitiser escapes (C1 and
 * bidi controls, line separators), and the other invisible ones repr shows as escapes
 * (no-break and zero-width spaces, soft hyphen, word joiners, the BOM). */
static bool repr_escapes(uint32_t cp)
{
    return pyh_code_point_escaped(cp) || cp == 0xa0 || cp == 0xad ||
           (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2060 && cp <= 0x2064) || cp == 0xfeff;
}

/* Python-style escapes of a str (UTF-8, lone surrogates as their 3-byte forms, as
 * pyh_str_read writes them) or of bytes (every byte past ASCII as \xNN), cut at `cut`
 * characters: what repr() shows, so that the preview is the same in text and JSON and
 * nothing in it reaches a terminal raw. */
void pyh_put_quoted(char *buf, size_t cap, size_t *len, const char *prefix, const char *text,
                       size_t text_len, size_t cut, bool truncated)
{
    bool bytes = prefix[0] == 'b';
    pyh_put(buf, cap, len, "%s'", prefix);
    size_t shown = 0, i = 0;
    for (; i < text_len && shown < cut; shown++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x80 || bytes) {
            i++;
            if (c == '\'' || c == '\\') pyh_put(buf, cap, len, "\\%c", c);
            else if (c == '\n') pyh_put(buf, cap, len, "\\n");
            else if (c == '\t') pyh_put(buf, cap, len, "\\t");
            else if (c == '\r') pyh_put(buf, cap, len, "\\r");
            else if (c < 32 || c >= 127) pyh_put(buf, cap, len, "\\x%02x", c);
            else pyh_put(buf, cap, len, "%c", c);
            continue;
        }
        uint32_t cp;
        size_t n = pyh_utf8_decode(text + i, text_len - i, &cp);
        if (n == 0 && c == 0xed && i + 2 < text_len && ((unsigned char)text[i + 1] & 0xe0) == 0xa0 &&
            ((unsigned char)text[i + 2] & 0xc0) == 0x80) {
            /* A lone surrogate (repr: '\udcff'). */
            cp = 0xd000 | ((uint32_t)(text[i + 1] & 0x3f) << 6) | (uint32_t)(text[i + 2] & 0x3f);
            n = 3;
        }
        if (n == 0) { /* not from pyh_str_read; shown, never copied */
            pyh_put(buf, cap, len, "\\x%02x", c);
            i++;
        } else if (cp >= 0xd800 && cp <= 0xdfff) {
            pyh_put(buf, cap, len, "\\u%04x", cp);
            i += n;
        } else if (repr_escapes(cp)) {
            pyh_put(buf, cap, len, cp <= 0xff ? "\\x%02x" : cp <= 0xffff ? "\\u%04x" : "\\U%08x", cp);
            i += n;
        } else {
            pyh_put(buf, cap, len, "%.*s", (int)n, text + i);
            i += n;
        }
    }
    pyh_put(buf, cap, len, "'%s", truncated || i < text_len ? "..." : "");
}

void pyh_preview_items(struct pyh_heap *heap, uint64_t items_at, uint64_t n, int depth,
                          const char *open, const char *close, char *buf, size_t cap, size_t *len)
{
    pyh_put(buf, cap, len, "%s", open);
    for (uint64_t i = 0; i < n && i < PYH_PREVIEW_ITEMS; i++) {
        uint64_t item;
        struct pyh_error *err = pyh_read_u64(heap->rt->target, items_at + 8 * i, &item);
        if (err) {
            pyh_error_free(err);
            pyh_put(buf, cap, len, "%s?", i ? ", " : "");
            continue;
        }
        char inner[256];
        pyh_preview(heap, item, depth - 1, inner, sizeof(inner));
        pyh_put(buf, cap, len, "%s%s", i ? ", " : "", inner);
    }
    if (n > PYH_PREVIEW_ITEMS) pyh_put(buf, cap, len, ", ... (%llu items)", (unsigned long long)n);
    else if (n == 1 && !strcmp(open, "(")) pyh_put(buf, cap, len, ",");
    pyh_put(buf, cap, len, "%s", close);
}

void pyh_preview_sequence(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr,
                          struct pyh_error *err, uint64_t n, uint64_t items, int depth,
                          const char *open, const char *close, char *buf, size_t cap, size_t *len)
{
    const char *tname = pyh_heap_type_name(heap, (uint32_t)(t - heap->types));
    if (err || n >= PYH_KIND_MAX_ITEMS) {
        pyh_error_free(err);
        pyh_put(buf, cap, len, "<unreadable %s at 0x%llx>", tname, (unsigned long long)addr);
    } else if (depth < 0) {
        pyh_put(buf, cap, len, "<%s of %llu>", tname, (unsigned long long)n);
    } else {
        pyh_preview_items(heap, items, n, depth, open, close, buf, cap, len);
    }
}

void pyh_str_field(struct pyh_heap *heap, uint64_t obj, int32_t off, char *out, size_t cap)
{
    uint64_t s;
    out[0] = '\0';
    struct pyh_error *err = pyh_rt_read_ptr(heap->rt, obj, off, &s);
    if (!err && s) err = pyh_str_read(heap->rt, s, out, cap, NULL);
    pyh_error_free(err);
}

void pyh_preview(struct pyh_heap *heap, uint64_t addr, int depth, char *buf, size_t cap)
{
    const struct pyh_static_types *st = &heap->rt->types;
    size_t len = 0;
    buf[0] = '\0';
    if (addr == st->none) { pyh_put(buf, cap, &len, "None"); return; }
    if (addr == st->true_) { pyh_put(buf, cap, &len, "True"); return; }
    if (addr == st->false_) { pyh_put(buf, cap, &len, "False"); return; }
    uint32_t ti = type_index_of(heap, addr);
    if (ti == UINT32_MAX) {
        pyh_put(buf, cap, &len, "<unreadable object at 0x%llx>", (unsigned long long)addr);
        return;
    }
    const struct pyh_type *t = &heap->types[ti];
    const struct pyh_kind *k = pyh_kinds[t->kind];
    /* Below the depth asked for, only literals (of the core types themselves, not of their
     * subclasses) are still shown. */
    bool literal = k->literal && pyh_kind_is_own_static(st, k, t->addr);
    if (!k->preview || (depth < 0 && !literal)) {
        pyh_put(buf, cap, &len, "<%s object at 0x%llx>", pyh_heap_type_name(heap, ti),
                (unsigned long long)addr);
        return;
    }
    k->preview(heap, t, addr, depth, buf, cap, &len);
}

void pyh_details_add(struct pyh_heap *heap, struct pyh_details *d, const char *key, uint64_t value)
{
    if (d->nitems >= sizeof(d->items) / sizeof(d->items[0])) return;
    struct pyh_preview_item *it = &d->items[d->nitems++];
    snprintf(it->key, sizeof(it->key), "%s", key);
    it->value_addr = value;
    pyh_preview(heap, value, 1, it->value, sizeof(it->value));
}

void pyh_details_items(struct pyh_heap *heap, struct pyh_details *d, uint64_t items_at, uint64_t n)
{
    uint64_t v;
    d->length = (int64_t)n;
    for (uint64_t i = 0; i < n && d->nitems < 20; i++)
        if (pyh_ok(pyh_read_u64(heap->rt->target, items_at + 8 * i, &v))) pyh_details_add(heap, d, "", v);
}

void pyh_details(struct pyh_heap *heap, uint64_t addr, uint32_t type, struct pyh_details *d)
{
    memset(d, 0, sizeof(*d));
    d->length = -1;
    pyh_preview(heap, addr, 2, d->value, sizeof(d->value));
    const struct pyh_type *t = &heap->types[type];
    const struct pyh_kind *k = pyh_kinds[t->kind];
    if (k->details) k->details(heap, t, addr, d);
}
