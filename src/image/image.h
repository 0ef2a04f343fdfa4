/* The image layer: the ELF modules mapped in the target (executable, libpython, libc, ...),
 * their load bias, their symbols (.dynsym, .symtab, and those of a separate debug file) and
 * their DWARF when present (in the binary, through /usr/lib/debug/.build-id or
 * .gnu_debuglink). */
#ifndef PYH_IMAGE_IMAGE_H
#define PYH_IMAGE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/dwarf.h"
#include "target/target.h"
#include "util/hashmap.h"

/* One ELF module of the target. */
struct pyh_module {
    char *path;                  /* as the target names it */
    struct pyh_local_file *file; /* the file here, NULL if it was not found */
    uint64_t base;               /* address of its first byte (file offset 0) */
    uint64_t bias;               /* load bias: target address = file vaddr + bias */
    uint64_t start, end;         /* extent of its mappings */
    uint64_t image_end;          /* end of its image as its PT_LOADs lay it out (.bss
                                    included), 0 when unknown */
    bool is_exe;
    uint8_t build_id[64]; /* from target memory if readable, else from the file */
    size_t build_id_len;
    char *soname; /* DT_SONAME, NULL if none */

    /* Symbols, built on first lookup: name -> file vaddr. */
    bool symbols_loaded;
    bool has_symtab; /* a full .symtab was found (in the file or its debug file) */
    struct pyh_strmap symbols;

    /* Separate debug file and DWARF, looked for on first use. */
    bool debug_looked_up;
    struct pyh_local_file *debug_file; /* NULL when the DWARF is in the file or absent */
    char *dwarf_path;                  /* the file holding DWARF, NULL if none */
    struct pyh_dwarf *dwarf;
};

/* All modules of a target. */
struct pyh_images {
    struct pyh_target *target; /* borrowed */
    struct pyh_module *mods;
    size_t nmods, mods_cap;
    char **debug_dirs; /* directories searched for separate debug files */
    size_t ndebug_dirs;
    struct pyh_diag *diag; /* borrowed */
};

/* Finds the ELF modules in t's mappings. debug_dirs: colon-separated list, NULL for the
 * default (/usr/lib/debug), "" for none. */
struct pyh_error *pyh_images_load(struct pyh_target *t, const char *debug_dirs,
                                  struct pyh_diag *diag, struct pyh_images **out);

void pyh_images_free(struct pyh_images *images);

/* The module containing addr, NULL if none. */
struct pyh_module *pyh_images_module_at(struct pyh_images *images, uint64_t addr);

/* The executable module, NULL if unknown. */
struct pyh_module *pyh_images_exe(struct pyh_images *images);

/* Looks name up in mod's symbols (dynsym, symtab, debug file symtab; `name.lto_priv.N`
 * matches `name`). Stores the target address. */
bool pyh_module_symbol(struct pyh_images *images, struct pyh_module *mod, const char *name,
                       uint64_t *addr);

/* Looks name up in every module, executable first; stores the address and the module. */
bool pyh_images_symbol(struct pyh_images *images, const char *name, uint64_t *addr,
                       struct pyh_module **mod);

/* The DWARF of mod (in the file or a separate debug file), NULL when there is none. Looked
 * for once; the result is cached in mod. */
struct pyh_dwarf *pyh_module_dwarf(struct pyh_images *images, struct pyh_module *mod);

/* Reads bytes from mod's file on disk at file vaddr (for data the core does not hold and
 * that is needed before memory can be trusted). */
struct pyh_error *pyh_module_read_file(struct pyh_module *mod, uint64_t vaddr, void *buf,
                                       size_t len);

#endif
