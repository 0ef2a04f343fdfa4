/* Reading Python objects from target memory; see objects.h. */
#include "runtime/objects.h"

#include <string.h>

#include "util/interrupt.h"

/* Bounds on what a sane object can claim; beyond them the object is corrupt. */
#define MAX_STR_LENGTH (1ULL << 40)
#define MAX_DICT_ENTRIES (1ULL << 31)
#define MAX_TUPLE_SIZE (1ULL << 40)

struct pyh_error *pyh_obj_type(struct pyh_runtime *rt, uint64_t obj, uint64_t *type)
{
    if (obj == 0) return pyh_error_create(PYH_ERR_CORRUPT, "NULL object pointer");
    return pyh_read_u64(rt->target, obj + (uint64_t)rt->layout.object_type, type);
}

struct pyh_error *pyh_type_flags(struct pyh_runtime *rt, uint64_t type, uint64_t *flags)
{
    return pyh_read_u64(rt->target, type + (uint64_t)rt->layout.type_flags, flags);
}

struct pyh_error *pyh_obj_expect(struct pyh_runtime *rt, uint64_t obj, uint64_t type,
                                 const char *what)
{
    uint64_t actual;
    struct pyh_error *err = pyh_obj_type(rt, obj, &actual);
    if (err) return pyh_error_wrap(err, "reading %s at 0x%llx", what, (unsigned long long)obj);
    if (actual != type)
        return pyh_error_create(PYH_ERR_CORRUPT,
                                "%s at 0x%llx has type 0x%llx, expected 0x%llx", what,
                                (unsigned long long)obj, (unsigned long long)actual,
                                (unsigned long long)type);
    return NULL;
}

/* ---- str ----------------------------------------------------------------------------- */

/* Appends code point cp as UTF-8 if it fits in the room left; false when it does not. */
static bool put_utf8(char *buf, size_t cap, size_t *len, uint32_t cp)
{
    char tmp[4];
    size_t n;
    if (cp < 0x80) {
        tmp[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (char)(0xc0 | (cp >> 6));
        tmp[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (char)(0xe0 | (cp >> 12));
        tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        tmp[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        if (cp > 0x10ffff) cp = 0xfffd;
        tmp[0] = (char)(0xf0 | (cp >> 18));
        tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        tmp[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    if (*len + n >= cap) return false;
    memcpy(buf + *len, tmp, n);
    *len += n;
    return true;
}

struct pyh_error *pyh_str_read(struct pyh_runtime *rt, uint64_t obj, char *buf, size_t cap,
                               bool *truncated)
{
    const struct pyh_layout *L = &rt->layout;
    if (cap == 0) return pyh_error_create(PYH_ERR_USAGE, "pyh_str_read: no room");
    buf[0] = '\0';
    if (truncated) *truncated = false;
    uint64_t length;
    uint32_t state;
    struct pyh_error *err = pyh_read_u64(rt->target, obj + (uint64_t)L->ascii_length, &length);
    if (!err) err = pyh_read_u32(rt->target, obj + (uint64_t)L->ascii_state, &state);
    if (err) return pyh_error_wrap(err, "reading str at 0x%llx", (unsigned long long)obj);
    if (length > MAX_STR_LENGTH)
        return pyh_error_create(PYH_ERR_CORRUPT, "str at 0x%llx claims length %llu",
                                (unsigned long long)obj, (unsigned long long)length);
    struct pyh_str_state st = pyh_str_state_decode(rt, state);
    unsigned kind = st.kind, compact = st.compact, ascii = st.ascii;
    if (kind != 1 && kind != 2 && kind != 4)
        return pyh_error_create(PYH_ERR_CORRUPT, "str at 0x%llx has kind %u",
                                (unsigned long long)obj, kind);
    uint64_t data;
    if (compact)
        data = obj + (uint64_t)(ascii ? L->ascii_size : L->compact_size);
    else if ((err = pyh_read_u64(rt->target, obj + (uint64_t)L->compact_size, &data)))
        return pyh_error_wrap(err, "reading the data pointer of str 0x%llx",
                              (unsigned long long)obj);
    if (data == 0)
        return pyh_error_create(PYH_ERR_CORRUPT, "str at 0x%llx has no data (not ready)",
                                (unsigned long long)obj);

    size_t len = 0;
    uint8_t chunk[1024];
    uint64_t pos = 0;
    while (pos < length) {
        uint64_t n = (length - pos) * kind < sizeof(chunk) ? (length - pos) : sizeof(chunk) / kind;
        if ((err = pyh_target_read(rt->target, data + pos * kind, chunk, (size_t)(n * kind))))
            return pyh_error_wrap(err, "reading str at 0x%llx", (unsigned long long)obj);
        for (uint64_t i = 0; i < n; i++) {
            uint32_t cp;
            if (kind == 1)
                cp = chunk[i];
            else if (kind == 2)
                cp = (uint32_t)chunk[2 * i] | (uint32_t)chunk[2 * i + 1] << 8;
            else
                memcpy(&cp, chunk + 4 * i, 4);
            if (!put_utf8(buf, cap, &len, cp)) {
                if (truncated) *truncated = true;
                buf[len] = '\0';
                return NULL;
            }
        }
        pos += n;
    }
    buf[len] = '\0';
    return NULL;
}

bool pyh_str_equals(struct pyh_runtime *rt, uint64_t obj, const char *s)
{
    uint64_t type;
    struct pyh_error *err = pyh_obj_type(rt, obj, &type);
    if (err || type != rt->types.str) {
        pyh_error_free(err);
        return false;
    }
    char buf[256];
    bool truncated;
    size_t n = strlen(s);
    if (n >= sizeof(buf)) return false;
    err = pyh_str_read(rt, obj, buf, sizeof(buf), &truncated);
    if (err) {
        pyh_error_free(err);
        return false;
    }
    return !truncated && strcmp(buf, s) == 0;
}

/* ---- int ----------------------------------------------------------------------------- */

struct pyh_error *pyh_long_read(struct pyh_runtime *rt, uint64_t obj, int64_t *value)
{
    const struct pyh_layout *L = &rt->layout;
    uint64_t ndigits;
    bool negative;
    struct pyh_error *err;
    if (L->long_tag >= 0) {
        /* 3.12+: lv_tag = ndigits << 3 | sign (0 positive, 1 zero, 2 negative). */
        uint64_t tag;
        if ((err = pyh_read_u64(rt->target, obj + (uint64_t)L->long_tag, &tag)))
            return pyh_error_wrap(err, "reading int at 0x%llx", (unsigned long long)obj);
        ndigits = tag >> 3;
        negative = (tag & 3) == 2;
    } else {
        int64_t size;
        if ((err = pyh_target_read(rt->target, obj + (uint64_t)L->var_size, &size, 8)))
            return pyh_error_wrap(err, "reading int at 0x%llx", (unsigned long long)obj);
        negative = size < 0;
        ndigits = negative ? (uint64_t)-size : (uint64_t)size;
    }
    if (ndigits > 3)
        return pyh_error_create(PYH_ERR_CORRUPT, "int at 0x%llx has %llu digits: too large",
                                (unsigned long long)obj, (unsigned long long)ndigits);
    uint32_t digits[3] = {0};
    if (ndigits &&
        (err = pyh_target_read(rt->target, obj + (uint64_t)L->long_digits, digits, ndigits * 4)))
        return pyh_error_wrap(err, "reading int at 0x%llx", (unsigned long long)obj);
    /* 30-bit digits, least significant first. */
    unsigned __int128 v = 0;
    for (uint64_t i = ndigits; i-- > 0;) v = (v << 30) | (digits[i] & 0x3fffffff);
    if (v > (unsigned __int128)INT64_MAX + (negative ? 1 : 0))
        return pyh_error_create(PYH_ERR_CORRUPT, "int at 0x%llx does not fit in 64 bits",
                                (unsigned long long)obj);
    *value = negative ? (int64_t)(0 - (uint64_t)v) : (int64_t)v;
    return NULL;
}

/* ---- tuple --------------------------------------------------------------------------- */

struct pyh_error *pyh_tuple_item(struct pyh_runtime *rt, uint64_t tuple, uint64_t i,
                                 uint64_t *item)
{
    uint64_t size;
    struct pyh_error *err = pyh_read_u64(rt->target, tuple + (uint64_t)rt->layout.var_size, &size);
    if (err) return err;
    if (size > MAX_TUPLE_SIZE || i >= size)
        return pyh_error_create(PYH_ERR_CORRUPT, "index %llu out of range of tuple 0x%llx (size %llu)",
                                (unsigned long long)i, (unsigned long long)tuple,
                                (unsigned long long)size);
    return pyh_read_u64(rt->target, tuple + (uint64_t)rt->layout.tuple_items + 8 * i, item);
}

/* ---- dict ---------------------------------------------------------------------------- */

/* Sets up it over the entries of a keys object; values is a split table's values array
 * (0 for a combined table). */
static struct pyh_error *iter_keys(struct pyh_runtime *rt, uint64_t keys, uint64_t values,
                                   struct pyh_dict_iter *it)
{
    const struct pyh_layout *L = &rt->layout;
    struct pyh_target *t = rt->target;
    memset(it, 0, sizeof(*it));
    it->rt = rt;
    it->values = values;
    uint64_t nentries;
    struct pyh_error *err = pyh_read_u64(t, keys + (uint64_t)L->keys_nentries, &nentries);
    if (err) return err;
    uint64_t size, index_bytes;
    if (L->keys_log2_size >= 0) {
        /* 3.11+: sizes as log2; entries follow the index table. dk_kind 0 (general) keeps
         * the hash in each entry; 1 (unicode) and 2 (split) do not. */
        uint8_t log2_size, log2_index_bytes, kind;
        if ((err = pyh_read_u8(t, keys + (uint64_t)L->keys_log2_size, &log2_size)) ||
            (err = pyh_read_u8(t, keys + (uint64_t)L->keys_log2_index_bytes, &log2_index_bytes)) ||
            (err = pyh_read_u8(t, keys + (uint64_t)L->keys_kind, &kind)))
            return err;
        if (log2_size >= 40 || log2_index_bytes >= 44 || kind > 2)
            return pyh_error_create(PYH_ERR_CORRUPT, "dict keys at 0x%llx are corrupt "
                                    "(log2 size %u, log2 index bytes %u, kind %u)",
                                    (unsigned long long)keys, log2_size, log2_index_bytes, kind);
        size = 1ULL << log2_size;
        index_bytes = 1ULL << log2_index_bytes;
        it->entry_size = kind == 0 ? 24 : 16;
        it->key_at = kind == 0 ? 8 : 0;
    } else {
        /* 3.8-3.10: dk_size slots; index width grows with the size. */
        if ((err = pyh_read_u64(t, keys + (uint64_t)L->keys_size, &size))) return err;
        if (size == 0 || size > MAX_DICT_ENTRIES * 2 || (size & (size - 1)))
            return pyh_error_create(PYH_ERR_CORRUPT, "dict keys at 0x%llx claim %llu slots",
                                    (unsigned long long)keys, (unsigned long long)size);
        uint64_t width = size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffULL ? 4 : 8;
        index_bytes = size * width;
        it->entry_size = 24;
        it->key_at = 8;
    }
    if (nentries > size || nentries > MAX_DICT_ENTRIES)
        return pyh_error_create(PYH_ERR_CORRUPT, "dict keys at 0x%llx claim %llu entries in "
                                "%llu slots", (unsigned long long)keys,
                                (unsigned long long)nentries, (unsigned long long)size);
    it->entries = keys + (uint64_t)L->keys_indices + index_bytes;
    it->nentries = nentries;
    return NULL;
}

/* The values array of a split table from its PyDictValues pointer: 3.13 puts four bytes
 * of header (capacity, size, embedded, valid) before the array, padded to 8. */
static uint64_t values_array(const struct pyh_runtime *rt, uint64_t values)
{
    return rt->minor >= 13 ? values + 8 : values;
}

/* Reads a split table's insertion order into it (values: the PyDictValues pointer).
 * 3.13+: the size byte at +1, the order array after the capacity (byte at +0) values
 * (get_insertion_order_array); 3.11-3.12: the size at values[-2], entry i's index at
 * values[-3-i] (get_index_from_order). Each index must name an entry of the keys. */
static struct pyh_error *read_order(struct pyh_runtime *rt, uint64_t values, struct pyh_dict_iter *it)
{
    if (rt->minor < 11) return NULL;
    struct pyh_target *t = rt->target;
    uint8_t size, capacity = 0, raw[256];
    struct pyh_error *err;
    if (rt->minor >= 13) {
        if ((err = pyh_read_u8(t, values, &capacity)) || (err = pyh_read_u8(t, values + 1, &size)))
            return err;
        if (size > capacity)
            return pyh_error_create(PYH_ERR_CORRUPT, "dict values at 0x%llx: %u of %u set",
                                    (unsigned long long)values, size, capacity);
        if (size && (err = pyh_target_read(t, values + 8 + 8 * (uint64_t)capacity, raw, size)))
            return err;
        memcpy(it->order, raw, size);
    } else {
        if ((err = pyh_read_u8(t, values - 2, &size))) return err;
        if (size && (err = pyh_target_read(t, values - 2 - size, raw, size))) return err;
        for (unsigned i = 0; i < size; i++) it->order[i] = raw[size - 1 - i]; /* [-3-i] */
    }
    for (unsigned i = 0; i < size; i++)
        if (it->order[i] >= it->nentries)
            return pyh_error_create(PYH_ERR_CORRUPT, "dict values at 0x%llx: entry %u of %llu",
                                    (unsigned long long)values, it->order[i],
                                    (unsigned long long)it->nentries);
    it->ordered = true;
    it->norder = size;
    return NULL;
}

/* iter_keys over a split table (values: its PyDictValues pointer), in insertion order. */
static struct pyh_error *iter_split(struct pyh_runtime *rt, uint64_t keys, uint64_t values,
                                    struct pyh_dict_iter *it)
{
    struct pyh_error *err = iter_keys(rt, keys, values_array(rt, values), it);
    return err ? err : read_order(rt, values, it);
}

struct pyh_error *pyh_dict_iter_init(struct pyh_runtime *rt, uint64_t dict,
                                     struct pyh_dict_iter *it)
{
    const struct pyh_layout *L = &rt->layout;
    uint64_t keys, values;
    struct pyh_error *err = pyh_read_u64(rt->target, dict + (uint64_t)L->dict_keys, &keys);
    if (!err) err = pyh_read_u64(rt->target, dict + (uint64_t)L->dict_values, &values);
    if (!err) err = values ? iter_split(rt, keys, values, it) : iter_keys(rt, keys, 0, it);
    return pyh_error_wrap(err, "reading dict at 0x%llx", (unsigned long long)dict);
}

bool pyh_dict_iter_next(struct pyh_dict_iter *it, uint64_t *key, uint64_t *value)
{
    while (!it->err && it->next < (it->ordered ? it->norder : it->nentries)) {
        uint64_t i = it->ordered ? it->order[it->next++] : it->next++;
        uint64_t entry = it->entries + i * it->entry_size;
        uint64_t kv[2];
        it->err = pyh_target_read(it->rt->target, entry + it->key_at, kv, 16);
        if (it->err) break;
        if (it->values) {
            it->err = pyh_read_u64(it->rt->target, it->values + 8 * i, &kv[1]);
            if (it->err) break;
        }
        if (kv[0] == 0 || kv[1] == 0) continue; /* deleted or unused entry */
        *key = kv[0];
        *value = kv[1];
        return true;
    }
    return false;
}

struct pyh_error *pyh_dict_len(struct pyh_runtime *rt, uint64_t dict, uint64_t *len)
{
    struct pyh_error *err = pyh_read_u64(rt->target, dict + (uint64_t)rt->layout.dict_used, len);
    if (!err && *len > MAX_DICT_ENTRIES)
        err = pyh_error_create(PYH_ERR_CORRUPT, "dict at 0x%llx claims %llu items",
                               (unsigned long long)dict, (unsigned long long)*len);
    return err;
}

static struct pyh_error *lookup_in(struct pyh_dict_iter *it, const char *key, uint64_t *value)
{
    uint64_t k, v;
    while (pyh_dict_iter_next(it, &k, &v)) {
        if (pyh_str_equals(it->rt, k, key)) {
            *value = v;
            return NULL;
        }
    }
    if (it->err) return it->err;
    return pyh_error_create(PYH_ERR_NOT_FOUND, "no key '%s'", key);
}

struct pyh_error *pyh_dict_get_str(struct pyh_runtime *rt, uint64_t dict, const char *key,
                                   uint64_t *value)
{
    struct pyh_dict_iter it;
    struct pyh_error *err = pyh_dict_iter_init(rt, dict, &it);
    if (err) return err;
    return lookup_in(&it, key, value);
}

struct pyh_error *pyh_module_lookup(struct pyh_runtime *rt, uint64_t interp, const char *name,
                                    uint64_t *module)
{
    uint64_t modules;
    struct pyh_error *err = pyh_rt_read_ptr(rt, interp, rt->layout.interp_modules, &modules);
    if (err) return pyh_error_wrap(err, "reading sys.modules");
    return pyh_dict_get_str(rt, modules, name, module);
}

struct pyh_error *pyh_module_global(struct pyh_runtime *rt, uint64_t module, const char *name,
                                    uint64_t *value)
{
    uint64_t dict;
    struct pyh_error *err = pyh_rt_read_ptr(rt, module, rt->layout.module_dict, &dict);
    if (err) return pyh_error_wrap(err, "reading the dict of module 0x%llx", (unsigned long long)module);
    return pyh_dict_get_str(rt, dict, name, value);
}

struct pyh_error *pyh_instance_dict_iter(struct pyh_runtime *rt, uint64_t obj,
                                         struct pyh_dict_iter *it)
{
    const struct pyh_layout *L = &rt->layout;
    struct pyh_target *t = rt->target;
    uint64_t type, flags, dict = 0, values = 0;
    struct pyh_error *err = pyh_obj_type(rt, obj, &type);
    if (!err) err = pyh_type_flags(rt, type, &flags);
    if (err) return err;

    if (rt->minor >= 11 && (flags & PYH_TPFLAGS_MANAGED_DICT)) {
        /* The dict (or values) pointer sits before the object: obj-24 (FT: -8) is the managed dict
         * (3.12: a PyDictOrValues, which stores a values pointer minus one so that the low
         * bit tells them apart); 3.11 keeps the values pointer apart at obj-32; 3.13 keeps
         * the values inline after the object. */
        uint64_t slot;
        if ((err = pyh_read_u64(t, pyh_managed_dict_slot(rt, obj), &slot))) return err;
        if (rt->minor == 12 && (slot & 1))
            values = slot + 1;
        else
            dict = slot;
        if (rt->minor == 11 && !dict && (err = pyh_read_u64(t, obj - 32, &values))) return err;
        if (rt->minor >= 13 && !dict && (flags & PYH_TPFLAGS_INLINE_VALUES)) {
            uint64_t basicsize;
            uint8_t valid;
            if ((err = pyh_read_u64(t, type + (uint64_t)L->type_basicsize, &basicsize)) ||
                (err = pyh_read_u8(t, obj + basicsize + 3, &valid)))
                return err;
            if (valid) values = obj + basicsize;
        }
    } else {
        int64_t dictoffset;
        if ((err = pyh_target_read(t, type + (uint64_t)L->type_dictoffset, &dictoffset, 8)))
            return err;
        if (dictoffset == 0)
            return pyh_error_create(PYH_ERR_NOT_FOUND, "object 0x%llx has no __dict__",
                                    (unsigned long long)obj);
        if (dictoffset < 0) {
            /* Variable-size objects keep the dict after their items. */
            uint64_t basicsize, itemsize;
            int64_t size;
            if ((err = pyh_read_u64(t, type + (uint64_t)L->type_basicsize, &basicsize)) ||
                (err = pyh_read_u64(t, type + (uint64_t)L->type_itemsize, &itemsize)) ||
                (err = pyh_target_read(t, obj + (uint64_t)L->var_size, &size, 8)))
                return err;
            uint64_t total = basicsize + (uint64_t)(size < 0 ? -size : size) * itemsize;
            dictoffset = (int64_t)((total + (uint64_t)dictoffset + 7) & ~7ULL);
        }
        if ((err = pyh_read_u64(t, obj + (uint64_t)dictoffset, &dict))) return err;
    }
    if (dict) return pyh_dict_iter_init(rt, dict, it);
    if (!values)
        return pyh_error_create(PYH_ERR_NOT_FOUND, "object 0x%llx has no attributes",
                                (unsigned long long)obj);
    /* Split values: the keys are the type's shared keys. */
    uint64_t keys;
    if ((err = pyh_rt_read_ptr(rt, type, L->heaptype_cached_keys, &keys))) return err;
    return iter_split(rt, keys, values, it);
}

struct pyh_error *pyh_instance_attr(struct pyh_runtime *rt, uint64_t obj, const char *name,
                                    uint64_t *value)
{
    struct pyh_dict_iter it;
    struct pyh_error *err = pyh_instance_dict_iter(rt, obj, &it);
    if (err) return err;
    return lookup_in(&it, name, value);
}
