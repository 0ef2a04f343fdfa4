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
#include "command/watch_cgroup.h"
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
    bool was_stopped = before == 'T' || before == 't';
    bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    char after = process_state(pid, &tracer);
    bool stopped = (after == 'T' || after == 't') && tracer == 0;
    if (failed && !was_stopped) {
        /* A tracer that dies leaves its tracee to reach the stop gdb's attach queued only
         * when the tracee next runs: just after gdb is reaped the target may still read
         * 'S' and stop a moment later (1 trial in 20 on a busy machine). Wait for it to
         * settle, then SIGCONT whatever is seen: a SIGCONT also discards a stop signal
         * still pending, and gdb's failure is the only time the target gets one it did
         * not ask for. */
        for (int i = 0; i < 50 && !stopped; i++) {
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
            after = process_state(pid, &tracer);
            stopped = (after == 'T' || after == 't') && tracer == 0;
        }
        kill(pid, SIGCONT);
        *resumed = stopped;
    } else if (stopped && !was_stopped) {
        kill(pid, SIGCONT);
        *resumed = true;
    }
    struct stat st;
    if (failed || stat(path, &st) != 0)
        return pyh_error_create(PYH_ERR_OS, "gdb's gcore failed for process %d (is gdb installed?)", pid);
    return NULL;
}

struct settings {
    int pid;
    uint64_t rss_limit, growth_limit; /* 0: not set */
    /* --limit: the cgroup's memory.current against a share of its limit (percent > 0) or
     * against bytes (limit_bytes > 0) */
    double limit_percent;
    uint64_t limit_bytes;
    long every, keep; /* --every S: a snapshot on a schedule; --keep N of them (0: all) */
    const char *openmetrics; /* --openmetrics FILE: each snapshot's metrics, replaced whole */
    long top;
    const char *dir;
    bool core;
    double interval, cooldown;
    long max_dumps;
    bool json; /* --json: one JSON object per event */
};

/* --limit 85% (of the cgroup's memory limit) or --limit SIZE (of its usage). */
static struct pyh_error *parse_limit(const char *text, struct settings *s)
{
    size_t len = strlen(text);
    if (len && text[len - 1] == '%') {
        char *end;
        double v = strtod(text, &end);
        if (end != text + len - 1 || !(v > 0 && v <= 100))
            return pyh_error_create(PYH_ERR_USAGE, "watch: --limit wants a share of the cgroup's limit such as "
                                                   "85%% (over 0, at most 100), or a size, not '%s'", text);
        s->limit_percent = v;
        return NULL;
    }
    return parse_size("limit", text, false, &s->limit_bytes);
}

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
    const char *limit = pyh_parsed_option(v, p, "limit");
    if (!err && limit) err = parse_limit(limit, s);
    s->every = pyh_parsed_int(p, "every", 0);
    s->keep = pyh_parsed_int(p, "keep", 10);
    s->openmetrics = pyh_parsed_option(v, p, "openmetrics");
    s->top = pyh_parsed_int(p, "top", 20);
    if (!err && !rss && !growth && !limit && !s->every)
        err = pyh_error_create(PYH_ERR_USAGE, "watch: give --rss-limit SIZE, --growth-limit SIZE/min, --limit "
                                              "PERCENT%%|SIZE and/or --every SECONDS");
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

/* --openmetrics FILE: the snapshot's metrics, for a scraper (a failure is logged, the watch
 * goes on). */
static void write_openmetrics(const struct settings *s, const struct pyh_snapshot *snap, FILE *out)
{
    if (!s->openmetrics) return;
    struct pyh_error *err = pyh_openmetrics_save(snap, (size_t)s->top, s->openmetrics);
    if (err) {
        logf_(out, s->json, s->pid, "openmetrics_failed", json_pack("{s:s}", "path", s->openmetrics),
              "cannot write the OpenMetrics file: %s", pyh_error_message(err));
        pyh_error_free(err);
    }
}

/* One breach: snapshot (and core). */
static void dump(const struct settings *s, const struct pyh_target_options *o, FILE *out, const char *why,
                 json_t *fields, bool scheduled, char *written, size_t wcap)
{
    char stamp[32], path[4096];
    time_t t = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&t, &tm));
    snprintf(path, sizeof(path), "%s/pyheap-%d-%s%s.json", s->dir, s->pid, stamp, scheduled ? "-scheduled" : "");
    /* two snapshots in one second get names of their own */
    for (int n = 2; access(path, F_OK) == 0 && n < 1000; n++)
        snprintf(path, sizeof(path), "%s/pyheap-%d-%s%s-%d.json", s->dir, s->pid, stamp, scheduled ? "-scheduled" : "",
                 n);
    if (written) written[0] = 0;
    logf_(out, s->json, s->pid, scheduled ? "scheduled" : "breach", fields, "%s: taking a snapshot", why);
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
        if (written) snprintf(written, wcap, "%s", path);
        write_openmetrics(s, snap, out);
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
    if (s->core && !scheduled && !pyh_interrupted()) {
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

/* ---- The cgroup (watch_cgroup.h), the schedule and its retention ------------------------ */

static json_t *cgroup_fields(const struct pyh_cgroup *cg)
{
    json_t *o = json_pack("{s:i,s:s,s:I,s:I,s:I,s:I}", "cgroup_version", cg->version, "cgroup", cg->name,
                          "memory_max", (json_int_t)cg->limit, "memory_current", (json_int_t)cg->current, "oom",
                          (json_int_t)cg->oom, "oom_kill", (json_int_t)cg->oom_kill);
    json_object_set_new(o, "psi_some_avg10", cg->psi_known ? json_real(cg->psi_some10) : json_null());
    json_object_set_new(o, "psi_full_avg10", cg->psi_known ? json_real(cg->psi_full10) : json_null());
    return o;
}

/* At the start: the cgroup, said once; --limit needs one (with a limit for a share). */
static struct pyh_error *cgroup_start(const struct settings *s, struct pyh_cgroup *cg, FILE *out)
{
    pyh_cgroup_find(s->pid, cg);
    bool wanted = s->limit_percent > 0 || s->limit_bytes;
    if (wanted && !cg->version)
        return pyh_error_create(PYH_ERR_UNSUPPORTED,
                                "watch: --limit needs the process's memory cgroup, and process %d has none "
                                "py-heap can read (no cgroup v2 memory controller, no cgroup v1 memory "
                                "hierarchy mounted)",
                                s->pid);
    if (s->limit_percent > 0 && !cg->limit)
        return pyh_error_create(PYH_ERR_UNSUPPORTED,
                                "watch: --limit %g%% is a share of the cgroup's memory limit, and %s (cgroup v%d) "
                                "has none: give --limit SIZE instead",
                                s->limit_percent, cg->name, cg->version);
    if (!cg->version) return NULL;
    char a[32], b[32], psi[64] = "";
    if (cg->psi_known) snprintf(psi, sizeof(psi), "; memory pressure some %.2f%% full %.2f%% (avg10)", cg->psi_some10, cg->psi_full10);
    logf_(out, s->json, s->pid, "cgroup", cgroup_fields(cg), "cgroup v%d %s: memory limit %s, usage %s%s", cg->version,
          cg->name, cg->limit ? pyh_format_bytes(cg->limit, a, sizeof(a)) : "none",
          pyh_format_bytes(cg->current, b, sizeof(b)), psi);
    return NULL;
}

/* Each poll: the OOM killer's count (said when it rises) and the --limit breach, in why. */
static json_t *cgroup_poll(const struct settings *s, struct pyh_cgroup *cg, FILE *out, char *why, size_t cap)
{
    if (!cg->version) return NULL;
    uint64_t kills = cg->oom_kill;
    if (!pyh_cgroup_read(cg)) return NULL;
    if (cg->oom_kill > kills)
        logf_(out, s->json, s->pid, "oom_kill", cgroup_fields(cg),
              "the kernel's OOM killer killed %llu process%s in cgroup %s (memory.events oom_kill %llu)",
              (unsigned long long)(cg->oom_kill - kills), cg->oom_kill - kills == 1 ? "" : "es", cg->name,
              (unsigned long long)cg->oom_kill);
    uint64_t at = s->limit_percent > 0 ? (uint64_t)((double)cg->limit * s->limit_percent / 100.0) : s->limit_bytes;
    if (!at || cg->current < at || why[0]) return NULL;
    char a[32], b[32], c[32];
    if (s->limit_percent > 0)
        snprintf(why, cap, "cgroup usage %s is %.1f%% of its limit %s (--limit %g%%)",
                 pyh_format_bytes(cg->current, a, sizeof(a)), 100.0 * (double)cg->current / (double)cg->limit,
                 pyh_format_bytes(cg->limit, b, sizeof(b)), s->limit_percent);
    else
        snprintf(why, cap, "cgroup usage %s is over --limit %s%s%s", pyh_format_bytes(cg->current, a, sizeof(a)),
                 pyh_format_bytes(s->limit_bytes, b, sizeof(b)), cg->limit ? " (limit " : "",
                 cg->limit ? pyh_format_bytes(cg->limit, c, sizeof(c)) : "");
    if (s->limit_bytes && cg->limit) strncat(why, ")", cap - strlen(why) - 1);
    return cgroup_fields(cg);
}

/* Scheduled snapshots: the newest --keep are kept, older ones removed (breach snapshots are
 * never removed: they are bounded by --max-dumps). */
struct schedule {
    char **paths; /* ring of --keep paths, oldest first from head */
    long n, head;
    double last;
};

static void scheduled_snapshot(const struct settings *s, const struct pyh_target_options *o, struct schedule *sc,
                               const struct pyh_cgroup *cg, FILE *out)
{
    char why[64], path[4096];
    snprintf(why, sizeof(why), "every %ld s", s->every);
    dump(s, o, out, why, cg->version ? cgroup_fields(cg) : NULL, true, path, sizeof(path));
    if (!path[0] || s->keep <= 0) return;
    if (!sc->paths && !(sc->paths = calloc((size_t)s->keep, sizeof(char *)))) return;
    if (sc->n == s->keep) {
        char *old = sc->paths[sc->head];
        if (old && unlink(old) == 0)
            logf_(out, s->json, s->pid, "removed", json_pack("{s:s}", "path", old),
                  "removed %s: --keep %ld scheduled snapshots", old, s->keep);
        free(old);
        sc->paths[sc->head] = strdup(path);
        sc->head = (sc->head + 1) % s->keep;
    } else {
        sc->paths[(sc->head + sc->n++) % s->keep] = strdup(path);
    }
}

static void schedule_free(struct schedule *sc, long keep)
{
    for (long i = 0; sc->paths && i < keep; i++) free(sc->paths[i]);
    free(sc->paths);
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
    struct pyh_cgroup cg;
    if ((err = cgroup_start(&s, &cg, out))) return err;
    struct schedule sched = {NULL, 0, 0, monotonic()};
    double times[HISTORY];
    uint64_t values[HISTORY];
    size_t nhist = 0;
    double last_dump = -1e18;
    long dumps = 0;
    while (!pyh_interrupted()) {
        if (!read_rss(s.pid, &rss)) {
            /* Killed by the OOM killer? The cgroup's count says so (a SIGKILL leaves no core). */
            char why[8] = "";
            json_t *f = cgroup_poll(&s, &cg, out, why, sizeof(why));
            json_decref(f);
            logf_(out, s.json, s.pid, "exit", json_pack("{s:i}", "dumps", (int)dumps),
                  "the process exited; %ld dump%s taken", dumps, dumps == 1 ? "" : "s");
            schedule_free(&sched, s.keep);
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
        json_t *cgf = cgroup_poll(&s, &cg, out, why, sizeof(why));
        if (why[0] && t - last_dump >= s.cooldown) {
            dump(&s, o, out, why, cgf, false, NULL, 0);
            cgf = NULL;
            last_dump = monotonic();
            if (++dumps >= s.max_dumps) {
                logf_(out, s.json, s.pid, "max_dumps", json_pack("{s:i}", "dumps", (int)dumps),
                      "%ld dumps taken: the limit of --max-dumps; stopping", dumps);
                schedule_free(&sched, s.keep);
                return NULL;
            }
        }
        json_decref(cgf);
        if (s.every && monotonic() - sched.last >= (double)s.every && !pyh_interrupted()) {
            scheduled_snapshot(&s, o, &sched, &cg, out);
            sched.last = monotonic();
        }
        nap(s.interval);
    }
    logf_(out, s.json, s.pid, "stopped", json_pack("{s:i}", "dumps", (int)dumps),
          "stopped by a signal; %ld dump%s taken", dumps, dumps == 1 ? "" : "s");
    schedule_free(&sched, s.keep);
    pyh_interrupt_clear();
    return NULL;
}
