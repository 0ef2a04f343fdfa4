/* Object previews; see preview.h. */
#include "heap/preview.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/objects.h"
#include "util/sanitize.h"

#define MAX_INT_DIGITS 2048 /* 30-bit digits: about 18,000 decimal digits */
#define STR_CUT 200
#define BYTES_CUT 64
#define ITEMS_SHOWN 5

/* Appends formatted text to buf (of cap bytes, holding len), cutting silently. */
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0) *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

/* True when e is no error; frees it either way (for reads whose failure only skips). */
static bool ok(struct pyh_error *e)
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
static void put_quoted(char *buf, size_t cap, size_t *len, const char *prefix, const char *text,
                       size_t text_len, size_t cut, bool truncated)
{
    bool bytes = prefix[0] == 'b';
    put(buf, cap, len, "%s'", prefix);
    size_t shown = 0, i = 0;
    for (; i < text_len && shown < cut; shown++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x80 || bytes) {
            i++;
            if (c == '\'' || c == '\\') put(buf, cap, len, "\\%c", c);
            else if (c == '\n') put(buf, cap, len, "\\n");
            else if (c == '\t') put(buf, cap, len, "\\t");
            else if (c == '\r') put(buf, cap, len, "\\r");
            else if (c < 32 || c >= 127) put(buf, cap, len, "\\x%02x", c);
            else put(buf, cap, len, "%c", c);
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
            put(buf, cap, len, "\\x%02x", c);
            i++;
        } else if (cp >= 0xd800 && cp <= 0xdfff) {
            put(buf, cap, len, "\\u%04x", cp);
            i += n;
        } else if (repr_escapes(cp)) {
            put(buf, cap, len, cp <= 0xff ? "\\x%02x" : cp <= 0xffff ? "\\u%04x" : "\\U%08x", cp);
            i += n;
        } else {
            put(buf, cap, len, "%.*s", (int)n, text + i);
            i += n;
        }
    }
    put(buf, cap, len, "'%s", truncated || i < text_len ? "..." : "");
}

static void preview_str(struct pyh_heap *heap, uint64_t addr, char *buf, size_t cap, size_t *len)
{
    char text[4 * STR_CUT + 8];
    bool truncated;
    struct pyh_error *err = pyh_str_read(heap->rt, addr, text, sizeof(text), &truncated);
    if (err) {
        put(buf, cap, len, "<unreadable str at 0x%llx>", (unsigned long long)addr);
        pyh_error_free(err);
        return;
    }
    put_quoted(buf, cap, len, "", text, strlen(text), STR_CUT, truncated);
}

static void preview_bytes(struct pyh_heap *heap, uint64_t addr, char *buf, size_t cap, size_t *len)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t size;
    char data[BYTES_CUT];
    struct pyh_error *err = pyh_read_u64(heap->rt->target, addr + (uint64_t)L->var_size, &size);
    size_t n = size < BYTES_CUT ? (size_t)size : BYTES_CUT;
    if (!err) err = pyh_target_read(heap->rt->target, addr + (uint64_t)L->bytes_sval, data, n);
    if (err) {
        put(buf, cap, len, "<unreadable bytes at 0x%llx>", (unsigned long long)addr);
        pyh_error_free(err);
        return;
    }
    put_quoted(buf, cap, len, "b", data, n, BYTES_CUT, size > n);
}

/* Decimal digits of an int of any size (within MAX_INT_DIGITS). */
static void preview_int(struct pyh_heap *heap, uint64_t addr, char *buf, size_t cap, size_t *len)
{
    const struct pyh_layout *L = &heap->rt->layout;
    struct pyh_target *t = heap->rt->target;
    uint64_t ndigits, raw;
    bool negative;
    struct pyh_error *err = NULL;
    if (L->long_tag >= 0) {
        err = pyh_read_u64(t, addr + (uint64_t)L->long_tag, &raw);
        ndigits = raw >> 3;
        negative = (raw & 3) == 2;
    } else {
        err = pyh_read_u64(t, addr + (uint64_t)L->var_size, &raw);
        negative = (int64_t)raw < 0;
        ndigits = negative ? (uint64_t)-(int64_t)raw : raw;
    }
    if (!err && ndigits > MAX_INT_DIGITS) {
        put(buf, cap, len, "<int of %llu bits>", (unsigned long long)ndigits * 30);
        return;
    }
    uint32_t *digits = malloc((ndigits ? ndigits : 1) * 4);
    uint32_t *limbs = malloc((ndigits * 30 / 29 + 2) * 4); /* base 10^9 */
    if (!err && (!digits || !limbs)) err = pyh_error_nomem();
    if (!err && ndigits) err = pyh_target_read(t, addr + (uint64_t)L->long_digits, digits, ndigits * 4);
    if (err) {
        put(buf, cap, len, "<unreadable int at 0x%llx>", (unsigned long long)addr);
        pyh_error_free(err);
        free(digits);
        free(limbs);
        return;
    }
    size_t nlimbs = 0;
    for (uint64_t i = ndigits; i-- > 0;) { /* limbs = limbs * 2^30 + digit */
        uint64_t carry = digits[i] & 0x3fffffff;
        for (size_t k = 0; k < nlimbs; k++) {
            uint64_t v = ((uint64_t)limbs[k] << 30) + carry;
            limbs[k] = (uint32_t)(v % 1000000000);
            carry = v / 1000000000;
        }
        while (carry) {
            limbs[nlimbs++] = (uint32_t)(carry % 1000000000);
            carry /= 1000000000;
        }
    }
    if (nlimbs == 0) {
        put(buf, cap, len, "0");
    } else {
        put(buf, cap, len, "%s%u", negative ? "-" : "", limbs[nlimbs - 1]);
        for (size_t k = nlimbs - 1; k-- > 0;) put(buf, cap, len, "%09u", limbs[k]);
    }
    free(digits);
    free(limbs);
}

/* The shortest text that reads back as the same double, as Python's repr. */
static void preview_float(struct pyh_heap *heap, uint64_t addr, char *buf, size_t cap, size_t *len)
{
    double v;
    struct pyh_error *err = pyh_target_read(heap->rt->target, addr + (uint64_t)heap->rt->layout.float_value, &v, 8);
    if (err) {
        put(buf, cap, len, "<unreadable float at 0x%llx>", (unsigned long long)addr);
        pyh_error_free(err);
        return;
    }
    if (isnan(v)) { put(buf, cap, len, "nan"); return; }
    if (isinf(v)) { put(buf, cap, len, v < 0 ? "-inf" : "inf"); return; }
    char text[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(text, sizeof(text), "%.*g", prec, v);
        if (strtod(text, NULL) == v) break;
    }
    if (!strpbrk(text, ".eni")) strcat(text, ".0");
    put(buf, cap, len, "%s", text);
}

/* Item i of a tuple or list (items_at: address of the item array). */
static void preview_items(struct pyh_heap *heap, uint64_t items_at, uint64_t n, int depth,
                          const char *open, const char *close, char *buf, size_t cap, size_t *len)
{
    put(buf, cap, len, "%s", open);
    for (uint64_t i = 0; i < n && i < ITEMS_SHOWN; i++) {
        uint64_t item;
        struct pyh_error *err = pyh_read_u64(heap->rt->target, items_at + 8 * i, &item);
        if (err) {
            pyh_error_free(err);
            put(buf, cap, len, "%s?", i ? ", " : "");
            continue;
        }
        char inner[256];
        pyh_preview(heap, item, depth - 1, inner, sizeof(inner));
        put(buf, cap, len, "%s%s", i ? ", " : "", inner);
    }
    if (n > ITEMS_SHOWN) put(buf, cap, len, ", ... (%llu items)", (unsigned long long)n);
    else if (n == 1 && !strcmp(open, "(")) put(buf, cap, len, ",");
    put(buf, cap, len, "%s", close);
}

static void preview_dict(struct pyh_heap *heap, uint64_t addr, int depth, char *buf, size_t cap,
                         size_t *len)
{
    uint64_t n = 0, k, v, i = 0;
    struct pyh_dict_iter it;
    struct pyh_error *err = pyh_dict_len(heap->rt, addr, &n);
    if (!err) err = pyh_dict_iter_init(heap->rt, addr, &it);
    if (err) {
        put(buf, cap, len, "<unreadable dict at 0x%llx>", (unsigned long long)addr);
        pyh_error_free(err);
        return;
    }
    put(buf, cap, len, "{");
    while (i < ITEMS_SHOWN && pyh_dict_iter_next(&it, &k, &v)) {
        char ks[128], vs[256];
        pyh_preview(heap, k, 0, ks, sizeof(ks));
        pyh_preview(heap, v, depth - 1, vs, sizeof(vs));
        put(buf, cap, len, "%s%s: %s", i++ ? ", " : "", ks, vs);
    }
    pyh_error_free(it.err);
    if (n > ITEMS_SHOWN) put(buf, cap, len, ", ... (%llu items)", (unsigned long long)n);
    put(buf, cap, len, "}");
}

/* Iterates a set's table: mask + 1 entries of (key, hash); NULL keys are empty, hash -1
 * marks the dummy of a deleted entry. Calls fn for each live key until it returns false. */
static void each_set_key(struct pyh_heap *heap, uint64_t addr, bool (*fn)(void *, uint64_t), void *ctx)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t mask, table;
    struct pyh_error *err = pyh_read_u64(heap->rt->target, addr + (uint64_t)L->set_mask, &mask);
    if (!err) err = pyh_read_u64(heap->rt->target, addr + (uint64_t)L->set_table, &table);
    if (err || mask >= (1ULL << 32)) {
        pyh_error_free(err);
        return;
    }
    for (uint64_t i = 0; i <= mask; i++) {
        uint64_t entry[2];
        if ((err = pyh_target_read(heap->rt->target, table + 16 * i, entry, 16))) {
            pyh_error_free(err);
            return;
        }
        if (entry[0] && (int64_t)entry[1] != -1 && !fn(ctx, entry[0])) return;
    }
}

struct set_preview {
    struct pyh_heap *heap;
    int depth;
    char *buf;
    size_t cap, *len, shown;
};

static bool put_set_key(void *ctx, uint64_t key)
{
    struct set_preview *sp = ctx;
    char inner[256];
    pyh_preview(sp->heap, key, sp->depth - 1, inner, sizeof(inner));
    put(sp->buf, sp->cap, sp->len, "%s%s", sp->shown++ ? ", " : "", inner);
    return sp->shown < ITEMS_SHOWN;
}

/* A str field of an object, previewed without quotes ("" when unreadable). */
static void str_field(struct pyh_heap *heap, uint64_t obj, int32_t off, char *out, size_t cap)
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
    const struct pyh_layout *L = &heap->rt->layout;
    size_t len = 0;
    buf[0] = '\0';
    if (addr == st->none) { put(buf, cap, &len, "None"); return; }
    if (addr == st->true_) { put(buf, cap, &len, "True"); return; }
    if (addr == st->false_) { put(buf, cap, &len, "False"); return; }
    uint32_t ti = type_index_of(heap, addr);
    if (ti == UINT32_MAX) {
        put(buf, cap, &len, "<unreadable object at 0x%llx>", (unsigned long long)addr);
        return;
    }
    const struct pyh_type *t = &heap->types[ti];
    const char *tname = pyh_heap_type_name(heap, ti);
    bool exact = t->addr == st->str || t->addr == st->bytes || t->addr == st->long_ ||
                 t->addr == st->float_ || t->addr == st->tuple || t->addr == st->list ||
                 t->addr == st->dict || t->addr == st->set || t->addr == st->frozenset ||
                 (st->frozendict && t->addr == st->frozendict);
    if (depth < 0 && !exact) {
        put(buf, cap, &len, "<%s object at 0x%llx>", tname, (unsigned long long)addr);
        return;
    }
    uint64_t n = 0, items = 0;
    char name[256], file[512];
    switch (t->kind) {
    case PYH_KIND_STR: preview_str(heap, addr, buf, cap, &len); break;
    case PYH_KIND_BYTES: preview_bytes(heap, addr, buf, cap, &len); break;
    case PYH_KIND_INT: preview_int(heap, addr, buf, cap, &len); break;
    case PYH_KIND_FLOAT: preview_float(heap, addr, buf, cap, &len); break;
    case PYH_KIND_TUPLE:
    case PYH_KIND_LIST: {
        struct pyh_error *err = pyh_read_u64(heap->rt->target, addr + (uint64_t)L->var_size, &n);
        if (!err && t->kind == PYH_KIND_LIST) err = pyh_read_u64(heap->rt->target, addr + (uint64_t)L->list_items, &items);
        else items = addr + (uint64_t)L->tuple_items;
        if (err || n >= (1ULL << 40)) {
            pyh_error_free(err);
            put(buf, cap, &len, "<unreadable %s at 0x%llx>", tname, (unsigned long long)addr);
        } else if (depth < 0) {
            put(buf, cap, &len, "<%s of %llu>", tname, (unsigned long long)n);
        } else {
            bool tuple = t->kind == PYH_KIND_TUPLE;
            preview_items(heap, items, n, depth, tuple ? "(" : "[", tuple ? ")" : "]", buf, cap, &len);
        }
        break;
    }
    case PYH_KIND_DICT: {
        /* 3.15's frozendict: repr frozendict({...}), frozendict() when empty. */
        bool frozen = st->frozendict && t->addr == st->frozendict;
        if (depth < 0) {
            pyh_error_free(pyh_dict_len(heap->rt, addr, &n));
            put(buf, cap, &len, "<%s of %llu>", frozen ? "frozendict" : "dict", (unsigned long long)n);
            break;
        }
        size_t start = len;
        if (frozen) put(buf, cap, &len, "frozendict(");
        size_t inner = len;
        preview_dict(heap, addr, depth, buf, cap, &len);
        if (frozen && strcmp(buf + inner, "{}") == 0) {
            len = start;
            buf[len] = '\0';
            put(buf, cap, &len, "frozendict()");
        } else if (frozen) {
            put(buf, cap, &len, ")");
        }
        break;
    }
    case PYH_KIND_SET: {
        bool frozen = t->addr == st->frozenset;
        struct set_preview sp = {heap, depth, buf, cap, &len, 0};
        if (depth < 0) {
            put(buf, cap, &len, "<%s>", tname);
            break;
        }
        size_t start = len;
        put(buf, cap, &len, frozen ? "frozenset({" : "{");
        each_set_key(heap, addr, put_set_key, &sp);
        if (!sp.shown) { /* Python writes empty sets as set() and frozenset() */
            len = start;
            buf[len] = '\0';
            put(buf, cap, &len, frozen ? "frozenset()" : "set()");
        } else {
            put(buf, cap, &len, frozen ? "})" : "}");
        }
        break;
    }
    case PYH_KIND_MODULE:
        str_field(heap, addr, L->module_name, name, sizeof(name));
        put(buf, cap, &len, "<module '%s'>", name);
        break;
    case PYH_KIND_FUNCTION: {
        str_field(heap, addr, L->func_qualname, name, sizeof(name));
        uint64_t code;
        int32_t line = 0;
        file[0] = '\0';
        struct pyh_error *err = pyh_rt_read_ptr(heap->rt, addr, L->func_code, &code);
        if (!err) str_field(heap, code, L->code_filename, file, sizeof(file));
        if (!err) err = pyh_target_read(heap->rt->target, code + (uint64_t)L->code_firstlineno, &line, 4);
        pyh_error_free(err);
        put(buf, cap, &len, "<function %s at 0x%llx, %s:%d>", name, (unsigned long long)addr, file, line);
        break;
    }
    case PYH_KIND_CODE: {
        int32_t line = 0;
        str_field(heap, addr, L->code_name, name, sizeof(name));
        str_field(heap, addr, L->code_filename, file, sizeof(file));
        pyh_error_free(pyh_target_read(heap->rt->target, addr + (uint64_t)L->code_firstlineno, &line, 4));
        put(buf, cap, &len, "<code object %s at 0x%llx, file \"%s\", line %d>", name,
            (unsigned long long)addr, file, line);
        break;
    }
    case PYH_KIND_TYPE: {
        uint32_t ci = pyh_heap_type_at(heap, addr);
        put(buf, cap, &len, "<class '%s'>", ci != UINT32_MAX ? pyh_heap_type_name(heap, ci) : "?");
        break;
    }
    default:
        put(buf, cap, &len, "<%s object at 0x%llx>", tname, (unsigned long long)addr);
        break;
    }
}

struct attr_collect {
    struct pyh_heap *heap;
    struct pyh_details *d;
};

static void add_item(struct pyh_heap *heap, struct pyh_details *d, const char *key, uint64_t value)
{
    if (d->nitems >= sizeof(d->items) / sizeof(d->items[0])) return;
    struct pyh_preview_item *it = &d->items[d->nitems++];
    snprintf(it->key, sizeof(it->key), "%s", key);
    it->value_addr = value;
    pyh_preview(heap, value, 1, it->value, sizeof(it->value));
}

static bool add_set_item(void *ctx, uint64_t key)
{
    struct attr_collect *ac = ctx;
    add_item(ac->heap, ac->d, "", key);
    return ac->d->nitems < sizeof(ac->d->items) / sizeof(ac->d->items[0]);
}

/* The attributes of an instance: its __dict__ as the version stores it, and __slots__
 * members (ht_slots names, in the order of the member descriptors' offsets). */
static void instance_attributes(struct pyh_heap *heap, uint64_t addr, struct pyh_details *d)
{
    struct pyh_runtime *rt = heap->rt;
    d->items_are_attributes = true;
    uint64_t type, names;
    struct pyh_error *err = pyh_obj_type(rt, addr, &type);
    /* __slots__: ht_slots is a tuple of names; the members follow the base type's size in
     * the same order. */
    if (ok(err) && ok(pyh_rt_read_ptr(rt, type, rt->layout.heaptype_slots, &names)) && names) {
        uint64_t nslots = 0, base_type, base_size = 16;
        pyh_error_free(pyh_read_u64(rt->target, names + (uint64_t)rt->layout.var_size, &nslots));
        if (ok(pyh_rt_read_ptr(rt, type, rt->layout.type_base, &base_type)) && base_type)
            pyh_error_free(pyh_read_u64(rt->target, base_type + (uint64_t)rt->layout.type_basicsize, &base_size));
        for (uint64_t i = 0; i < nslots && i < 64; i++) {
            uint64_t name_obj, value;
            char name[256];
            if (!ok(pyh_tuple_item(rt, names, i, &name_obj)) ||
                !ok(pyh_str_read(rt, name_obj, name, sizeof(name), NULL)))
                break;
            if (!strcmp(name, "__dict__") || !strcmp(name, "__weakref__")) continue;
            if (!ok(pyh_read_u64(rt->target, addr + base_size + 8 * i, &value)) || !value) continue;
            add_item(heap, d, name, value);
        }
    }
    struct pyh_dict_iter it;
    uint64_t k, v;
    if (ok(pyh_instance_dict_iter(rt, addr, &it))) {
        while (d->nitems < 20 && pyh_dict_iter_next(&it, &k, &v)) {
            char name[256];
            struct pyh_error *e = pyh_str_read(rt, k, name, sizeof(name), NULL);
            if (!e) add_item(heap, d, name, v);
            pyh_error_free(e);
        }
        pyh_error_free(it.err);
    }
}

void pyh_details(struct pyh_heap *heap, uint64_t addr, uint32_t type, struct pyh_details *d)
{
    memset(d, 0, sizeof(*d));
    d->length = -1;
    pyh_preview(heap, addr, 2, d->value, sizeof(d->value));
    const struct pyh_type *t = &heap->types[type];
    const struct pyh_layout *L = &heap->rt->layout;
    struct pyh_target *tg = heap->rt->target;
    uint64_t n = 0, items, k, v;
    switch (t->kind) {
    case PYH_KIND_STR:
    case PYH_KIND_BYTES:
        pyh_error_free(pyh_read_u64(tg, addr + (uint64_t)(t->kind == PYH_KIND_STR ? L->ascii_length : L->var_size), &n));
        d->length = (int64_t)n;
        break;
    case PYH_KIND_TUPLE:
    case PYH_KIND_LIST:
        if (!ok(pyh_read_u64(tg, addr + (uint64_t)L->var_size, &n)) || n >= (1ULL << 40)) break;
        d->length = (int64_t)n;
        items = addr + (uint64_t)L->tuple_items;
        if (t->kind == PYH_KIND_LIST && !ok(pyh_read_u64(tg, addr + (uint64_t)L->list_items, &items))) break;
        for (uint64_t i = 0; i < n && d->nitems < 20; i++)
            if (ok(pyh_read_u64(tg, items + 8 * i, &v))) add_item(heap, d, "", v);
        break;
    case PYH_KIND_DICT: {
        struct pyh_dict_iter it;
        if (!ok(pyh_dict_len(heap->rt, addr, &n)) || !ok(pyh_dict_iter_init(heap->rt, addr, &it))) break;
        d->length = (int64_t)n;
        while (d->nitems < 20 && pyh_dict_iter_next(&it, &k, &v)) {
            char ks[256];
            pyh_preview(heap, k, 0, ks, sizeof(ks));
            add_item(heap, d, ks, v);
        }
        pyh_error_free(it.err);
        break;
    }
    case PYH_KIND_SET: {
        struct attr_collect ac = {heap, d};
        if (ok(pyh_read_u64(tg, addr + 24, &n))) d->length = (int64_t)n; /* used */
        each_set_key(heap, addr, add_set_item, &ac);
        break;
    }
    case PYH_KIND_OTHER:
        if (t->heap) instance_attributes(heap, addr, d);
        break;
    default:
        break;
    }
}
