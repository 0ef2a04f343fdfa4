/* bytes: ob_size bytes inline (and a NUL). No references. */
#include "heap/kinds/kind.h"

#define BYTES_CUT 64 /* bytes a preview shows */

static void preview(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr, int depth,
                    char *buf, size_t cap, size_t *len)
{
    (void)t, (void)depth;
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t size;
    char data[BYTES_CUT];
    struct pyh_error *err = pyh_read_u64(heap->rt->target, addr + (uint64_t)L->var_size, &size);
    size_t n = size < BYTES_CUT ? (size_t)size : BYTES_CUT;
    if (!err) err = pyh_target_read(heap->rt->target, addr + (uint64_t)L->bytes_sval, data, n);
    if (err) {
        pyh_put(buf, cap, len, "<unreadable bytes at 0x%llx>", (unsigned long long)addr);
        pyh_error_free(err);
        return;
    }
    pyh_put_quoted(buf, cap, len, "b", data, n, BYTES_CUT, size > n);
}

static void details(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr,
                    struct pyh_details *d)
{
    (void)t;
    uint64_t n = 0;
    pyh_error_free(pyh_read_u64(heap->rt->target, addr + (uint64_t)heap->rt->layout.var_size, &n));
    d->length = (int64_t)n;
}

const struct pyh_kind pyh_kind_bytes = {
    .name = "bytes",
    .statics = {PYH_KIND_STATIC(bytes)},
    .literal = true,
    .self_contained = true,
    .preview = preview,
    .details = details,
};
