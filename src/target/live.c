/* The live-process target: /proc/PID/maps for mappings, process_vm_readv (or /proc/PID/mem)
 * for memory, and every thread stopped with PTRACE_SEIZE + PTRACE_INTERRUPT for the time of
 * the read — or, with PYH_LIVE_COPY, for the time of a copy of its writable memory (see "The
 * copy" below).
 *
 * Why SEIZE and not ATTACH: ATTACH stops the tracee with a SIGSTOP that outlives us if we
 * die, leaving a production process stopped. A seized thread stopped by PTRACE_INTERRUPT is
 * resumed by the kernel when its tracer exits, even by SIGKILL. Closing the target detaches
 * every thread, re-delivering any signal that arrived while it was stopped. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target/internal.h"
#include "util/interrupt.h"
#include "util/mem.h"

struct stopped_thread {
    int32_t tid;
    int pending_signal; /* a signal that arrived while we held the thread, re-delivered */
};

/* A buffer of the copy: [start, end) of the target is at data, a range of anonymous memory of
 * ours that is unmapped on its own (a piece of what one mmap returned). */
struct copied {
    uint64_t start, end;
    uint8_t *data;
    bool fresh; /* mapped by the fit_buffers that is running (undone if it fails) */
};

/* Address ranges, sorted and disjoint: of the target, or of our own memory. */
struct range {
    uint64_t start, end;
};
struct ranges {
    struct range *v;
    size_t n, cap;
    uint64_t bytes; /* their total size */
};

static void ranges_free(struct ranges *r)
{
    free(r->v);
    *r = (struct ranges){0};
}

#define NREGIONS 512 /* PAGEMAP_SCAN results per call */

struct live_state {
    int pid;
    int mem_fd; /* /proc/PID/mem, opened lazily when process_vm_readv is refused */
    bool use_mem_fd;
    bool exited; /* a read found the process gone, or live_gone saw it so */
    struct stopped_thread *stopped;
    size_t nstopped, stopped_cap;
    struct copied *copies; /* PYH_LIVE_COPY: sorted by start */
    size_t ncopies, copies_cap;
    struct ranges data;    /* the copied pages that held data; the rest of the buffers is zero */
    struct ranges unused;  /* our memory to unmap once the process runs again */
    int pagemap_fd;        /* /proc/PID/pagemap while the copy is made, else -1 */
    int pagemap_scan;      /* its PAGEMAP_SCAN ioctl: 0 untried, 1 works, -1 refused */
    void *pagemap_buf;     /* NREGIONS page regions, or as many pagemap entries */
};

#define MAX_STOP_ROUNDS 100

/* The index of the first buffer starting above addr (s->copies is sorted and disjoint):
 * addr is in the one before it, if in any. */
static size_t copy_after(const struct live_state *s, uint64_t addr)
{
    size_t lo = 0, hi = s->ncopies;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->copies[mid].start <= addr) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* len bytes of the copy at addr, inside buffer c: from the buffer where the process had
 * data, zeros elsewhere without reading the buffer there (its pages were never written:
 * reading them would fault them in, on some kernels as memory of their own). */
static void copy_out(const struct live_state *s, const struct copied *c, uint64_t addr,
                     uint8_t *out, size_t len)
{
    const struct ranges *d = &s->data;
    size_t i = 0, hi = d->n; /* the first range that ends above addr */
    while (i < hi) {
        size_t mid = i + (hi - i) / 2;
        if (d->v[mid].end <= addr) i = mid + 1;
        else hi = mid;
    }
    for (uint64_t end = addr + len; addr < end;) {
        bool in = i < d->n && d->v[i].start <= addr;
        uint64_t to = in ? d->v[i].end : i < d->n ? d->v[i].start : end;
        if (to > end) to = end;
        if (in) memcpy(out, c->data + (addr - c->start), (size_t)(to - addr));
        else memset(out, 0, (size_t)(to - addr));
        if (in && to == d->v[i].end) i++;
        out += to - addr;
        addr = to;
    }
}

/* Reads the process itself (not a copy). */
static struct pyh_error *read_process(struct pyh_target *t, uint64_t addr, void *buf, size_t len);

static struct pyh_error *live_read(struct pyh_target *t, uint64_t addr, void *buf, size_t len)
{
    struct live_state *s = t->impl;
    uint8_t *out = buf;
    /* Writable memory comes from the copy once there is one; what was not copied (code,
     * read-only data: it cannot have changed) from the process. */
    while (len > 0 && s->ncopies) {
        size_t lo = copy_after(s, addr);
        const struct copied *c = lo && addr < s->copies[lo - 1].end ? &s->copies[lo - 1] : NULL;
        size_t piece;
        if (c) {
            piece = c->end - addr < len ? (size_t)(c->end - addr) : len;
            copy_out(s, c, addr, out, piece);
        } else { /* up to the first buffer above addr */
            piece = lo < s->ncopies && s->copies[lo].start - addr < len
                        ? (size_t)(s->copies[lo].start - addr)
                        : len;
            struct pyh_error *err = read_process(t, addr, out, piece);
            if (err) return err;
        }
        out += piece;
        addr += piece;
        len -= piece;
    }
    return len ? read_process(t, addr, out, len) : NULL;
}

static bool live_gone(struct pyh_target *t);

/* The error of every read once the process is gone. */
static struct pyh_error *exited_error(const struct live_state *s)
{
    return pyh_error_create(PYH_ERR_OS, "process %d exited while it was being read", s->pid);
}

static struct pyh_error *read_process(struct pyh_target *t, uint64_t addr, void *buf, size_t len)
{
    struct live_state *s = t->impl;
    /* Nothing more will come from a process that is gone: fail at once rather than make a
     * system call per read of every walk that is still to run. */
    if (s->exited) return exited_error(s);
    size_t done = 0;
    while (done < len) {
        ssize_t n;
        if (!s->use_mem_fd) {
            struct iovec local = {(char *)buf + done, len - done};
            struct iovec remote = {(void *)(uintptr_t)(addr + done), len - done};
            n = process_vm_readv(s->pid, &local, 1, &remote, 1, 0);
            if (n < 0 && (errno == ENOSYS || errno == EPERM) && done == 0) {
                s->use_mem_fd = true; /* e.g. seccomp or an old kernel: try /proc/PID/mem */
                continue;
            }
        } else {
            if (s->mem_fd < 0) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/mem", s->pid);
                s->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
                if (s->mem_fd < 0)
                    return pyh_error_errno(errno, "cannot open %s", path);
            }
            n = pread(s->mem_fd, (char *)buf + done, len - done, (off_t)(addr + done));
        }
        if (n < 0 && errno == EINTR) continue;
        /* process_vm_readv says ESRCH for no such task and for a task without memory (a
         * zombie: a traced process killed while we hold it stays one until we wait for
         * it); /proc/PID/mem reads nothing (EOF) of a process without memory. Most readers
         * above take a failed read for damaged data and go on: the mark makes the results
         * partial for the right reason, and pyh_target_explain puts it on an error that
         * follows. */
        if ((n < 0 && errno == ESRCH) || (n == 0 && s->use_mem_fd && live_gone(t))) {
            s->exited = true;
            pyh_diag_partial(t->diag, "process %d exited while it was being read", s->pid);
            return exited_error(s);
        }
        if (n <= 0)
            return pyh_error_create(PYH_ERR_FAULT, "cannot read %zu bytes at 0x%llx in process %d",
                                    len, (unsigned long long)(addr + done), s->pid);
        done += (size_t)n;
    }
    return NULL;
}

/* Resumes and detaches every thread we stopped. Safe to call twice. */
static void resume_all(struct live_state *s)
{
    for (size_t i = 0; i < s->nstopped; i++)
        ptrace(PTRACE_DETACH, s->stopped[i].tid, NULL,
               (void *)(uintptr_t)s->stopped[i].pending_signal);
    s->nstopped = 0;
}

/* Unmaps the memory of ours that the copy no longer uses. */
static void release_unused(struct live_state *s)
{
    for (size_t i = 0; i < s->unused.n; i++)
        munmap((void *)(uintptr_t)s->unused.v[i].start,
               (size_t)(s->unused.v[i].end - s->unused.v[i].start));
    s->unused.n = 0;
}

/* What only making the copy needs. */
static void end_copy(struct live_state *s)
{
    if (s->pagemap_fd >= 0) close(s->pagemap_fd);
    s->pagemap_fd = -1;
    free(s->pagemap_buf);
    s->pagemap_buf = NULL;
}

static void live_close(struct pyh_target *t)
{
    struct live_state *s = t->impl;
    if (!s) return;
    resume_all(s);
    if (s->mem_fd >= 0) close(s->mem_fd);
    end_copy(s);
    release_unused(s);
    free(s->unused.v);
    ranges_free(&s->data);
    for (size_t i = 0; i < s->ncopies; i++) munmap(s->copies[i].data, s->copies[i].end - s->copies[i].start);
    free(s->copies);
    free(s->stopped);
    free(s);
    t->impl = NULL;
}

/* Rss of every mapping from /proc/PID/smaps (the kernel walks the page tables: a few ms per
 * thousand mappings). */
static struct pyh_error *live_fill_rss(struct pyh_target *t)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/smaps", t->pid);
    FILE *f = fopen(path, "re");
    if (!f) return pyh_error_errno(errno, "cannot read %s", path);
    pyh_target_parse_smaps(t, f);
    fclose(f);
    return NULL;
}

/* Whether the process is gone: a read found it so (ESRCH), or /proc says it no longer
 * exists or that every thread of it is a zombie or dead. The second way matters where no
 * read says ESRCH: reads through /proc/PID/mem of a process without memory return nothing
 * (EOF), and a failure may come before any read (ptrace, /proc files). Only called when
 * something failed. */
static bool live_gone(struct pyh_target *t)
{
    struct live_state *s = t->impl;
    if (!s) return false;
    if (s->exited) return true;
    char path[96];
    snprintf(path, sizeof(path), "/proc/%d/task", s->pid);
    DIR *dir = opendir(path);
    if (!dir) return s->exited = errno == ENOENT || errno == ESRCH;
    bool alive = false;
    struct dirent *de;
    while (!alive && (de = readdir(dir))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
        char stat[96], buf[512];
        snprintf(stat, sizeof(stat), "/proc/%d/task/%.16s/stat", s->pid, de->d_name);
        int fd = open(stat, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue; /* the thread is gone */
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0) continue;
        buf[n] = '\0';
        /* "tid (comm) S ...": comm may hold spaces and parentheses, the state follows the
         * last ')'. */
        const char *paren = strrchr(buf, ')');
        char state = paren && paren[1] == ' ' ? paren[2] : '?';
        alive = state != 'Z' && state != 'X' && state != 'x';
    }
    closedir(dir);
    return s->exited = !alive;
}

static const struct pyh_target_ops live_ops = {
    .read = live_read,
    .cached = true,
    .close = live_close,
    .fill_rss = live_fill_rss,
    .gone = live_gone,
};

static bool is_stopped(const struct live_state *s, int32_t tid)
{
    for (size_t i = 0; i < s->nstopped; i++)
        if (s->stopped[i].tid == tid) return true;
    return false;
}

/* Waits for the PTRACE_INTERRUPT stop of tid. A signal-delivery stop comes first when a
 * signal was pending; that stop holds the thread as well, and the signal is remembered so
 * that detaching delivers it. */
static struct pyh_error *wait_stop(struct live_state *s, struct stopped_thread *th)
{
    for (;;) {
        int status;
        pid_t r = waitpid(th->tid, &status, __WALL);
        if (r < 0 && errno == EINTR) {
            if (pyh_interrupted()) return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
            continue;
        }
        if (r < 0) return pyh_error_errno(errno, "waiting for thread %d of process %d", th->tid, s->pid);
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            th->tid = -1; /* gone */
            return NULL;
        }
        if (!WIFSTOPPED(status)) continue;
        int event = status >> 16;
        int sig = WSTOPSIG(status);
        if (event != 0) return NULL; /* PTRACE_EVENT_STOP: our interrupt, or a group-stop */
        /* A signal-delivery stop: keep the signal for the detach. */
        th->pending_signal = sig;
        return NULL;
    }
}

/* Lists the threads in /proc/PID/task into tids; returns how many, -1 on error. */
static long list_tasks(int pid, int32_t **tids, size_t *cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *dir = opendir(path);
    if (!dir) return -1;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
        int32_t tid = (int32_t)strtol(de->d_name, NULL, 10);
        if (PYH_GROW(*tids, *cap, n + 1)) break;
        (*tids)[n++] = tid;
    }
    closedir(dir);
    return (long)n;
}

/* Stops every thread; new threads may appear while we work, so repeat until a listing
 * shows no thread we have not stopped. */
static struct pyh_error *stop_all(struct pyh_target *t, struct live_state *s)
{
    int32_t *tids = NULL;
    size_t cap = 0;
    struct pyh_error *err = NULL;
    for (int round = 0; round < MAX_STOP_ROUNDS; round++) {
        long n = list_tasks(s->pid, &tids, &cap);
        if (n < 0) {
            err = pyh_error_errno(errno, "cannot list the threads of process %d", s->pid);
            break;
        }
        bool new_thread = false;
        for (long i = 0; i < n && !err; i++) {
            if (is_stopped(s, tids[i])) continue;
            new_thread = true;
            if (ptrace(PTRACE_SEIZE, tids[i], NULL, NULL) < 0) {
                if (errno == ESRCH) continue; /* the thread just exited */
                err = pyh_error_errno(errno,
                                      "cannot trace process %d (thread %d)%s", s->pid, tids[i],
                                      errno == EPERM ? "; is another debugger attached, or does "
                                                       "ptrace_scope forbid it?"
                                                     : "");
                break;
            }
            struct stopped_thread th = {.tid = tids[i]};
            if (PYH_APPEND(s->stopped, s->nstopped, s->stopped_cap, &th)) {
                ptrace(PTRACE_DETACH, tids[i], NULL, NULL);
                err = pyh_error_nomem();
                break;
            }
            if (ptrace(PTRACE_INTERRUPT, tids[i], NULL, NULL) < 0 && errno != ESRCH) {
                err = pyh_error_errno(errno, "cannot stop thread %d of process %d", tids[i], s->pid);
                break;
            }
            err = wait_stop(s, &s->stopped[s->nstopped - 1]);
        }
        if (err || !new_thread) break;
        if (round == MAX_STOP_ROUNDS - 1)
            err = pyh_error_create(PYH_ERR_OS, "process %d keeps creating threads; cannot stop it",
                                   s->pid);
    }
    free(tids);
    if (err) return err;
    /* Threads that exited between the listing and the stop are dropped. */
    size_t kept = 0;
    for (size_t i = 0; i < s->nstopped; i++)
        if (s->stopped[i].tid > 0) s->stopped[kept++] = s->stopped[i];
    s->nstopped = kept;
    for (size_t i = 0; i < s->nstopped; i++) {
        struct pyh_thread th = {.tid = s->stopped[i].tid};
        struct user_regs_struct regs;
        if (ptrace(PTRACE_GETREGS, th.tid, NULL, &regs) == 0) {
            th.has_regs = true;
            th.rip = regs.rip;
            th.rsp = regs.rsp;
            th.fs_base = regs.fs_base;
        }
        err = PYH_APPEND(t->threads, t->nthreads, t->threads_cap, &th);
        if (err) return err;
    }
    t->stopped = true;
    return NULL;
}

/* Threads without registers, for --no-stop. */
static struct pyh_error *list_threads_unstopped(struct pyh_target *t, int pid)
{
    int32_t *tids = NULL;
    size_t cap = 0;
    long n = list_tasks(pid, &tids, &cap);
    struct pyh_error *err = NULL;
    for (long i = 0; i < n && !err; i++) {
        struct pyh_thread th = {.tid = tids[i]};
        err = PYH_APPEND(t->threads, t->nthreads, t->threads_cap, &th);
    }
    free(tids);
    return err;
}

/* Test hook: PYHEAP_TEST_HOLD_MS=N keeps the target stopped N ms before reading, so that
 * tests can kill py-heap while the target is stopped. Interruptible. */
static struct pyh_error *test_hold(void)
{
    const char *env = getenv("PYHEAP_TEST_HOLD_MS");
    long ms = env ? strtol(env, NULL, 10) : 0;
    for (long i = 0; i < ms; i += 10) {
        struct pyh_error *err = pyh_check_interrupt();
        if (err) return err;
        usleep(10000);
    }
    return NULL;
}

static uint32_t parse_prot(const char *perms)
{
    return (perms[0] == 'r' ? PYH_PROT_R : 0) | (perms[1] == 'w' ? PYH_PROT_W : 0) |
           (perms[2] == 'x' ? PYH_PROT_X : 0);
}

/* A mapping that a copy holds: readable and writable ([vvar] aside: the kernel's, and
 * reading it can fault). */
struct wanted {
    uint64_t start, end;
    /* Private and anonymous: a page of it that is neither present nor swapped out was never
     * written (or was given back) and reads as zeros; it is not copied. Other mappings are
     * copied whole (a file's page that is not mapped yet still has the file's bytes). */
    bool sparse;
    bool huge; /* fit_buffers: its buffer gets transparent huge pages */
};
struct wanted_list {
    struct wanted *v;
    size_t n, cap;
};

/* Reads /proc/PID/maps into t's mappings (when t) and the mappings a copy holds into want
 * (when want). */
static struct pyh_error *read_maps(struct pyh_target *t, int pid, struct wanted_list *want)
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
        if (sscanf(line, "%llx-%llx %7s %llx %*x:%*x %llu %n", &start, &end, perms, &offset,
                   &inode, &name_at) < 5)
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
            struct wanted w = {.start = start, .end = end,
                               .sparse = perms[3] == 'p' && inode == 0};
            err = PYH_APPEND(want->v, want->n, want->cap, &w);
        }
    }
    free(line);
    fclose(f);
    if (!err && t) pyh_target_sort_maps(t);
    return err;
}

/* ---- The copy (PYH_LIVE_COPY) ------------------------------------------------------------
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

void (*pyh_live_test_prepared)(int pid);
int pyh_live_test_pagemap;
bool pyh_live_test_mem_fd;

#define PAGE 4096u
#define HUGE_PAGE PYH_HUGE_PAGE
#define MAX_PREPARE_ROUNDS 3
#define PREPARED_ENOUGH (8u << 20) /* a round that faulted in less ends the prepare */
#define COPY_CALL_BYTES (256u << 20) /* per process_vm_readv: an interruption waits for one */
#define COPY_CALL_IOVECS 1024u      /* UIO_MAXIOV */

/* Appends [start, end) to r, merging it into the last range when they touch or overlap:
 * ranges are added in address order. */
static struct pyh_error *ranges_add(struct ranges *r, uint64_t start, uint64_t end)
{
    if (start >= end) return NULL;
    if (r->n && start <= r->v[r->n - 1].end) {
        struct range *last = &r->v[r->n - 1];
        if (end > last->end) {
            r->bytes += end - last->end;
            last->end = end;
        }
        return NULL;
    }
    struct range x = {start, end};
    struct pyh_error *err = PYH_APPEND(r->v, r->n, r->cap, &x);
    if (!err) r->bytes += end - start;
    return err;
}

enum ranges_op { RANGES_AND, RANGES_OR, RANGES_AND_NOT };

/* *out = a OP b (out starts empty). */
static struct pyh_error *ranges_combine(const struct ranges *a, const struct ranges *b,
                                        enum ranges_op op, struct ranges *out)
{
    size_t i = 0, j = 0;
    uint64_t at = 0;
    struct pyh_error *err = NULL;
    while (!err) {
        while (i < a->n && a->v[i].end <= at) i++;
        while (j < b->n && b->v[j].end <= at) j++;
        if (i == a->n && j == b->n) break;
        bool in_a = i < a->n && a->v[i].start <= at, in_b = j < b->n && b->v[j].start <= at;
        uint64_t next = UINT64_MAX;
        if (i < a->n) next = in_a ? a->v[i].end : a->v[i].start;
        if (j < b->n) {
            uint64_t nb = in_b ? b->v[j].end : b->v[j].start;
            if (nb < next) next = nb;
        }
        bool keep = op == RANGES_OR ? in_a || in_b : op == RANGES_AND ? in_a && in_b : in_a && !in_b;
        if (keep) err = ranges_add(out, at, next);
        at = next;
    }
    return err;
}

/* PAGEMAP_SCAN of Linux 6.7 (<linux/fs.h>), declared here for older headers. */
struct pm_region {
    uint64_t start, end, categories;
};
struct pm_scan {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted,
        category_mask, category_anyof_mask, return_mask;
};
#define PM_SCAN_IOCTL _IOWR('f', 16, struct pm_scan)
#define PM_PAGE_IS_PRESENT (1u << 3)
#define PM_PAGE_IS_SWAPPED (1u << 4)
#define PM_PAGE_IS_PFNZERO (1u << 5)
#define PM_ENTRY_PRESENT (1ull << 63) /* of a /proc/PID/pagemap entry */
#define PM_ENTRY_SWAPPED (1ull << 62)

/* Appends to out the pages of [start, end) that hold data: present (and not the shared zero
 * page) or swapped out. Without /proc/PID/pagemap, all of it. The kernel walks the page
 * tables: PAGEMAP_SCAN (Linux 6.7) returns runs of pages (~2 ms per GiB), reading pagemap
 * 8 bytes a page (~20 ms per GiB). */
static struct pyh_error *data_pages(struct live_state *s, uint64_t start, uint64_t end,
                                    struct ranges *out)
{
    uint64_t at = start;
    bool broken = false; /* the rest is taken whole */
    struct pyh_error *err = NULL;
    if (s->pagemap_fd >= 0 && !s->pagemap_buf &&
        !(s->pagemap_buf = malloc(NREGIONS * sizeof(struct pm_region))))
        return pyh_error_nomem();
    while (s->pagemap_fd >= 0 && s->pagemap_scan >= 0 && at < end && !err && !broken) {
        struct pm_region *regions = s->pagemap_buf;
        struct pm_scan a = {.size = sizeof(a), .start = at, .end = end,
                            .vec = (uint64_t)(uintptr_t)regions, .vec_len = NREGIONS,
                            .category_inverted = PM_PAGE_IS_PFNZERO,
                            .category_mask = PM_PAGE_IS_PFNZERO,
                            .category_anyof_mask = PM_PAGE_IS_PRESENT | PM_PAGE_IS_SWAPPED};
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
            err = ranges_add(out, rs, re);
            if (re > next) next = re;
        }
        if (next <= at) broken = true; /* no progress: not to be trusted */
        else at = next;
    }
    uint64_t *entries = s->pagemap_buf;
    size_t max = NREGIONS * sizeof(struct pm_region) / sizeof(uint64_t);
    while (s->pagemap_fd >= 0 && s->pagemap_scan < 0 && at < end && !err && !broken) {
        size_t want = (end - at) / PAGE < max ? (size_t)((end - at) / PAGE) : max;
        ssize_t n = pread(s->pagemap_fd, entries, want * 8, (off_t)(at / PAGE * 8));
        if (n < 0 && errno == EINTR) continue;
        if (n < 8) break;
        for (size_t i = 0; i < (size_t)n / 8 && !err; i++)
            if (entries[i] & (PM_ENTRY_PRESENT | PM_ENTRY_SWAPPED))
                err = ranges_add(out, at + i * PAGE, at + (i + 1) * PAGE);
        at += (uint64_t)n / 8 * PAGE;
    }
    if (!err && at < end) err = ranges_add(out, at, end);
    return err;
}

/* The pages of every wanted mapping that hold data, into *data; decides which buffers get
 * huge pages: those of 2 MiB or more whose data fills 7/8 or more (a huge page faulted in
 * for a few pages of data would cost more memory than the data). */
static struct pyh_error *find_data(struct live_state *s, struct wanted_list *want,
                                   struct ranges *data)
{
    for (size_t i = 0; i < want->n; i++) {
        struct wanted *w = &want->v[i];
        uint64_t before = data->bytes, size = w->end - w->start;
        struct pyh_error *err = w->sparse ? data_pages(s, w->start, w->end, data)
                                          : ranges_add(data, w->start, w->end);
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
static void drop(struct live_state *s, uint8_t *p, size_t len, bool later)
{
    struct range r = {(uintptr_t)p, (uintptr_t)p + len};
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
static struct pyh_error *fit_buffers(struct live_state *s, const struct wanted_list *want,
                                     bool later)
{
    struct copied *fit = NULL;
    size_t nfit = 0, cap = 0, k = 0;
    struct pyh_error *err = NULL;
    for (size_t i = 0; i < want->n && !err; i++) {
        const struct wanted *w = &want->v[i];
        for (uint64_t at = w->start; at < w->end && !err;) {
            while (k < s->ncopies && s->copies[k].end <= at) k++;
            struct copied c = {.start = at};
            if (k < s->ncopies && s->copies[k].start <= at) { /* inside an old buffer */
                const struct copied *o = &s->copies[k];
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
        const struct copied *o = &s->copies[k];
        uint64_t at = o->start;
        while (i < want->n && want->v[i].end <= o->start) i++;
        for (size_t j = i; at < o->end; j++) {
            uint64_t next = j < want->n && want->v[j].start < o->end ? want->v[j].start : o->end;
            if (next > at) drop(s, o->data + (at - o->start), (size_t)(next - at), later);
            if (next == o->end) break;
            at = want->v[j].end;
        }
    }
    for (size_t j = 0; j < nfit; j++) fit[j].fresh = false;
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
        for (size_t off = 0; off < len; off += PAGE) ((volatile uint8_t *)p)[off] = 0;
}

/* The pieces of the target's ranges r that the buffers (s->copies, sorted) cover, in order,
 * each at most max_len bytes: where it starts in the target, its buffer memory, its length.
 * Start with a zeroed iterator; next_piece returns false at the end. */
struct piece_iter {
    size_t range, copy;
    uint64_t at;
    bool started;
};

static bool next_piece(const struct live_state *s, const struct ranges *r, uint64_t max_len,
                       struct piece_iter *it, uint64_t *remote, uint8_t **local, size_t *len)
{
    for (; it->range < r->n; it->range++, it->started = false) {
        const struct range *g = &r->v[it->range];
        if (!it->started) it->at = g->start, it->started = true;
        while (it->at < g->end) {
            while (it->copy < s->ncopies && s->copies[it->copy].end <= it->at) it->copy++;
            if (it->copy == s->ncopies) return false;
            const struct copied *c = &s->copies[it->copy];
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
static struct pyh_error *prefault(struct live_state *s, const struct ranges *todo)
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
static uint64_t memory_available(void)
{
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

/* While the process runs: buffers for its writable mappings, faulted in where it has data,
 * in rounds until a round finds little new (what the process wrote meanwhile). Holds about
 * as much memory as the process has data in those mappings, which the copy needs anyway. */
static struct pyh_error *prepare_copy(struct live_state *s)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/pagemap", s->pid);
    /* Without it, mappings are copied whole. */
    s->pagemap_fd = pyh_live_test_pagemap == 2 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    if (pyh_live_test_pagemap == 1) s->pagemap_scan = -1;
    struct ranges faulted = {0};
    struct pyh_error *err = NULL;
    for (int round = 0; round < MAX_PREPARE_ROUNDS && !err; round++) {
        struct wanted_list want = {0};
        struct ranges data = {0}, todo = {0}, wanted = {0}, kept = {0};
        err = read_maps(NULL, s->pid, &want);
        if (!err) err = find_data(s, &want, &data);
        if (!err) err = fit_buffers(s, &want, false);
        for (size_t i = 0; i < want.n && !err; i++)
            err = ranges_add(&wanted, want.v[i].start, want.v[i].end);
        if (!err) err = ranges_combine(&data, &faulted, RANGES_AND_NOT, &todo);
        /* Refused before the process is stopped, rather than left to the OOM killer: a
         * copy of a process whose writable mappings are read whole (files, shared memory,
         * or every mapping without pagemap) can need more than the machine has. */
        uint64_t avail = memory_available();
        if (!err && todo.bytes > avail)
            err = pyh_error_create(PYH_ERR_NOMEM,
                                   "cannot copy process %d: its writable memory to copy (%.1f GiB) "
                                   "is more than the memory available (%.1f GiB); read it "
                                   "without --copy",
                                   s->pid, (double)todo.bytes / (1u << 30),
                                   (double)avail / (1u << 30));
        if (!err) err = prefault(s, &todo);
        if (!err) err = ranges_combine(&faulted, &wanted, RANGES_AND, &kept);
        ranges_free(&faulted);
        if (!err) err = ranges_combine(&kept, &todo, RANGES_OR, &faulted);
        bool enough = todo.bytes <= PREPARED_ENOUGH;
        free(want.v);
        ranges_free(&data);
        ranges_free(&todo);
        ranges_free(&wanted);
        ranges_free(&kept);
        if (enough) break;
    }
    ranges_free(&faulted);
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
static struct pyh_error *copy_slowly(struct pyh_target *t, struct live_state *s, uint64_t remote,
                                     uint8_t *local, size_t len)
{
    for (size_t off = 0; off < len;) {
        size_t chunk = len - off < (1u << 30) ? len - off : 1u << 30;
        struct pyh_error *err = read_process(t, remote + off, local + off, chunk);
        if (!err) {
            off += chunk;
            continue;
        }
        if (err->code == PYH_ERR_INTERRUPTED || s->exited) return err;
        pyh_error_free(err);
        for (size_t end = off + chunk; off < end; off += PAGE) {
            err = read_process(t, remote + off, local + off, PAGE);
            if (err && s->exited) return err;
            pyh_error_free(err);
        }
    }
    return NULL;
}

static struct pyh_error *copy_batches(struct pyh_target *t, struct live_state *s,
                                      const struct xfer *x, size_t n, struct iovec *local,
                                      struct iovec *remote)
{
    size_t i = 0, off = 0; /* where the copy is: byte off of x[i] */
    while (i < n) {
        struct pyh_error *err = pyh_check_interrupt();
        if (err) return err;
        if (s->use_mem_fd || s->exited) {
            for (; i < n; i++, off = 0)
                if ((err = copy_slowly(t, s, x[i].remote + off, x[i].local + off, x[i].len - off)))
                    return err;
            return NULL;
        }
        size_t k = 0, bytes = 0;
        for (size_t j = i, o = off; j < n && k < COPY_CALL_IOVECS && bytes < COPY_CALL_BYTES; k++) {
            size_t len = x[j].len - o < COPY_CALL_BYTES - bytes ? x[j].len - o : COPY_CALL_BYTES - bytes;
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
            return exited_error(s);
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
            err = read_process(t, x[i].remote + off, x[i].local + off, len);
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
 * COPY_CALL_BYTES to a call. A call stops at the first page it cannot read (a guard page,
 * a file mapped past its end): that page is tried alone and stays zero if it fails, and
 * the copy goes on after it. Interruptible between calls. */
static struct pyh_error *copy_xfers(struct pyh_target *t, struct live_state *s,
                                    const struct xfer *x, size_t n)
{
    struct iovec *local = malloc(2 * COPY_CALL_IOVECS * sizeof(*local));
    if (!local) return pyh_error_nomem();
    struct pyh_error *err = copy_batches(t, s, x, n, local, local + COPY_CALL_IOVECS);
    free(local);
    return err;
}

/* While the process is stopped: its writable mappings as they are now (want, read with the
 * target's mappings), their pages that hold data copied into the buffers prepare_copy made,
 * fitted to them. Pages that cannot be read stay zero. */
static struct pyh_error *copy_writable(struct pyh_target *t, struct live_state *s,
                                       struct wanted_list *want)
{
    struct ranges data = {0};
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
    if (!err) err = copy_xfers(t, s, x, nx);
    free(x);
    ranges_free(&s->data);
    s->data = data; /* for copy_out */
    return err;
}

static struct pyh_error *read_auxv(struct pyh_target *t, int pid)
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

struct pyh_error *pyh_target_open_live(int pid, enum pyh_live_mode mode,
                                       const struct pyh_host_thread *threads, size_t nthreads,
                                       struct pyh_diag *diag, struct pyh_target **out)
{
    *out = NULL;
    if (pid <= 0) return pyh_error_create(PYH_ERR_USAGE, "invalid PID %d", pid);
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return pyh_error_create(PYH_ERR_NOT_FOUND, "no process with PID %d", pid);
    struct pyh_target *t = pyh_target_alloc(PYH_TARGET_LIVE, &live_ops, diag);
    struct live_state *s = calloc(1, sizeof(*s));
    if (!t || !s) {
        free(t);
        free(s);
        return pyh_error_nomem();
    }
    s->pid = pid;
    s->mem_fd = -1;
    s->use_mem_fd = pyh_live_test_mem_fd;
    s->pagemap_fd = -1;
    t->impl = s;
    t->pid = pid;
    struct pyh_error *err = NULL;
    if (asprintf(&t->description, "process %d", pid) < 0) {
        err = pyh_error_nomem();
        goto fail;
    }
    if ((err = pyh_target_init_cache(t, PYH_CACHE_SLOTS))) goto fail;
    if ((err = read_auxv(t, pid))) goto fail;
    char link[64], exe[4096];
    snprintf(link, sizeof(link), "/proc/%d/exe", pid);
    ssize_t n = readlink(link, exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        t->exe_path = pyh_strdup(exe);
    }
    if (mode == PYH_LIVE_NO_STOP) {
        pyh_diag_warn(diag, "process %d was read without stopping it (--no-stop): results may be "
                            "inconsistent", pid);
        err = read_maps(t, pid, NULL);
        if (!err) err = list_threads_unstopped(t, pid);
    } else if (mode == PYH_LIVE_HOST_STOPPED) {
        err = read_maps(t, pid, NULL);
        for (size_t i = 0; i < nthreads && !err; i++) {
            struct pyh_thread th = {.tid = threads[i].tid, .has_regs = true, .rip = threads[i].rip,
                                    .rsp = threads[i].rsp, .fs_base = threads[i].fs_base};
            err = PYH_APPEND(t->threads, t->nthreads, t->threads_cap, &th);
        }
        t->stopped = true;
    } else {
        /* The copy's buffers are made ready while the process runs. */
        if (mode == PYH_LIVE_COPY) err = prepare_copy(s);
        if (!err && mode == PYH_LIVE_COPY && pyh_live_test_prepared) pyh_live_test_prepared(pid);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (!err) err = stop_all(t, s);
        if (!err) err = test_hold();
        /* The mappings as they are while the process is stopped. */
        struct wanted_list want = {0};
        if (!err) err = read_maps(t, pid, mode == PYH_LIVE_COPY ? &want : NULL);
        if (mode == PYH_LIVE_COPY) {
            /* Copy what can change, then let the process go at once: the analysis runs on
             * the copy, the pause lasts only as long as the copy. */
            if (!err) err = copy_writable(t, s, &want);
            resume_all(s);
            t->stopped = false;
            t->copied = true;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            t->pause_seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            release_unused(s);
            end_copy(s);
        }
        free(want.v);
    }
    if (err) goto fail;
    /* The files as the process sees them: through /proc/PID/root, so that a process in a
     * container (another mount namespace) gets its own files, then the plain path. */
    char root[64];
    snprintf(root, sizeof(root), "/proc/%d/root", pid);
    struct stat ours, theirs;
    bool same_root = stat("/", &ours) == 0 && stat(root, &theirs) == 0 &&
                     ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino;
    struct pyh_file_search search = {.sysroot = same_root ? NULL : root};
    for (size_t i = 0; i < t->nmaps; i++) {
        struct pyh_mapping *m = &t->maps[i];
        if (m->path) m->file = pyh_target_find_file(t, &search, m->path, false, NULL, 0, false);
    }
    *out = t;
    return NULL;
fail:
    err = pyh_target_explain(t, err); /* e.g. a process that exited while it was stopped */
    pyh_target_close(t);
    return err;
}
