/* A core as users have it: a plain ELF file, one compressed with zstd (systemd-coredump's
 * store), gzip, xz or lz4, recognised by its first bytes, or a stream (a pipe, "-" for
 * stdin: `coredumpctl dump | py-heap types -`). Anything but a plain regular file is
 * decompressed (or copied) into a temporary file, unlinked at once, in which every page of
 * zeros is a hole: the disk holds only the core's data, and py-heap's memory stays a few
 * buffers (the decoder's window), whatever the core's size. */
#ifndef PYH_TARGET_CORE_INPUT_H
#define PYH_TARGET_CORE_INPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

/* What was opened. */
struct pyh_core_input {
    int fd;             /* the plain ELF core, read-only use; the caller closes it */
    const char *format; /* "elf", "zstd", "gzip", "xz" or "lz4" */
    bool temporary;     /* fd is a decompressed (or copied) temporary file */
    bool stream;        /* the input was a pipe or stdin */
    uint64_t in_bytes;  /* bytes read from the input (compressed size) when temporary */
    uint64_t out_bytes; /* the core's size */
};

/* Opens path ("-" for stdin) as a core. Only a regular file, a pipe or stdin is read (never
 * a device, a directory, or a FIFO without a writer, which reads as empty). The temporary
 * file is made in $TMPDIR (default /var/tmp). */
struct pyh_error *pyh_core_input_open(const char *path, struct pyh_core_input *out);

/* The newest core of systemd-coredump's store ($PYHEAP_COREDUMP_DIR, default
 * /var/lib/systemd/coredump) whose PID, command name or executable (a path: the whole path;
 * a name: its last part) is match, as coredumpctl matches them. *path is malloc'ed; so is
 * *exe (the executable systemd recorded, or NULL), when exe is not NULL. */
struct pyh_error *pyh_coredump_find(const char *match, char **path, char **exe);

#endif
