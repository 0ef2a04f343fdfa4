/* Fuzz target (d): the pymalloc walker over synthetic memory. The input is a memory image
 * (fuzz_common.h). The selector byte chooses the version, 3.(8 + selector % 6), and for 3.8 to
 * 3.11 how the allocator state is found, (selector / 6) % 3: 0 by symbol, 1 by decoding
 * _Py_GetAllocatedBlocks, 2 not at all (an error). The first region H is the header:
 *
 *   H+0   the main interpreter's address (interps[0]; 3.12+ find the state there)
 *   H+8   `arenas` (3.8-3.11 by symbol: the variables live here)
 *   H+16  `maxarenas`
 *   H+24  `ntimes_arena_allocated`, H+32 `narenas_highwater`,
 *   H+40  `narenas_currently_allocated`, H+48 `raw_allocated_blocks`
 *   H+64  the code of _Py_GetAllocatedBlocks (mode 1)
 *
 * The arena table, the arenas and their pools are wherever the pointers say. The walker
 * opens the allocator (every arena, every carved pool's header) and then visits every block
 * of every pool in use. */
#include <string.h>

#include "allocators/pymalloc.h"
#include "fuzz_common.h"
#include "image/image.h"

static bool visit(void *ctx, const struct pyh_pymalloc_pool *p)
{
    uint64_t *sum = ctx;
    for (uint32_t i = 0; i < p->nblocks; i++) {
        const uint8_t *bytes = p->bytes + (uint64_t)i * p->block_size;
        *sum += p->first + i * p->block_size + p->block_size + !pyh_pymalloc_pool_block_free(p, i) +
                bytes[0] + bytes[p->block_size - 1];
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_image img;
    fuzz_image_parse(&img, data, size);
    if (img.nregions == 0) return 0; /* nothing mapped */
    int minor = 8 + img.selector % 6, mode = (img.selector / 6) % 3;
    struct fuzz_runtime fr;
    if (!fuzz_runtime_open(&fr, &img, minor, false)) return 0;
    uint64_t h = img.header, interp = 0;
    (void)fuzz_image_u64(&img, h, &interp);
    fr.rt->interps[0] = interp;
    struct pyh_strmap *syms = &fr.rt->module->symbols;
    if (minor < 12 && mode == 0) {
        static const char *const names[] = {"arenas", "maxarenas", "ntimes_arena_allocated",
                                            "narenas_highwater", "narenas_currently_allocated",
                                            "raw_allocated_blocks"};
        for (size_t i = 0; i < 6; i++) fuzz_ignore(pyh_strmap_put(syms, names[i], h + 8 + 8 * i, true));
    } else if (minor < 12 && mode == 1) {
        fuzz_ignore(pyh_strmap_put(syms, "_Py_GetAllocatedBlocks", h + 64, true));
    }
    struct pyh_pymalloc *pm = NULL;
    struct pyh_error *err = pyh_pymalloc_open(fr.rt, &pm);
    if (!err && pm) {
        uint64_t sum = 0;
        err = pyh_pymalloc_visit(fr.rt, pm, visit, &sum);
    }
    pyh_error_free(err);
    pyh_pymalloc_free(pm);
    fuzz_runtime_close(&fr);
    return 0;
}
