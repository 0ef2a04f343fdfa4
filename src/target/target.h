/* The target layer: bytes at addresses in the process being examined, and the little the
 * operating system says about it (mappings, threads and their registers, auxv).
 *
 * Three kinds share one interface: an ELF core file (mmapped; parts the core omits are read
 * from the mapped files on disk), a live process (ptrace-stopped, read with
 * process_vm_readv), and a host callback (gdb's inferior). Every read is bounds-checked
 * here; no higher layer touches target memory any other way. */
#ifndef PYH_TARGET_TARGET_H
#define PYH_TARGET_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pyheap.h"
#include "util/diag.h"
#include "util/error.h"
#include "util/ranges.h"

enum pyh_target_kind { PYH_TARGET_CORE, PYH_TARGET_LIVE, PYH_TARGET_HOST };

#define PYH_PROT_R 1u
#define PYH_PROT_W 2u
#define PYH_PROT_X 4u

/* One mapping of the target's address space. */
struct pyh_mapping {
    uint64_t start, end;  /* [start, end) */
    uint64_t file_offset; /* offset of start in the mapped file */
    uint32_t prot;        /* PYH_PROT_* */
    char *path;           /* the mapped file as the target names it; NULL if anonymous */
    char *label;          /* "[heap]", "[stack]", "[vdso]"... when the OS names it (live) */
    /* The local file behind path (after --sysroot/--lib-path), NULL if none was found. */
    struct pyh_local_file *file;
    /* Resident bytes once pyh_target_residency ran (from its evidence); UINT64_MAX when
     * unknown. */
    uint64_t rss;
};

/* One thread (LWP) with the registers the runtime layer uses. */
struct pyh_thread {
    int32_t tid;
    bool has_regs;
    uint64_t rip, rsp, fs_base;
};

/* A file on this machine that stands for a file the target mapped; mmapped read-only. */
struct pyh_local_file {
    char *target_path;    /* as the target names it */
    char *path;           /* where it was found here */
    const uint8_t *data;  /* mmapped contents */
    size_t size;
    uint8_t build_id[64]; /* from the file's own notes */
    size_t build_id_len;
    void *elf;            /* libelf handle (Elf *) when the file is ELF, else NULL */
};

struct pyh_target_ops;

/* Which pages of the target were resident in memory: the one piece of evidence every
 * resident figure is made of, so that the parts of a split add up to the whole by
 * construction. */
struct pyh_residency {
    /* "pagemap": the process's page tables, read while it was stopped — present pages,
     *            the shared zero page left out (as the kernel's Rss does);
     * "core":    the pages a core holds data for; of anonymous mappings, in a sparse core
     *            (the kernel's) the pages that are not holes — it leaves out the pages never
     *            touched — and in a core without holes (gdb's gcore, which writes such pages,
     *            and pages given back with MADV_DONTNEED, as zeros) the pages that are not
     *            all zeros;
     * "smaps":   Rss per mapping only, when nothing tells pages apart (a host target). */
    const char *source;
    const char *how;        /* the evidence in words, for reports ("pages present while the
                               process was stopped", ...); static */
    bool by_page;           /* runs hold the resident pages; false: only each mapping's rss */
    uint64_t total;         /* resident bytes */
    struct pyh_ranges runs; /* the resident bytes, page-aligned runs (by_page) */
    uint64_t *below;        /* prefix sums of runs (pyh_ranges_index), NULL when empty */
};

/* A direct-mapped cache of target blocks, for targets whose reads are system calls. A
 * block is cached page by page (a block may cross mappings, or the end of the memory). */
#define PYH_CACHE_BLOCK 65536
#define PYH_CACHE_SLOTS 64
#define PYH_CACHE_PAGE 4096
#define PYH_CACHE_ALL_PAGES 0xffffu /* PYH_CACHE_BLOCK / PYH_CACHE_PAGE bits */
/* Host targets: each read is a round trip through gdb, and through gdbserver a transfer
 * (hex-encoded, 9 KiB to a packet: ~20 MB/s over TCP on one machine, ~0.5 MB/s on a pipe,
 * gdb 13): reading a byte twice costs as much as reading it once, and every pass of a verb
 * over the heap would read it again. Their cache keeps every block a session reads, up to
 * PYH_HOST_CACHE_SLOTS of them (1 GiB of address space, reserved without backing: only the
 * blocks filled cost memory; past that it starts over), found by address rather than
 * direct-mapped (regions whose blocks fall on the same slots would evict each other on
 * every pass), and reads longer than a block go through it too, the blocks it lacks
 * fetched with one read per run of blocks (up to PYH_CACHE_MAX_RUN). */
#define PYH_HOST_CACHE_SLOTS 16384
#define PYH_CACHE_MAX_RUN 64

struct pyh_target {
    enum pyh_target_kind kind;
    const struct pyh_target_ops *ops;
    void *impl; /* the kind's own state */
    char *description; /* "core file /x/core.123", "process 4242" */
    int pid;           /* 0 if unknown */

    struct pyh_mapping *maps; /* sorted by start, non-overlapping */
    size_t nmaps, maps_cap;
    struct pyh_thread *threads;
    size_t nthreads, threads_cap;
    uint64_t *auxv; /* (type, value) pairs */
    size_t nauxv;
    char *exe_path; /* the executable as the target names it; NULL if unknown */
    bool stopped;   /* live: all threads are stopped for the read */
    bool copied;    /* live: read from a copy of its writable memory (PYH_LIVE_COPY) */
    /* live: how long the process was stopped, once that is over (a copy, a copy abandoned at
     * --max-pause, or no stop at all); pause_done false while it lasts or when py-heap does
     * not stop it (--no-stop, a debugger holds it). */
    double pause_seconds;
    bool pause_done;
    char *pause_how;     /* live: why the pause is what it is, in a few words ("copy of 812
                            MiB", "analysed stopped: --no-copy"); owned, NULL for other targets */
    uint64_t copy_bytes; /* live, copied: the bytes of the process that the copy holds */
    struct pyh_residency *residency; /* once pyh_target_residency measured it; owned */
    double captured_at;   /* live and host targets: CLOCK_REALTIME seconds of the moment the
                             memory read shows — the stop of a copy or of a stopped
                             analysis, the open of a process read running; 0 for cores */
    double stop_started;  /* a stopped analysis (PYH_LIVE_STOP, or _COPY_OR_STOP without the
                             copy): CLOCK_MONOTONIC seconds when py-heap began to stop it; 0
                             otherwise */

    struct pyh_local_file **files; /* every local file opened for this target */
    size_t nfiles, files_cap;

    struct pyh_diag *diag; /* the session's warnings; borrowed */

    /* What is wrong with the target as a whole, kept apart from the warnings (which die
     * with a session that fails to open) so that pyh_target_explain can put it on the
     * error it likely caused. Owned; NULL when there is nothing to say. */
    char *truncation;   /* core: "core file X is truncated: N bytes of M segments are missing
                           (the file has S bytes)" */
    char *mismatch;     /* the first build-id mismatch warning ("build-id mismatch for ...") */
    size_t nmismatches; /* how many files were used despite a build-id mismatch */
    char *unusable;     /* the first file found but refused ("X is not a regular file (a FIFO)") */

    struct {
        size_t nslots;   /* 0 until pyh_target_init_cache */
        uint64_t *block; /* per slot: block address, or UINT64_MAX when empty */
        uint32_t *pages; /* per slot: bit i set when page i of the block is cached; bit 16 + i
                            when a keeping cache found page i unreadable (a guard page
                            inside a mapping: glibc 2.42+'s MADV_GUARD_INSTALL on thread
                            stacks), so that it is not asked for again */
        uint8_t *data;   /* nslots * PYH_CACHE_BLOCK bytes */
        /* ops->cache_all: slots are given out in order (`used` so far) and found through
         * this hash table of 2 * nslots entries (slot numbers, UINT32_MAX when free).
         * NULL otherwise: direct-mapped, a block's slot is its number modulo nslots. */
        uint32_t *index;
        size_t used;
    } cache;
};

/* What a kind implements. */
struct pyh_target_ops {
    /* Reads exactly len bytes at addr or fails with PYH_ERR_FAULT. */
    struct pyh_error *(*read)(struct pyh_target *t, uint64_t addr, void *buf, size_t len);
    /* Whether reads are slow enough to be worth the block cache. */
    bool cached;
    /* Whether the cache keeps every block read (see PYH_HOST_CACHE_SLOTS) and reads longer
     * than a block go through it as well; otherwise it is direct-mapped and such reads are
     * one read of their own. */
    bool cache_all;
    /* Releases the kind's state (live: resumes and detaches). */
    void (*close)(struct pyh_target *t);
    /* Measures which pages are resident: fills out's source, by_page and runs (by_page) or
     * every mapping's rss (not by_page). NULL when the kind cannot tell. */
    struct pyh_error *(*residency)(struct pyh_target *t, struct pyh_residency *out);
    /* Whether the target has gone away (a live process that exited); NULL for kinds that
     * cannot. Called only when something failed: it may cost a few reads of /proc. */
    bool (*gone)(struct pyh_target *t);
    /* Lets a process that py-heap holds stopped go (see pyh_target_resume); NULL for kinds
     * that stop nothing. */
    void (*resume)(struct pyh_target *t);
    /* The len bytes at addr where the kind holds them in this process's memory as they are
     * (see pyh_target_view), or NULL; NULL for kinds that hold none. */
    const uint8_t *(*view)(struct pyh_target *t, uint64_t addr, size_t len);
    /* Done with the views of [addr, addr + len) for now (see pyh_target_view_release). */
    void (*view_release)(struct pyh_target *t, uint64_t addr, size_t len);
};

/* Where to find the files a target maps. */
struct pyh_file_search {
    const char *sysroot;  /* NULL for none */
    const char *lib_path; /* colon-separated, NULL for none */
    const char *exe;      /* explicit executable, NULL for none */
};

/* NULL when the files search names (--exe; --sysroot and each --lib-path directory)
 * can be used: an --exe that is missing or not a regular file (a FIFO would block) is an
 * error, not a silent fall-back to the path the target recorded. */
struct pyh_error *pyh_file_search_check(const struct pyh_file_search *search);

/* Opens an ELF core. Missing files are warnings (diag); truncation marks diag partial. */
struct pyh_error *pyh_target_open_core(const char *path, const struct pyh_file_search *search,
                                       struct pyh_diag *diag, struct pyh_target **out);

/* How a live process is held while it is read. */
enum pyh_live_mode {
    PYH_LIVE_STOP,         /* seize and stop every thread; resume them at close */
    PYH_LIVE_NO_STOP,      /* read it running (best effort, said in a warning) */
    PYH_LIVE_HOST_STOPPED, /* a debugger (gdb) has it stopped and gives its threads */
    PYH_LIVE_COPY,         /* stop it, copy its writable memory, resume it: read the copy
                              (an error when the copy would not fit in the memory available) */
    PYH_LIVE_COPY_OR_STOP, /* PYH_LIVE_COPY when the copy fits in the memory available (with
                              a margin), else PYH_LIVE_STOP (a warning says why) */
};

/* Opens process pid. With PYH_LIVE_HOST_STOPPED, threads (n of them) are the host's view,
 * with registers; otherwise they are read from /proc (and ptrace). */
struct pyh_error *pyh_target_open_live(int pid, enum pyh_live_mode mode,
                                       const struct pyh_host_thread *threads, size_t n,
                                       struct pyh_diag *diag, struct pyh_target **out);

/* The same for py-heap's own stops (PYH_LIVE_STOP, _COPY, _COPY_OR_STOP), with max_pause > 0
 * the longest the process may be stopped, in seconds: a copy that would take longer (from
 * the bytes to copy and the rate of a sample copy made while the process runs) is not made,
 * and one that runs past the deadline is abandoned and the process resumed; either way the
 * process is then read while it runs, and the results are marked partial with the reason. A
 * copy that does not fit in memory is read running as well (a stopped analysis has no bound).
 * max_pause does not bound PYH_LIVE_STOP: the stop lasts the analysis. */
struct pyh_error *pyh_target_open_live_bounded(int pid, enum pyh_live_mode mode, double max_pause,
                                               struct pyh_diag *diag, struct pyh_target **out);

/* (Re)attaches the local files behind a live target's file mappings: --exe, --sysroot
 * (else /proc/PID/root: the process's own mount namespace), --lib-path, then the path the
 * process names, each checked against the build-id in the process's memory. user may be
 * NULL (pyh_target_open_live's own call). */
void pyh_live_attach_files(struct pyh_target *t, const struct pyh_file_search *user);

/* Wraps a host's read callback and mapping list. */
struct pyh_error *pyh_target_open_host(const struct pyh_host_target *host,
                                       struct pyh_diag *diag, struct pyh_target **out);

/* The same, the files the target maps found with search (--sysroot, --lib-path: a remote
 * process whose files are elsewhere here, e.g. one in a container); NULL: where they are named. */
struct pyh_error *pyh_target_open_host_in(const struct pyh_host_target *host,
                                          const struct pyh_file_search *search,
                                          struct pyh_diag *diag, struct pyh_target **out);

/* Lets a live process that py-heap stopped for the analysis go now (resumed and detached)
 * rather than at close, so that its pause is final when it is reported: stopped_seconds
 * stops growing. Reads after this read the running process. Nothing for other targets. */
void pyh_target_resume(struct pyh_target *t);

/* Resumes a live target, unmaps everything, frees t. NULL is fine. */
void pyh_target_close(struct pyh_target *t);

/* Joins err, a failure of this or a higher layer, with what is wrong with the target as a
 * whole, and returns it:
 *  - a live process that has exited: the message becomes "process N exited while it was
 *    being read" — whatever failed after that read garbage, and saying what would mislead;
 *  - a truncated core: the truncation leads, "core file X is truncated: ...: <err>", as
 *    the likely cause (the structure that did not check out may lie in the lost bytes);
 *  - a file that exists but was refused (a FIFO or a directory where a library should be):
 *    the first follows as a warning, "<err> (warning: X is not a regular file (a FIFO))";
 *  - build-id mismatches: the first follows as a warning, "<err> (warning: build-id
 *    mismatch for ...)": symbols from another build are a suspect, not a certainty.
 * Usage errors, interruptions and out-of-memory pass unchanged (they are not about the
 * target), as does NULL. Joining twice adds nothing. t may be NULL. */
struct pyh_error *pyh_target_explain(struct pyh_target *t, struct pyh_error *err);

/* Reads exactly len bytes at addr. Fails with PYH_ERR_FAULT naming the address when any
 * byte is unreadable, and with PYH_ERR_INTERRUPTED when the user interrupted. */
struct pyh_error *pyh_target_read(struct pyh_target *t, uint64_t addr, void *buf, size_t len);

/* The len bytes at addr without a read or a copy: a pointer into py-heap's own memory that
 * holds them (a core's data through a read-only mapping of the file, a live process's copy),
 * or NULL when the kind
 * holds no such copy or the bytes are not all in one piece of it — then pyh_target_read
 * them. For the passes over the whole heap, which would otherwise copy each byte once more
 * than they look at it. A view stays valid until the target is closed. */
const uint8_t *pyh_target_view(struct pyh_target *t, uint64_t addr, size_t len);

/* Says that a pass is done with the views of [addr, addr + len) for now: the pages they
 * brought into py-heap's resident set leave it (the views stay valid: a later look brings
 * the page back), so that a pass over a multi-gigabyte core does not end holding all of it. */
void pyh_target_view_release(struct pyh_target *t, uint64_t addr, size_t len);

/* Reads exactly len bytes at addr, as pyh_target_read, for reads far apart (a pool's header
 * every 16 KiB): without the block cache where a read is a system call of its own (a core, a
 * live process), since the cache would read 64 KiB for each — or map them, through a view;
 * through it where a read is a round trip (a host: gdb, gdbserver). */
struct pyh_error *pyh_target_read_sparse(struct pyh_target *t, uint64_t addr, void *buf, size_t len);

/* Typed reads; the value is little-endian in the target as on this host (x86-64). */
struct pyh_error *pyh_read_u64(struct pyh_target *t, uint64_t addr, uint64_t *out);
struct pyh_error *pyh_read_u32(struct pyh_target *t, uint64_t addr, uint32_t *out);
struct pyh_error *pyh_read_u8(struct pyh_target *t, uint64_t addr, uint8_t *out);

/* Reads a NUL-terminated string of at most cap-1 bytes into buf (always terminated);
 * fails if no NUL is found within cap bytes. */
struct pyh_error *pyh_read_cstr(struct pyh_target *t, uint64_t addr, char *buf, size_t cap);

/* The mapping containing addr, or NULL. O(log n). */
const struct pyh_mapping *pyh_target_mapping_at(const struct pyh_target *t, uint64_t addr);

/* The thread with LWP id tid, or NULL. */
const struct pyh_thread *pyh_target_thread(const struct pyh_target *t, int32_t tid);

/* Which pages of t are resident, measured on the first call and kept (owned by t): live,
 * from /proc/PID/pagemap while the process is stopped (with PYH_LIVE_COPY, in the copy's own
 * stop); core, from the pages it holds (see struct pyh_residency); host, from the host's
 * smaps text (PYH_ERR_UNSUPPORTED when it gave none). Fills every mapping's rss. Costs a
 * pagemap read (~2-20 ms per GiB mapped), or on a core a read of its anonymous pages. */
struct pyh_error *pyh_target_residency(struct pyh_target *t, const struct pyh_residency **out);

/* Resident bytes of [start, end) (r->by_page); O(log n). */
uint64_t pyh_residency_bytes(const struct pyh_residency *r, uint64_t start, uint64_t end);

/* The value of auxv entry type, or 0 when absent. */
uint64_t pyh_target_auxv(const struct pyh_target *t, uint64_t type);

/* How long py-heap has kept the process stopped (seconds): the copy's pause, or the time
 * since a stopped read began; -1 for targets py-heap does not stop. */
double pyh_target_stopped_seconds(const struct pyh_target *t);

#endif
