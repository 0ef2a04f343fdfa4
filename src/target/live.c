/* The live-process target: /proc/PID/maps for mappings, process_vm_readv (or /proc/PID/mem)
 * for memory, and every thread stopped (live_stop.c) for the time of the read — or, with
 * PYH_LIVE_COPY, for the time of a copy of its writable memory (live_copy.c). Which pages
 * are resident is read from its page tables right after the stop (live_maps.c). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "target/elf_util.h"
#include "target/live_internal.h"
#include "util/interrupt.h"
#include "util/mem.h"

int pyh_live_test_pagemap;
bool pyh_live_test_mem_fd;

struct pyh_error *pyh_live_exited_error(const struct pyh_live_state *s)
{
    return pyh_error_create(PYH_ERR_OS, "process %d exited while it was being read", s->pid);
}

struct pyh_error *pyh_live_read_process(struct pyh_target *t, uint64_t addr, void *buf, size_t len)
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

static struct pyh_error *live_read(struct pyh_target *t, uint64_t addr, void *buf, size_t len)
{
    struct pyh_live_state *s = t->impl;
    return s->ncopies ? pyh_live_read_copy(t, addr, buf, len)
                      : pyh_live_read_process(t, addr, buf, len);
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

static const struct pyh_target_ops live_ops = {
    .read = live_read,
    .cached = true,
    .close = live_close,
    .residency = live_residency,
    .gone = pyh_live_gone,
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
        uint64_t base = m->start - m->file_offset;
        const struct pyh_mapping *first = pyh_target_mapping_at(t, base);
        uint8_t id[64];
        size_t id_len = 0;
        if (first && first->path && strcmp(first->path, m->path) == 0 && first->file_offset == 0)
            id_len = pyh_elf_memory_build_id(t, base, id, sizeof(id));
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

struct pyh_error *pyh_target_open_live(int pid, enum pyh_live_mode mode,
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
        err = pyh_live_read_maps(t, pid, NULL);
        if (!err) err = pyh_live_measure_resident(t, s);
        if (!err) err = pyh_live_list_threads(t, pid);
    } else if (mode == PYH_LIVE_HOST_STOPPED) {
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
        /* The copy's buffers are made ready while the process runs. */
        if (mode == PYH_LIVE_COPY) err = pyh_live_prepare_copy(s);
        if (!err && mode == PYH_LIVE_COPY && pyh_live_test_prepared) pyh_live_test_prepared(pid);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (!err) err = pyh_live_stop_all(t, s);
        if (!err) err = pyh_live_test_hold();
        /* The mappings as they are while the process is stopped. */
        struct pyh_live_wanted_list want = {0};
        if (!err) err = pyh_live_read_maps(t, pid, mode == PYH_LIVE_COPY ? &want : NULL);
        /* Before any read: a read of a page that was swapped out brings it back. */
        if (!err) err = pyh_live_measure_resident(t, s);
        if (mode == PYH_LIVE_COPY) {
            /* Copy what can change, then let the process go at once: the analysis runs on
             * the copy, the pause lasts only as long as the copy. */
            if (!err) err = pyh_live_copy_writable(t, s, &want);
            pyh_live_resume_all(s);
            t->stopped = false;
            t->copied = true;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            t->pause_seconds =
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            pyh_live_release_unused(s);
            pyh_live_close_pagemap(s);
        }
        free(want.v);
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
