/* Stopping a live process: every thread seized (PTRACE_SEIZE) and stopped with
 * PTRACE_INTERRUPT, and let go by detaching.
 *
 * Why SEIZE and not ATTACH: ATTACH stops the tracee with a SIGSTOP that outlives us if we
 * die, leaving a production process stopped. A seized thread stopped by PTRACE_INTERRUPT is
 * resumed by the kernel when its tracer exits, even by SIGKILL. Detaching re-delivers any
 * signal that arrived while a thread was stopped. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "target/live_internal.h"
#include "util/interrupt.h"
#include "util/mem.h"

#define MAX_STOP_ROUNDS 100

static bool is_stopped(const struct pyh_live_state *s, int32_t tid)
{
    for (size_t i = 0; i < s->nstopped; i++)
        if (s->stopped[i].tid == tid) return true;
    return false;
}

/* Waits for the PTRACE_INTERRUPT stop of tid. A signal-delivery stop comes first when a
 * signal was pending; that stop holds the thread as well, and the signal is remembered so
 * that detaching delivers it. */
static struct pyh_error *wait_stop(struct pyh_live_state *s, struct pyh_live_stopped *th)
{
    for (;;) {
        int status;
        pid_t r = waitpid(th->tid, &status, __WALL);
        if (r < 0 && errno == EINTR) {
            if (pyh_interrupted()) return pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted");
            continue;
        }
        if (r < 0)
            return pyh_error_errno(errno, "waiting for thread %d of process %d", th->tid, s->pid);
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

struct pyh_error *pyh_live_stop_all(struct pyh_target *t, struct pyh_live_state *s)
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
                err =
                    pyh_error_errno(errno, "cannot trace process %d (thread %d)%s", s->pid, tids[i],
                                    errno == EPERM ? "; is another debugger attached, or does "
                                                     "ptrace_scope forbid it?"
                                                   : "");
                break;
            }
            struct pyh_live_stopped th = {.tid = tids[i]};
            if (PYH_APPEND(s->stopped, s->nstopped, s->stopped_cap, &th)) {
                ptrace(PTRACE_DETACH, tids[i], NULL, NULL);
                err = pyh_error_nomem();
                break;
            }
            if (ptrace(PTRACE_INTERRUPT, tids[i], NULL, NULL) < 0 && errno != ESRCH) {
                err =
                    pyh_error_errno(errno, "cannot stop thread %d of process %d", tids[i], s->pid);
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

struct pyh_error *pyh_live_list_threads(struct pyh_target *t, int pid)
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

struct pyh_error *pyh_live_test_hold(void)
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

void pyh_live_resume_all(struct pyh_live_state *s)
{
    for (size_t i = 0; i < s->nstopped; i++)
        ptrace(PTRACE_DETACH, s->stopped[i].tid, NULL,
               (void *)(uintptr_t)s->stopped[i].pending_signal);
    s->nstopped = 0;
}

/* Whether the process is gone: a read found it so (ESRCH), or /proc says it no longer
 * exists or that every thread of it is a zombie or dead. The second way matters where no
 * read says ESRCH: reads through /proc/PID/mem of a process without memory return nothing
 * (EOF), and a failure may come before any read (ptrace, /proc files). Only called when
 * something failed. */
bool pyh_live_gone(struct pyh_target *t)
{
    struct pyh_live_state *s = t->impl;
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
