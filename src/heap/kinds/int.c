/* int (and bool): 30-bit digits; from 3.12 the count and sign in lv_tag, before in ob_size.
 * No references. */
#include <stdlib.h>

#include "heap/kinds/kind.h"

#define MAX_INT_DIGITS 2048 /* 30-bit digits a preview converts: about 18,000 decimal digits */

static uint64_t least_size(const struct pyh_heap *heap, const struct pyh_type *t,
                           const uint8_t *obj, size_t avail)
{
    const struct pyh_layout *L = &heap->rt->layout;
    if (L->long_tag < 0) return pyh_kind_least_size_items(heap, t, obj, avail);
    if (avail < (size_t)L->long_tag + 8) return UINT64_MAX;
    uint64_t ndigits = pyh_kind_word(obj, (size_t)L->long_tag) >> 3;
    if (ndigits >= PYH_KIND_MAX_ITEMS) return UINT64_MAX;
    return (uint64_t)L->long_digits + 4 * ndigits;
}

/* offsetof(ob_digit) + 4 * digits; from 3.11 at least one digit (0 has one). */
static struct pyh_error *size(const struct pyh_heap *heap, const struct pyh_type *t, uint64_t obj,
                              const uint8_t *bytes, size_t avail, uint64_t *size)
{
    (void)t;
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t v = 0, ndigits;
    struct pyh_error *err;
    if (L->long_tag >= 0) {
        err = pyh_kind_field(heap, obj, bytes, avail, L->long_tag, 8, &v);
        ndigits = v >> 3;
    } else {
        err = pyh_kind_field(heap, obj, bytes, avail, L->var_size, 8, &v);
        ndigits = (int64_t)v < 0 ? (uint64_t)-(int64_t)v : v;
    }
    if (heap->rt->minor >= 11 && ndigits < 1) ndigits = 1;
    *size = (uint64_t)L->long_digits + 4 * ndigits;
    return err;
}

/* Decimal digits of an int of any size (within MAX_INT_DIGITS). */
static void preview(struct pyh_heap *heap, const struct pyh_type *ty, uint64_t addr, int depth,
                    char *buf, size_t cap, size_t *len)
{
    (void)ty, (void)depth;
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
        pyh_put(buf, cap, len, "<int of %llu bits>", (unsigned long long)ndigits * 30);
        return;
    }
    uint32_t *digits = malloc((ndigits ? ndigits : 1) * 4);
    uint32_t *limbs = malloc((ndigits * 30 / 29 + 2) * 4); /* base 10^9 */
    if (!err && (!digits || !limbs)) err = pyh_error_nomem();
    if (!err && ndigits) err = pyh_target_read(t, addr + (uint64_t)L->long_digits, digits, ndigits * 4);
    if (err) {
        pyh_put(buf, cap, len, "<unreadable int at 0x%llx>", (unsigned long long)addr);
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
        pyh_put(buf, cap, len, "0");
    } else {
        pyh_put(buf, cap, len, "%s%u", negative ? "-" : "", limbs[nlimbs - 1]);
        for (size_t k = nlimbs - 1; k-- > 0;) pyh_put(buf, cap, len, "%09u", limbs[k]);
    }
    free(digits);
    free(limbs);
}

const struct pyh_kind pyh_kind_int = {
    .name = "int",
    .statics = {PYH_KIND_STATIC(long_), PYH_KIND_STATIC(bool_)},
    .literal = true,
    .self_contained = true,
    .least_size = least_size,
    .size = size,
    .preview = preview,
};
