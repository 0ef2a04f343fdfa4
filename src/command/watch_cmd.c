/* The `watch` verb: a foreground loop that polls a process's resident memory cheaply
 * (/proc/PID/status) and, on a breach of a limit, takes a snapshot — the target stopped only
 * while it is read, the pause measured and logged — and optionally a core with gdb's gcore.
 * It exits when the target exits, and cleanly on SIGINT/SIGTERM (an interruption). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "command/command.h"
#include "report/report.h"
#include "util/interrupt.h"

#define HISTORY 256 /* polls kept for the growth rate */

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One event of the log: in text, a line "2026-11-24T10:00:00Z pid 1234: message"; with
 * --json, one JSON object per line (docs/schemas/watch.json): command, time, pid, event
 * (start, breach, snapshot, snapshot_failed, partial, core, core_failed, resumed, exit, max_dumps,
 * stopped), message (the text line's message) and the event's own numbers in fields
 * (taken; NULL for none). */
static void logf_(FILE *out, bool json, int pid, const char *event, json_t *fields, const char *fmt,
                  ...) __attribute__((format(printf, 6, 7)));
static void logf_(FILE *out, bool json, int pid, const char *event, json_t *fields, const char *fmt,
                  ...)
{
    char stamp[32], *message = NULL;
    time_t t = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&message, fmt, ap) < 0) message = NULL;
    va_end(ap);
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "command", pyh_json_text("watch"));
        json_object_set_new(o, "pyheap_version", pyh_json_text(PYHEAP_VERSION));
        json_object_set_new(o, "time", pyh_json_text(stamp));
        json_object_set_new(o, "pid", json_integer(pid));
        json_object_set_new(o, "event", pyh_json_text(event));
        json_object_set_new(o, "message", pyh_json_text(message ? message : ""));
        if (fields) json_object_update(o, fields);
        json_dumpf(o, out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        fputc('\n', out);
        json_decref(o);
    } else {
        fprintf(out, "%s pid %d: %s\n", stamp, pid, message ? message : "");
    }
    json_decref(fields);
    free(message);
    fflush(out);
}

/* A --rss-limit or --growth-limit (per_minute: "100M/min" too) in bytes. */
static struct pyh_error *parse_size(const char *option, const char *text, bool per_minute,
                                    uint64_t *out)
{
    if (!pyh_parse_size(text, per_minute, out))
        return pyh_error_create(PYH_ERR_USAGE, "watch: --%s wants a size such as %s, not '%s'",
                                option, per_minute ? "100M or 100M/min" : "2G or 500M", text);
    return NULL;
}

/* VmRSS of pid in bytes; false when the process is gone. */
static bool read_rss(int pid, uint64_t *rss)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "re");
    if (!f) return false;
    bool found = false, zombie = false;
    unsigned long long kb;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1) {
            *rss = kb * 1024;
            found = true;
        }
        if (!strncmp(line, "State:", 6) && strchr(line, 'Z')) zombie = true;
    }
    fclose(f);
    return found && !zombie;
}

/* Sleeps seconds, waking early on an interruption. */
static void nap(double seconds)
{
    for (double left = seconds; left > 0 && !pyh_interrupted(); left -= 0.05)
        usleep(left < 0.05 ? (useconds_t)(left * 1e6) : 50000);
}

/* The state letter of /proc/PID/stat (R, S, T, t, Z ...) and its TracerPid; '?' when the
 * process is gone. */
static char process_state(int pid, int *tracer)
{
    char path[64], buf[512];
    *tracer = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f) return '?';
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); /* the command name may hold anything */
    char state = paren && paren[1] == ' ' ? paren[2] : '?';
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if ((f = fopen(path, "re"))) {
        while (fgets(buf, sizeof(buf), f))
            if (sscanf(buf, "TracerPid: %d", tracer) == 1) break;
        fclose(f);
    }
    return state;
}

/* gdb's gcore: a core that gdb, pystack and py-heap all read.
 * gdb runs in a session of its own: a Ctrl-C or a SIGTERM to watch's process group (a
 * terminal, `timeout`, a service manager's stop) must not reach gdb while it holds the
 * target stopped — gdb killed there left the target in state T with no tracer, and gdb
 * forwarding SIGINT killed it. An interruption of watch waits for gdb to finish and detach
 * (a second signal exits watch at once; gdb finishes alone). Then, whatever happened to
 * gdb, a target that is stopped with no tracer, and was not before, is resumed. */
static struct pyh_error *gcore(int pid, const char *path, bool *resumed)
{
    *resumed = false;
    int tracer;
    char before = process_state(pid, &tracer);
    pid_t child = fork();
    if (child < 0) return pyh_error_errno(errno, "cannot start gdb for a core");
    if (child == 0) {
        setsid();
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        char target[32], cmd[4200];
        snprintf(target, sizeof(target), "%d", pid);
        snprintf(cmd, sizeof(cmd), "gcore %s", path);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execlp("gdb", "gdb", "-nx", "-batch", "-p", target, "-ex", cmd, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    char after = process_state(pid, &tracer);
    if ((after == 'T' || after == 't') && tracer == 0 && before != 'T' && before != 't') {
        kill(pid, SIGCONT);
        *resumed = true;
    }
    struct stat st;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || stat(path, &st) != 0)
        return pyh_error_create(PYH_ERR_OS, "gdb's gcore failed for process %d (is gdb installed?)", pid);
    return NULL;
}

struct settings {
    int pid;
    uint64_t rss_limit, growth_limit; /* 0: not set */
    const char *dir;
    bool core;
    double interval, cooldown;
    long max_dumps;
    bool json; /* --json: one JSON object per event */
};

static struct pyh_error *read_settings(const struct pyh_parsed *p, struct settings *s)
{
    const struct pyh_verb *v = pyh_verb_of(p);
    struct pyh_error *err = NULL;
    if (!pyh_parsed_option(v, p, "pid")) err = pyh_error_create(PYH_ERR_USAGE, "watch: --pid PID is required");
    long pid = pyh_parsed_int(p, "pid", 0), interval = pyh_parsed_int(p, "interval", 1),
         cooldown = pyh_parsed_int(p, "cooldown", 60);
    s->max_dumps = pyh_parsed_int(p, "max-dumps", 10);
    const char *rss = pyh_parsed_option(v, p, "rss-limit"), *growth = pyh_parsed_option(v, p, "growth-limit");
    if (!err && rss) err = parse_size("rss-limit", rss, false, &s->rss_limit);
    if (!err && growth) err = parse_size("growth-limit", growth, true, &s->growth_limit);
    if (!err && !rss && !growth)
        err = pyh_error_create(PYH_ERR_USAGE, "watch: give --rss-limit SIZE and/or --growth-limit SIZE/min");
    s->dir = pyh_parsed_option(v, p, "out");
    if (!err && !s->dir) err = pyh_error_create(PYH_ERR_USAGE, "watch: --out DIR is required");
    struct stat st;
    if (!err && (stat(s->dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        err = pyh_error_create(PYH_ERR_USAGE, "watch: --out %s is not a directory", s->dir);
    s->pid = (int)pid;
    s->interval = (double)interval;
    s->cooldown = (double)cooldown;
    s->core = pyh_parsed_option(v, p, "core") != NULL;
    s->json = p->format == PYH_FORMAT_JSON;
    return err;
}

/* One breach: snapshot (and core). */
static void dump(const struct settings *s, const struct pyh_target_options *o, FILE *out, const char *why)
{
    char stamp[32], path[4096];
    time_t t = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&t, &tm));
    snprintf(path, sizeof(path), "%s/pyheap-%d-%s.json", s->dir, s->pid, stamp);
    logf_(out, s->json, s->pid, "breach", NULL, "%s: taking a snapshot", why);
    /* The process is stopped only while its writable memory is copied; the snapshot is
     * taken from the copy. */
    struct pyh_target_options copy = *o;
    copy.copy = true;
    copy.no_stop = false;
    double t0 = monotonic();
    struct pyh_session *session = NULL;
    struct pyh_snapshot *snap = NULL;
    struct pyh_error *err = pyh_session_open_pid(s->pid, &copy, &session);
    double pause = session ? pyh_session_pause_seconds(session) : monotonic() - t0;
    if (!err) err = pyh_snapshot_take(session, true, &snap);
    double took = monotonic() - t0;
    pyh_session_close(session);
    FILE *f = NULL;
    if (!err && !(f = fopen(path, "w"))) err = pyh_error_errno(errno, "cannot write %s", path);
    if (!err) err = pyh_snapshot_save(snap, f);
    if (f) fclose(f);
    char heap[32];
    if (err) {
        logf_(out, s->json, s->pid, "snapshot_failed", json_pack("{s:f}", "paused_seconds", pause),
              "snapshot failed after %.0f ms: %s", pause * 1000, pyh_error_message(err));
        pyh_error_free(err);
    } else {
        logf_(out, s->json, s->pid, "snapshot",
              json_pack("{s:s,s:I,s:I,s:f,s:f}", "path", path, "objects", (json_int_t)snap->objects,
                        "heap_total", (json_int_t)snap->frag.heap_total, "paused_seconds", pause,
                        "analysis_seconds", took),
              "snapshot %s: %llu objects, heap %s; target paused %.0f ms (analysis %.0f ms)",
              path, (unsigned long long)snap->objects,
              pyh_format_bytes(snap->frag.heap_total, heap, sizeof(heap)), pause * 1000, took * 1000);
        if (snap->partial)
            logf_(out, s->json, s->pid, "partial", json_pack("{s:s}", "path", path),
                  "snapshot %s is partial (%s): its counts are lower bounds", path,
                  snap->partial_reason ? snap->partial_reason : "no reason recorded");
    }
    pyh_snapshot_free(snap);
    if (s->core && !pyh_interrupted()) {
        snprintf(path, sizeof(path), "%s/core-%d-%s", s->dir, s->pid, stamp);
        t0 = monotonic();
        bool resumed;
        err = gcore(s->pid, path, &resumed);
        if (resumed)
            logf_(out, s->json, s->pid, "resumed", NULL,
                  "the process was left stopped with no tracer after gcore: resumed (SIGCONT)");
        if (err) {
            logf_(out, s->json, s->pid, "core_failed", NULL, "core failed: %s", pyh_error_message(err));
            pyh_error_free(err);
        } else {
            double seconds = monotonic() - t0;
            logf_(out, s->json, s->pid, "core", json_pack("{s:s,s:f}", "path", path, "seconds", seconds),
                  "core %s written by gcore in %.1f s", path, seconds);
        }
    }
}

struct pyh_error *pyh_cmd_watch(const struct pyh_parsed *p, const struct pyh_target_options *o,
                                const struct pyh_command_defaults *defaults, FILE *out)
{
    (void)defaults;
    struct settings s = {0};
    struct pyh_error *err = read_settings(p, &s);
    if (err) return err;
    uint64_t rss;
    if (!read_rss(s.pid, &rss))
        return pyh_error_create(PYH_ERR_NOT_FOUND, "no process with PID %d", s.pid);
    /* One buffer per number of a line: pyh_format_bytes returns its buffer, and the
     * arguments are all evaluated before logf_ formats any of them. */
    char a[32], b[32], c[32];
    logf_(out, s.json, s.pid, "start",
          json_pack("{s:I,s:I,s:I,s:f}", "rss", (json_int_t)rss, "rss_limit", (json_int_t)s.rss_limit,
                    "growth_limit", (json_int_t)s.growth_limit, "interval", s.interval),
          "watching: rss %s, limit %s%s%s, every %.0f s",
          pyh_format_bytes(rss, a, sizeof(a)),
          s.rss_limit ? pyh_format_bytes(s.rss_limit, b, sizeof(b)) : "none",
          s.growth_limit ? ", growth limit per minute " : "",
          s.growth_limit ? pyh_format_bytes(s.growth_limit, c, sizeof(c)) : "", s.interval);
    double times[HISTORY];
    uint64_t values[HISTORY];
    size_t nhist = 0;
    double last_dump = -1e18;
    long dumps = 0;
    while (!pyh_interrupted()) {
        if (!read_rss(s.pid, &rss)) {
            logf_(out, s.json, s.pid, "exit", json_pack("{s:i}", "dumps", (int)dumps),
                  "the process exited; %ld dump%s taken", dumps, dumps == 1 ? "" : "s");
            return NULL;
        }
        double t = monotonic();
        if (nhist == HISTORY) {
            memmove(times, times + 1, (HISTORY - 1) * sizeof(double));
            memmove(values, values + 1, (HISTORY - 1) * sizeof(uint64_t));
            nhist--;
        }
        times[nhist] = t;
        values[nhist++] = rss;
        /* Growth over the last minute (or what history there is of it, at least 2 polls). */
        size_t k = 0;
        while (k + 1 < nhist && t - times[k] > 60) k++;
        double per_minute = nhist > 1 && t > times[k] ? ((double)rss - (double)values[k]) * 60.0 / (t - times[k]) : 0;
        char why[160] = "";
        if (s.rss_limit && rss > s.rss_limit)
            snprintf(why, sizeof(why), "rss %s is over the limit %s", pyh_format_bytes(rss, a, sizeof(a)),
                     pyh_format_bytes(s.rss_limit, b, sizeof(b)));
        else if (s.growth_limit && per_minute > (double)s.growth_limit && t - times[0] >= s.interval)
            snprintf(why, sizeof(why), "rss grows %s per minute, over the limit %s",
                     pyh_format_bytes((uint64_t)per_minute, a, sizeof(a)), pyh_format_bytes(s.growth_limit, b, sizeof(b)));
        if (why[0] && t - last_dump >= s.cooldown) {
            dump(&s, o, out, why);
            last_dump = monotonic();
            if (++dumps >= s.max_dumps) {
                logf_(out, s.json, s.pid, "max_dumps", json_pack("{s:i}", "dumps", (int)dumps),
                      "%ld dumps taken: the limit of --max-dumps; stopping", dumps);
                return NULL;
            }
        }
        nap(s.interval);
    }
    logf_(out, s.json, s.pid, "stopped", json_pack("{s:i}", "dumps", (int)dumps),
          "stopped by a signal; %ld dump%s taken", dumps, dumps == 1 ? "" : "s");
    pyh_interrupt_clear();
    return NULL;
}
