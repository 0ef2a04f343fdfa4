/* The core-file target: an ELF core mmapped read-only, its PT_LOAD segments for memory, its
 * notes for mappings (NT_FILE), threads (NT_PRSTATUS), the command (NT_PRPSINFO) and auxv
 * (NT_AUXV). Memory the core does not hold (text and rodata that gdb and the kernel leave
 * out, segments lost to truncation) is read from the mapped files on disk when they can be
 * found. Every offset and size in the core is checked against the file: cores are untrusted
 * input. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target/elf_util.h"
#include "target/core_input.h"
#include "target/internal.h"
#include "util/interrupt.h"
#include "util/mem.h"

/* One PT_LOAD: [start, end) in the target; the first `avail` bytes are in the core file at
 * `offset`. */
struct core_load {
    uint64_t start, end;
    uint64_t offset;
    uint64_t avail;
    uint32_t prot;
    bool truncated; /* the file ends inside this segment's data */
};

/* The core file is mmapped for its headers and notes (libelf), but segment data is read
 * with pread through the target's block cache: touching a multi-gigabyte core through the
 * mapping would leave every page read in our resident set. The passes over the whole heap
 * are the exception (pyh_target_view): they look at the pages through a mapping and give
 * them back as they go. */
struct core_state {
    uint8_t *image; /* the whole core, mmapped: headers and notes only */
    /* The whole core again, read-only, for pyh_target_view: the passes over the heap look at
     * its pages where they are instead of copying them out (and give them back with
     * MADV_DONTNEED, which a page of this mapping survives: it is never written). Apart from
     * image, which libelf may write and which is advised MADV_RANDOM, while a pass over this
     * one reads in order. NULL if mmap failed (then everything is read). */
    const uint8_t *view;
    int fd;
    size_t size;
    char *path;
    Elf *elf;
    struct core_load *loads; /* sorted by start */
    size_t nloads, loads_cap;
    bool by_gdb; /* made by gdb (a note named "GDB"): its holes are not the kernel's */
};

/* Limits on note contents: a real process has far fewer; a corrupt core must not make us
 * allocate without bound. */
#define MAX_NT_FILE_ENTRIES 1000000
#define MAX_THREADS 100000

/* x86-64 struct elf_prstatus: pr_pid at 32, pr_reg (27 u64 registers) at 112. */
#define PRSTATUS_PID 32
#define PRSTATUS_REGS 112
#define PRSTATUS_MIN_SIZE (PRSTATUS_REGS + 27 * 8)
#define REG_RIP 16
#define REG_RSP 19
#define REG_FS_BASE 21

static const struct core_load *find_load(const struct core_state *c, uint64_t addr)
{
    size_t lo = 0, hi = c->nloads;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr < c->loads[mid].start)
            hi = mid;
        else if (addr >= c->loads[mid].end)
            lo = mid + 1;
        else
            return &c->loads[mid];
    }
    return NULL;
}

/* The first address above addr where the core holds bytes, UINT64_MAX if none. */
static uint64_t next_core_bytes(const struct core_state *c, uint64_t addr)
{
    size_t lo = 0, hi = c->nloads;
    while (lo < hi) { /* first load starting above addr */
        size_t mid = lo + (hi - lo) / 2;
        if (c->loads[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < c->nloads; i++)
        if (c->loads[i].avail > 0) return c->loads[i].start;
    return UINT64_MAX;
}

/* Reads what it can of [addr, addr+len) from one source; returns bytes read (> 0) or an
 * error. Sources: the core's bytes, else the mapped file on disk. */
static struct pyh_error *read_piece(struct pyh_target *t, uint64_t addr, uint8_t *out,
                                    size_t len, size_t *got)
{
    struct core_state *c = t->impl;
    const struct core_load *load = find_load(c, addr);
    if (load && addr - load->start < load->avail) {
        uint64_t n = load->avail - (addr - load->start);
        if (n > len) n = len;
        ssize_t r = pread(c->fd, out, n, (off_t)(load->offset + (addr - load->start)));
        if (r <= 0)
            return pyh_error_errno(r < 0 ? errno : EIO, "reading core file %s at offset %llu",
                                   c->path, (unsigned long long)(load->offset + (addr - load->start)));
        *got = (size_t)r;
        return NULL;
    }
    const struct pyh_mapping *m = pyh_target_mapping_at(t, addr);
    if (m && m->file) {
        /* Stop where the core's own bytes begin again: they win over the file. */
        uint64_t limit = m->end, next = next_core_bytes(c, addr);
        if (next < limit) limit = next;
        uint64_t n = limit - addr;
        if (n > len) n = len;
        uint64_t off = m->file_offset + (addr - m->start);
        const struct pyh_local_file *f = m->file;
        /* Bytes past the end of the file read as zero, as the kernel maps them. */
        uint64_t in_file = off < f->size ? f->size - off : 0;
        if (in_file > n) in_file = n;
        if (in_file) memcpy(out, f->data + off, in_file);
        memset(out + in_file, 0, n - in_file);
        *got = n;
        return NULL;
    }
    if (load && load->truncated)
        return pyh_error_create(PYH_ERR_FAULT,
                                "address 0x%llx is in a segment of core file %s that is cut "
                                "off: the core is truncated",
                                (unsigned long long)addr, c->path);
    if (load || m)
        return pyh_error_create(PYH_ERR_FAULT,
                                "address 0x%llx is not in core file %s%s%s",
                                (unsigned long long)addr, c->path,
                                m && m->path ? " and its file cannot be found: " : "",
                                m && m->path ? m->path : "");
    return pyh_error_create(PYH_ERR_FAULT, "address 0x%llx is not mapped in core file %s",
                            (unsigned long long)addr, c->path);
}

static struct pyh_error *core_read(struct pyh_target *t, uint64_t addr, void *buf, size_t len)
{
    uint8_t *out = buf;
    while (len > 0) {
        size_t got = 0;
        struct pyh_error *err = read_piece(t, addr, out, len, &got);
        if (err) return err;
        out += got;
        addr += got;
        len -= got;
    }
    return NULL;
}

static void core_close(struct pyh_target *t)
{
    struct core_state *c = t->impl;
    if (!c) return;
    if (c->elf) elf_end(c->elf);
    if (c->image) munmap(c->image, c->size);
    if (c->view) munmap((void *)c->view, c->size);
    if (c->fd >= 0) close(c->fd);
    free(c->loads);
    free(c->path);
    free(c);
    t->impl = NULL;
}

#define PAGE 4096u
#define RELEASE_ALIGN (2u << 20) /* see core_view_release */
#define ZERO_SCAN (1u << 20) /* bytes read at once when looking for zero pages */

/* Whether the page at p is all zeros. Words, and out at the first that is not: a page of
 * data rarely starts with more than a few zero words. */
static bool zero_page(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)(const void *)p;
    for (size_t i = 0; i < PAGE / 8; i += 4)
        if (w[i] | w[i + 1] | w[i + 2] | w[i + 3]) return false;
    return true;
}

/* Adds to out the resident pages of [start, start + len) — core bytes at file offset off,
 * of an anonymous mapping. A sparse kernel core (it skips the pages that were never
 * touched, which a file makes holes of) says it by its holes: every page of data counts,
 * zeros too (a page the process wrote zeros to is memory all the same). Any other core
 * (gdb's gcore writes untouched pages as zeros) says nothing: holes and pages that hold
 * only zeros are left out. */
static struct pyh_error *nonzero_pages(struct core_state *c, uint64_t start, uint64_t off,
                                       uint64_t len, bool sparse, uint8_t *buf,
                                       struct pyh_ranges *out)
{
    struct pyh_error *err = NULL;
    for (uint64_t done = 0; done < len && !err;) {
        uint64_t upto = len; /* the end of the run of data that starts at done */
        off_t data = lseek(c->fd, (off_t)(off + done), SEEK_DATA);
        if (data < 0 && errno == ENXIO) break; /* nothing but a hole is left */
        if (data >= 0) {
            uint64_t skip_to = ((uint64_t)data - off) & ~(uint64_t)(PAGE - 1);
            if (skip_to > done) {
                done = skip_to;
                continue;
            }
            off_t hole = lseek(c->fd, data, SEEK_HOLE);
            if (hole > data) {
                uint64_t h = ((uint64_t)hole - off + PAGE - 1) & ~(uint64_t)(PAGE - 1);
                if (h < upto) upto = h;
            }
        } /* else the file system cannot tell: everything is data */
        if (sparse) {
            err = pyh_ranges_add(out, start + done, start + upto);
            done = upto;
            continue;
        }
        while (done < upto && !err) {
            size_t n = upto - done < ZERO_SCAN ? (size_t)(upto - done) : ZERO_SCAN;
            ssize_t r = pread(c->fd, buf, n, (off_t)(off + done));
            if (r <= 0)
                return pyh_error_errno(r < 0 ? errno : EIO, "reading core file %s at offset %llu",
                                       c->path, (unsigned long long)(off + done));
            n = (size_t)r;
            for (size_t p = 0; p < n && !err; p += PAGE) {
                size_t k = n - p < PAGE ? n - p : PAGE;
                bool zero = true;
                if (k == PAGE) zero = zero_page(buf + p);
                else
                    for (size_t i = 0; i < k && zero; i++) zero = buf[p + i] == 0;
                if (!zero) err = pyh_ranges_add(out, start + done + p, start + done + p + k);
            }
            done += n;
            if (!err) err = pyh_check_interrupt();
        }
    }
    return err;
}

/* What a core says of residency: the pages it holds data for, anonymous ones by its holes
 * or, without holes, their contents (nonzero_pages). Reads every anonymous page of a core
 * without holes once. */
static struct pyh_error *core_residency(struct pyh_target *t, struct pyh_residency *out)
{
    struct core_state *c = t->impl;
    out->source = "core";
    out->by_page = true;
    uint8_t *buf = malloc(ZERO_SCAN);
    if (!buf) return pyh_error_nomem();
    /* The kernel's cores have no section headers and are written sparse: their holes are
     * the pages never touched, and the evidence. gdb's (BFD writes section headers) may
     * have holes too — gdb 13 leaves some zero runs as holes, a copy or a decompression
     * makes others — but the rest of their untouched pages is written as zeros. */
    GElf_Ehdr eh;
    bool kernel_style = gelf_getehdr(c->elf, &eh) && eh.e_shnum == 0;
    off_t hole = lseek(c->fd, 0, SEEK_HOLE);
    /* gdb names itself in a note (NT_GDB_TDESC, "GDB") and BFD writes section headers. */
    bool sparse = kernel_style && !c->by_gdb && hole >= 0 && (uint64_t)hole < c->size;
    out->how = sparse ? "pages the core holds, its holes left out"
                      : "pages the core holds, zero pages left out";
    struct pyh_error *err = NULL;
    for (size_t i = 0; i < t->nmaps && !err; i++) {
        const struct pyh_mapping *m = &t->maps[i];
        for (uint64_t pos = m->start; pos < m->end && !err;) {
            const struct core_load *load = find_load(c, pos);
            if (!load) {
                pos = next_core_bytes(c, pos);
                continue;
            }
            uint64_t avail_end = load->start + load->avail;
            uint64_t end = avail_end < m->end ? avail_end : m->end;
            if (pos < end) {
                uint64_t off = load->offset + (pos - load->start);
                err = m->path ? pyh_ranges_add(&out->runs, pos, end)
                              : nonzero_pages(c, pos, off, end - pos, sparse, buf, &out->runs);
            }
            pos = load->end;
        }
    }
    free(buf);
    return err;
}

/* The core's own bytes of [addr, addr + len), when one segment holds them all. */
static const uint8_t *core_view(struct pyh_target *t, uint64_t addr, size_t len)
{
    struct core_state *c = t->impl;
    const struct core_load *load = c->view ? find_load(c, addr) : NULL;
    if (!load || addr - load->start > load->avail || load->avail - (addr - load->start) < len)
        return NULL;
    uint64_t off = load->offset + (addr - load->start);
    if (off > c->size || c->size - off < len) return NULL; /* read_loads bounds avail; again */
    return c->view + off;
}

static void core_view_release(struct pyh_target *t, uint64_t addr, size_t len)
{
    struct core_state *c = t->impl;
    const uint8_t *p = core_view(t, addr, len);
    if (!p) return;
    /* Rounded out to 2 MiB, not to pages: a fault maps the pages around it too (fault-around,
     * 64 KiB by default; a large folio of the page cache whole), so the first look at a view
     * maps pages before it, which the view before had given back: released to the page, each
     * pass kept up to 60 KiB per window or arena (80 MiB over a 515 MiB core's glibc heap).
     * Pages of a neighbour given back too only come back on their next look. */
    uintptr_t base = (uintptr_t)c->view;
    uintptr_t from = (uintptr_t)p & ~(uintptr_t)(RELEASE_ALIGN - 1);
    uintptr_t to = ((uintptr_t)p + len + RELEASE_ALIGN - 1) & ~(uintptr_t)(RELEASE_ALIGN - 1);
    uintptr_t end = base + ((c->size + PAGE - 1) & ~(size_t)(PAGE - 1));
    if (from < base) from = base;
    if (to > end) to = end;
    if (to > from) madvise((void *)from, to - from, MADV_DONTNEED);
}

static const struct pyh_target_ops core_ops = {
    .read = core_read,
    .cached = true, /* each uncached read is a pread */
    .close = core_close,
    .residency = core_residency,
    .view = core_view,
    .view_release = core_view_release,
};

static uint32_t prot_of(uint32_t p_flags)
{
    return ((p_flags & PF_R) ? PYH_PROT_R : 0) | ((p_flags & PF_W) ? PYH_PROT_W : 0) |
           ((p_flags & PF_X) ? PYH_PROT_X : 0);
}

static int compare_loads(const void *a, const void *b)
{
    const struct core_load *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Reads the PT_LOAD table; truncated segments keep what the file holds. */
static struct pyh_error *read_loads(struct pyh_target *t, struct core_state *c, size_t phnum)
{
    uint64_t missing = 0, nmissing = 0;
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(c->elf, (int)i, &ph)) /* the table was checked: not expected */
            return pyh_error_create(PYH_ERR_FORMAT,
                                    "core file %s is truncated or corrupt: program header %zu "
                                    "cannot be read: %s",
                                    c->path, i, elf_errmsg(-1));
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
        if (ph.p_vaddr + ph.p_memsz < ph.p_vaddr || ph.p_filesz > ph.p_memsz) {
            pyh_diag_partial(t->diag, "core file %s: PT_LOAD %zu has impossible sizes; ignored",
                             c->path, i);
            continue;
        }
        struct core_load load = {.start = ph.p_vaddr, .end = ph.p_vaddr + ph.p_memsz,
                                 .prot = prot_of(ph.p_flags)};
        if (ph.p_filesz > 0) {
            load.offset = ph.p_offset;
            if (ph.p_offset >= c->size) {
                load.avail = 0;
            } else {
                load.avail = ph.p_filesz;
                if (ph.p_offset + ph.p_filesz > c->size || ph.p_offset + ph.p_filesz < ph.p_offset)
                    load.avail = c->size - ph.p_offset;
            }
            if (load.avail < ph.p_filesz) {
                load.truncated = true;
                missing += ph.p_filesz - load.avail;
                nmissing++;
            }
        }
        struct pyh_error *err = PYH_APPEND(c->loads, c->nloads, c->loads_cap, &load);
        if (err) return err;
    }
    if (c->nloads > 1) qsort(c->loads, c->nloads, sizeof(*c->loads), compare_loads);
    /* Overlapping segments would make reads ambiguous: keep the first. */
    size_t kept = 0;
    for (size_t i = 0; i < c->nloads; i++) {
        if (kept > 0 && c->loads[i].start < c->loads[kept - 1].end) {
            pyh_diag_partial(t->diag, "core file %s: PT_LOAD at 0x%llx overlaps another; ignored",
                             c->path, (unsigned long long)c->loads[i].start);
            continue;
        }
        c->loads[kept++] = c->loads[i];
    }
    c->nloads = kept;
    if (nmissing) {
        /* Kept on the target too: when the runtime then fails to check out, this is the
         * likely cause and leads the error (pyh_target_explain). */
        if (asprintf(&t->truncation,
                     "core file %s is truncated: %llu bytes of %llu segments are missing (the "
                     "file has %zu bytes)",
                     c->path, (unsigned long long)missing, (unsigned long long)nmissing,
                     c->size) < 0) {
            t->truncation = NULL;
            return pyh_error_nomem();
        }
        pyh_diag_partial(t->diag, "%s", t->truncation);
    }
    return NULL;
}

/* NT_FILE: count, page size, then (start, end, page offset) triples, then the names. */
static struct pyh_error *parse_nt_file(struct pyh_target *t, const uint8_t *desc, size_t size)
{
    struct core_state *c = t->impl;
    if (size < 16) return pyh_error_create(PYH_ERR_FORMAT, "core file %s: NT_FILE note too short", c->path);
    uint64_t count, page_size;
    memcpy(&count, desc, 8);
    memcpy(&page_size, desc + 8, 8);
    if (count > MAX_NT_FILE_ENTRIES || 16 + count * 24 > size)
        return pyh_error_create(PYH_ERR_FORMAT,
                                "core file %s: NT_FILE claims %llu entries in %zu bytes",
                                c->path, (unsigned long long)count, size);
    const char *names = (const char *)desc + 16 + count * 24;
    const char *end = (const char *)desc + size;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t start, stop, pgoff;
        memcpy(&start, desc + 16 + i * 24, 8);
        memcpy(&stop, desc + 16 + i * 24 + 8, 8);
        memcpy(&pgoff, desc + 16 + i * 24 + 16, 8);
        const char *nul = memchr(names, '\0', (size_t)(end - names));
        if (!nul)
            return pyh_error_create(PYH_ERR_FORMAT,
                                    "core file %s: NT_FILE names end before entry %llu",
                                    c->path, (unsigned long long)i);
        if (stop > start) {
            struct pyh_error *err =
                pyh_target_add_map(t, start, stop, pgoff * page_size, 0, names, NULL);
            if (err) return err;
        }
        names = nul + 1;
    }
    return NULL;
}

static struct pyh_error *parse_prstatus(struct pyh_target *t, const uint8_t *desc, size_t size)
{
    if (size < PRSTATUS_MIN_SIZE || t->nthreads >= MAX_THREADS) return NULL;
    struct pyh_thread th = {.has_regs = true};
    memcpy(&th.tid, desc + PRSTATUS_PID, 4);
    uint64_t regs[27];
    memcpy(regs, desc + PRSTATUS_REGS, sizeof(regs));
    th.rip = regs[REG_RIP];
    th.rsp = regs[REG_RSP];
    th.fs_base = regs[REG_FS_BASE];
    return PYH_APPEND(t->threads, t->nthreads, t->threads_cap, &th);
}

static struct pyh_error *parse_notes(struct pyh_target *t, size_t phnum, bool *have_file_note)
{
    struct core_state *c = t->impl;
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(c->elf, (int)i, &ph) || ph.p_type != PT_NOTE) continue;
        if (ph.p_offset > c->size || ph.p_filesz > c->size - ph.p_offset)
            return pyh_error_create(PYH_ERR_FORMAT,
                                    "core file %s is truncated: it has %zu bytes but its notes "
                                    "(mapped files, threads; gdb writes them last) end at byte "
                                    "%llu",
                                    c->path, c->size,
                                    (unsigned long long)(ph.p_offset + ph.p_filesz));
        Elf_Data *data = elf_getdata_rawchunk(c->elf, (int64_t)ph.p_offset, ph.p_filesz, ELF_T_NHDR);
        if (!data)
            return pyh_error_create(PYH_ERR_FORMAT, "core file %s: cannot read notes: %s",
                                    c->path, elf_errmsg(-1));
        GElf_Nhdr nh;
        size_t off = 0, name_off, desc_off;
        while (off < data->d_size &&
               (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
            const uint8_t *desc = (const uint8_t *)data->d_buf + desc_off;
            const char *name = (const char *)data->d_buf + name_off;
            bool is_core = nh.n_namesz == 5 && memcmp(name, "CORE", 5) == 0;
            if (nh.n_namesz == 4 && memcmp(name, "GDB", 4) == 0)
                ((struct core_state *)t->impl)->by_gdb = true;
            if (!is_core) continue;
            struct pyh_error *err = NULL;
            switch (nh.n_type) {
            case NT_FILE:
                err = parse_nt_file(t, desc, nh.n_descsz);
                *have_file_note = true;
                break;
            case NT_PRSTATUS:
                err = parse_prstatus(t, desc, nh.n_descsz);
                break;
            case NT_AUXV:
                if (!t->auxv && nh.n_descsz >= 16) {
                    t->nauxv = nh.n_descsz / 16;
                    t->auxv = malloc(t->nauxv * 16);
                    if (!t->auxv) return pyh_error_nomem();
                    memcpy(t->auxv, desc, t->nauxv * 16);
                }
                break;
            default:
                break;
            }
            if (err) return err;
        }
    }
    return NULL;
}

/* Anonymous memory: the parts of PT_LOAD segments that NT_FILE does not describe. Mappings
 * named by NT_FILE take their protection from the PT_LOAD that covers them. */
static struct pyh_error *add_anonymous_maps(struct pyh_target *t)
{
    struct core_state *c = t->impl;
    pyh_target_sort_maps(t);
    size_t nfile = t->nmaps;
    for (size_t i = 0; i < nfile; i++) {
        const struct core_load *load = find_load(c, t->maps[i].start);
        t->maps[i].prot = load ? load->prot : PYH_PROT_R; /* left out of the core: text/rodata */
        if (!load && t->maps[i].file_offset == 0) t->maps[i].prot = PYH_PROT_R;
    }
    for (size_t i = 0; i < c->nloads; i++) {
        uint64_t pos = c->loads[i].start, end = c->loads[i].end;
        /* Walk the file mappings that overlap [pos, end) in order. */
        for (size_t j = 0; j < nfile && pos < end; j++) {
            const struct pyh_mapping *m = &t->maps[j];
            if (m->end <= pos || m->start >= end) continue;
            if (m->start > pos) {
                struct pyh_error *err =
                    pyh_target_add_map(t, pos, m->start, 0, c->loads[i].prot, NULL, NULL);
                if (err) return err;
                m = &t->maps[j]; /* add_map may have moved the array */
            }
            pos = m->end;
        }
        if (pos < end) {
            struct pyh_error *err = pyh_target_add_map(t, pos, end, 0, c->loads[i].prot, NULL, NULL);
            if (err) return err;
        }
    }
    pyh_target_sort_maps(t);
    return NULL;
}

/* True when some byte of [start, end) is not held by the core. */
static bool core_lacks(const struct core_state *c, uint64_t start, uint64_t end)
{
    uint64_t pos = start;
    while (pos < end) {
        const struct core_load *load = find_load(c, pos);
        if (!load || pos - load->start >= load->avail) return true;
        pos = load->start + load->avail;
    }
    return false;
}

/* Finds the local file behind every file mapping; the executable is the mapping that holds
 * the program headers (AT_PHDR). */
static void attach_files(struct pyh_target *t, const struct pyh_file_search *search)
{
    struct core_state *c = t->impl;
    uint64_t phdr = pyh_target_auxv(t, AT_PHDR);
    const struct pyh_mapping *exe_map = phdr ? pyh_target_mapping_at(t, phdr) : NULL;
    if (exe_map && exe_map->path) t->exe_path = pyh_strdup(exe_map->path);

    for (size_t i = 0; i < t->nmaps; i++) {
        struct pyh_mapping *m = &t->maps[i];
        if (!m->path || m->file) continue;
        /* Build-id from the module's first page, read before any file is attached so that
         * only the core's own bytes count. */
        uint8_t id[64];
        size_t id_len = pyh_elf_mapping_build_id(t, m, id, sizeof(id));
        bool needed = false;
        for (size_t j = i; j < t->nmaps; j++)
            if (t->maps[j].path && strcmp(t->maps[j].path, m->path) == 0 &&
                core_lacks(c, t->maps[j].start, t->maps[j].end))
                needed = true;
        bool is_exe = t->exe_path && strcmp(t->exe_path, m->path) == 0;
        struct pyh_local_file *f =
            pyh_target_find_file(t, search, m->path, is_exe, id, id_len, needed);
        for (size_t j = i; j < t->nmaps; j++)
            if (t->maps[j].path && strcmp(t->maps[j].path, m->path) == 0) t->maps[j].file = f;
    }
}

/* The number of program headers the ELF header declares: e_phnum, or, when that is
 * PN_XNUM (65535 or more: cores of processes with many mappings), section header 0's
 * sh_info. 0 when section header 0 lies outside the file. */
static uint64_t header_phnum(const uint8_t *image, size_t size)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)image;
    if (eh->e_phnum != PN_XNUM) return eh->e_phnum;
    if (eh->e_shoff > size || size - eh->e_shoff < sizeof(Elf64_Shdr)) return 0;
    Elf64_Shdr sh0;
    memcpy(&sh0, image + eh->e_shoff, sizeof(sh0));
    return sh0.sh_info;
}

struct pyh_error *pyh_target_open_core(const char *path, const struct pyh_file_search *search,
                                       struct pyh_diag *diag, struct pyh_target **out)
{
    *out = NULL;
    /* Compressed (zstd, gzip, xz, lz4) and piped cores come as a temporary file. */
    struct pyh_core_input in;
    struct pyh_error *in_err = pyh_core_input_open(path, &in);
    if (in_err) return in_err;
    int fd = in.fd;
    const char *shown = strcmp(path, "-") == 0 ? "<stdin>" : path;
    if (in.out_bytes < (uint64_t)sizeof(Elf64_Ehdr)) {
        close(fd);
        return pyh_error_create(PYH_ERR_FORMAT, "%s is not an ELF file (%llu bytes%s%s)", shown,
                                (unsigned long long)in.out_bytes, in.temporary ? " once decompressed from " : "",
                                in.temporary ? in.format : "");
    }
    struct pyh_target *t = pyh_target_alloc(PYH_TARGET_CORE, &core_ops, diag);
    struct core_state *c = calloc(1, sizeof(*c));
    if (!t || !c) {
        close(fd);
        free(t);
        free(c);
        return pyh_error_nomem();
    }
    t->impl = c;
    c->fd = -1;
    c->size = (size_t)in.out_bytes;
    c->path = pyh_strdup(shown);
    c->fd = fd;
    void *image = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    struct pyh_error *err = NULL;
    if (image == MAP_FAILED) {
        err = pyh_error_errno(errno, "cannot map core file %s", shown);
        goto fail;
    }
    c->image = image;
    madvise(image, c->size, MADV_RANDOM);
    void *view = mmap(NULL, c->size, PROT_READ, MAP_PRIVATE, fd, 0);
    c->view = view == MAP_FAILED ? NULL : view;

    Elf64_Ehdr *eh = image;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
        err = pyh_error_create(PYH_ERR_FORMAT, "%s is not an ELF file", shown);
        goto fail;
    }
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
        eh->e_machine != EM_X86_64) {
        err = pyh_error_create(PYH_ERR_UNSUPPORTED,
                               "%s is an ELF file for another machine (class %d, machine %d); "
                               "py-heap reads x86-64 cores",
                               path, eh->e_ident[EI_CLASS], eh->e_machine);
        goto fail;
    }
    if (eh->e_type != ET_CORE) {
        static const char *const kinds[] = {"no type", "a relocatable object", "an executable",
                                            "a shared object or PIE executable"};
        err = pyh_error_create(PYH_ERR_FORMAT, "%s is not a core file: it is %s", shown,
                               eh->e_type < 4 ? kinds[eh->e_type] : "an ELF file of another type");
        goto fail;
    }
    pyh_elf_init();
    c->elf = elf_memory((char *)image, c->size);
    size_t phnum = 0;
    uint64_t count = 0;
    if (c->elf && elf_getphdrnum(c->elf, &phnum) == 0) count = header_phnum(c->image, c->size);
    /* elf_getphdrnum clamps the count to the entries the file holds, but gelf_getphdr then
     * refuses the whole table when the header's own count does not fit: a core cut inside
     * its program headers must be caught here, by the header's count. */
    if (count == 0 || count != phnum || eh->e_phoff > c->size ||
        count > (c->size - eh->e_phoff) / sizeof(Elf64_Phdr)) {
        err = pyh_error_create(PYH_ERR_FORMAT,
                               "core file %s is truncated or corrupt: its program headers "
                               "cannot be read",
                               shown);
        goto fail;
    }
    if ((in.temporary ? asprintf(&t->description, "core file %s (%s)", shown, in.format)
                      : asprintf(&t->description, "core file %s", shown)) < 0) {
        err = pyh_error_nomem();
        goto fail;
    }
    if ((err = pyh_target_init_cache(t, PYH_CACHE_SLOTS))) goto fail;
    if ((err = read_loads(t, c, phnum))) goto fail;
    bool have_file_note = false;
    if ((err = parse_notes(t, phnum, &have_file_note))) goto fail;
    if (!have_file_note)
        pyh_diag_warn(diag, "core file %s has no NT_FILE note: mapped files are unknown", shown);
    if (t->nthreads > 0) t->pid = t->threads[0].tid;
    if ((err = add_anonymous_maps(t))) goto fail;
    attach_files(t, search);
    *out = t;
    return NULL;
fail:
    pyh_target_close(t);
    return err;
}
