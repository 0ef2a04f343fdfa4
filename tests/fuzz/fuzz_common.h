/* Shared by the fuzz targets: input bytes as a file, input bytes as a memory image behind a
 * host target, and a hand-built CPython runtime over such a target.
 *
 * Every target is a plain LLVMFuzzerTestOneInput: built with -fsanitize=fuzzer for libFuzzer
 * (tests/fuzz/CMakeLists.txt) and with replay_main.c for ctest's replay of the corpora
 * (tests/fuzz/replay.cmake). Nothing here may print or exit: an error from py-heap is an
 * expected outcome, only crashes, hangs and sanitizer reports are findings.
 *
 * The memory image format (targets pymalloc, glibc, classify, referents):
 *
 *   u8 selector                      what the target makes of it (a version, a mode)
 *   then up to FUZZ_MAX_REGIONS regions, each
 *     u64 addr                       where the region is mapped
 *     u32 size                       its mapping size (capped at FUZZ_MAX_REGION)
 *     u32 datalen                    bytes that follow (clipped to size and to the input);
 *                                    the rest of the region reads as zeros
 *     u8  flags                      bits 0-2: PROT_R/W/X; bits 3-7: the target's own
 *     u8  data[datalen]
 *
 * All integers little-endian. Regions are sorted by address and a region overlapping one
 * below it is dropped, as the target layer drops a host's overlapping mappings; the first
 * region of the input is the targets' header (its address is kept in `header`). */
#ifndef PYH_TESTS_FUZZ_COMMON_H
#define PYH_TESTS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pyheap.h"
#include "runtime/runtime.h"
#include "target/target.h"
#include "util/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes the input to an in-memory file (memfd) and returns a path that opens it
 * ("/proc/self/fd/N"); the same file is rewritten by every call. NULL on failure. */
const char *fuzz_file(const uint8_t *data, size_t size);

#define FUZZ_MAX_REGIONS 512
#define FUZZ_MAX_REGION (4u << 20)
#define FUZZ_REGION_HEADER 17

struct fuzz_region {
    uint64_t addr;
    uint32_t size, datalen;
    uint8_t flags;
    const uint8_t *data; /* borrowed from the input */
};

struct fuzz_image {
    uint8_t selector;
    uint64_t header; /* the address of the first region of the input (the targets' header) */
    struct fuzz_region regions[FUZZ_MAX_REGIONS];
    size_t nregions;
    struct pyh_host_mapping maps[FUZZ_MAX_REGIONS];
};

/* Parses data into img (never fails: a short input gives fewer regions). */
void fuzz_image_parse(struct fuzz_image *img, const uint8_t *data, size_t size);

/* The label or path a region's mapping gets from flags bits 3-4 (the glibc target uses
 * them): 0 none, 1 "[heap]", 2 "[stack]", 3 "/nonexistent/libc.so.6". */
enum { FUZZ_MAP_PLAIN, FUZZ_MAP_HEAP, FUZZ_MAP_STACK, FUZZ_MAP_LIBC };

/* The host target over img: its read callback and one mapping per region. label_bits tells
 * whether flags bits 3-4 name the mapping (see above). img must outlive the target. */
struct pyh_host_target fuzz_image_host(struct fuzz_image *img, bool label_bits);

/* Reads a little-endian u64 at addr from the image (false when not held). */
bool fuzz_image_u64(const struct fuzz_image *img, uint64_t addr, uint64_t *out);

/* A CPython runtime put together by hand over a target: version 3.minor with its built-in
 * layout, no interpreter (the caller sets interps[0]), and one module standing for
 * libpython with no file and no symbols (the caller adds symbols to rt->module->symbols). */
struct fuzz_runtime {
    struct pyh_diag diag;
    struct pyh_target *target;
    struct pyh_images *images;
    struct pyh_runtime *rt;
};

/* Opens the host target over img and builds the runtime; false on failure (nothing to
 * free then). */
bool fuzz_runtime_open(struct fuzz_runtime *fr, struct fuzz_image *img, int minor, bool label_bits);

void fuzz_runtime_close(struct fuzz_runtime *fr);

/* Frees an error and returns nothing: the fuzz targets ignore errors by design. */
void fuzz_ignore(struct pyh_error *err);

#endif
