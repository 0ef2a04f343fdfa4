/* py-heap: the command-line front end. It separates the target options (a core file or
 * --pid, --exe, --sysroot, ...) from the verb's own options, opens the target, runs the verb
 * through the library's command layer (the same code the gdb commands run) and turns the
 * outcome into Unix conventions: results on stdout, warnings and one error line on stderr,
 * exit status 0 (ok), 1 (target error or partial results), 2 (usage), 128+N (signal N). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "pyheap.h"

static volatile sig_atomic_t caught_signal;

/* The first SIGINT/SIGTERM asks the library to stop; it then resumes and detaches a live
 * target on its way out. A second one exits at once: the kernel resumes threads stopped
 * with PTRACE_SEIZE when their tracer dies, so even that leaves no process stopped. */
static void on_signal(int sig)
{
    if (caught_signal) _exit(128 + sig);
    caught_signal = sig;
    pyh_interrupt();
}

static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking waitpid must return EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* ---- Progress: one line on stderr while a read takes more than a second --------------- */

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double command_start;
static bool progress_on, progress_shown;

static const char *human(uint64_t v, enum pyh_progress_unit unit, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (unit != PYH_PROGRESS_BYTES) {
        snprintf(buf, cap, "%llu", (unsigned long long)v);
        return buf;
    }
    double x = (double)v;
    int u = 0;
    while (x >= 1024 && u < 4) {
        x /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", x, units[u]);
    return buf;
}

/* "py-heap: reading pymalloc's arenas: 120 of 310 (38%), 2.4 s", cut to the terminal. */
static void on_progress(const struct pyh_progress *p, void *ctx)
{
    (void)ctx;
    if (!p) return; /* a phase ended: its line stays until the next one or the end */
    double elapsed = monotonic() - command_start;
    if (elapsed < 1.0) return;
    char line[256], a[32], b[32];
    const char *what = p->unit == PYH_PROGRESS_OBJECTS ? " objects" : "";
    if (p->total)
        snprintf(line, sizeof(line), "py-heap: %s: %s of %s%s (%.0f%%), %.1f s", p->phase,
                 human(p->done, p->unit, a, sizeof(a)), human(p->total, p->unit, b, sizeof(b)),
                 what, 100.0 * (double)p->done / (double)p->total, elapsed);
    else
        snprintf(line, sizeof(line), "py-heap: %s: %s%s, %.1f s", p->phase,
                 human(p->done, p->unit, a, sizeof(a)), what, elapsed);
    struct winsize ws;
    size_t width = ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col - 1 : 79;
    if (strlen(line) > width && width < sizeof(line)) line[width] = '\0';
    fprintf(stderr, "\r%s\033[K", line);
    progress_shown = true;
}

/* Clears the progress line before anything else is written to the terminal. */
static void progress_clear(void)
{
    if (progress_shown) fputs("\r\033[K", stderr);
    progress_shown = false;
}

/* Progress is for a person watching: stderr a terminal, no --quiet, no --json. */
static void progress_setup(const struct pyh_command_line *cl)
{
    command_start = monotonic();
    progress_on = isatty(2) && !cl->quiet && !cl->json;
    if (!progress_on) return;
    /* The report comes whole after the progress line is cleared. */
    if (isatty(1)) setvbuf(stdout, NULL, _IOFBF, 1 << 20);
    pyh_progress_set_listener(on_progress, NULL);
}

static void usage_all(FILE *f)
{
    fprintf(f, "usage: py-heap VERB [options] (CORE | -p PID | --coredump MATCH)\n"
               "       py-heap diff A B | trend S1 S2 S3... | watch -p PID ...\n"
               "       py-heap VERB --help | py-heap help [VERB] | py-heap --version\n\n"
               "Looks inside a CPython 3.8-3.15 process or core without running code in it.\n\n"
               "Verbs:\n");
    for (const char *const *v = pyh_command_names(PYH_FRONTEND_CLI); *v; v++)
        fprintf(f, "  %-14s %s\n", *v, pyh_command_summary(*v));
    fprintf(f, "\nThe options of each verb: py-heap VERB --help, or man py-heap.\n\n");
    pyh_command_write_document("targets", f);
}

static int usage_error(const char *message)
{
    fprintf(stderr, "py-heap: error: %s\n", message);
    return 2;
}

/* One line on how long a live target was stopped, and why that long: "py-heap: process
 * 1234 was stopped for 0.21 s (copy of 812 MiB)". First on stderr: the error line stays the
 * last. JSON has it as target.stopped_seconds and target.stopped_how. */
static void report_pause(struct pyh_session *s, int pid, bool quiet)
{
    if (s) pyh_session_resume(s); /* nothing more to read: the pause ends here */
    const char *how = s ? pyh_session_pause_how(s) : NULL;
    double paused = s ? pyh_session_pause_seconds(s) : -1;
    if (quiet || !how || paused < 0) return;
    if (paused == 0 && !strncmp(how, "not stopped", 11))
        fprintf(stderr, "py-heap: process %d was %s\n", pid, how);
    else
        fprintf(stderr, "py-heap: process %d was stopped for %.*f s (%s)\n", pid,
                paused < 0.1 ? 3 : 2, paused, how);
}

/* Prints the pause, warnings, then the error or partial-results line; returns the exit
 * status. */
static int finish(struct pyh_session *s, struct pyh_error *err, int pid, bool quiet)
{
    progress_clear();
    report_pause(s, pid, quiet);
    const char *partial = s ? pyh_session_partial_reason(s) : NULL;
    for (size_t i = 0; s && i < pyh_session_warning_count(s); i++) {
        const char *w = pyh_session_warning(s, i);
        if (!err && w == partial) continue; /* printed as the error line below */
        fprintf(stderr, "py-heap: warning: %s\n", w);
    }
    int status = 0;
    if (err) {
        if (pyh_error_code(err) == PYH_ERR_INTERRUPTED && caught_signal) {
            fprintf(stderr, "py-heap: error: interrupted by signal %d%s\n", caught_signal,
                    s ? "; the target was resumed" : "");
            status = 128 + caught_signal;
        } else {
            fprintf(stderr, "py-heap: error: %s\n", pyh_error_message(err));
            status = pyh_error_exit_status(err);
        }
        pyh_error_free(err);
    } else if (partial) {
        fprintf(stderr, "py-heap: error: results are partial: %s\n", partial);
        status = 1;
    }
    pyh_session_close(s);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage_all(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("py-heap %s\n", pyh_version());
        return 0;
    }
    if (!strcmp(argv[1], "help")) {
        if (argc < 3) {
            usage_all(stdout);
            return 0;
        }
        argv[1] = argv[2];
        argv[2] = "--help";
    }
    struct pyh_command_line cl;
    struct pyh_error *err = pyh_command_line_parse(argc - 1, argv + 1, &cl);
    if (err) {
        int status = usage_error(pyh_error_message(err));
        pyh_error_free(err);
        pyh_command_line_free(&cl);
        return status;
    }
    if (cl.help) {
        fputs(pyh_command_help(cl.verb->name, PYH_FRONTEND_CLI), stdout);
        pyh_command_line_free(&cl);
        return 0;
    }
    install_signal_handlers();
    progress_setup(&cl);
    struct pyh_command_defaults defaults = {PYH_FORMAT_TEXT, 0};
    if (cl.verb->own_targets) {
        err = pyh_command_run_offline(cl.argc, cl.argv, &cl.target, &defaults, stdout);
        progress_clear();
        fflush(stdout);
        pyh_command_line_free(&cl);
        return finish(NULL, err, 0, true);
    }
    struct pyh_session *s = NULL;
    if (cl.pid)
        err = pyh_session_open_pid(cl.pid, &cl.target, &s);
    else if (cl.coredump)
        err = pyh_session_open_coredump(cl.coredump, &cl.target, &s);
    else
        err = pyh_session_open_core(cl.core, &cl.target, &s);
    if (!err) {
        err = pyh_command_run(s, cl.argc, cl.argv, &defaults, stdout);
        progress_clear();
        if (fflush(stdout) != 0 && !err) err = NULL; /* a closed pipe is the reader's choice */
    }
    int pid = cl.pid;
    bool quiet = cl.quiet;
    pyh_command_line_free(&cl);
    return finish(s, err, pid, quiet);
}
