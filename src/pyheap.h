/* libpyheap: read the heap of a CPython process from outside — a live process or an ELF
 * core file — without running code in it.
 *
 * This is the whole public face of the library: the CLI (dumpreader/) and the gdb extension
 * (gdbext/) include only this header. Every function that can fail returns a
 * `struct pyh_error *` that is NULL on success and owned by the caller otherwise. */
#ifndef PYHEAP_H
#define PYHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Errors ------------------------------------------------------------------------- */

/* What kind of failure an error is; front ends map it to an exit status. */
enum pyh_error_code {
    PYH_OK = 0,
    PYH_ERR_USAGE,       /* bad command line or arguments (exit status 2) */
    PYH_ERR_NOMEM,       /* out of memory in py-heap itself */
    PYH_ERR_OS,          /* a system call failed (open, ptrace, ...) */
    PYH_ERR_FORMAT,      /* a file is not what it must be (not ELF, not a core, ...) */
    PYH_ERR_FAULT,       /* an address is not readable in the target */
    PYH_ERR_CORRUPT,     /* target data is inconsistent (bad pointers, cycles, ...) */
    PYH_ERR_NOT_FOUND,   /* something looked for is absent (a file, a symbol, ...) */
    PYH_ERR_NOT_PYTHON,  /* the target is not a CPython process */
    PYH_ERR_UNSUPPORTED, /* a CPython version or platform py-heap does not support */
    PYH_ERR_INTERRUPTED, /* the user interrupted (SIGINT/SIGTERM, gdb's Ctrl-C) */
    PYH_ERR_PARTIAL,     /* not a failure: the output was written, but from inputs read only
                            in part (diff, trend); the message says which and why (exit
                            status 1, as for any partial result) */
};

/* An error: a code and a one-line message that names the file, address or structure. */
struct pyh_error;

/* The message of err; valid until pyh_error_free(err). */
const char *pyh_error_message(const struct pyh_error *err);

/* The code of err, PYH_OK for NULL. */
enum pyh_error_code pyh_error_code(const struct pyh_error *err);

/* Frees err; NULL is fine. */
void pyh_error_free(struct pyh_error *err);

/* ---- Interruption ------------------------------------------------------------------- */

/* Asks every running library call to stop at its next check and return PYH_ERR_INTERRUPTED.
 * Async-signal-safe: call it from a SIGINT/SIGTERM handler. */
void pyh_interrupt(void);

/* Clears a pending interruption (gdb: before the next command). */
void pyh_interrupt_clear(void);

/* Installs a function the library polls during long work; when it returns true the work
 * stops as if pyh_interrupt() had been called. The gdb extension uses it for Ctrl-C. NULL
 * removes it. */
void pyh_interrupt_set_poll(bool (*poll)(void));

/* ---- Opening a target --------------------------------------------------------------- */

/* How to find what the target needs; every field may be NULL/false. Not retained after the
 * open call returns (strings are copied). */
struct pyh_target_options {
    const char *exe;        /* the executable, when the core's own path cannot be used */
    const char *sysroot;    /* prefix for every file the core names (core from elsewhere) */
    const char *lib_path;   /* colon-separated directories searched by file name */
    const char *debug_dirs; /* colon-separated debug-file directories; NULL means
                               "/usr/lib/debug", "" means none (never use DWARF from
                               separate debug files) */
    bool no_stop;           /* live: read without stopping the process (best effort) */
    bool copy;              /* live: stop the process only to copy its writable memory,
                               then resume it and analyse the copy (costs that memory) */
};

/* A memory mapping as a host (gdb) describes it to a callback target. */
struct pyh_host_mapping {
    uint64_t start, end;  /* [start, end) */
    uint64_t offset;      /* file offset of start, for file mappings */
    uint32_t prot;        /* PROT_READ | PROT_WRITE | PROT_EXEC bits */
    const char *path;     /* the mapped file, NULL or "" for anonymous, "[heap]" etc. */
};

/* A thread as a host describes it: its LWP id and the registers py-heap uses. */
struct pyh_host_thread {
    int32_t tid;
    uint64_t rip, rsp, fs_base;
};

/* A target whose memory a host reads for py-heap (gdb's inferior). The arrays are copied
 * at open time; ctx and read must stay valid until the session is closed. */
struct pyh_host_target {
    void *ctx;
    /* Reads len bytes at addr into buf; returns 0 on success, -1 when unreadable. */
    int (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
    const struct pyh_host_mapping *mappings;
    size_t nmappings;
    const struct pyh_host_thread *threads;
    size_t nthreads;
    int pid;                 /* 0 when unknown */
    const char *exe_path;    /* the executable, NULL when unknown */
    const char *description; /* shown in reports, e.g. "process 1234 (through gdb)" */
    bool stopped;            /* every thread stays stopped while py-heap reads */
    const char *smaps;       /* the text of the process's /proc/PID/smaps, for its resident
                                memory; NULL when the host cannot tell */
};

/* An open target with its Python runtime: what every command works on. */
struct pyh_session;

/* Opens an ELF core file. */
struct pyh_error *pyh_session_open_core(const char *core_path,
                                        const struct pyh_target_options *options,
                                        struct pyh_session **out);

/* Attaches to a live process and, unless options->no_stop, stops all its threads until
 * pyh_session_close. The threads are always resumed and detached by close. */
struct pyh_error *pyh_session_open_pid(int pid, const struct pyh_target_options *options,
                                       struct pyh_session **out);

/* Opens a live process that a debugger (gdb) already holds stopped: read through
 * process_vm_readv without ptrace; the host gives the threads and their registers. */
struct pyh_error *pyh_session_open_stopped_pid(int pid, const struct pyh_host_thread *threads,
                                               size_t nthreads,
                                               const struct pyh_target_options *options,
                                               struct pyh_session **out);

/* Opens a target that a host reads (the gdb extension). */
struct pyh_error *pyh_session_open_host(const struct pyh_host_target *host,
                                        const struct pyh_target_options *options,
                                        struct pyh_session **out);

/* With options->copy: how long the process was stopped (seconds); -1 otherwise. */
double pyh_session_pause_seconds(const struct pyh_session *session);

/* Resumes and detaches a live target, frees everything. NULL is fine. */
void pyh_session_close(struct pyh_session *session);

/* Warnings gathered while opening and analysing (missing files, build-id mismatches,
 * partial data). Strings are owned by the session. */
size_t pyh_session_warning_count(const struct pyh_session *session);
const char *pyh_session_warning(const struct pyh_session *session, size_t i);

/* NULL when every result is complete; otherwise the warning that first made results
 * partial (a truncated core, an unreadable structure). Front ends exit non-zero then. */
const char *pyh_session_partial_reason(const struct pyh_session *session);

/* The names of the target's types starting with prefix (NULL for all), for completion;
 * builds the objects table the first time. Free with pyh_session_free_names. */
struct pyh_error *pyh_session_type_names(struct pyh_session *session, const char *prefix,
                                         char ***names, size_t *n);
void pyh_session_free_names(char **names, size_t n);

/* ---- Commands: the verbs shared by the CLI and gdb ----------------------------------- */

/* Output format of a command. */
enum pyh_format { PYH_FORMAT_TEXT, PYH_FORMAT_JSON };

/* Defaults a front end sets for every command (gdb's `set py-heap ...`). */
struct pyh_command_defaults {
    enum pyh_format format;
    long limit; /* default --limit; 0 means the command's own default */
};

/* Runs one verb on an open session: argv[0] is the verb, the rest its options (no target
 * options). Output goes to out. Usage errors carry PYH_ERR_USAGE. */
struct pyh_error *pyh_command_run(struct pyh_session *session, int argc, char *const argv[],
                                  const struct pyh_command_defaults *defaults, FILE *out);

/* False for the verbs that open their own targets (diff, trend, watch): run them with
 * pyh_command_run_offline, giving the target options (--exe, --sysroot, ...) for the cores
 * and processes they open. When an input was read only in part, diff and trend print their
 * report and then return a PYH_ERR_PARTIAL error naming it. */
bool pyh_command_needs_target(const char *verb);

struct pyh_error *pyh_command_run_offline(int argc, char *const argv[],
                                          const struct pyh_target_options *options,
                                          const struct pyh_command_defaults *defaults, FILE *out);

/* Checks argv (verb and options) without running it; for front ends that want to report
 * usage errors before opening a target. */
struct pyh_error *pyh_command_check(int argc, char *const argv[]);

/* The verbs, for help and completion: NULL-terminated array of names. */
const char *const *pyh_command_names(void);

/* For a front end that must tell a verb's option values from its positional arguments:
 * 1 when option (e.g. "--limit") takes a separate value, 0 when it does not (a flag, or
 * "--limit=5"), -1 when the verb has no such option. */
int pyh_command_option_arity(const char *verb, const char *option);

/* How many positional arguments (addresses) a verb takes at most: a front end evaluates
 * them as expressions (gdb) before passing them on. */
int pyh_command_max_positionals(const char *verb);

/* One-line summary and full help text of a verb; NULL for an unknown verb. */
const char *pyh_command_summary(const char *verb);
const char *pyh_command_help(const char *verb);

/* Exit status for an error as the CLI uses it: 0 for NULL, 2 for usage errors, 130 for
 * interruption, 1 for everything else. */
int pyh_error_exit_status(const struct pyh_error *err);

/* The library version, e.g. "0.1.0". */
const char *pyh_version(void);

#ifdef __cplusplus
}
#endif
#endif
