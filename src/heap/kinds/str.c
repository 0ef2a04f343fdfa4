/* str (unicodeobject.h): compact ASCII, compact, or legacy (data in a buffer of its own),
 * with the UTF-8 and (3.8-3.11) wchar_t copies C code may have asked for. No references. */
#include "heap/kinds/kind.h"
#include "runtime/objects.h"

#define STR_CUT 200 /* characters a preview shows */

static uint64_t least_size(const struct pyh_heap *heap, const struct pyh_type *t,
                           const uint8_t *obj, size_t avail)
{
    const struct pyh_layout *L = &heap->rt->layout;
    if (avail < (size_t)L->ascii_state + 4) return (uint64_t)t->basicsize;
    uint64_t length = pyh_kind_word(obj, (size_t)L->ascii_length);
    uint32_t state;
    memcpy(&state, obj + L->ascii_state, 4);
    struct pyh_str_state st = pyh_str_state_decode(heap->rt, state);
    unsigned kind = st.kind, compact = st.compact, ascii = st.ascii;
    if (length >= PYH_KIND_MAX_ITEMS || (kind != 1 && kind != 2 && kind != 4)) return UINT64_MAX;
    if (!compact) return (uint64_t)L->compact_size + 8;
    if (ascii) return (uint64_t)L->ascii_size + length + 1;
    return (uint64_t)L->compact_size + (length + 1) * kind;
}

static struct pyh_error *size(const struct pyh_heap *heap, const struct pyh_type *t, uint64_t obj,
                              const uint8_t *bytes, size_t avail, uint64_t *size)
{
    (void)t;
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t length, state, data = 0;
    struct pyh_error *err = pyh_kind_field(heap, obj, bytes, avail, L->ascii_length, 8, &length);
    if (!err) err = pyh_kind_field(heap, obj, bytes, avail, L->ascii_state, 4, &state);
    if (err) return err;
    struct pyh_str_state st = pyh_str_state_decode(heap->rt, (uint32_t)state);
    unsigned kind = st.kind, compact = st.compact, ascii = st.ascii;
    if (compact && ascii) {
        *size = (uint64_t)L->ascii_size + length + 1;
        data = obj + (uint64_t)L->ascii_size;
    } else if (compact) {
        *size = (uint64_t)L->compact_size + (length + 1) * kind;
        data = obj + (uint64_t)L->compact_size;
    } else {
        if ((err = pyh_kind_field(heap, obj, bytes, avail, L->compact_size, 8, &data))) return err;
        *size = (uint64_t)L->compact_size + 8 + (data ? (length + 1) * kind : 0);
    }
    if (!(compact && ascii)) {
        /* A UTF-8 copy made by PyUnicode_AsUTF8 counts when it is its own buffer. */
        uint64_t utf8, utf8_length;
        if ((err = pyh_kind_field(heap, obj, bytes, avail, L->compact_utf8, 8, &utf8)) ||
            (err = pyh_kind_field(heap, obj, bytes, avail, L->compact_utf8_length, 8, &utf8_length)))
            return err;
        if (utf8 && utf8 != data) *size += utf8_length + 1;
    }
    if (L->ascii_wstr >= 0) {
        /* 3.8-3.11: a wchar_t copy (PyUnicode_AsUnicode) counts unless it is the data. */
        uint64_t wstr, wlen = length;
        if ((err = pyh_kind_field(heap, obj, bytes, avail, L->ascii_wstr, 8, &wstr))) return err;
        if (wstr && wstr != data) {
            if (!(compact && ascii) &&
                (err = pyh_kind_field(heap, obj, bytes, avail, L->compact_wstr_length, 8, &wlen)))
                return err;
            *size += (wlen + 1) * 4;
        }
    }
    return NULL;
}

static void preview(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr, int depth,
                    char *buf, size_t cap, size_t *len)
{
    (void)t, (void)depth;
    char text[4 * STR_CUT + 8];
    bool truncated;
    struct pyh_error *err = pyh_str_read(heap->rt, addr, text, sizeof(text), &truncated);
    if (err) {
        pyh_put(buf, cap, len, "<unreadable str at 0x%llx>", (unsigned long long)addr);
        pyh_error_free(err);
        return;
    }
    pyh_put_quoted(buf, cap, len, "", text, strlen(text), STR_CUT, truncated);
}

static void details(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr,
                    struct pyh_details *d)
{
    (void)t;
    uint64_t n = 0;
    pyh_error_free(pyh_read_u64(heap->rt->target, addr + (uint64_t)heap->rt->layout.ascii_length, &n));
    d->length = (int64_t)n;
}

const struct pyh_kind pyh_kind_str = {
    .name = "str",
    .statics = {PYH_KIND_STATIC(str)},
    .literal = true,
    .least_size = least_size,
    .size = size,
    .preview = preview,
    .details = details,
};
