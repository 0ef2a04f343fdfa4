/* The heap-layer setup shared by the classify and referents fuzz targets: a memory image
 * (fuzz_common.h) becomes a runtime, a type registry and an objects table, as
 * pyh_heap_build makes them from allocator blocks.
 *
 *   selector          the version: 3.(8 + selector % 6)
 *   first region H    H+0 .. H+256: struct pyh_static_types (32 addresses: type, object,
 *                     dict, str, int, ... in its order); H+256: the address of an
 *                     interpreter frame (3.11+) whose references are read too
 *   every region      scanned for type objects (a word equal to `type`, or to a metatype
 *                     found in an earlier round, at offset 8), registered with
 *                     pyh_heap_add_type; then kinds are assigned
 *   block regions     flags bits 3-7 = k: 1..30, the region is a run of 16*k-byte blocks
 *                     (pymalloc); 31, the region is one block (the usable part of a glibc chunk,
 *                     of which 256 bytes are copied as the heap layer does). Each block is
 *                     classified (pyh_heap_classify); each object is sized from the copy
 *                     and from the target (pyh_heap_sizeof) and goes into the objects
 *                     table (sorted, as the conservative scan and the referents need it). */
#ifndef PYH_TESTS_FUZZ_HEAP_H
#define PYH_TESTS_FUZZ_HEAP_H

#include "fuzz_common.h"
#include "heap/heap_internal.h"

struct fuzz_heap {
    struct fuzz_runtime fr;
    struct pyh_heap *heap;
    uint64_t iframe;
};

/* Builds everything; false when the input gives no runtime (nothing to free then). */
bool fuzz_heap_open(struct fuzz_heap *fh, struct fuzz_image *img);

void fuzz_heap_close(struct fuzz_heap *fh);

#endif
