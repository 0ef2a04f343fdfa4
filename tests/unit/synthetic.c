/* Synthetic targets for unit tests; see synthetic.h. */
#include "synthetic.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

const char *syn_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/pyheap-unit-XXXXXX");
        if (!mkdtemp(tmpdir)) abort();
    }
    return tmpdir;
}

void syn_cleanup(void)
{
    if (!tmpdir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
    tmpdir[0] = '\0';
}

static const char *path_in_tmp(const char *name)
{
    static char paths[16][512];
    static int next;
    char *p = paths[next++ % 16];
    snprintf(p, 512, "%s/%s", syn_tmpdir(), name);
    return p;
}

const char *syn_write_file(const char *name, const void *data, size_t size)
{
    const char *path = path_in_tmp(name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return path;
}

void syn_truncate(const char *path, size_t size)
{
    if (truncate(path, (off_t)size) != 0) abort();
}

/* Appends one note (name "CORE") to buf. */
static size_t put_note(uint8_t *buf, size_t off, uint32_t type, const void *desc, size_t size)
{
    Elf64_Nhdr nh = {.n_namesz = 5, .n_descsz = (Elf64_Word)size, .n_type = type};
    memcpy(buf + off, &nh, sizeof(nh));
    off += sizeof(nh);
    memcpy(buf + off, "CORE\0\0\0", 8);
    off += 8;
    memcpy(buf + off, desc, size);
    off += (size + 3) & ~(size_t)3;
    return off;
}

const char *syn_write_core(const struct syn_core *c, const char *name)
{
    /* Notes first, then segment data, page-aligned as cores are. */
    size_t notes_cap = 65536;
    uint8_t *notes = calloc(1, notes_cap);
    size_t nsize = 0;
    for (size_t i = 0; i < c->nthreads; i++) {
        uint8_t prstatus[336] = {0};
        memcpy(prstatus + 32, &c->threads[i].tid, 4);
        uint64_t regs[27] = {0};
        regs[16] = c->threads[i].rip;
        regs[19] = c->threads[i].rsp;
        regs[21] = c->threads[i].fs_base;
        memcpy(prstatus + 112, regs, sizeof(regs));
        nsize = put_note(notes, nsize, NT_PRSTATUS, prstatus, sizeof(prstatus));
    }
    if (c->nauxv) nsize = put_note(notes, nsize, NT_AUXV, c->auxv, c->nauxv * 16);
    if (c->nfiles) {
        uint8_t desc[8192];
        size_t d = 0;
        uint64_t count = c->nfiles, page = 4096;
        memcpy(desc + d, &count, 8), d += 8;
        memcpy(desc + d, &page, 8), d += 8;
        for (size_t i = 0; i < c->nfiles; i++) {
            uint64_t v[3] = {c->files[i].start, c->files[i].end, c->files[i].offset / 4096};
            memcpy(desc + d, v, 24), d += 24;
        }
        for (size_t i = 0; i < c->nfiles; i++) {
            size_t n = strlen(c->files[i].path) + 1;
            memcpy(desc + d, c->files[i].path, n), d += n;
        }
        nsize = put_note(notes, nsize, NT_FILE, desc, d);
    }

    size_t nph = 1 + c->nsegments;
    size_t off = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
    size_t notes_off = off;
    off = (off + nsize + 4095) & ~(size_t)4095;
    Elf64_Phdr *ph = calloc(nph, sizeof(*ph));
    ph[0] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = notes_off, .p_filesz = nsize, .p_align = 4};
    for (size_t i = 0; i < c->nsegments; i++) {
        const struct syn_segment *s = &c->segments[i];
        size_t filesz = s->data ? s->size : 0;
        ph[1 + i] = (Elf64_Phdr){.p_type = PT_LOAD, .p_flags = s->flags, .p_offset = off,
                                 .p_vaddr = s->vaddr, .p_filesz = filesz,
                                 .p_memsz = s->memsz ? s->memsz : s->size, .p_align = 4096};
        off = (off + filesz + 4095) & ~(size_t)4095;
    }
    Elf64_Ehdr eh = {0};
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_CORE;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_phoff = sizeof(eh);
    eh.e_ehsize = sizeof(eh);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = (Elf64_Half)nph;

    uint8_t *image = calloc(1, off);
    memcpy(image, &eh, sizeof(eh));
    memcpy(image + sizeof(eh), ph, nph * sizeof(*ph));
    memcpy(image + notes_off, notes, nsize);
    for (size_t i = 0; i < c->nsegments; i++)
        if (c->segments[i].data)
            memcpy(image + ph[1 + i].p_offset, c->segments[i].data, c->segments[i].size);
    const char *path = syn_write_file(name, image, off);
    free(image);
    free(ph);
    free(notes);
    return path;
}

uint8_t *syn_memory_region(struct syn_memory *m, uint64_t addr, size_t size)
{
    if (m->nregions == 32) abort();
    m->regions[m->nregions].addr = addr;
    m->regions[m->nregions].bytes = calloc(1, size);
    m->regions[m->nregions].size = size;
    return m->regions[m->nregions++].bytes;
}

static int memory_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
    struct syn_memory *m = ctx;
    for (size_t i = 0; i < m->nregions; i++) {
        if (addr >= m->regions[i].addr && addr + len <= m->regions[i].addr + m->regions[i].size) {
            memcpy(buf, m->regions[i].bytes + (addr - m->regions[i].addr), len);
            return 0;
        }
    }
    return -1;
}

struct pyh_host_target syn_memory_host(struct syn_memory *m)
{
    struct pyh_host_target h = {.ctx = m, .read = memory_read, .description = "synthetic memory"};
    return h;
}

void syn_memory_free(struct syn_memory *m)
{
    for (size_t i = 0; i < m->nregions; i++) free(m->regions[i].bytes);
    m->nregions = 0;
}

long syn_segment_offset(const char *path, uint64_t vaddr)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    Elf64_Ehdr eh;
    long found = -1;
    if (fread(&eh, sizeof(eh), 1, f) == 1) {
        for (unsigned i = 0; i < eh.e_phnum && found < 0; i++) {
            Elf64_Phdr ph;
            if (fseek(f, (long)(eh.e_phoff + i * sizeof(ph)), SEEK_SET) != 0 ||
                fread(&ph, sizeof(ph), 1, f) != 1)
                break;
            if (ph.p_type == PT_LOAD && ph.p_vaddr == vaddr) found = (long)ph.p_offset;
        }
    }
    fclose(f);
    return found;
}
