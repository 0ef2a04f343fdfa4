/* float: no references; its repr is the shortest text that reads back as the same double. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "heap/kinds/kind.h"

static void preview(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr, int depth,
                    char *buf, size_t cap, size_t *len)
{
    (void)t, (void)depth;
    double v;
    struct pyh_error *err = pyh_target_read(heap->rt->target, addr + (uint64_t)heap->rt->layout.float_value, &v, 8);
    if (err) {
        pyh_put(buf, cap, len, "<unreadable float at 0x%llx>", (unsigned long long)addr);
        pyh_error_free(err);
        return;
    }
    if (isnan(v)) { pyh_put(buf, cap, len, "nan"); return; }
    if (isinf(v)) { pyh_put(buf, cap, len, v < 0 ? "-inf" : "inf"); return; }
    char text[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(text, sizeof(text), "%.*g", prec, v);
        if (strtod(text, NULL) == v) break;
    }
    if (!strpbrk(text, ".eni")) strcat(text, ".0");
    pyh_put(buf, cap, len, "%s", text);
}

const struct pyh_kind pyh_kind_float = {
    .name = "float",
    .statics = {PYH_KIND_STATIC(float_)},
    .literal = true,
    .self_contained = true,
    .preview = preview,
};
