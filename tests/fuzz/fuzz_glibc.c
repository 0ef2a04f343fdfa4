/* Fuzz target (e): the glibc malloc walker over synthetic memory. The input is a memory image
 * (fuzz_common.h) whose region flags bits 3-4 name the mappings: "[heap]", "[stack]" or a
 * libc path (/nonexistent/libc.so.6: its writable data is scanned for main_arena and mp_).
 * The selector byte chooses the glibc version (bits 0-2: unknown, 2.28, 2.29, 2.31, 2.32,
 * 2.34, 2.35, 2.36) and the options (bit 3 no_symbols, bit 4 no_code). The first region H
 * is the header: H+0 main_arena and H+8 mp_, each given to the walker when non-zero (else
 * found by the scans). The walker opens every arena, heap, free list, tcache and mmapped
 * chunk, then visits every chunk. */
#include <string.h>

#include "allocators/glibc.h"
#include "fuzz_common.h"
#include "image/image.h"

static struct pyh_error *count(const struct pyh_glibc_chunk *c, void *ctx)
{
    uint64_t *sum = ctx;
    *sum += c->address + c->size + c->kind;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned versions[8] = {0, 228, 229, 231, 232, 234, 235, 236};
    static struct fuzz_image img;
    fuzz_image_parse(&img, data, size);
    if (img.nregions == 0) return 0; /* nothing mapped */
    struct pyh_host_target h = fuzz_image_host(&img, true);
    struct pyh_diag diag = {0};
    struct pyh_target *t = NULL;
    struct pyh_images *images = NULL;
    struct pyh_glibc *g = NULL;
    struct pyh_error *err = pyh_target_open_host(&h, &diag, &t);
    if (!err) err = pyh_images_load(t, "", &diag, &images);
    if (!err) {
        struct pyh_glibc_options opts = {.version = versions[img.selector & 7],
                                         .no_symbols = (img.selector & 8) != 0,
                                         .no_code = (img.selector & 16) != 0};
        (void)fuzz_image_u64(&img, img.header, &opts.main_arena);
        (void)fuzz_image_u64(&img, img.header + 8, &opts.mp);
        err = pyh_glibc_open(t, images, &opts, &diag, &g);
    }
    if (!err) {
        uint64_t sum = 0;
        err = pyh_glibc_visit(g, count, &sum);
    }
    pyh_error_free(err);
    pyh_glibc_free(g);
    pyh_images_free(images);
    pyh_target_close(t);
    pyh_diag_free(&diag);
    return 0;
}
