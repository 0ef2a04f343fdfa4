/* What /proc says of a live process: its mappings (/proc/PID/maps), auxv, and its page
 * tables (/proc/PID/pagemap): which pages hold data (for the copy) and which are resident
 * (for every resident figure). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target/live_internal.h"
#include "util/interrupt.h"
#include "util/mem.h"

#define PAGE PYH_LIVE_PAGE

static uint32_t parse_prot(const char *perms)
{
    return (perms[0] == 'r' ? PYH_PROT_R : 0) | (perms[1] == 'w' ? PYH_PROT_W : 0) |
           (perms[2] == 'x' ? PYH_PROT_X : 0);
}

struct pyh_error *pyh_live_read_maps(struct pyh_target *t, int pid,
                                     struct pyh_live_wanted_list *want)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/maps", pid);
    FILE *f = fopen(path, "re");
    if (!f) return pyh_error_errno(errno, "cannot read %s", path);
    char *line = NULL;
    size_t cap = 0;
    struct pyh_error *err = NULL;
    while (!err && getline(&line, &cap, f) > 0) {
        unsigned long long start, end, offset, inode;
        char perms[8];
        int name_at = 0;
        if (sscanf(line, "%llx-%llx %7s %llx %*x:%*x %llu %n", &start, &end, perms, &offset, &inode,
                   &name_at) < 5)
            continue;
        char *name = line + name_at;
        name[strcspn(name, "\n")] = '\0';
        const char *file = NULL, *label = NULL;
        if (name[0] == '[')
            label = name;
        else if (name[0] && inode != 0)
            file = name;
        else if (name[0])
            label = name; /* anonymous but named: "/dev/zero (deleted)", "/memfd:..." */
        uint32_t prot = parse_prot(perms);
        if (t) err = pyh_target_add_map(t, start, end, offset, prot, file, label);
        /* The kernel lists mappings in address order; anything else is skipped. */
        if (!err && want && (prot & (PYH_PROT_R | PYH_PROT_W)) == (PYH_PROT_R | PYH_PROT_W) &&
            strcmp(name, "[vvar]") != 0 && start < end &&
            (!want->n || start >= want->v[want->n - 1].end)) {
            struct pyh_live_wanted w = {.start = start,
                                        .end = end,
                                        .sparse = perms[3] == 'p' && inode == 0,
                                        .from_file = perms[3] == 'p' && file && file[0] == '/'};
            err = PYH_APPEND(want->v, want->n, want->cap, &w);
        }
    }
    free(line);
    fclose(f);
    if (!err && t) pyh_target_sort_maps(t);
    return err;
}

struct pyh_error *pyh_live_read_auxv(struct pyh_target *t, int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL; /* auxv is a convenience; without it we fall back */
    uint64_t buf[512];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n < 16) return NULL;
    t->nauxv = (size_t)n / 16;
    t->auxv = malloc(t->nauxv * 16);
    if (!t->auxv) return pyh_error_nomem();
    memcpy(t->auxv, buf, t->nauxv * 16);
    return NULL;
}

/* PAGEMAP_SCAN of Linux 6.7 (<linux/fs.h>), declared here for older headers. */
struct pm_region {
    uint64_t start, end, categories;
};
struct pm_scan {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted,
        category_mask, category_anyof_mask, return_mask;
};
#define NREGIONS ((int)(PYH_LIVE_PAGEMAP_BUF / sizeof(struct pm_region)))
#define PM_SCAN_IOCTL _IOWR('f', 16, struct pm_scan)
#define PM_PAGE_IS_PRESENT (1u << 3)
#define PM_PAGE_IS_SWAPPED (1u << 4)
#define PM_PAGE_IS_PFNZERO (1u << 5)
#define PM_ENTRY_PRESENT (1ull << 63) /* of a /proc/PID/pagemap entry */
#define PM_ENTRY_SWAPPED (1ull << 62)
#define PM_ENTRY_PFN ((1ull << 55) - 1)

/* Reading pagemap costs 8 bytes a page of the mapping, present or not: 28 GiB for ASan's
 * 14 TiB shadow. Past this size a mapping is not read so: the residency takes its Rss from
 * smaps (placed at its start: the parts of the split are allocator ranges, never in such a
 * mapping; only `other`, the rest, takes it), and a copy, which needs to know the pages
 * themselves, is refused. */
#define PAGEMAP_READ_MAX (16ull << 30)

/* The page frame of the shared zero page, for pagemap entries (PAGEMAP_SCAN has a category
 * for it; pagemap has only the frame number): found by mapping a page of our own, reading
 * it (which maps the zero page) and reading our own pagemap entry. 0 when unknown — the
 * frame number is hidden (0) from readers without CAP_SYS_ADMIN. */
static uint64_t zero_pfn(void)
{
    static int known;
    static uint64_t pfn;
    if (known) return pfn;
    known = 1;
    volatile uint8_t *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 0;
    (void)p[0];
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    uint64_t entry = 0;
    if (fd >= 0 && pread(fd, &entry, 8, (off_t)((uintptr_t)p / PAGE * 8)) == 8 &&
        (entry & PM_ENTRY_PRESENT))
        pfn = entry & PM_ENTRY_PFN;
    if (fd >= 0) close(fd);
    munmap((void *)p, PAGE);
    return pfn;
}

/* Pages of [start, end) in the categories asked for — present, or present or swapped out;
 * never the shared zero page where the kernel can tell (PAGEMAP_SCAN) — appended to out. The
 * kernel walks the page tables: PAGEMAP_SCAN (Linux 6.7) returns runs of pages (~2 ms per
 * GiB), reading pagemap takes 8 bytes a page (~20 ms per GiB) and cannot tell the zero page
 * (its PFN is hidden from readers without CAP_SYS_ADMIN). Returns in *upto how far the
 * answer goes: end, or less when pagemap could not be read past it. */
static struct pyh_error *scan_pages(struct pyh_live_state *s, uint64_t start, uint64_t end,
                                    bool swapped_too, struct pyh_ranges *out, uint64_t *upto)
{
    uint64_t at = start;
    bool broken = false;
    struct pyh_error *err = NULL;
    if (s->pagemap_fd >= 0 && !s->pagemap_buf && !(s->pagemap_buf = malloc(PYH_LIVE_PAGEMAP_BUF)))
        return pyh_error_nomem();
    uint64_t anyof = PM_PAGE_IS_PRESENT | (swapped_too ? PM_PAGE_IS_SWAPPED : 0);
    while (s->pagemap_fd >= 0 && s->pagemap_scan >= 0 && at < end && !err && !broken) {
        struct pm_region *regions = s->pagemap_buf;
        struct pm_scan a = {.size = sizeof(a),
                            .start = at,
                            .end = end,
                            .vec = (uint64_t)(uintptr_t)regions,
                            .vec_len = NREGIONS,
                            .category_inverted = PM_PAGE_IS_PFNZERO,
                            .category_mask = PM_PAGE_IS_PFNZERO,
                            .category_anyof_mask = anyof};
        int n = ioctl(s->pagemap_fd, PM_SCAN_IOCTL, &a);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && s->pagemap_scan == 0) {
            s->pagemap_scan = -1; /* before Linux 6.7: read pagemap */
            break;
        }
        if (n < 0 || n > NREGIONS) {
            broken = true;
            break;
        }
        s->pagemap_scan = 1;
        /* On from the walk's end, or from the last region's when the kernel ended the walk
         * before it (it can when the regions fill up). */
        uint64_t next = a.walk_end;
        for (int i = 0; i < n && !err; i++) {
            uint64_t rs = regions[i].start < at ? at : regions[i].start;
            uint64_t re = regions[i].end > end ? end : regions[i].end;
            err = pyh_ranges_add(out, rs, re);
            if (re > next) next = re;
        }
        if (next <= at)
            broken = true; /* no progress: not to be trusted */
        else
            at = next;
    }
    if (s->pagemap_fd >= 0 && s->pagemap_scan < 0 && end - at > PAGEMAP_READ_MAX && !err)
        return pyh_error_create(PYH_ERR_UNSUPPORTED,
                                "cannot copy process %d: its mapping 0x%llx-0x%llx (%.1f GiB) "
                                "would take reading %.1f GiB of /proc/PID/pagemap (this kernel "
                                "has no PAGEMAP_SCAN, Linux 6.7); read it without --copy",
                                s->pid, (unsigned long long)start, (unsigned long long)end,
                                (double)(end - start) / (1u << 30),
                                (double)(end - at) / PAGE * 8 / (1u << 30));
    uint64_t *entries = s->pagemap_buf;
    size_t max = PYH_LIVE_PAGEMAP_BUF / sizeof(uint64_t);
    uint64_t bits = PM_ENTRY_PRESENT | (swapped_too ? PM_ENTRY_SWAPPED : 0);
    uint64_t zero = s->pagemap_scan < 0 ? zero_pfn() : 0;
    while (s->pagemap_fd >= 0 && s->pagemap_scan < 0 && at < end && !err && !broken) {
        size_t want = (end - at) / PAGE < max ? (size_t)((end - at) / PAGE) : max;
        ssize_t n = pread(s->pagemap_fd, entries, want * 8, (off_t)(at / PAGE * 8));
        if (n < 0 && errno == EINTR) continue;
        if (n < 8) break;
        for (size_t i = 0; i < (size_t)n / 8 && !err; i++) {
            bool zero_page =
                zero && (entries[i] & PM_ENTRY_PRESENT) && (entries[i] & PM_ENTRY_PFN) == zero;
            if ((entries[i] & bits) && !zero_page)
                err = pyh_ranges_add(out, at + i * PAGE, at + (i + 1) * PAGE);
        }
        at += (uint64_t)n / 8 * PAGE;
    }
    *upto = s->pagemap_fd >= 0 ? at : start;
    return err;
}

struct pyh_error *pyh_live_data_pages(struct pyh_live_state *s, uint64_t start, uint64_t end,
                                      struct pyh_ranges *out)
{
    uint64_t upto;
    struct pyh_error *err = scan_pages(s, start, end, true, out, &upto);
    if (!err && upto < end) err = pyh_ranges_add(out, upto, end); /* the rest is taken whole */
    return err;
}

bool pyh_live_open_pagemap(struct pyh_live_state *s)
{
    if (s->pagemap_fd >= 0) return true;
    if (pyh_live_test_pagemap == 2) return false; /* as when it cannot be opened */
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/pagemap", s->pid);
    s->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (pyh_live_test_pagemap == 1) s->pagemap_scan = -1;
    return s->pagemap_fd >= 0;
}

void pyh_live_close_pagemap(struct pyh_live_state *s)
{
    if (s->pagemap_fd >= 0) close(s->pagemap_fd);
    s->pagemap_fd = -1;
    free(s->pagemap_buf);
    s->pagemap_buf = NULL;
}

/* Mappings the kernel's Rss never counts: its own pages mapped by PFN ([vvar], [vvar_vclock]:
 * present in the page tables, but no page of the process's), and the vsyscall page above
 * the user address space (which pagemap does not cover). */
static bool never_resident(const struct pyh_mapping *m)
{
    return m->start >= (1ull << 56) || (m->label && strncmp(m->label, "[vvar", 5) == 0);
}

/* Before Linux 6.7 (pagemap read page by page): smaps says which mappings need it at all —
 * none resident, all resident — and stands in for the huge ones. False when smaps cannot be
 * read. */
static bool read_rss(struct pyh_target *t, int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
    FILE *f = fopen(path, "re");
    if (!f) return false;
    pyh_target_parse_smaps(t, f);
    fclose(f);
    return true;
}

struct pyh_error *pyh_live_measure_resident(struct pyh_target *t, struct pyh_live_state *s)
{
    pyh_ranges_free(&s->resident);
    s->resident_by_page = false;
    bool was_open = s->pagemap_fd >= 0;
    if (!pyh_live_open_pagemap(s)) return NULL;
    struct pyh_error *err = NULL;
    bool whole = true, have_rss = false;
    for (size_t i = 0; i < t->nmaps && !err && whole; i++) {
        const struct pyh_mapping *m = &t->maps[i];
        if (never_resident(m)) continue;
        if (s->pagemap_scan < 0) {
            if (!have_rss && !(have_rss = read_rss(t, s->pid))) {
                whole = false;
                break;
            }
            uint64_t size = m->end - m->start;
            if (m->rss == UINT64_MAX || m->rss == 0) continue;
            if (m->rss == size || size > PAGEMAP_READ_MAX) {
                err = pyh_ranges_add(&s->resident, m->start, m->start + m->rss);
                continue;
            }
        }
        uint64_t upto;
        err = scan_pages(s, m->start, m->end, false, &s->resident, &upto);
        whole = upto == m->end;
    }
    if (err || !whole) pyh_ranges_free(&s->resident);
    else s->resident_by_page = true;
    /* In the same pass: which pages of mapped files the process holds, so that reading the
     * others does not fault them in and change what was just measured. */
    if (!err && whole) err = pyh_live_measure_file_held(t, s);
    if (!was_open) pyh_live_close_pagemap(s);
    return err;
}
