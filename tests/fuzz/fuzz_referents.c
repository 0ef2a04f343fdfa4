/* Fuzz target (g): the referent readers. The input is a memory image laid out as
 * fuzz_heap.h says; the objects found in it are walked with pyh_referents (every per-type
 * reader: tuple, list, dict in every layout, set, instance dicts and inline values, slots,
 * functions, code, types, frames and generators, deque, the conservative scan) and the
 * first edges of each are formatted as a path prints them (pyh_ref_format: dict keys, local
 * names, attribute names). The interpreter frame at H+256 is walked as a thread's frame. */
#include "fuzz_heap.h"
#include "graph/referents.h"

#define MAX_OBJECTS 4096
#define MAX_EDGES (1u << 20)
#define FORMATTED 8

struct ctx {
    struct pyh_heap *heap;
    unsigned per_object, total;
};

static bool visit(void *p, uint64_t target, const struct pyh_ref *ref)
{
    struct ctx *c = p;
    if (c->per_object++ < FORMATTED) {
        char buf[300];
        pyh_ref_format(c->heap, ref, buf, sizeof(buf));
    }
    (void)target;
    return ++c->total < MAX_EDGES;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_image img;
    fuzz_image_parse(&img, data, size);
    struct fuzz_heap fh;
    if (!fuzz_heap_open(&fh, &img)) return 0;
    struct ctx c = {fh.heap, 0, 0};
    for (size_t i = 0; i < fh.heap->nobjects && i < MAX_OBJECTS; i++) {
        c.per_object = 0;
        fuzz_ignore(pyh_referents(fh.heap, fh.heap->objects[i].addr, fh.heap->objects[i].type, visit, &c));
    }
    if (fh.iframe) {
        c.per_object = 0;
        pyh_iframe_referents(fh.heap, fh.iframe, visit, &c);
    }
    fuzz_heap_close(&fh);
    return 0;
}
