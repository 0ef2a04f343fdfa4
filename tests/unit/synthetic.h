/* Synthetic targets for unit tests: small ELF core files written to a temporary directory,
 * and in-memory host targets, so that each layer can be tested on exact, hand-made data. */
#ifndef PYH_TESTS_SYNTHETIC_H
#define PYH_TESTS_SYNTHETIC_H

#include <stddef.h>
#include <stdint.h>

#include "pyheap.h"

/* One PT_LOAD: size bytes of data at vaddr (data may be NULL for a segment the core left
 * out: p_filesz 0); memsz >= size (0 means size). */
struct syn_segment {
    uint64_t vaddr;
    const void *data;
    size_t size, memsz;
    uint32_t flags; /* PF_R | PF_W | PF_X */
};

/* One NT_FILE entry. */
struct syn_file {
    uint64_t start, end, offset;
    const char *path;
};

struct syn_thread {
    int32_t tid;
    uint64_t rip, rsp, fs_base;
};

struct syn_core {
    const struct syn_segment *segments;
    size_t nsegments;
    const struct syn_file *files;
    size_t nfiles;
    const struct syn_thread *threads;
    size_t nthreads;
    const uint64_t *auxv; /* (type, value) pairs */
    size_t nauxv;
};

/* A fresh temporary directory (removed by syn_cleanup). */
const char *syn_tmpdir(void);

/* Writes a core file made of c into the temporary directory; returns its path (static
 * buffer per call number, valid until cleanup). */
const char *syn_write_core(const struct syn_core *c, const char *name);

/* Writes size bytes to a file in the temporary directory; returns its path. */
const char *syn_write_file(const char *name, const void *data, size_t size);

/* The file offset of the data of the PT_LOAD at vaddr in the core at path; -1 if none. */
long syn_segment_offset(const char *path, uint64_t vaddr);

/* Truncates a file to size bytes. */
void syn_truncate(const char *path, size_t size);

/* Removes the temporary directory and everything in it. */
void syn_cleanup(void);

/* An in-memory target: regions of bytes at addresses, read by a host callback. */
struct syn_memory {
    struct {
        uint64_t addr;
        uint8_t *bytes;
        size_t size;
    } regions[32];
    size_t nregions;
};

/* Adds a zeroed region of size bytes at addr; returns its bytes for the test to fill. */
uint8_t *syn_memory_region(struct syn_memory *m, uint64_t addr, size_t size);

/* The host target over m (for pyh_target_open_host / pyh_session_open_host). */
struct pyh_host_target syn_memory_host(struct syn_memory *m);

void syn_memory_free(struct syn_memory *m);

#endif
