/* ELF modules of a target: which files are mapped where, with what load bias, and the
 * symbols and debug files behind them; see image.h. */
#include "image/image.h"

#include <elf.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "target/elf_util.h"
#include "target/internal.h"
#include "util/mem.h"

static Elf *file_elf(const struct pyh_local_file *f) { return f ? (Elf *)f->elf : NULL; }

/* The section called name, NULL if absent. */
static Elf_Scn *find_section(Elf *elf, const char *name)
{
    size_t shstrndx;
    if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0) return NULL;
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn))) {
        GElf_Shdr shdr;
        if (!gelf_getshdr(scn, &shdr)) continue;
        const char *n = elf_strptr(elf, shstrndx, shdr.sh_name);
        if (n && strcmp(n, name) == 0) return scn;
    }
    return NULL;
}

/* The load bias of a module mapped at base, from the first PT_LOAD of its file (or of its
 * ELF header in target memory when the file is missing). */
static uint64_t compute_bias(struct pyh_target *t, const struct pyh_local_file *f, uint64_t base)
{
    Elf *elf = file_elf(f);
    size_t phnum = 0;
    if (elf && elf_getphdrnum(elf, &phnum) == 0) {
        for (size_t i = 0; i < phnum; i++) {
            GElf_Phdr ph;
            if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD)
                return base - ((ph.p_vaddr - ph.p_offset) & ~(uint64_t)0xfff);
        }
    }
    Elf64_Ehdr eh;
    struct pyh_error *err = pyh_target_read(t, base, &eh, sizeof(eh));
    if (err) {
        pyh_error_free(err);
        return base;
    }
    if (eh.e_phnum < 256 &&
        eh.e_phentsize == sizeof(Elf64_Phdr)) {
        for (unsigned i = 0; i < eh.e_phnum; i++) {
            Elf64_Phdr ph;
            err = pyh_target_read(t, base + eh.e_phoff + i * sizeof(ph), &ph, sizeof(ph));
            if (err) {
                pyh_error_free(err);
                break;
            }
            if (ph.p_type == PT_LOAD) return base - ((ph.p_vaddr - ph.p_offset) & ~(uint64_t)0xfff);
        }
    }
    return base;
}

/* The end of the module's image: the highest p_vaddr + p_memsz of its PT_LOADs, biased.
 * Past the file-backed mappings, up to here, is its .bss. */
static uint64_t compute_image_end(const struct pyh_local_file *f, uint64_t bias)
{
    Elf *elf = file_elf(f);
    size_t phnum = 0;
    uint64_t end = 0;
    if (!elf || elf_getphdrnum(elf, &phnum) != 0) return 0;
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && ph.p_vaddr + ph.p_memsz > end)
            end = ph.p_vaddr + ph.p_memsz;
    }
    return end ? bias + end : 0;
}

/* DT_SONAME of an ELF file, NULL if none. */
static char *read_soname(Elf *elf)
{
    Elf_Scn *scn = NULL;
    while (elf && (scn = elf_nextscn(elf, scn))) {
        GElf_Shdr shdr;
        if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_DYNAMIC) continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        size_t n = data && shdr.sh_entsize ? data->d_size / shdr.sh_entsize : 0;
        for (size_t i = 0; i < n; i++) {
            GElf_Dyn dyn;
            if (gelf_getdyn(data, (int)i, &dyn) && dyn.d_tag == DT_SONAME) {
                const char *s = elf_strptr(elf, shdr.sh_link, dyn.d_un.d_val);
                return s ? pyh_strdup(s) : NULL;
            }
        }
    }
    return NULL;
}

static bool is_elf_module(struct pyh_target *t, const struct pyh_mapping *m, uint64_t base)
{
    if (m->file) return m->file->elf != NULL;
    char magic[4];
    struct pyh_error *err = pyh_target_read(t, base, magic, 4);
    if (err) {
        pyh_error_free(err);
        return false;
    }
    return memcmp(magic, ELFMAG, SELFMAG) == 0;
}

static struct pyh_error *split_dirs(const char *list, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    while (list && *list) {
        size_t len = strcspn(list, ":");
        if (len > 0) {
            char *dir = strndup(list, len);
            if (!dir || PYH_APPEND(*out, *n, cap, &dir)) {
                free(dir);
                return pyh_error_nomem();
            }
        }
        list += len;
        if (*list == ':') list++;
    }
    return NULL;
}

struct pyh_error *pyh_images_load(struct pyh_target *t, const char *debug_dirs,
                                  struct pyh_diag *diag, struct pyh_images **out)
{
    *out = NULL;
    struct pyh_images *im = calloc(1, sizeof(*im));
    if (!im) return pyh_error_nomem();
    im->target = t;
    im->diag = diag;
    struct pyh_error *err =
        split_dirs(debug_dirs ? debug_dirs : "/usr/lib/debug", &im->debug_dirs, &im->ndebug_dirs);
    if (err) goto fail;

    for (size_t i = 0; i < t->nmaps; i++) {
        const struct pyh_mapping *m = &t->maps[i];
        if (!m->path) continue;
        bool seen = false;
        for (size_t j = 0; j < im->nmods && !seen; j++)
            seen = strcmp(im->mods[j].path, m->path) == 0;
        if (seen) continue;
        /* The module starts at the mapping of file offset 0: the lowest one of this path. */
        uint64_t base = m->start - m->file_offset;
        if (!is_elf_module(t, m, base)) continue;
        struct pyh_module mod = {.base = base, .file = m->file, .start = m->start, .end = m->end};
        for (size_t j = i; j < t->nmaps; j++) {
            if (!t->maps[j].path || strcmp(t->maps[j].path, m->path) != 0) continue;
            if (t->maps[j].end > mod.end) mod.end = t->maps[j].end;
        }
        mod.path = pyh_strdup(m->path);
        if (!mod.path) {
            err = pyh_error_nomem();
            goto fail;
        }
        mod.is_exe = t->exe_path && strcmp(t->exe_path, m->path) == 0;
        mod.bias = compute_bias(t, m->file, base);
        mod.image_end = compute_image_end(m->file, mod.bias);
        mod.build_id_len = pyh_elf_memory_build_id(t, base, mod.build_id, sizeof(mod.build_id));
        if (!mod.build_id_len && m->file) {
            mod.build_id_len = m->file->build_id_len;
            memcpy(mod.build_id, m->file->build_id, m->file->build_id_len);
        }
        mod.soname = read_soname(file_elf(m->file));
        if ((err = PYH_APPEND(im->mods, im->nmods, im->mods_cap, &mod))) {
            free(mod.path);
            free(mod.soname);
            goto fail;
        }
    }
    *out = im;
    return NULL;
fail:
    pyh_images_free(im);
    return err;
}

void pyh_images_free(struct pyh_images *im)
{
    if (!im) return;
    for (size_t i = 0; i < im->nmods; i++) {
        struct pyh_module *m = &im->mods[i];
        free(m->path);
        free(m->soname);
        free(m->dwarf_path);
        pyh_strmap_free(&m->symbols);
        pyh_dwarf_close(m->dwarf);
        pyh_local_file_free(m->debug_file);
    }
    free(im->mods);
    for (size_t i = 0; i < im->ndebug_dirs; i++) free(im->debug_dirs[i]);
    free(im->debug_dirs);
    free(im);
}

struct pyh_module *pyh_images_module_at(struct pyh_images *im, uint64_t addr)
{
    for (size_t i = 0; i < im->nmods; i++)
        if (addr >= im->mods[i].start && addr < im->mods[i].end) return &im->mods[i];
    return NULL;
}

struct pyh_module *pyh_images_exe(struct pyh_images *im)
{
    for (size_t i = 0; i < im->nmods; i++)
        if (im->mods[i].is_exe) return &im->mods[i];
    return NULL;
}

/* ---- Separate debug files ------------------------------------------------------------ */

static bool has_debug_info(Elf *elf) { return find_section(elf, ".debug_info") != NULL; }

/* Opens path as the debug file of mod if its build-id matches (when mod has one). */
static struct pyh_local_file *try_debug_file(struct pyh_module *mod, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return NULL;
    struct pyh_local_file *f = NULL;
    struct pyh_error *err = pyh_local_file_open(path, NULL, &f);
    if (err) {
        pyh_error_free(err);
        return NULL;
    }
    bool ok = f->elf && (mod->build_id_len == 0 || (f->build_id_len == mod->build_id_len &&
                                                     memcmp(f->build_id, mod->build_id,
                                                            f->build_id_len) == 0));
    if (!ok) {
        pyh_local_file_free(f);
        return NULL;
    }
    return f;
}

static struct pyh_local_file *find_debug_by_build_id(struct pyh_images *im, struct pyh_module *mod)
{
    if (mod->build_id_len < 2) return NULL;
    char hex[130];
    pyh_build_id_hex(mod->build_id, mod->build_id_len, hex, sizeof(hex));
    for (size_t i = 0; i < im->ndebug_dirs; i++) {
        char *path = NULL;
        if (asprintf(&path, "%s/.build-id/%.2s/%s.debug", im->debug_dirs[i], hex, hex + 2) < 0)
            continue;
        struct pyh_local_file *f = try_debug_file(mod, path);
        free(path);
        if (f) return f;
    }
    return NULL;
}

static struct pyh_local_file *find_debug_by_link(struct pyh_images *im, struct pyh_module *mod)
{
    Elf *elf = file_elf(mod->file);
    Elf_Scn *scn = find_section(elf, ".gnu_debuglink");
    Elf_Data *data = scn ? elf_getdata(scn, NULL) : NULL;
    if (!data || data->d_size < 2 || !memchr(data->d_buf, '\0', data->d_size)) return NULL;
    const char *name = data->d_buf;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", mod->file->path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    char *paths[2 + 16];
    size_t n = 0;
    if (asprintf(&paths[n], "%s/%s", dir, name) >= 0) n++;
    if (asprintf(&paths[n], "%s/.debug/%s", dir, name) >= 0) n++;
    for (size_t i = 0; i < im->ndebug_dirs && n < 18; i++)
        if (asprintf(&paths[n], "%s%s/%s", im->debug_dirs[i], dir, name) >= 0) n++;
    struct pyh_local_file *found = NULL;
    for (size_t i = 0; i < n; i++) {
        /* The debuglink may name the binary itself; it is not its own debug file. */
        if (!found && strcmp(paths[i], mod->file->path) != 0) found = try_debug_file(mod, paths[i]);
        free(paths[i]);
    }
    return found;
}

/* Looks for DWARF once: in the file itself, else (when debug directories are configured)
 * by build-id, else by .gnu_debuglink. */
static void look_up_debug(struct pyh_images *im, struct pyh_module *mod)
{
    if (mod->debug_looked_up) return;
    mod->debug_looked_up = true;
    if (!mod->file) return;
    if (has_debug_info(file_elf(mod->file))) {
        mod->dwarf_path = pyh_strdup(mod->file->path);
        return;
    }
    if (im->ndebug_dirs == 0) return; /* "no debug files": not even beside the binary */
    mod->debug_file = find_debug_by_build_id(im, mod);
    if (!mod->debug_file) mod->debug_file = find_debug_by_link(im, mod);
    if (mod->debug_file && has_debug_info(file_elf(mod->debug_file)))
        mod->dwarf_path = pyh_strdup(mod->debug_file->path);
}

struct pyh_dwarf *pyh_module_dwarf(struct pyh_images *im, struct pyh_module *mod)
{
    look_up_debug(im, mod);
    if (mod->dwarf || !mod->dwarf_path) return mod->dwarf;
    struct pyh_error *err = pyh_dwarf_open(mod->dwarf_path, &mod->dwarf);
    if (err) {
        pyh_diag_warn(im->diag, "debug info of %s is unusable: %s", mod->path,
                      pyh_error_message(err));
        pyh_error_free(err);
        free(mod->dwarf_path);
        mod->dwarf_path = NULL;
        mod->dwarf = NULL;
    }
    return mod->dwarf;
}

/* ---- Symbols ------------------------------------------------------------------------- */

/* Adds the defined symbols of one symbol table; earlier tables win (.dynsym first). */
static void add_symbols(struct pyh_module *mod, Elf *elf, Elf_Scn *scn)
{
    GElf_Shdr shdr;
    if (!gelf_getshdr(scn, &shdr) || shdr.sh_entsize == 0) return;
    Elf_Data *data = elf_getdata(scn, NULL);
    if (!data) return;
    size_t n = data->d_size / shdr.sh_entsize;
    for (size_t i = 1; i < n; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || sym.st_name == 0)
            continue;
        int type = GELF_ST_TYPE(sym.st_info);
        if (type != STT_OBJECT && type != STT_FUNC && type != STT_NOTYPE && type != STT_TLS)
            continue;
        const char *name = elf_strptr(elf, shdr.sh_link, sym.st_name);
        if (!name || !*name) continue;
        /* Names point into the mmapped file, which lives as long as the module. */
        if (pyh_strmap_put(&mod->symbols, name, sym.st_value, false)) return;
    }
}

static void load_symbols(struct pyh_images *im, struct pyh_module *mod)
{
    if (mod->symbols_loaded) return;
    mod->symbols_loaded = true;
    Elf *elf = file_elf(mod->file);
    if (!elf) return;
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn))) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) && shdr.sh_type == SHT_DYNSYM) add_symbols(mod, elf, scn);
    }
    scn = NULL;
    while ((scn = elf_nextscn(elf, scn))) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) && shdr.sh_type == SHT_SYMTAB) {
            add_symbols(mod, elf, scn);
            mod->has_symtab = true;
        }
    }
    if (mod->has_symtab) return;
    look_up_debug(im, mod);
    Elf *debug = file_elf(mod->debug_file);
    scn = NULL;
    while (debug && (scn = elf_nextscn(debug, scn))) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) && shdr.sh_type == SHT_SYMTAB) {
            add_symbols(mod, debug, scn);
            mod->has_symtab = true;
        }
    }
}

/* Finds `name.lto_priv.N` by scanning: rare (stripped LTO builds with a debug file). */
static bool find_lto_symbol(struct pyh_module *mod, const char *name, uint64_t *value)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < mod->symbols.cap; i++) {
        const char *key = mod->symbols.keys[i];
        if (key && strncmp(key, name, n) == 0 && strncmp(key + n, ".lto_priv.", 10) == 0) {
            *value = mod->symbols.values[i];
            return true;
        }
    }
    return false;
}

bool pyh_module_symbol(struct pyh_images *im, struct pyh_module *mod, const char *name,
                       uint64_t *addr)
{
    load_symbols(im, mod);
    uint64_t value;
    if (!pyh_strmap_get(&mod->symbols, name, &value) && !find_lto_symbol(mod, name, &value))
        return false;
    *addr = value + mod->bias;
    return true;
}

bool pyh_images_symbol(struct pyh_images *im, const char *name, uint64_t *addr,
                       struct pyh_module **mod)
{
    struct pyh_module *exe = pyh_images_exe(im);
    if (exe && pyh_module_symbol(im, exe, name, addr)) {
        if (mod) *mod = exe;
        return true;
    }
    for (size_t i = 0; i < im->nmods; i++) {
        if (&im->mods[i] == exe) continue;
        if (pyh_module_symbol(im, &im->mods[i], name, addr)) {
            if (mod) *mod = &im->mods[i];
            return true;
        }
    }
    return false;
}

struct pyh_error *pyh_module_read_file(struct pyh_module *mod, uint64_t vaddr, void *buf,
                                       size_t len)
{
    Elf *elf = file_elf(mod->file);
    size_t phnum = 0;
    if (elf && elf_getphdrnum(elf, &phnum) == 0) {
        for (size_t i = 0; i < phnum; i++) {
            GElf_Phdr ph;
            if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD) continue;
            if (vaddr < ph.p_vaddr || vaddr + len > ph.p_vaddr + ph.p_filesz) continue;
            uint64_t off = ph.p_offset + (vaddr - ph.p_vaddr);
            if (off + len > mod->file->size) break;
            memcpy(buf, mod->file->data + off, len);
            return NULL;
        }
    }
    return pyh_error_create(PYH_ERR_FAULT, "cannot read %zu bytes at vaddr 0x%llx of %s", len,
                            (unsigned long long)vaddr, mod->path);
}
