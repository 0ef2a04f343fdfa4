/* The live-process target: /proc/PID/maps for mappings, process_vm_readv (or /proc/PID/mem)
 * for memory, and every thread stopped with PTRACE_SEIZE + PTRACE_INTERRUPT for the time of
 * the read.
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

/* A copy of one writable mapping, taken while the process was stopped. */
struct copied {
    uint64_t start, end;
    uint8_t *data; /* mmapped */
};

struct live_state {
    int pid;
    int mem_fd; /* /proc/PID/mem, opened lazily when process_vm_readv is refused */
    bool use_mem_fd;
    bool exited; /* a read found the process gone, or live_gone saw it so */
    struct stopped_thread *stopped;
    size_t nstopped, stopped_cap;
    struct copied *copies; /* PYH_LIVE_COPY: sorted by start */
    size_t ncopies, copies_cap;
};

#define MAX_STOP_ROUNDS 100

static const struct copied *copy_at(const struct live_state *s, uint64_t addr)
{
    size_t lo = 0, hi = s->ncopies;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr < s->copies[mid].start) hi = mid;
        else if (addr >= s->copies[mid].end) lo = mid + 1;
        else return &s->copies[mid];
    }
    return NULL;
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
        const struct copied *c = copy_at(s, addr);
        size_t piece;
        if (c) {
            piece = c->end - addr < len ? (size_t)(c->end - addr) : len;
            memcpy(out, c->data + (addr - c->start), piece);
        } else {
            piece = len;
            for (size_t i = 0; i < s->ncopies; i++) /* up to the next copied mapping */
                if (s->copies[i].start > addr && s->copies[i].start - addr < piece)
                    piece = (size_t)(s->copies[i].start - addr);
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

static void live_close(struct pyh_target *t)
{
    struct live_state *s = t->impl;
    if (!s) return;
    resume_all(s);
    if (s->mem_fd >= 0) close(s->mem_fd);
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

/* Copies every readable, writable mapping in large reads; pages that cannot be read (a
 * race with munmap, a guard page) stay zero. */
static struct pyh_error *copy_writable(struct pyh_target *t, struct live_state *s)
{
    for (size_t i = 0; i < t->nmaps; i++) {
        const struct pyh_mapping *m = &t->maps[i];
        if ((m->prot & (PYH_PROT_R | PYH_PROT_W)) != (PYH_PROT_R | PYH_PROT_W)) continue;
        if (m->label && !strcmp(m->label, "[vvar]")) continue;
        size_t size = (size_t)(m->end - m->start);
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) return pyh_error_errno(errno, "cannot allocate %zu bytes to copy process %d", size, s->pid);
        struct copied c = {m->start, m->end, p};
        struct pyh_error *err = PYH_APPEND(s->copies, s->ncopies, s->copies_cap, &c);
        if (err) {
            munmap(p, size);
            return err;
        }
        for (size_t off = 0; off < size;) {
            size_t chunk = size - off < (1u << 30) ? size - off : 1u << 30;
            err = read_process(t, m->start + off, (uint8_t *)p + off, chunk);
            if (!err) {
                off += chunk;
                continue;
            }
            if (err->code == PYH_ERR_INTERRUPTED || s->exited) return err;
            pyh_error_free(err);
            /* Page by page then, leaving unreadable ones zero. */
            for (size_t end = off + chunk; off < end; off += 4096) {
                err = read_process(t, m->start + off, (uint8_t *)p + off, 4096);
                pyh_error_free(err);
            }
        }
        if (pyh_interrupted()) return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
    }
    return NULL;
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

static struct pyh_error *read_maps(struct pyh_target *t, int pid)
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
        err = pyh_target_add_map(t, start, end, offset, parse_prot(perms), file, label);
    }
    free(line);
    fclose(f);
    if (!err) pyh_target_sort_maps(t);
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
        err = read_maps(t, pid);
        if (!err) err = list_threads_unstopped(t, pid);
    } else if (mode == PYH_LIVE_HOST_STOPPED) {
        err = read_maps(t, pid);
        for (size_t i = 0; i < nthreads && !err; i++) {
            struct pyh_thread th = {.tid = threads[i].tid, .has_regs = true, .rip = threads[i].rip,
                                    .rsp = threads[i].rsp, .fs_base = threads[i].fs_base};
            err = PYH_APPEND(t->threads, t->nthreads, t->threads_cap, &th);
        }
        t->stopped = true;
    } else {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        err = stop_all(t, s);
        if (!err) err = test_hold();
        /* The mappings as they are while the process is stopped: read before, one made or
         * removed in between would be missing, or read where nothing is. */
        if (!err) err = read_maps(t, pid);
        if (!err && mode == PYH_LIVE_COPY) {
            /* Copy what can change, then let the process go at once: the analysis runs on
             * the copy, the pause lasts only as long as the copy. */
            err = copy_writable(t, s);
            resume_all(s);
            t->stopped = false;
            t->copied = true;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            t->pause_seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        }
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
