/* Build-ids from ELF files and from target memory; see elf_util.h. */
#include "target/elf_util.h"

#include <elf.h>
#include <string.h>

#include "target/target.h"

void pyh_elf_init(void)
{
    static int done;
    if (!done) {
        elf_version(EV_CURRENT);
        done = 1;
    }
}

/* Looks for NT_GNU_BUILD_ID in one block of notes. */
static size_t build_id_in_notes(Elf_Data *data, uint8_t *out, size_t cap)
{
    GElf_Nhdr nhdr;
    size_t offset = 0, name_off, desc_off;
    while (offset < data->d_size &&
           (offset = gelf_getnote(data, offset, &nhdr, &name_off, &desc_off)) > 0) {
        if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 &&
            memcmp((const char *)data->d_buf + name_off, "GNU", 4) == 0) {
            size_t n = nhdr.n_descsz < cap ? nhdr.n_descsz : cap;
            memcpy(out, (const char *)data->d_buf + desc_off, n);
            return n;
        }
    }
    return 0;
}

size_t pyh_elf_file_build_id(Elf *elf, uint8_t *out, size_t cap)
{
    size_t phnum = 0;
    if (elf_getphdrnum(elf, &phnum) == 0) {
        for (size_t i = 0; i < phnum; i++) {
            GElf_Phdr phdr;
            if (!gelf_getphdr(elf, (int)i, &phdr) || phdr.p_type != PT_NOTE) continue;
            Elf_Data *data = elf_getdata_rawchunk(elf, phdr.p_offset, phdr.p_filesz,
                                                  ELF_T_NHDR);
            size_t n = data ? build_id_in_notes(data, out, cap) : 0;
            if (n) return n;
        }
    }
    /* Separate debug files keep the note section but their PT_NOTE may be empty. */
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn))) {
        GElf_Shdr shdr;
        if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_NOTE ||
            (shdr.sh_flags & SHF_COMPRESSED))
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        size_t n = data ? build_id_in_notes(data, out, cap) : 0;
        if (n) return n;
    }
    return 0;
}

size_t pyh_elf_memory_build_id(struct pyh_target *t, uint64_t base, uint8_t *out, size_t cap)
{
    Elf64_Ehdr ehdr;
    struct pyh_error *err = pyh_target_read(t, base, &ehdr, sizeof(ehdr));
    if (err) {
        pyh_error_free(err);
        return 0;
    }
    if (memcmp(ehdr.e_ident, ELFMAG, SELFMAG) != 0 || ehdr.e_ident[EI_CLASS] != ELFCLASS64 ||
        ehdr.e_phentsize != sizeof(Elf64_Phdr) || ehdr.e_phnum == 0 || ehdr.e_phnum > 256)
        return 0;
    Elf64_Phdr phdrs[256];
    err = pyh_target_read(t, base + ehdr.e_phoff, phdrs, ehdr.e_phnum * sizeof(Elf64_Phdr));
    if (err) {
        pyh_error_free(err);
        return 0;
    }
    /* The bias: where the first PT_LOAD (file offset 0) landed. */
    uint64_t bias = base;
    for (int i = 0; i < ehdr.e_phnum; i++) {
        if (phdrs[i].p_type == PT_LOAD) {
            bias = base - (phdrs[i].p_vaddr & ~(uint64_t)0xfff);
            break;
        }
    }
    for (int i = 0; i < ehdr.e_phnum; i++) {
        if (phdrs[i].p_type != PT_NOTE || phdrs[i].p_filesz > 4096) continue;
        uint8_t notes[4096];
        size_t size = phdrs[i].p_filesz;
        err = pyh_target_read(t, bias + phdrs[i].p_vaddr, notes, size);
        if (err) {
            pyh_error_free(err);
            continue;
        }
        size_t off = 0;
        while (off + 12 <= size) {
            uint32_t namesz, descsz, type;
            memcpy(&namesz, notes + off, 4);
            memcpy(&descsz, notes + off + 4, 4);
            memcpy(&type, notes + off + 8, 4);
            size_t name_off = off + 12;
            size_t desc_off = name_off + ((namesz + 3) & ~3u);
            size_t next = desc_off + ((descsz + 3) & ~3u);
            if (next > size || next <= off) break;
            if (type == NT_GNU_BUILD_ID && namesz == 4 && memcmp(notes + name_off, "GNU", 4) == 0) {
                size_t n = descsz < cap ? descsz : cap;
                memcpy(out, notes + desc_off, n);
                return n;
            }
            off = next;
        }
    }
    return 0;
}

size_t pyh_elf_mapping_build_id(struct pyh_target *t, const struct pyh_mapping *m, uint8_t *out,
                                size_t cap)
{
    uint64_t base = m->start - m->file_offset;
    const struct pyh_mapping *first = pyh_target_mapping_at(t, base);
    if (!first || !first->path || strcmp(first->path, m->path) != 0 || first->file_offset != 0)
        return 0;
    return pyh_elf_memory_build_id(t, base, out, cap);
}

const char *pyh_build_id_hex(const uint8_t *id, size_t len, char *buf, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    size_t j = 0;
    for (size_t i = 0; i < len && j + 2 < cap; i++) {
        buf[j++] = digits[id[i] >> 4];
        buf[j++] = digits[id[i] & 15];
    }
    if (cap) buf[j] = '\0';
    return buf;
}
