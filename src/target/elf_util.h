/* ELF helpers shared by the target and image layers: build-ids from files and from the
 * memory image of a loaded module. */
#ifndef PYH_TARGET_ELF_UTIL_H
#define PYH_TARGET_ELF_UTIL_H

#include <gelf.h>
#include <libelf.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct pyh_target;
struct pyh_mapping;

/* Initializes libelf once (thread-unsafe, idempotent). */
void pyh_elf_init(void);

/* The NT_GNU_BUILD_ID of an ELF file opened with libelf; stores up to cap bytes in out and
 * returns its length, 0 when it has none. */
size_t pyh_elf_file_build_id(Elf *elf, uint8_t *out, size_t cap);

/* The build-id of the ELF module whose first page is mapped at base in the target: reads
 * the ELF header, program headers and PT_NOTE segments from target memory. Returns its
 * length, 0 when it cannot be read (pages absent from a core, not ELF). core_only reads
 * only what the target itself holds (no fill from files on disk). */
size_t pyh_elf_memory_build_id(struct pyh_target *t, uint64_t base, uint8_t *out, size_t cap);

/* The build-id, from target memory, of the module that mapping m (with a path) is part of:
 * read at the module's first page (m->start - m->file_offset) only when that page is mapped
 * from the same path at file offset 0, so that another file's header is never taken for
 * this one's. 0 otherwise, or when it cannot be read. */
size_t pyh_elf_mapping_build_id(struct pyh_target *t, const struct pyh_mapping *m, uint8_t *out,
                                size_t cap);

/* Formats a build-id as lowercase hex into buf (cap >= 2*len+1). */
const char *pyh_build_id_hex(const uint8_t *id, size_t len, char *buf, size_t cap);

#endif
