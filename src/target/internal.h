/* Shared between the target kinds (core.c, live.c, host.c, files.c, target.c); not part of
 * the layer's face. */
#ifndef PYH_TARGET_INTERNAL_H
#define PYH_TARGET_INTERNAL_H

#include <libelf.h>
#include <stdio.h>
#include <sys/types.h>

#include "target/target.h"

/* A new zeroed target of the given kind; NULL when out of memory. */
struct pyh_target *pyh_target_alloc(enum pyh_target_kind kind, const struct pyh_target_ops *ops,
                                    struct pyh_diag *diag);

/* Allocates the block cache of nslots blocks (for ops->cached kinds). */
struct pyh_error *pyh_target_init_cache(struct pyh_target *t, size_t nslots);

/* Sets the rss of the mappings of t from the text of a /proc/PID/smaps (live: the file
 * itself; host: the host's copy of it). Mappings it does not list keep theirs. */
void pyh_target_parse_smaps(struct pyh_target *t, FILE *smaps);

/* Frees a residency (NULL is fine). */
void pyh_residency_free(struct pyh_residency *r);

/* Sorts t->maps by start and checks they do not overlap (drops later overlapping ones with
 * a warning: untrusted input). */
void pyh_target_sort_maps(struct pyh_target *t);

/* Adds a mapping (copies path and label). */
struct pyh_error *pyh_target_add_map(struct pyh_target *t, uint64_t start, uint64_t end,
                                     uint64_t offset, uint32_t prot, const char *path,
                                     const char *label);

/* What a path that is not a regular file is, for its message: " (a directory)", " (a FIFO)",
 * " (a device)", " (a socket)", or "". */
const char *pyh_file_kind(mode_t mode);

/* Opens path read-only: mmapped, with its build-id when it is ELF. */
struct pyh_error *pyh_local_file_open(const char *path, const char *target_path,
                                      struct pyh_local_file **out);

void pyh_local_file_free(struct pyh_local_file *f);

/* Finds the local file for target_path under search (the explicit executable when is_exe,
 * sysroot, lib_path, then the path itself), preferring one whose build-id equals want (when
 * want_len > 0). Remembers it in t->files; returns the same object for the same path.
 * Returns NULL when nothing was found; mismatches and misses become warnings only when
 * `needed` (the core lacks bytes of the file's mappings). */
struct pyh_local_file *pyh_target_find_file(struct pyh_target *t,
                                            const struct pyh_file_search *search,
                                            const char *target_path, bool is_exe,
                                            const uint8_t *want, size_t want_len, bool needed);

/* libelf handle for a local ELF file, NULL for other files. Owned by the file. */
Elf *pyh_local_file_elf(struct pyh_local_file *f);

/* Test hook (live.c): when set, a PYH_LIVE_COPY open calls it with the PID once the copy's
 * buffers are ready and before the process is stopped, so that a test can change the
 * process's mappings in between. NULL otherwise. */
extern void (*pyh_live_test_prepared)(int pid);

/* Test switches (live.c) to reach the fallbacks of older kernels and stricter systems on any
 * machine. pyh_live_test_pagemap: 0, as the kernel allows; 1, read /proc/PID/pagemap rather
 * than use PAGEMAP_SCAN (Linux < 6.7); 2, no pagemap (mappings copied whole, as when it
 * cannot be opened). pyh_live_test_mem_fd: read through /proc/PID/mem rather than
 * process_vm_readv (as when seccomp refuses it). */
extern int pyh_live_test_pagemap;
extern bool pyh_live_test_mem_fd;

#endif
