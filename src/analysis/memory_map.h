/* Mapped memory by kind: what a process's address space is made of, from its mappings
 * alone (live: /proc/PID/maps labels; core: NT_FILE, registers and auxv). */
#ifndef PYH_ANALYSIS_MEMORY_MAP_H
#define PYH_ANALYSIS_MEMORY_MAP_H

#include <stdint.h>

#include "image/image.h"
#include "target/target.h"

enum pyh_map_kind {
    PYH_MAP_HEAP,        /* the brk heap */
    PYH_MAP_ANONYMOUS,   /* other anonymous memory (mmap'd arenas, malloc'd big blocks) */
    PYH_MAP_FILE_BACKED, /* mapped files: binaries, libraries, data files */
    PYH_MAP_STACK,       /* thread stacks */
    PYH_MAP_OTHER,       /* kernel-provided: [vdso], [vvar], [vsyscall] */
    PYH_MAP_KINDS
};

/* Bytes mapped by kind. */
struct pyh_memory_map {
    uint64_t bytes[PYH_MAP_KINDS];
    uint64_t total;
};

/* The kind of mapping m. */
enum pyh_map_kind pyh_map_kind_of(struct pyh_target *t, struct pyh_images *images,
                                  const struct pyh_mapping *m);

/* Sums every mapping of t by kind. */
void pyh_memory_map(struct pyh_target *t, struct pyh_images *images, struct pyh_memory_map *out);

/* The name of a kind for reports ("heap", "anonymous", "file_backed", "stacks", "other"). */
const char *pyh_map_kind_name(enum pyh_map_kind kind);

#endif
