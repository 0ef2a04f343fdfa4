/* The copy engine of PYH_LIVE_COPY.
 *
 * The process is stopped only while its writable memory is copied into memory of ours. A
 * copy into fresh memory pays a page fault per page — on the machine this was measured on
 * (a virtual machine with shadow page tables) 3 to 6 s per GiB, fifteen times the copy
 * itself — and on such machines the kernel's first write to a page costs nearly as much
 * again. So the buffers are made ready while the process still runs (prepare_copy): one
 * per writable mapping, faulted in by the kernel where the process has data. Then the
 * process is stopped, its mappings read again and the buffers fitted to them (fit_buffers:
 * what is still wanted kept, memory mapped for new mappings and grown parts, the rest given
 * back once the process runs), the pages that hold data copied with batched
 * process_vm_readv calls (copy_writable), and the process resumed. The pages of private
 * anonymous mappings that the process never wrote (neither present nor swapped out) read as
 * zeros: they are not copied, cost no memory of ours, and are not faulted in in the
 * process by reading them. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "target/live_internal.h"
#include "util/interrupt.h"
#include "util/progress.h"
#include "util/mem.h"

void (*pyh_live_test_prepared)(int pid);

#define PAGE PYH_LIVE_PAGE
#define HUGE_PAGE PYH_HUGE_PAGE
#define MAX_PREPARE_ROUNDS 3
#define PREPARED_ENOUGH (8u << 20)   /* a round that faulted in less ends the prepare */
#define COPY_CALL_BYTES (256u << 20) /* per process_vm_readv: an interruption waits for one */
#define COPY_CALL_IOVECS 1024u       /* UIO_MAXIOV */
#define DEADLINE_CALL_BYTES (4u << 20) /* per call under a deadline: checked between calls */
#define SAMPLES 4                      /* sample copies that measure the rate, */
#define SAMPLE_BYTES (8u << 20)        /* of this many bytes each */
#define MEMORY_MARGIN (64u << 20)      /* of MemAvailable, beyond an eighth, left for others */

/* The index of the first buffer starting above addr (s->copies is sorted and disjoint):
 * addr is in the one before it, if in any. */
static size_t copy_after(const struct pyh_live_state *s, uint64_t addr)
{
    size_t lo = 0, hi = s->ncopies;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->copies[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* len bytes of the copy at addr, inside buffer c: from the buffer where the process had
 * data; elsewhere, without reading the buffer there (its pages were never written: reading
 * them would fault them in, on some kernels as memory of their own), zeros — or, in a
 * file's mapping copied sparse, the file's bytes (live_unheld.c). */
static struct pyh_error *copy_out(struct pyh_target *t, const struct pyh_live_copied *c,
                                  uint64_t addr, uint8_t *out, size_t len)
{
    const struct pyh_live_state *s = t->impl;
    int from_file = -1; /* whether c copies a file's mapping: looked up at the first gap */
    const struct pyh_ranges *d = &s->data;
    size_t i = 0, hi = d->n; /* the first range that ends above addr */
    while (i < hi) {
        size_t mid = i + (hi - i) / 2;
        if (d->v[mid].end <= addr)
            i = mid + 1;
        else
            hi = mid;
    }
    for (uint64_t end = addr + len; addr < end;) {
        bool in = i < d->n && d->v[i].start <= addr;
        uint64_t to = in ? d->v[i].end : i < d->n ? d->v[i].start : end;
        if (to > end) to = end;
        if (in) {
            memcpy(out, c->data + (addr - c->start), (size_t)(to - addr));
        } else {
            if (from_file < 0) {
                const struct pyh_mapping *m = pyh_target_mapping_at(t, addr);
                from_file = s->file_held_known && m && pyh_live_file_mapping(m);
            }
            if (!from_file) {
                memset(out, 0, (size_t)(to - addr));
            } else {
                struct pyh_error *err = pyh_live_read_process(t, addr, out, (size_t)(to - addr));
                if (err) return err;
            }
        }
        if (in && to == d->v[i].end) i++;
        out += to - addr;
        addr = to;
    }
    return NULL;
}

struct pyh_error *pyh_live_read_copy(struct pyh_target *t, uint64_t addr, void *buf, size_t len)
{
    struct pyh_live_state *s = t->impl;
    uint8_t *out = buf;
    /* Writable memory comes from the copy once there is one; what was not copied (code,
     * read-only data: it cannot have changed) from the process. */
    while (len > 0 && s->ncopies) {
        size_t lo = copy_after(s, addr);
        const struct pyh_live_copied *c =
            lo && addr < s->copies[lo - 1].end ? &s->copies[lo - 1] : NULL;
        size_t piece;
        if (c) {
            piece = c->end - addr < len ? (size_t)(c->end - addr) : len;
            struct pyh_error *err = copy_out(t, c, addr, out, piece);
            if (err) return err;
        } else { /* up to the first buffer above addr */
            piece = lo < s->ncopies && s->copies[lo].start - addr < len
                        ? (size_t)(s->copies[lo].start - addr)
                        : len;
            struct pyh_error *err = pyh_live_read_process(t, addr, out, piece);
            if (err) return err;
        }
        out += piece;
        addr += piece;
        len -= piece;
    }
    return len ? pyh_live_read_process(t, addr, out, len) : NULL;
}

const uint8_t *pyh_live_view_copy(struct pyh_target *t, uint64_t addr, size_t len)
{
    const struct pyh_live_state *s = t->impl;
    size_t lo = s->ncopies ? copy_after(s, addr) : 0;
    const struct pyh_live_copied *c = lo && addr < s->copies[lo - 1].end ? &s->copies[lo - 1] : NULL;
    if (!c || c->end - addr < len) return NULL;
    const struct pyh_ranges *d = &s->data;
    size_t i = 0, hi = d->n; /* the first range that ends above addr */
    while (i < hi) {
        size_t mid = i + (hi - i) / 2;
        if (d->v[mid].end <= addr) i = mid + 1;
        else hi = mid;
    }
    if (i == d->n || d->v[i].start > addr || d->v[i].end - addr < len) return NULL;
    return c->data + (addr - c->start);
}

void pyh_live_release_unused(struct pyh_live_state *s)
{
    for (size_t i = 0; i < s->unused.n; i++)
        munmap((void *)(uintptr_t)s->unused.v[i].start,
               (size_t)(s->unused.v[i].end - s->unused.v[i].start));
    s->unused.n = 0;
}

/* The pages of every wanted mapping that hold data, into *data; decides which buffers get
 * huge pages: those of 2 MiB or more whose data fills 7/8 or more (a huge page faulted in
 * for a few pages of data would cost more memory than the data). */
static struct pyh_error *find_data(struct pyh_live_state *s, struct pyh_live_wanted_list *want,
                                   struct pyh_ranges *data)
{
    for (size_t i = 0; i < want->n; i++) {
        struct pyh_live_wanted *w = &want->v[i];
        uint64_t before = data->bytes, size = w->end - w->start;
        bool sparse = w->sparse || (w->from_file && s->file_held_known);
        struct pyh_error *err = sparse ? pyh_live_data_pages(s, w->start, w->end, data)
                                       : pyh_ranges_add(data, w->start, w->end);
        if (err) return err;
        uint64_t bytes = data->bytes - before;
        w->huge = size >= HUGE_PAGE && bytes >= size - size / 8;
    }
    return NULL;
}

/* size bytes of anonymous memory of ours, zero until written, costing memory only where
 * written (MAP_NORESERVE). With huge, pyh_map_huge's (copies into it are faster too); else
 * small pages even where the system gives huge ones by default. MAP_FAILED on failure. */
static void *map_buffer(size_t size, bool huge)
{
    if (!huge || size < HUGE_PAGE) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) madvise(p, size, MADV_NOHUGEPAGE);
        return p;
    }
    void *p = pyh_map_huge(size);
    return p ? p : MAP_FAILED;
}

/* Gives back len bytes of our memory at p: now, or when `later`, once the process runs
 * again (release_unused). */
static void drop(struct pyh_live_state *s, uint8_t *p, size_t len, bool later)
{
    struct pyh_range r = {(uintptr_t)p, (uintptr_t)p + len};
    /* Not merged: buffers are not in address order. If the list cannot grow, now. */
    struct pyh_error *err = later ? PYH_APPEND(s->unused.v, s->unused.n, s->unused.cap, &r) : NULL;
    if (!later || err) munmap(p, len);
    pyh_error_free(err);
}

/* Makes s->copies buffers for exactly the wanted mappings (sorted, disjoint): the parts of
 * the buffers so far that fall inside them are kept as they are (pieces of those buffers),
 * memory is mapped for the rest, and what the old buffers hold outside them is unmapped —
 * at once, or when `later`, by release_unused once the process runs again. On failure
 * s->copies is left as it was. */
static struct pyh_error *fit_buffers(struct pyh_live_state *s,
                                     const struct pyh_live_wanted_list *want, bool later)
{
    struct pyh_live_copied *fit = NULL;
    size_t nfit = 0, cap = 0, k = 0;
    struct pyh_error *err = NULL;
    for (size_t i = 0; i < want->n && !err; i++) {
        const struct pyh_live_wanted *w = &want->v[i];
        for (uint64_t at = w->start; at < w->end && !err;) {
            while (k < s->ncopies && s->copies[k].end <= at)
                k++;
            struct pyh_live_copied c = {.start = at};
            if (k < s->ncopies && s->copies[k].start <= at) { /* inside an old buffer */
                const struct pyh_live_copied *o = &s->copies[k];
                c.end = o->end < w->end ? o->end : w->end;
                c.data = o->data + (at - o->start);
            } else { /* up to the next old buffer */
                c.end = k < s->ncopies && s->copies[k].start < w->end ? s->copies[k].start : w->end;
                void *p = map_buffer((size_t)(c.end - at), w->huge);
                if (p == MAP_FAILED) {
                    err = pyh_error_errno(errno, "cannot allocate %llu bytes to copy process %d",
                                          (unsigned long long)(c.end - at), s->pid);
                    break;
                }
                c.data = p;
                c.fresh = true;
            }
            if ((err = PYH_APPEND(fit, nfit, cap, &c))) {
                if (c.fresh) munmap(c.data, (size_t)(c.end - c.start));
                break;
            }
            at = c.end;
        }
    }
    if (err) {
        for (size_t i = 0; i < nfit; i++)
            if (fit[i].fresh) munmap(fit[i].data, (size_t)(fit[i].end - fit[i].start));
        free(fit);
        return err;
    }
    /* The old buffers' parts outside every wanted mapping. */
    size_t i = 0;
    for (k = 0; k < s->ncopies; k++) {
        const struct pyh_live_copied *o = &s->copies[k];
        uint64_t at = o->start;
        while (i < want->n && want->v[i].end <= o->start)
            i++;
        for (size_t j = i; at < o->end; j++) {
            uint64_t next = j < want->n && want->v[j].start < o->end ? want->v[j].start : o->end;
            if (next > at) drop(s, o->data + (at - o->start), (size_t)(next - at), later);
            if (next == o->end) break;
            at = want->v[j].end;
        }
    }
    for (size_t j = 0; j < nfit; j++)
        fit[j].fresh = false;
    free(s->copies);
    s->copies = fit;
    s->ncopies = nfit;
    s->copies_cap = cap;
    return NULL;
}

/* Faults in len bytes at p, writing them from the kernel (read(2) of /dev/zero): on virtual
 * machines with shadow page tables the kernel's first write to a page of ours costs about as
 * much as the fault itself, even after madvise(MADV_POPULATE_WRITE) or a write of our own. */
static void fault_in(int zero_fd, uint8_t *p, size_t len)
{
    while (len > 0 && zero_fd >= 0) {
        ssize_t n = read(zero_fd, p, len < (1u << 30) ? len : 1u << 30);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        p += n;
        len -= (size_t)n;
    }
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
    if (len > 0 && madvise(p, len, MADV_POPULATE_WRITE) != 0)
        for (size_t off = 0; off < len; off += PAGE)
            ((volatile uint8_t *)p)[off] = 0;
}

/* The pieces of the target's ranges r that the buffers (s->copies, sorted) cover, in order,
 * each at most max_len bytes: where it starts in the target, its buffer memory, its length.
 * Start with a zeroed iterator; next_piece returns false at the end. */
struct piece_iter {
    size_t range, copy;
    uint64_t at;
    bool started;
};

static bool next_piece(const struct pyh_live_state *s, const struct pyh_ranges *r, uint64_t max_len,
                       struct piece_iter *it, uint64_t *remote, uint8_t **local, size_t *len)
{
    for (; it->range < r->n; it->range++, it->started = false) {
        const struct pyh_range *g = &r->v[it->range];
        if (!it->started) it->at = g->start, it->started = true;
        while (it->at < g->end) {
            while (it->copy < s->ncopies && s->copies[it->copy].end <= it->at)
                it->copy++;
            if (it->copy == s->ncopies) return false;
            const struct pyh_live_copied *c = &s->copies[it->copy];
            if (c->start > it->at) {
                it->at = c->start;
                continue;
            }
            uint64_t end = g->end < c->end ? g->end : c->end;
            if (end - it->at > max_len) end = it->at + max_len;
            *remote = it->at;
            *local = c->data + (it->at - c->start);
            *len = (size_t)(end - it->at);
            it->at = end;
            return true;
        }
    }
    return false;
}

/* Faults in the buffers' pages for the target's pages in todo. Interruptible. */
static struct pyh_error *prefault(struct pyh_live_state *s, const struct pyh_ranges *todo)
{
    int zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    struct piece_iter it = {0};
    struct pyh_error *err = NULL;
    uint64_t remote;
    uint8_t *local;
    size_t len;
    while (!err && next_piece(s, todo, 64u << 20, &it, &remote, &local, &len)) {
        fault_in(zero_fd, local, len);
        err = pyh_check_interrupt();
    }
    if (zero_fd >= 0) close(zero_fd);
    return err;
}

/* MemAvailable of /proc/meminfo in bytes; UINT64_MAX when unknown. */
uint64_t pyh_live_memory_available(void)
{
    const char *test = getenv("PYHEAP_TEST_MEM_AVAILABLE");
    if (test && *test) return strtoull(test, NULL, 10);
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f) return UINT64_MAX;
    char line[128];
    unsigned long long kb;
    uint64_t avail = UINT64_MAX;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) avail = (uint64_t)kb * 1024;
    fclose(f);
    return avail;
}

/* Whether bytes more of our memory fit in avail: with a margin for the analysis that follows
 * (its tables, 17 bytes and more per object) and for the rest of the machine. */
static bool fits_in(uint64_t bytes, uint64_t avail)
{
    if (avail == UINT64_MAX) return true;
    uint64_t margin = MEMORY_MARGIN + avail / 8;
    return avail > margin && bytes <= avail - margin;
}

/* Copies up to SAMPLES pieces of SAMPLE_BYTES of the pages in todo from the running process
 * into the buffers (the copy in the stop writes them again) and returns the best rate in
 * bytes per second; 0 when too little could be read to tell. What --max-pause estimates a
 * copy's pause from. The best, not the mean: on a busy machine a sample of a few ms is often
 * cut by the scheduler, and a rate too low refuses a copy that would have fitted (a rate too
 * high costs a copy abandoned at the deadline). */
static double sample_rate(struct pyh_live_state *s, const struct pyh_ranges *todo)
{
    const char *test = getenv("PYHEAP_TEST_COPY_RATE");
    if (test && *test) return strtod(test, NULL);
    if (s->use_mem_fd) return 0;
    /* From the largest run of data: where most of the copy's time goes (a heap's arenas,
     * often in huge pages), not the small mappings of the libraries' data that come first. */
    struct pyh_range largest = {0, 0};
    for (size_t i = 0; i < todo->n; i++)
        if (todo->v[i].end - todo->v[i].start > largest.end - largest.start) largest = todo->v[i];
    const struct pyh_ranges one = {.v = &largest, .n = 1, .cap = 1, .bytes = largest.end - largest.start};
    todo = &one;
    struct iovec local[64], remote[64];
    struct piece_iter it = {0};
    double best = 0;
    for (int k = 0; k < SAMPLES; k++) {
        uint64_t addr;
        uint8_t *buf;
        size_t len, n = 0, bytes = 0;
        while (n < 64 && bytes < SAMPLE_BYTES &&
               next_piece(s, todo, SAMPLE_BYTES - bytes, &it, &addr, &buf, &len)) {
            local[n] = (struct iovec){buf, len};
            remote[n++] = (struct iovec){(void *)(uintptr_t)addr, len};
            bytes += len;
        }
        if (bytes < SAMPLE_BYTES / 8) break; /* too little for a rate; a small copy anyway */
        double t0 = pyh_monotonic();
        ssize_t got = process_vm_readv(s->pid, local, n, remote, n, 0);
        double dt = pyh_monotonic() - t0;
        if (got > 0 && dt > 0 && (double)got / dt > best) best = (double)got / dt;
    }
    return best;
}

/* While the process runs: buffers for its writable mappings, faulted in where it has data,
 * in rounds until a round finds little new (what the process wrote meanwhile). Holds about
 * as much memory as the process has data in those mappings, which the copy needs anyway. */
struct pyh_error *pyh_live_prepare_copy(struct pyh_live_state *s, struct pyh_live_copy_plan *plan)
{
    *plan = (struct pyh_live_copy_plan){.fits = true};
    pyh_live_open_pagemap(s); /* without it, mappings are copied whole */
    struct pyh_ranges faulted = {0};
    struct pyh_error *err = NULL;
    for (int round = 0; round < MAX_PREPARE_ROUNDS && !err && plan->fits; round++) {
        struct pyh_live_wanted_list want = {0};
        struct pyh_ranges data = {0}, todo = {0}, wanted = {0}, kept = {0};
        err = pyh_live_read_maps(NULL, s->pid, &want);
        if (!err) err = find_data(s, &want, &data);
        plan->bytes = data.bytes;
        /* Refused before the process is stopped, and before our buffers take the memory,
         * rather than left to the OOM killer: a copy of a process whose writable mappings
         * are read whole (files, shared memory, or every mapping without pagemap) can need
         * more than the machine has. */
        if (!err) err = pyh_ranges_combine(&data, &faulted, PYH_RANGES_AND_NOT, &todo);
        plan->available = pyh_live_memory_available();
        if (!err && !fits_in(todo.bytes, plan->available)) plan->fits = false;
        if (!err && plan->fits) err = fit_buffers(s, &want, false);
        for (size_t i = 0; i < want.n && !err && plan->fits; i++)
            err = pyh_ranges_add(&wanted, want.v[i].start, want.v[i].end);
        if (!err && plan->fits) err = prefault(s, &todo);
        if (!err && plan->fits && round == 0) plan->rate = sample_rate(s, &todo);
        if (!err && plan->fits) err = pyh_ranges_combine(&faulted, &wanted, PYH_RANGES_AND, &kept);
        pyh_ranges_free(&faulted);
        if (!err && plan->fits) err = pyh_ranges_combine(&kept, &todo, PYH_RANGES_OR, &faulted);
        bool enough = todo.bytes <= PREPARED_ENOUGH;
        free(want.v);
        pyh_ranges_free(&data);
        pyh_ranges_free(&todo);
        pyh_ranges_free(&wanted);
        pyh_ranges_free(&kept);
        if (enough) break;
    }
    pyh_ranges_free(&faulted);
    if (!plan->fits) { /* nothing held for a copy that will not be made */
        pyh_live_free_copy(s);
        pyh_live_close_pagemap(s);
    }
    return err;
}

/* One part of the copy: len bytes of the target at remote into local. */
struct xfer {
    uint64_t remote;
    uint8_t *local;
    size_t len;
};

/* Copies len bytes at remote into local in reads of up to 1 GiB, page by page where that
 * fails, leaving the pages that cannot be read zero. For /proc/PID/mem. */
static struct pyh_error *copy_slowly(struct pyh_target *t, struct pyh_live_state *s,
                                     uint64_t remote, uint8_t *local, size_t len)
{
    for (size_t off = 0; off < len;) {
        size_t chunk = len - off < (1u << 30) ? len - off : 1u << 30;
        struct pyh_error *err = pyh_live_read_process(t, remote + off, local + off, chunk);
        if (!err) {
            off += chunk;
            continue;
        }
        if (err->code == PYH_ERR_INTERRUPTED || s->exited) return err;
        pyh_error_free(err);
        for (size_t end = off + chunk; off < end; off += PAGE) {
            err = pyh_live_read_process(t, remote + off, local + off, PAGE);
            if (err && s->exited) return err;
            pyh_error_free(err);
        }
    }
    return NULL;
}

static struct pyh_error *copy_batches(struct pyh_target *t, struct pyh_live_state *s,
                                      const struct xfer *x, size_t n, struct iovec *local,
                                      struct iovec *remote, double deadline, bool *abandoned)
{
    size_t i = 0, off = 0; /* where the copy is: byte off of x[i] */
    size_t call_bytes = deadline > 0 ? DEADLINE_CALL_BYTES : COPY_CALL_BYTES;
    while (i < n) {
        struct pyh_error *err = pyh_check_interrupt();
        if (err) return err;
        if (deadline > 0 && pyh_monotonic() >= deadline) {
            *abandoned = true;
            return NULL;
        }
        pyh_progress("copying the stopped process", PYH_PROGRESS_ITEMS, i, n);
        if (s->use_mem_fd || s->exited) {
            for (; i < n; i++, off = 0)
                if ((err = copy_slowly(t, s, x[i].remote + off, x[i].local + off, x[i].len - off)))
                    return err;
            return NULL;
        }
        size_t k = 0, bytes = 0;
        for (size_t j = i, o = off; j < n && k < COPY_CALL_IOVECS && bytes < call_bytes; k++) {
            size_t len = x[j].len - o < call_bytes - bytes ? x[j].len - o : call_bytes - bytes;
            local[k] = (struct iovec){x[j].local + o, len};
            remote[k] = (struct iovec){(void *)(uintptr_t)(x[j].remote + o), len};
            bytes += len;
            o += len;
            if (o == x[j].len) {
                j++;
                o = 0;
            }
        }
        ssize_t got = process_vm_readv(s->pid, local, k, remote, k, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == ENOSYS || errno == EPERM)) {
            s->use_mem_fd = true; /* e.g. seccomp or an old kernel: /proc/PID/mem */
            continue;
        }
        if (got < 0 && errno == ESRCH) {
            s->exited = true;
            pyh_diag_partial(t->diag, "process %d exited while it was being read", s->pid);
            return pyh_live_exited_error(s);
        }
        if (got < 0) got = 0; /* EFAULT: the first page cannot be read */
        /* Past what was read. */
        for (size_t left = (size_t)got; left > 0;) {
            size_t step = x[i].len - off < left ? x[i].len - off : left;
            left -= step;
            off += step;
            if (off == x[i].len) {
                i++;
                off = 0;
            }
        }
        if ((size_t)got < bytes) { /* the page at x[i] + off, alone; zero if it fails */
            size_t len = x[i].len - off < PAGE ? x[i].len - off : PAGE;
            err = pyh_live_read_process(t, x[i].remote + off, x[i].local + off, len);
            if (err && s->exited) return err;
            pyh_error_free(err);
            off += len;
            if (off == x[i].len) {
                i++;
                off = 0;
            }
        }
    }
    return NULL;
}

/* Copies every xfer with process_vm_readv, up to COPY_CALL_IOVECS of them and
 * COPY_CALL_BYTES to a call (DEADLINE_CALL_BYTES under a deadline, checked between calls). A
 * call stops at the first page it cannot read (a guard page, a file mapped past its end):
 * that page is tried alone and stays zero if it fails, and the copy goes on after it.
 * Interruptible between calls. */
static struct pyh_error *copy_xfers(struct pyh_target *t, struct pyh_live_state *s,
                                    const struct xfer *x, size_t n, double deadline,
                                    bool *abandoned)
{
    struct iovec *local = malloc(2 * COPY_CALL_IOVECS * sizeof(*local));
    if (!local) return pyh_error_nomem();
    struct pyh_error *err =
        copy_batches(t, s, x, n, local, local + COPY_CALL_IOVECS, deadline, abandoned);
    free(local);
    return err;
}

/* While the process is stopped: its writable mappings as they are now (want, read with the
 * target's mappings), their pages that hold data copied into the buffers prepare_copy made,
 * fitted to them. Pages that cannot be read stay zero. */
struct pyh_error *pyh_live_copy_writable(struct pyh_target *t, struct pyh_live_state *s,
                                         struct pyh_live_wanted_list *want, double deadline,
                                         bool *abandoned)
{
    *abandoned = false;
    struct pyh_ranges data = {0};
    struct xfer *x = NULL;
    size_t nx = 0, cap = 0;
    struct pyh_error *err = find_data(s, want, &data);
    if (!err) err = fit_buffers(s, want, true);
    struct piece_iter it = {0};
    struct xfer e;
    while (!err && next_piece(s, &data, UINT64_MAX, &it, &e.remote, &e.local, &e.len)) {
        if (nx && x[nx - 1].remote + x[nx - 1].len == e.remote &&
            x[nx - 1].local + x[nx - 1].len == e.local)
            x[nx - 1].len += e.len;
        else
            err = PYH_APPEND(x, nx, cap, &e);
    }
    t->copy_bytes = data.bytes;
    if (!err) err = copy_xfers(t, s, x, nx, deadline, abandoned);
    free(x);
    pyh_ranges_free(&s->data);
    s->data = data; /* for copy_out */
    return err;
}

void pyh_live_free_copy(struct pyh_live_state *s)
{
    pyh_live_release_unused(s);
    free(s->unused.v);
    s->unused = (struct pyh_ranges){0};
    pyh_ranges_free(&s->data);
    for (size_t i = 0; i < s->ncopies; i++)
        munmap(s->copies[i].data, s->copies[i].end - s->copies[i].start);
    free(s->copies);
    s->copies = NULL;
    s->ncopies = s->copies_cap = 0;
}
