/* The live-process target: /proc/PID/maps for mappings, process_vm_readv (or /proc/PID/mem)
 * for memory, and every thread stopped (live_stop.c) for the time of the read — or, with
 * PYH_LIVE_COPY, for the time of a copy of its writable memory (live_copy.c). Which pages
 * are resident is read from its page tables right after the stop (live_maps.c). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "target/elf_util.h"
#include "target/live_internal.h"
#include "util/format.h"
#include "util/interrupt.h"
#include "util/progress.h"
#include "util/mem.h"

int pyh_live_test_pagemap;
bool pyh_live_test_mem_fd;

struct pyh_error *pyh_live_exited_error(const struct pyh_live_state *s)
{
    return pyh_error_create(PYH_ERR_OS, "process %d exited while it was being read", s->pid);
}

/* Reads the process itself: process_vm_readv, or /proc/PID/mem. */
static struct pyh_error *read_process_memory(struct pyh_target *t, uint64_t addr, void *buf,
                                             size_t len)
{
    struct pyh_live_state *s = t->impl;
    /* Nothing more will come from a process that is gone: fail at once rather than make a
     * system call per read of every walk that is still to run. */
    if (s->exited) return pyh_live_exited_error(s);
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
                if (s->mem_fd < 0) return pyh_error_errno(errno, "cannot open %s", path);
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
        if ((n < 0 && errno == ESRCH) || (n == 0 && s->use_mem_fd && pyh_live_gone(t))) {
            s->exited = true;
            pyh_diag_partial(t->diag, "process %d exited while it was being read", s->pid);
            return pyh_live_exited_error(s);
        }
        if (n <= 0)
            return pyh_error_create(PYH_ERR_FAULT, "cannot read %zu bytes at 0x%llx in process %d",
                                    len, (unsigned long long)(addr + done), s->pid);
        done += (size_t)n;
    }
    return NULL;
}

struct pyh_error *pyh_live_read_process(struct pyh_target *t, uint64_t addr, void *buf, size_t len)
{
    struct pyh_live_state *s = t->impl;
    uint8_t *out = buf;
    while (len > 0) {
        size_t piece;
        size_t n = pyh_live_read_unheld(t, s, addr, out, len, &piece);
        struct pyh_error *err = n ? NULL : read_process_memory(t, addr, out, n = piece);
        if (err) return err;
        out += n;
        addr += n;
        len -= n;
    }
    return NULL;
}

static struct pyh_error *live_read(struct pyh_target *t, uint64_t addr, void *buf, size_t len)
{
    struct pyh_live_state *s = t->impl;
    return s->ncopies ? pyh_live_read_copy(t, addr, buf, len)
                      : pyh_live_read_process(t, addr, buf, len);
}

/* The copy is py-heap's own memory: a pass looks at it where it is. Nothing to give back
 * (the copy is all there is), so no view_release. */
static const uint8_t *live_view(struct pyh_target *t, uint64_t addr, size_t len)
{
    struct pyh_live_state *s = t->impl;
    return s->ncopies ? pyh_live_view_copy(t, addr, len) : NULL;
}

static void live_close(struct pyh_target *t)
{
    struct pyh_live_state *s = t->impl;
    if (!s) return;
    pyh_live_resume_all(s);
    if (s->mem_fd >= 0) close(s->mem_fd);
    pyh_live_close_pagemap(s);
    pyh_live_free_copy(s);
    pyh_ranges_free(&s->resident);
    pyh_ranges_free(&s->file_held);
    pyh_live_close_map_files(s);
    free(s->stopped);
    free(s);
    t->impl = NULL;
}

/* The pages measured at the open, in the stop; without pagemap, Rss per mapping from
 * /proc/PID/smaps, read now (the kernel walks the page tables: a few ms per thousand
 * mappings). */
static struct pyh_error *live_residency(struct pyh_target *t, struct pyh_residency *out)
{
    struct pyh_live_state *s = t->impl;
    if (s->resident_by_page) {
        out->source = "pagemap";
        out->how = "pages present while the process was stopped";
        out->by_page = true;
        out->runs = s->resident;
        s->resident = (struct pyh_ranges){0};
        s->resident_by_page = false;
        return NULL;
    }
    out->source = "smaps";
    out->how = "Rss from smaps; the parts estimated";
    out->by_page = false;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/smaps", t->pid);
    FILE *f = fopen(path, "re");
    if (!f) return pyh_error_errno(errno, "cannot read %s", path);
    pyh_target_parse_smaps(t, f);
    fclose(f);
    return NULL;
}

static void live_resume(struct pyh_target *t)
{
    struct pyh_live_state *s = t->impl;
    if (!s || !s->nstopped) return;
    pyh_live_resume_all(s);
    if (t->stop_started > 0) {
        t->pause_seconds = pyh_monotonic() - t->stop_started;
        t->pause_done = true;
    }
    t->stopped = false;
}

static const struct pyh_target_ops live_ops = {
    .read = live_read,
    .cached = true,
    .close = live_close,
    .residency = live_residency,
    .gone = pyh_live_gone,
    .resume = live_resume,
    .view = live_view,
};

void pyh_live_attach_files(struct pyh_target *t, const struct pyh_file_search *user)
{
    /* Again from nothing: what an earlier call (with no options) found is dropped. */
    for (size_t i = 0; i < t->nmaps; i++) t->maps[i].file = NULL;
    for (size_t i = 0; i < t->nfiles; i++) pyh_local_file_free(t->files[i]);
    t->nfiles = 0;
    /* The files as the process sees them: through /proc/PID/root, its own mount namespace
     * (a container, `unshare -m`: the same root directory, other mounts), then the plain
     * path; --sysroot instead of /proc/PID/root when given, --exe and --lib-path first. */
    char root[64];
    snprintf(root, sizeof(root), "/proc/%d/root", t->pid);
    bool reachable = access(root, X_OK) == 0;
    struct pyh_file_search search = {.sysroot = reachable ? root : NULL};
    if (user) {
        if (user->sysroot) search.sysroot = user->sysroot;
        search.lib_path = user->lib_path;
        search.exe = user->exe;
    }
    for (size_t i = 0; i < t->nmaps; i++) {
        struct pyh_mapping *m = &t->maps[i];
        if (!m->path || m->file || m->path[0] != '/') continue;
        /* The build-id the process has in memory, as for cores: a file of another build
         * (a library replaced on disk since the process started) is said. */
        uint8_t id[64];
        size_t id_len = pyh_elf_mapping_build_id(t, m, id, sizeof(id));
        bool is_exe = t->exe_path && strcmp(t->exe_path, m->path) == 0;
        /* The same file at the plain path (the usual case: one mount namespace) is named by
         * that path, not through /proc/PID/root. */
        struct pyh_file_search plain = search;
        char inside[4200];
        struct stat a, b;
        if (reachable && search.sysroot == root &&
            snprintf(inside, sizeof(inside), "%s%s", root, m->path) < (int)sizeof(inside) &&
            stat(inside, &a) == 0 && stat(m->path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            plain.sysroot = NULL;
        struct pyh_local_file *f =
            pyh_target_find_file(t, &plain, m->path, is_exe, id, id_len, false);
        for (size_t j = i; j < t->nmaps; j++)
            if (t->maps[j].path && strcmp(t->maps[j].path, m->path) == 0) t->maps[j].file = f;
    }
}

static struct pyh_error *open_live(int pid, enum pyh_live_mode mode, double max_pause,
                                   const struct pyh_host_thread *threads, size_t nthreads,
                                   struct pyh_diag *diag, struct pyh_target **out);

/* Sets t->pause_how (printf-style); a failure to format leaves it NULL: a detail of a
 * report, never worth failing for. */
static void pause_how(struct pyh_target *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pause_how(struct pyh_target *t, const char *fmt, ...)
{
    free(t->pause_how);
    t->pause_how = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&t->pause_how, fmt, ap) < 0) t->pause_how = NULL;
    va_end(ap);
}

/* Reads the process while it runs: its mappings, resident pages and threads (without
 * registers) from /proc. */
static struct pyh_error *open_running(struct pyh_target *t, struct pyh_live_state *s)
{
    t->captured_at = pyh_realtime();
    struct pyh_error *err = pyh_live_read_maps(t, s->pid, NULL);
    if (!err) err = pyh_live_measure_resident(t, s);
    if (!err) err = pyh_live_list_threads(t, s->pid);
    return err;
}

/* PYH_LIVE_STOP and the copies: decides between a copy and a stopped analysis (or, under
 * max_pause, a read of the running process) from what prepare_copy found, then stops the
 * process and, for a copy, copies and resumes it. */
static struct pyh_error *open_stopping(struct pyh_target *t, struct pyh_live_state *s,
                                       enum pyh_live_mode mode, double max_pause)
{
    int pid = s->pid;
    char need[32], avail[32];
    struct pyh_error *err = NULL;
    bool copy = mode != PYH_LIVE_STOP;
    struct pyh_live_copy_plan plan = {.fits = true};
    /* The copy's buffers are made ready while the process runs. */
    if (copy && (err = pyh_live_prepare_copy(s, &plan))) return err;
    pyh_format_bytes(plan.bytes, need, sizeof(need));
    pyh_format_bytes(plan.available, avail, sizeof(avail));
    if (copy && !plan.fits) {
        if (mode == PYH_LIVE_COPY)
            return pyh_error_create(PYH_ERR_NOMEM,
                                    "cannot copy process %d: its writable memory to copy (%s) does "
                                    "not fit in the memory available (%s, less a margin); read it "
                                    "stopped (--no-copy) or running (--no-stop)",
                                    pid, need, avail);
        if (max_pause > 0) {
            /* A stopped analysis lasts as long as the analysis: no bound at all. */
            pyh_diag_partial(t->diag,
                             "process %d was read while it ran, not stopped: a copy of its "
                             "writable memory (%s) would not fit in the memory available (%s), "
                             "and an analysis of the stopped process could last longer than "
                             "--max-pause %g s; results may be inconsistent",
                             pid, need, avail, max_pause);
            pause_how(t, "not stopped: a copy of %s would not fit in the %s available, and "
                         "a stopped analysis could exceed --max-pause %g s",
                      need, avail, max_pause);
            t->pause_done = true;
            return open_running(t, s);
        }
        pyh_diag_warn(t->diag,
                      "process %d is analysed stopped: a copy of its writable memory (%s) would "
                      "not fit in the memory available (%s, less a margin)",
                      pid, need, avail);
        pause_how(t, "analysed stopped: the copy would not fit in memory");
        copy = false;
    } else if (copy && max_pause > 0 && plan.rate > 0 &&
               (double)plan.bytes / plan.rate > max_pause) {
        double estimate = (double)plan.bytes / plan.rate;
        pyh_live_free_copy(s);
        pyh_live_close_pagemap(s);
        pyh_diag_partial(t->diag,
                         "process %d was read while it ran, not stopped: copying its %s would "
                         "stop it for about %.3f s (at %.1f GiB/s), more than --max-pause %g s; "
                         "results may be inconsistent",
                         pid, need, estimate, plan.rate / (1u << 30), max_pause);
        pause_how(t, "not stopped: a copy of %s would take about %.3f s, more than --max-pause %g s",
                  need, estimate, max_pause);
        t->pause_done = true;
        return open_running(t, s);
    } else if (!copy) {
        pause_how(t, "analysed stopped: --no-copy");
    }
    if (copy && pyh_live_test_prepared) pyh_live_test_prepared(pid);
    double now = pyh_monotonic();
    double deadline = copy && max_pause > 0 ? now + max_pause : 0;
    if (!copy) t->stop_started = now;
    err = pyh_live_stop_all(t, s);
    t->captured_at = pyh_realtime();
    if (!err) err = pyh_live_test_hold();
    /* The mappings as they are while the process is stopped. */
    struct pyh_live_wanted_list want = {0};
    if (!err) err = pyh_live_read_maps(t, pid, copy ? &want : NULL);
    /* Before any read: a read of a page that was swapped out brings it back. */
    if (!err) err = pyh_live_measure_resident(t, s);
    if (copy) {
        /* Copy what can change, then let the process go at once: the analysis runs on the
         * copy, the pause lasts only as long as the copy. */
        bool abandoned = false;
        if (!err) err = pyh_live_copy_writable(t, s, &want, deadline, &abandoned);
        pyh_live_resume_all(s);
        t->pause_seconds = pyh_monotonic() - now;
        t->pause_done = true;
        t->stopped = false;
        pyh_live_release_unused(s);
        pyh_live_close_pagemap(s);
        pyh_format_bytes(t->copy_bytes, need, sizeof(need));
        if (!err && abandoned) {
            /* Part of a copy is worse than none: its parts are of different moments (the
             * rest would be read later, while the process runs) and it holds memory. */
            pyh_live_free_copy(s);
            pyh_diag_partial(t->diag,
                             "process %d was read while it ran: its copy (%s) was abandoned "
                             "at --max-pause %g s and the process resumed; results may be "
                             "inconsistent",
                             pid, need, max_pause);
            pause_how(t, "copy of %s abandoned at --max-pause %g s; read while it ran", need,
                      max_pause);
        } else {
            t->copied = true;
            pause_how(t, "copy of %s", need);
        }
    }
    free(want.v);
    return err;
}

struct pyh_error *pyh_target_open_live(int pid, enum pyh_live_mode mode,
                                       const struct pyh_host_thread *threads, size_t nthreads,
                                       struct pyh_diag *diag, struct pyh_target **out)
{
    return open_live(pid, mode, 0, threads, nthreads, diag, out);
}

struct pyh_error *pyh_target_open_live_bounded(int pid, enum pyh_live_mode mode, double max_pause,
                                               struct pyh_diag *diag, struct pyh_target **out)
{
    return open_live(pid, mode, max_pause, NULL, 0, diag, out);
}

static struct pyh_error *open_live(int pid, enum pyh_live_mode mode, double max_pause,
                                   const struct pyh_host_thread *threads, size_t nthreads,
                                   struct pyh_diag *diag, struct pyh_target **out)
{
    *out = NULL;
    if (pid <= 0) return pyh_error_create(PYH_ERR_USAGE, "invalid PID %d", pid);
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return pyh_error_create(PYH_ERR_NOT_FOUND, "no process with PID %d", pid);
    struct pyh_target *t = pyh_target_alloc(PYH_TARGET_LIVE, &live_ops, diag);
    struct pyh_live_state *s = calloc(1, sizeof(*s));
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
    if ((err = pyh_live_read_auxv(t, pid))) goto fail;
    char link[64], exe[4096];
    snprintf(link, sizeof(link), "/proc/%d/exe", pid);
    ssize_t n = readlink(link, exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        t->exe_path = pyh_strdup(exe);
    }
    if (mode == PYH_LIVE_NO_STOP) {
        pyh_diag_warn(diag,
                      "process %d was read without stopping it (--no-stop): results may be "
                      "inconsistent",
                      pid);
        err = open_running(t, s);
    } else if (mode == PYH_LIVE_HOST_STOPPED) {
        t->captured_at = pyh_realtime();
        err = pyh_live_read_maps(t, pid, NULL);
        if (!err) err = pyh_live_measure_resident(t, s);
        for (size_t i = 0; i < nthreads && !err; i++) {
            struct pyh_thread th = {.tid = threads[i].tid,
                                    .has_regs = true,
                                    .rip = threads[i].rip,
                                    .rsp = threads[i].rsp,
                                    .fs_base = threads[i].fs_base};
            err = PYH_APPEND(t->threads, t->nthreads, t->threads_cap, &th);
        }
        t->stopped = true;
    } else {
        err = open_stopping(t, s, mode, max_pause);
    }
    if (err) goto fail;
    pyh_live_attach_files(t, NULL);
    *out = t;
    return NULL;
fail:
    err = pyh_target_explain(t, err); /* e.g. a process that exited while it was stopped */
    pyh_target_close(t);
    return err;
}
