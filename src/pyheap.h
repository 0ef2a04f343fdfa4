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

/* What libpyheap exports: only the declarations of this header (it is built with hidden
 * visibility by default). */
#if defined(__GNUC__)
#define PYH_API __attribute__((visibility("default")))
#else
#define PYH_API
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
PYH_API const char *pyh_error_message(const struct pyh_error *err);

/* The code of err, PYH_OK for NULL. */
PYH_API enum pyh_error_code pyh_error_code(const struct pyh_error *err);

/* Frees err; NULL is fine. */
PYH_API void pyh_error_free(struct pyh_error *err);

/* ---- Interruption ------------------------------------------------------------------- */

/* Asks every running library call to stop at its next check and return PYH_ERR_INTERRUPTED.
 * Async-signal-safe: call it from a SIGINT/SIGTERM handler. */
PYH_API void pyh_interrupt(void);

/* Clears a pending interruption (gdb: before the next command). */
PYH_API void pyh_interrupt_clear(void);

/* Installs a function the library polls during long work; when it returns true the work
 * stops as if pyh_interrupt() had been called. The gdb extension uses it for Ctrl-C. NULL
 * removes it. */
PYH_API void pyh_interrupt_set_poll(bool (*poll)(void));

/* ---- Progress ----------------------------------------------------------------------- */

/* What a progress report counts. */
enum pyh_progress_unit { PYH_PROGRESS_BYTES, PYH_PROGRESS_OBJECTS, PYH_PROGRESS_ITEMS };

/* One report of long work: phase ("decompressing", "reading the heap", ...), done of total
 * units (total 0 when unknown), and the seconds since the phase began. */
struct pyh_progress {
    const char *phase;
    enum pyh_progress_unit unit;
    uint64_t done, total;
    double elapsed;
};

/* Called during long work, at most ten times a second per phase; NULL when a phase ends.
 * The same thread that called into the library; it must not call back into it. */
typedef void (*pyh_progress_fn)(const struct pyh_progress *progress, void *ctx);

/* Installs (or with NULL removes) the progress listener; the library shows nothing itself. */
PYH_API void pyh_progress_set_listener(pyh_progress_fn fn, void *ctx);

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
    /* Live, by default: the process is stopped only to copy its writable memory, then
     * resumed, and the copy analysed (costs that memory) — when the copy fits in the memory
     * available (less a margin); else it stays stopped for the analysis, a warning says why. */
    bool copy;              /* live: the copy or an error, never a stopped analysis */
    bool no_copy;           /* live: no copy: stopped for the whole analysis */
    double max_pause;       /* live, > 0: stop the process at most this long (seconds): a copy
                               that would take longer is not made (or is abandoned at the
                               deadline), the process read while it runs, and the results
                               partial. Not with no_copy. */
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

/* Opens an ELF core file: plain, or compressed with zstd, gzip, xz or lz4 (recognised by
 * its first bytes), or "-" for standard input (a pipe). A compressed or piped core is
 * decompressed into a temporary file in $TMPDIR (default /var/tmp), unlinked at once, whose
 * pages of zeros are holes: disk for the core's data, memory for a few buffers. */
PYH_API struct pyh_error *pyh_session_open_core(const char *core_path,
                                        const struct pyh_target_options *options,
                                        struct pyh_session **out);

/* Opens the newest core of systemd-coredump's store (what `coredumpctl list MATCH` shows
 * last) whose PID, command name or executable is match. The store is
 * /var/lib/systemd/coredump, or $PYHEAP_COREDUMP_DIR. */
PYH_API struct pyh_error *pyh_session_open_coredump(const char *match,
                                            const struct pyh_target_options *options,
                                            struct pyh_session **out);

/* Attaches to a live process and, unless options->no_stop, stops all its threads until
 * pyh_session_close. The threads are always resumed and detached by close. */
PYH_API struct pyh_error *pyh_session_open_pid(int pid, const struct pyh_target_options *options,
                                       struct pyh_session **out);

/* Opens a live process that a debugger (gdb) already holds stopped: read through
 * process_vm_readv without ptrace; the host gives the threads and their registers. */
PYH_API struct pyh_error *pyh_session_open_stopped_pid(int pid, const struct pyh_host_thread *threads,
                                               size_t nthreads,
                                               const struct pyh_target_options *options,
                                               struct pyh_session **out);

/* Opens a target that a host reads (the gdb extension); options->sysroot and lib_path find
 * the files it maps where the host's paths are not this machine's (gdbserver's process in a
 * container or on another machine). */
PYH_API struct pyh_error *pyh_session_open_host(const struct pyh_host_target *host,
                                        const struct pyh_target_options *options,
                                        struct pyh_session **out);

/* How long a live process has been stopped by py-heap (seconds): with a copy the whole
 * pause (the copy); for a process stopped while it is read, the time since it was stopped
 * (it stays stopped until pyh_session_close); 0 when max_pause had it read running; -1 for
 * cores, --no-stop and processes a debugger holds. */
PYH_API double pyh_session_pause_seconds(const struct pyh_session *session);

/* Lets a live process that py-heap holds stopped for the analysis (--no-copy, or a copy that
 * did not fit) go now rather than at pyh_session_close, so that the pause reported after it
 * is final. Later commands on the session read the running process. Nothing for a copy
 * (resumed already), cores and processes a debugger holds. */
PYH_API void pyh_session_resume(struct pyh_session *session);

/* Why a live process's pause is what it is, in a few words: "copy of 812 MiB", "analysed
 * stopped: --no-copy", "not stopped: a copy of ... would take about 0.250 s, more than
 * --max-pause 0.001 s"; NULL for cores, --no-stop and processes a debugger holds. Owned by
 * the session. */
PYH_API const char *pyh_session_pause_how(const struct pyh_session *session);

/* Resumes and detaches a live target, frees everything. NULL is fine. */
PYH_API void pyh_session_close(struct pyh_session *session);

/* Warnings gathered while opening and analysing (missing files, build-id mismatches,
 * partial data). Strings are owned by the session. */
PYH_API size_t pyh_session_warning_count(const struct pyh_session *session);
PYH_API const char *pyh_session_warning(const struct pyh_session *session, size_t i);

/* NULL when every result is complete; otherwise the warning that first made results
 * partial (a truncated core, an unreadable structure). Front ends exit non-zero then. */
PYH_API const char *pyh_session_partial_reason(const struct pyh_session *session);

/* The names of the target's types starting with prefix (NULL for all), for completion;
 * builds the objects table the first time. Free with pyh_session_free_names. */
PYH_API struct pyh_error *pyh_session_type_names(struct pyh_session *session, const char *prefix,
                                         char ***names, size_t *n);
PYH_API void pyh_session_free_names(char **names, size_t n);

/* ---- Structured results: the heap as data for C programs ---------------------------- */

/* One row of the census: every live object of one type, counted and sized (sys.getsizeof). */
struct pyh_type_count {
    const char *name;      /* as `types` prints it: "dict", "app.Request" */
    uint64_t type_address; /* the type object */
    uint64_t count, size;
};

/* The census by type, largest total size first (what `py-heap types` prints). */
struct pyh_census_list;

/* Counts every live object of the session's target by type (builds the objects table the
 * first time: the costly step). Free with pyh_census_list_free. */
PYH_API struct pyh_error *pyh_census_list_get(struct pyh_session *session,
                                              struct pyh_census_list **out);
/* The number of types, the i-th row (NULL past the end; valid until the list is freed), and
 * the totals of all rows. */
PYH_API size_t pyh_census_list_size(const struct pyh_census_list *list);
PYH_API const struct pyh_type_count *pyh_census_list_at(const struct pyh_census_list *list, size_t i);
PYH_API void pyh_census_list_totals(const struct pyh_census_list *list, uint64_t *objects,
                                    uint64_t *size);
PYH_API void pyh_census_list_free(struct pyh_census_list *list);

/* One object as `show` sees it. Strings are owned by the view (pyh_object_view_clear). */
struct pyh_object_view {
    uint64_t address;      /* the object's start (an address inside it is taken to mean it) */
    char *type_name;
    uint64_t type_address;
    int64_t refcount;
    uint64_t size;         /* sys.getsizeof */
    char *value;           /* a preview of the value: "'text'", "[1, 2, ...]", "<module 'os'>" */
    int64_t length;        /* len() of containers and strings, -1 otherwise */
};

/* Looks up the object at (or around) address. PYH_ERR_NOT_FOUND when none is there. */
PYH_API struct pyh_error *pyh_object_lookup(struct pyh_session *session, uint64_t address,
                                            struct pyh_object_view *out);
PYH_API void pyh_object_view_clear(struct pyh_object_view *view);

/* Reads len bytes of the target at address (bounds-checked: PYH_ERR_FAULT where nothing is
 * mapped or the core lacks the bytes). */
PYH_API struct pyh_error *pyh_memory_read(struct pyh_session *session, uint64_t address,
                                          void *buf, size_t len);

/* One referrer of an object: another object, or a root (sys.modules, a frame, ...). */
struct pyh_referrer_view {
    bool root;          /* a root: address and type_name are 0 and NULL */
    uint64_t address;
    const char *type_name;
    const char *how;    /* "['key']", ".attr", "[3]", or the root's description */
    bool conservative;  /* found by a conservative scan of a type py-heap does not know */
};

/* The referrers of the object at address (builds the reference graph the first time). The
 * array and its strings are one allocation: free with pyh_referrer_views_free. */
PYH_API struct pyh_error *pyh_object_referrers(struct pyh_session *session, uint64_t address,
                                               struct pyh_referrer_view **out, size_t *n);
PYH_API void pyh_referrer_views_free(struct pyh_referrer_view *views);

/* ---- Commands: the verbs shared by the CLI and gdb ----------------------------------- */

/* The verb table (src/command/verbs.c) declares every verb once: its arguments, its typed
 * options with their defaults, ranges and help, and the front ends it runs in. The CLI's
 * parser and --help, the man page py-heap(1), the shell completions and gdb's commands,
 * help and completion are all made from it. */

/* Output format of a command. */
enum pyh_format { PYH_FORMAT_TEXT, PYH_FORMAT_JSON };

/* The front ends a verb or option belongs to (bits). */
enum pyh_frontend {
    PYH_FRONTEND_CLI = 1, /* the py-heap command */
    PYH_FRONTEND_GDB = 2, /* the py-heap commands in gdb */
};

/* What an option's value (or a verb's positional arguments) is: how it is checked when
 * parsed and how shells and gdb complete it. */
enum pyh_value_kind {
    PYH_VALUE_NONE,   /* a flag: no value */
    PYH_VALUE_INT,    /* an integer in [min, max] */
    PYH_VALUE_SIZE,   /* bytes with an optional K, M, G or T suffix ("2G", "512M") */
    PYH_VALUE_TEXT,   /* any text */
    PYH_VALUE_CHOICE, /* one of the words of choices ("size|count") */
    PYH_VALUE_FILE,   /* a file name */
    PYH_VALUE_DIR,    /* a directory */
    PYH_VALUE_TYPE,   /* a type name of the target ("app.Request"; gdb completes them) */
    PYH_VALUE_PID,    /* a process ID */
    PYH_VALUE_ADDRESS /* an address (gdb evaluates it as an expression first) */
};

/* One option. Read-only; the table owns it. */
struct pyh_option {
    const char *name;    /* long name without dashes: "limit" */
    char short_name;     /* a one-letter alias ('o' for -o), or 0 */
    enum pyh_value_kind kind;
    const char *metavar; /* the value's name in help: "N", "FILE" */
    const char *def;     /* the default as text (parsed like a given value), NULL for none */
    long min, max;       /* PYH_VALUE_INT: the accepted range */
    const char *choices; /* PYH_VALUE_CHOICE: "a|b|c" */
    const char *help;    /* one line */
    unsigned frontends;  /* enum pyh_frontend bits; 0 means every front end */
};

/* One verb. Read-only; the table owns it. */
struct pyh_verb_info {
    const char *name;
    const char *summary;         /* one line */
    const char *args;            /* the positional arguments in usage, e.g. "ADDR", or "" */
    const char *help;            /* paragraphs, lines under 80 columns */
    enum pyh_value_kind arg_kind; /* of the positional arguments (ADDRESS, FILE, ...) */
    int min_args, max_args;
    bool own_targets;            /* opens its own targets (diff, trend, watch): no session */
    unsigned frontends;          /* enum pyh_frontend bits */
    const struct pyh_option *options; /* its own options, then the common ones */
    size_t noptions;
};

/* The i-th verb of the table (NULL past the end), for help, completion and documents. */
PYH_API const struct pyh_verb_info *pyh_verb_at(size_t i);

/* The verb called name, NULL if none. */
PYH_API const struct pyh_verb_info *pyh_verb_lookup(const char *name);

/* The options the CLI takes besides a verb's own (the target: -p PID, --coredump, --exe,
 * ...; and --quiet), n set to their number. */
PYH_API const struct pyh_option *pyh_cli_options(size_t *n);

/* The verbs of a front end, NULL-terminated, in the table's order. */
PYH_API const char *const *pyh_command_names(enum pyh_frontend frontend);

/* One-line summary and full help text (usage, paragraphs, options, and for the CLI the
 * target options) of a verb as a front end shows it, in lines under 80 columns; NULL for an
 * unknown verb. Owned by the library. */
PYH_API const char *pyh_command_summary(const char *verb);
PYH_API const char *pyh_command_help(const char *verb, enum pyh_frontend frontend);

/* Defaults a front end sets for every command (gdb's `set py-heap ...`). */
struct pyh_command_defaults {
    enum pyh_format format;
    long limit; /* default --limit; 0 means the command's own default */
};

/* Runs one verb on an open session: argv[0] is the verb, the rest its options (no target
 * options). Output goes to out. Usage errors carry PYH_ERR_USAGE. */
PYH_API struct pyh_error *pyh_command_run(struct pyh_session *session, int argc, char *const argv[],
                                  const struct pyh_command_defaults *defaults, FILE *out);

/* The verbs that open their own targets (own_targets: diff, trend, watch) run here, with the
 * target options (--exe, --sysroot, ...) for the cores and processes they open. When an
 * input was read only in part, diff and trend print their report and then return a
 * PYH_ERR_PARTIAL error naming it. */
PYH_API struct pyh_error *pyh_command_run_offline(int argc, char *const argv[],
                                          const struct pyh_target_options *options,
                                          const struct pyh_command_defaults *defaults, FILE *out);

/* Checks argv (verb and options) without running it; for front ends that want to report
 * usage errors before opening a target. */
PYH_API struct pyh_error *pyh_command_check(int argc, char *const argv[]);

/* For a front end that must tell a verb's option values from its positional arguments:
 * 1 when option ("--limit", "-o") takes a separate value, 0 when it does not (a flag, or
 * "--limit=5"), -1 when the verb has no such option. */
PYH_API int pyh_command_option_arity(const char *verb, const char *option);

/* A CLI command line parsed against the verb table: the verb, its target and the words to
 * hand to pyh_command_run. */
struct pyh_command_line {
    const struct pyh_verb_info *verb;
    bool help;                        /* --help or -h: show the verb's help, run nothing */
    const char *core;                 /* a core file (compressed or not; "-" for stdin) */
    int pid;                          /* -p/--pid, 0 when not given */
    const char *coredump;             /* --coredump MATCH, NULL when not given */
    struct pyh_target_options target; /* --exe, --sysroot, ... */
    bool quiet;                       /* --quiet: no progress on stderr */
    bool json;                        /* --json was given */
    int argc;                         /* the verb's own words, argv[0] the verb */
    char **argv;
};

/* Parses argv (argv[0] the verb, as typed after `py-heap`): the target, target options and
 * the verb's options anywhere on the line. Usage errors say what is wrong and, for a
 * misspelled verb or option, what was meant. Free with pyh_command_line_free. */
PYH_API struct pyh_error *pyh_command_line_parse(int argc, char *const argv[],
                                         struct pyh_command_line *out);
PYH_API void pyh_command_line_free(struct pyh_command_line *cl);

/* Writes a document made from the verb table: "man" (py-heap(1) in roff), "targets" (the
 * CLI's target options as --help lists them), "bash", "zsh" or "fish" (a completion
 * script). An error for another kind. */
PYH_API struct pyh_error *pyh_command_write_document(const char *kind, FILE *out);

/* Exit status for an error as the CLI uses it: 0 for NULL, 2 for usage errors, 130 for
 * interruption, 1 for everything else. */
PYH_API int pyh_error_exit_status(const struct pyh_error *err);

/* The library version, e.g. "0.1.0". */
PYH_API const char *pyh_version(void);

#ifdef __cplusplus
}
#endif
#endif
