/* dict (and 3.15's frozendict: a PyDictObject and a cached hash over object, sized,
 * traversed and previewed as a dict): its keys object (shared by the instances of a class
 * when split), and a split table's values array. */
#include "heap/kinds/kind.h"
#include "runtime/objects.h"

static void buffers(const struct pyh_layout *L, int32_t fields[2])
{
    fields[0] = L->dict_keys;
    fields[1] = L->dict_values;
}

/* USABLE_FRACTION of dictobject.c. */
static uint64_t usable_fraction(uint64_t n) { return (n << 1) / 3; }

struct pyh_error *pyh_dict_keys_size(const struct pyh_heap *heap, uint64_t keys, uint64_t *size,
                                     uint64_t *refcnt, uint64_t *entries_usable)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t n;
    struct pyh_error *err = pyh_kind_field(heap, keys, NULL, 0, L->keys_refcnt, 8, refcnt);
    if (err) return err;
    if (L->keys_log2_size >= 0) {
        uint64_t log2_size = 0, log2_index = 0, kind = 0;
        if ((err = pyh_kind_field(heap, keys, NULL, 0, L->keys_log2_size, 1, &log2_size)) ||
            (err = pyh_kind_field(heap, keys, NULL, 0, L->keys_log2_index_bytes, 1, &log2_index)) ||
            (err = pyh_kind_field(heap, keys, NULL, 0, L->keys_kind, 1, &kind)))
            return err;
        if (log2_size >= 40 || log2_index >= 44) return pyh_error_create(PYH_ERR_CORRUPT, "dict keys");
        n = 1ULL << log2_size;
        *size = (uint64_t)L->keys_header_size + (1ULL << log2_index) +
                usable_fraction(n) * (kind == 0 ? 24 : 16);
    } else {
        if ((err = pyh_kind_field(heap, keys, NULL, 0, L->keys_size, 8, &n))) return err;
        if (n == 0 || n >= (1ULL << 40)) return pyh_error_create(PYH_ERR_CORRUPT, "dict keys");
        uint64_t ix = n <= 0xff ? 1 : n <= 0xffff ? 2 : n <= 0xffffffffULL ? 4 : 8;
        *size = (uint64_t)L->keys_header_size + ix * n + 24 * usable_fraction(n);
    }
    if (entries_usable) {
        uint64_t nentries = 0, usable = 0;
        if ((err = pyh_kind_field(heap, keys, NULL, 0, L->keys_nentries, 8, &nentries)) ||
            (err = pyh_kind_field(heap, keys, NULL, 0, L->keys_usable, 8, &usable)))
            return err;
        /* The values array of a split table: 3.8-3.10 size it from the keys' size, 3.11+
         * from the entries used and still usable. */
        *entries_usable = L->keys_log2_size >= 0 ? nentries + usable : usable_fraction(n);
    }
    return NULL;
}

/* The first 3.13 known to count a dict's embedded values in sys.getsizeof (3.13.18, final). */
#define EMBEDDED_COUNTED_313 0x030d12f0u

static struct pyh_error *size(const struct pyh_heap *heap, const struct pyh_type *t, uint64_t obj,
                              const uint8_t *bytes, size_t avail, uint64_t *size)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t keys, values, ksize, refcnt, nvalues;
    struct pyh_error *err = pyh_kind_field(heap, obj, bytes, avail, L->dict_keys, 8, &keys);
    if (!err) err = pyh_kind_field(heap, obj, bytes, avail, L->dict_values, 8, &values);
    if (!err) err = pyh_dict_keys_size(heap, keys, &ksize, &refcnt, &nvalues);
    if (err) return err;
    *size = (uint64_t)t->basicsize;
    bool embedded = false;
    if (values && heap->rt->minor == 13 && heap->rt->version_hex < EMBEDDED_COUNTED_313) {
        /* 3.13: values embedded in their object are that object's memory, not the dict's —
         * until a 3.13 patch release after 3.13.5 (Debian's 3.13.18 counts them, as the
         * dict of an object whose values were materialized: measured against
         * sys.getsizeof; 3.13.0 and 3.13.5 do not). */
        uint64_t flag;
        if ((err = pyh_kind_field(heap, values, NULL, 0, 2, 1, &flag))) return err;
        embedded = flag != 0;
    }
    if (values && !embedded) *size += nvalues * 8;
    if (refcnt == 1) *size += ksize;
    return NULL;
}

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    struct pyh_dict_iter it;
    struct pyh_error *err = pyh_dict_iter_init(w->heap->rt, obj, &it);
    if (err) {
        pyh_walk_lost(w, 0, err);
        pyh_error_free(err);
        return;
    }
    uint64_t k, v;
    while (!w->stop && pyh_dict_iter_next(&it, &k, &v)) {
        struct pyh_ref key = {.kind = PYH_REF_DICT_KEY, .key = k};
        struct pyh_ref value = {.kind = PYH_REF_DICT_VALUE, .key = k};
        pyh_walk_emit(w, k, &key);
        pyh_walk_emit(w, v, &value);
    }
    if (it.err) pyh_walk_lost(w, 0, it.err);
    pyh_error_free(it.err);
}

static void preview_dict(struct pyh_heap *heap, uint64_t addr, int depth, char *buf, size_t cap,
                         size_t *len)
{
    uint64_t n = 0, k, v, i = 0;
    struct pyh_dict_iter it;
    struct pyh_error *err = pyh_dict_len(heap->rt, addr, &n);
    if (!err) err = pyh_dict_iter_init(heap->rt, addr, &it);
    if (err) {
        pyh_put(buf, cap, len, "<unreadable dict at 0x%llx>", (unsigned long long)addr);
        pyh_error_free(err);
        return;
    }
    pyh_put(buf, cap, len, "{");
    while (i < PYH_PREVIEW_ITEMS && pyh_dict_iter_next(&it, &k, &v)) {
        char ks[128], vs[256];
        pyh_preview(heap, k, 0, ks, sizeof(ks));
        pyh_preview(heap, v, depth - 1, vs, sizeof(vs));
        pyh_put(buf, cap, len, "%s%s: %s", i++ ? ", " : "", ks, vs);
    }
    pyh_error_free(it.err);
    if (n > PYH_PREVIEW_ITEMS) pyh_put(buf, cap, len, ", ... (%llu items)", (unsigned long long)n);
    pyh_put(buf, cap, len, "}");
}

static void preview(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr, int depth,
                    char *buf, size_t cap, size_t *len)
{
    /* 3.15's frozendict: repr frozendict({...}), frozendict() when empty. */
    const struct pyh_static_types *st = &heap->rt->types;
    bool frozen = st->frozendict && t->addr == st->frozendict;
    if (depth < 0) {
        uint64_t n = 0;
        pyh_error_free(pyh_dict_len(heap->rt, addr, &n));
        pyh_put(buf, cap, len, "<%s of %llu>", frozen ? "frozendict" : "dict", (unsigned long long)n);
        return;
    }
    size_t start = *len;
    if (frozen) pyh_put(buf, cap, len, "frozendict(");
    size_t inner = *len;
    preview_dict(heap, addr, depth, buf, cap, len);
    if (frozen && strcmp(buf + inner, "{}") == 0) {
        *len = start;
        buf[*len] = '\0';
        pyh_put(buf, cap, len, "frozendict()");
    } else if (frozen) {
        pyh_put(buf, cap, len, ")");
    }
}

static void details(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr,
                    struct pyh_details *d)
{
    (void)t;
    struct pyh_dict_iter it;
    uint64_t n = 0, k, v;
    if (!pyh_ok(pyh_dict_len(heap->rt, addr, &n)) || !pyh_ok(pyh_dict_iter_init(heap->rt, addr, &it)))
        return;
    d->length = (int64_t)n;
    while (d->nitems < 20 && pyh_dict_iter_next(&it, &k, &v)) {
        char ks[256];
        pyh_preview(heap, k, 0, ks, sizeof(ks));
        pyh_details_add(heap, d, ks, v);
    }
    pyh_error_free(it.err);
}

const struct pyh_kind pyh_kind_dict = {
    .name = "dict",
    .statics = {PYH_KIND_STATIC(dict), PYH_KIND_STATIC(frozendict)},
    .literal = true,
    .any_step = "[*]",
    .buffers = buffers,
    .size = size,
    .referents = referents,
    .preview = preview,
    .details = details,
};
