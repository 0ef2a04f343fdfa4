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

static const char target_help[] =
    "Target (one of; diff, trend and watch take theirs as arguments):\n"
    "  CORE                 an ELF core file (gdb's gcore, the kernel, systemd-coredump)\n"
    "  --pid PID            a live process; its threads are stopped while it is read\n"
    "\n"
    "Target options:\n"
    "  --exe PATH           the executable, when the core's own path cannot be used\n"
    "  --sysroot DIR        look for every file the core names under DIR\n"
    "  --lib-path DIR[:DIR] look for mapped files by name in these directories\n"
    "  --debug-dir DIR[:DIR]\n"
    "                       where separate debug files live (default /usr/lib/debug;\n"
    "                       an empty value never uses separate debug files)\n"
    "  --no-stop            live: read without stopping the process (best effort)\n"
    "  --copy               live: stop the process only to copy its writable memory, then\n"
    "                       resume it and analyse the copy (pause: ~1 s per GiB at most)\n";

static void usage_all(FILE *f)
{
    fprintf(f, "usage: py-heap VERB (CORE | --pid PID) [options]\n"
               "       py-heap diff A B | trend S1 S2 S3... | watch --pid PID ...\n"
               "       py-heap VERB --help | py-heap help [VERB] | py-heap --version\n\n"
               "Looks inside a CPython 3.8-3.13 process or core without running code in it.\n\n"
               "Verbs:\n");
    for (const char *const *v = pyh_command_names(); *v; v++)
        fprintf(f, "  %-14s %s\n", *v, pyh_command_summary(*v));
    fprintf(f, "\n%s", target_help);
}

static void usage_verb(FILE *f, const char *verb)
{
    fprintf(f, "usage: py-heap %s", pyh_command_help(verb));
    fprintf(f, "\n%s", target_help);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "py-heap: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see py-heap --help)\n");
    return 2;
}

/* Target options the CLI consumes; everything else goes to the verb. */
struct target_args {
    struct pyh_target_options options;
    const char *core;
    const char *pid;
};

static const char *const target_value_options[] = {"--pid", "--exe", "--sysroot", "--lib-path",
                                                   "--debug-dir", NULL};

/* Splits argv (after the verb) into target args and verb words; verb_argv[0] is the verb.
 * Returns 0, or 2 after printing a usage error. */
static int split_args(int argc, char **argv, const char *verb, bool offline, struct target_args *t,
                      char **verb_argv, int *verb_argc)
{
    *verb_argc = 0;
    verb_argv[(*verb_argc)++] = (char *)verb;
    for (int i = 2; i < argc; i++) {
        char *arg = argv[i];
        bool taken = false;
        for (const char *const *o = target_value_options; *o && !taken; o++) {
            /* Verbs that open their own targets (diff, trend, watch) take --pid themselves. */
            if (offline && !strcmp(*o, "--pid")) continue;
            size_t n = strlen(*o);
            if (strncmp(arg, *o, n) != 0 || (arg[n] != '\0' && arg[n] != '=')) continue;
            const char *value = arg[n] == '=' ? arg + n + 1 : NULL;
            if (!value) {
                if (i + 1 >= argc) return usage_error("option '%s' needs a value", *o);
                value = argv[++i];
            }
            if (!strcmp(*o, "--pid")) t->pid = value;
            else if (!strcmp(*o, "--exe")) t->options.exe = value;
            else if (!strcmp(*o, "--sysroot")) t->options.sysroot = value;
            else if (!strcmp(*o, "--lib-path")) t->options.lib_path = value;
            else t->options.debug_dirs = value;
            taken = true;
        }
        if (taken) continue;
        if (!strcmp(arg, "--no-stop")) {
            t->options.no_stop = true;
            continue;
        }
        if (!strcmp(arg, "--copy")) {
            t->options.copy = true;
            continue;
        }
        if (arg[0] == '-' && arg[1] == '-' && arg[2]) {
            verb_argv[(*verb_argc)++] = arg;
            if (pyh_command_option_arity(verb, arg) == 1 && i + 1 < argc)
                verb_argv[(*verb_argc)++] = argv[++i];
            continue;
        }
        if (offline) { /* snapshots, cores and PIDs: the verb's own arguments */
            verb_argv[(*verb_argc)++] = arg;
            continue;
        }
        /* The first positional is the core unless --pid is given anywhere. */
        bool pid_given = false;
        for (int j = 2; j < argc; j++)
            pid_given |= strncmp(argv[j], "--pid", 5) == 0 && (argv[j][5] == '\0' || argv[j][5] == '=');
        if (!pid_given && !t->core)
            t->core = arg;
        else
            verb_argv[(*verb_argc)++] = arg;
    }
    return 0;
}

static int parse_pid(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v <= 0 || v > 0x7fffffff) return -1;
    return (int)v;
}

/* Prints warnings, then the error or partial-results line; returns the exit status. */
static int finish(struct pyh_session *s, struct pyh_error *err)
{
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
        if (!pyh_command_help(argv[2])) return usage_error("unknown command '%s'", argv[2]);
        usage_verb(stdout, argv[2]);
        return 0;
    }
    const char *verb = argv[1];
    if (!pyh_command_help(verb)) return usage_error("unknown command '%s'", verb);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage_verb(stdout, verb);
            return 0;
        }
    }

    struct target_args t = {0};
    char **verb_argv = calloc((size_t)argc + 1, sizeof(char *));
    int verb_argc = 0;
    if (!verb_argv) return 1;
    bool offline = !pyh_command_needs_target(verb);
    int rc = split_args(argc, argv, verb, offline, &t, verb_argv, &verb_argc);
    if (rc) {
        free(verb_argv);
        return rc;
    }
    struct pyh_error *err = pyh_command_check(verb_argc, verb_argv);
    if (err) {
        fprintf(stderr, "py-heap: error: %s (see py-heap %s --help)\n", pyh_error_message(err), verb);
        pyh_error_free(err);
        free(verb_argv);
        return 2;
    }
    if (offline) {
        install_signal_handlers();
        struct pyh_command_defaults defaults = {PYH_FORMAT_TEXT, 0};
        err = pyh_command_run_offline(verb_argc, verb_argv, &t.options, &defaults, stdout);
        fflush(stdout);
        free(verb_argv);
        return finish(NULL, err);
    }
    if (!t.core == !t.pid) {
        free(verb_argv);
        return usage_error("%s", t.core ? "give either a core file or --pid, not both"
                                        : "no target: give a core file or --pid PID");
    }
    int pid = t.pid ? parse_pid(t.pid) : 0;
    if (t.pid && pid < 0) {
        free(verb_argv);
        return usage_error("invalid PID '%s'", t.pid);
    }

    install_signal_handlers();
    struct pyh_session *s = NULL;
    err = t.core ? pyh_session_open_core(t.core, &t.options, &s)
                 : pyh_session_open_pid(pid, &t.options, &s);
    if (!err) {
        struct pyh_command_defaults defaults = {PYH_FORMAT_TEXT, 0};
        err = pyh_command_run(s, verb_argc, verb_argv, &defaults, stdout);
        if (fflush(stdout) != 0 && !err) err = NULL; /* a closed pipe is the reader's choice */
    }
    free(verb_argv);
    return finish(s, err);
}
