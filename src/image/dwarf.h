/* DWARF, read with libdwarf, for what py-heap needs of it: the byte offsets of struct
 * members (to override the built-in layout tables) and the addresses of static variables.
 *
 * Only the top level of each compilation unit and the members of the structs asked for are
 * read; the walk stops as soon as every question has an answer, so asking about types that
 * Python.h declares costs one or two CUs. */
#ifndef PYH_IMAGE_DWARF_H
#define PYH_IMAGE_DWARF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct pyh_dwarf;

/* Opens the DWARF of an ELF file (the binary itself or a separate debug file). Fails with
 * PYH_ERR_NOT_FOUND when the file has no .debug_info. The file must stay mapped/open only for
 * the duration of the call: everything needed later is copied or kept by libdwarf's own fd. */
struct pyh_error *pyh_dwarf_open(const char *path, struct pyh_dwarf **out);

void pyh_dwarf_close(struct pyh_dwarf *dw);

/* One question: the offset of a member, named by a dotted path inside a struct or union.
 * type_name is a struct/union tag (`_is`, `_ts`, `pyruntimestate`) or a typedef name
 * (`PyInterpreterState`, `_PyRuntimeState`); both are tried. member_path is "a" or "a.b.c"
 * through nested structs/unions (anonymous ones are searched transparently), or "" for the
 * size of the type itself. Array members give the offset of element 0. */
struct pyh_dwarf_query {
    const char *type_name;
    const char *member_path;
    int64_t result; /* out: the offset (or size), -1 when the type or member does not exist */
};

/* Answers every query in qs (n of them) in one pass over the DWARF. */
struct pyh_error *pyh_dwarf_member_offsets(struct pyh_dwarf *dw, struct pyh_dwarf_query *qs,
                                           size_t n);

/* The link-time address (file vaddr, before load bias) of a global or file-static variable
 * named name (DW_TAG_variable with a DW_OP_addr location). Names with a `.lto_priv.N`
 * suffix in the DWARF do not occur (DWARF keeps the source name). Returns false if absent. */
bool pyh_dwarf_variable_address(struct pyh_dwarf *dw, const char *name, uint64_t *addr);

#endif
