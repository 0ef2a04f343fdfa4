/* The live-process target's parts, shared between its files and nothing else:
 *   live.c       the target kind: reads, open and close;
 *   live_stop.c  stopping every thread (PTRACE_SEIZE + PTRACE_INTERRUPT) and letting go;
 *   live_maps.c  what /proc says of the process: mappings, auxv, and its page tables
 *                (/proc/PID/pagemap: which pages hold data, which are resident);
 *   live_copy.c  the copy engine of PYH_LIVE_COPY: buffers, the copy, reads of the copy. */
#ifndef PYH_TARGET_LIVE_INTERNAL_H
#define PYH_TARGET_LIVE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "target/internal.h"
#include "util/ranges.h"

#define PYH_LIVE_PAGE 4096u
#define PYH_LIVE_PAGEMAP_BUF (512 * 24) /* 512 PAGEMAP_SCAN regions, or 1536 pagemap entries */

struct pyh_live_stopped {
    int32_t tid;
    int pending_signal; /* a signal that arrived while we held the thread, re-delivered */
};

/* A buffer of the copy: [start, end) of the target is at data, a range of anonymous memory of
 * ours that is unmapped on its own (a piece of what one mmap returned). */
struct pyh_live_copied {
    uint64_t start, end;
    uint8_t *data;
    bool fresh; /* mapped by the fit_buffers that is running (undone if it fails) */
};

struct pyh_live_state {
    int pid;
    int mem_fd; /* /proc/PID/mem, opened lazily when process_vm_readv is refused */
    bool use_mem_fd;
    bool exited; /* a read found the process gone, or pyh_live_gone saw it so */
    struct pyh_live_stopped *stopped;
    size_t nstopped, stopped_cap;
    struct pyh_live_copied *copies; /* PYH_LIVE_COPY: sorted by start */
    size_t ncopies, copies_cap;
    struct pyh_ranges data;   /* the copied pages that held data; the rest of the buffers is zero */
    struct pyh_ranges unused; /* our memory to unmap once the process runs again */
    int pagemap_fd;           /* /proc/PID/pagemap while it is needed, else -1 */
    int pagemap_scan;         /* its PAGEMAP_SCAN ioctl: 0 untried, 1 works, -1 refused */
    void *pagemap_buf;        /* pagemap regions or entries, PYH_LIVE_PAGEMAP_BUF bytes */
    /* The resident pages, measured right after the stop, before any read (a read could fault
     * a swapped-out page back in): handed to pyh_target_residency. by_page false when
     * pagemap could not be read (then smaps is read at that time instead). */
    struct pyh_ranges resident;
    bool resident_by_page;
    /* The pages of file mappings that the process holds (present or swapped out), measured
     * with resident: the others are read from the file (live_unheld.c). file_held_known
     * false when pagemap could not tell. */
    struct pyh_ranges file_held;
    bool file_held_known;
    int *map_fds; /* per mapping of the target: its /proc/PID/map_files descriptor, or < 0 */
    size_t nmap_fds;
};

/* A mapping that a copy holds: readable and writable ([vvar] aside: the kernel's, and
 * reading it can fault). */
struct pyh_live_wanted {
    uint64_t start, end;
    /* Private and anonymous: a page of it that is neither present nor swapped out was never
     * written (or was given back) and reads as zeros; it is not copied. Other mappings are
     * copied whole (a file's page that is not mapped yet still has the file's bytes). */
    bool sparse;
    /* Private and of a file: a page the process holds no copy of has the file's bytes; with
     * map_files (s->file_held_known) only the pages it holds are copied, the others read
     * from the file when asked (live_unheld.c), so that the copy faults nothing in. */
    bool from_file;
    bool huge; /* fit_buffers: its buffer gets transparent huge pages */
};
struct pyh_live_wanted_list {
    struct pyh_live_wanted *v;
    size_t n, cap;
};

/* ---- live.c ---- */

/* Reads the process itself (not a copy): process_vm_readv, or /proc/PID/mem. */
struct pyh_error *pyh_live_read_process(struct pyh_target *t, uint64_t addr, void *buf, size_t len);

/* The error of every read once the process is gone. */
struct pyh_error *pyh_live_exited_error(const struct pyh_live_state *s);

/* ---- live_stop.c ---- */

/* Stops every thread of s->pid (new threads may appear meanwhile: repeats until a listing
 * shows none it has not stopped) and records them, with their registers, in t->threads. */
struct pyh_error *pyh_live_stop_all(struct pyh_target *t, struct pyh_live_state *s);

/* Resumes and detaches every thread we stopped. Safe to call twice. */
void pyh_live_resume_all(struct pyh_live_state *s);

/* t->threads from /proc/PID/task, without registers (--no-stop). */
struct pyh_error *pyh_live_list_threads(struct pyh_target *t, int pid);

/* Test hook: PYHEAP_TEST_HOLD_MS=N keeps the target stopped N ms before reading, so that
 * tests can kill py-heap while the target is stopped. Interruptible. */
struct pyh_error *pyh_live_test_hold(void);

/* Whether the process is gone (see the ops' `gone`). */
bool pyh_live_gone(struct pyh_target *t);

/* ---- live_maps.c ---- */

/* Reads /proc/PID/maps into t's mappings (when t) and the mappings a copy holds into want
 * (when want). */
struct pyh_error *pyh_live_read_maps(struct pyh_target *t, int pid,
                                     struct pyh_live_wanted_list *want);

/* t->auxv from /proc/PID/auxv (nothing when it cannot be read: a convenience). */
struct pyh_error *pyh_live_read_auxv(struct pyh_target *t, int pid);

/* Opens /proc/PID/pagemap into s->pagemap_fd if it is not open (pyh_live_test_pagemap
 * decides as the kernel would be made to); false when it cannot be read. */
bool pyh_live_open_pagemap(struct pyh_live_state *s);

/* Closes s->pagemap_fd and frees its buffer. */
void pyh_live_close_pagemap(struct pyh_live_state *s);

/* Appends to out the pages of [start, end) that hold data: present (and not the shared zero
 * page) or swapped out. Without pagemap, all of it. */
struct pyh_error *pyh_live_data_pages(struct pyh_live_state *s, uint64_t start, uint64_t end,
                                      struct pyh_ranges *out);

/* s->resident: the resident pages of every mapping of t, while the process is stopped;
 * s->resident_by_page false when pagemap cannot be read. */
struct pyh_error *pyh_live_measure_resident(struct pyh_target *t, struct pyh_live_state *s);

/* ---- live_unheld.c ---- */

/* Whether m maps a file the process names by its path (not [heap], an anonymous mapping, or
 * a memfd the kernel labels otherwise): its pages the process does not hold are the file's. */
static inline bool pyh_live_file_mapping(const struct pyh_mapping *m)
{
    return m->path && m->path[0] == '/';
}

/* s->file_held: the pages of t's file mappings that the process holds. */
struct pyh_error *pyh_live_measure_file_held(struct pyh_target *t, struct pyh_live_state *s);

/* Reads from the mapped file what the process holds no page of, at addr (up to len bytes,
 * within one mapping): returns the bytes read so. When it returns 0, *from_process is how
 * many bytes from addr are to be read from the process instead. */
size_t pyh_live_read_unheld(struct pyh_target *t, struct pyh_live_state *s, uint64_t addr,
                            void *buf, size_t len, size_t *from_process);

/* Closes the map_files descriptors (at close). */
void pyh_live_close_map_files(struct pyh_live_state *s);

/* ---- live_copy.c ---- */

/* Reads len bytes at addr: from the copy where it holds them, from the process elsewhere. */
struct pyh_error *pyh_live_read_copy(struct pyh_target *t, uint64_t addr, void *buf, size_t len);

/* The copy's bytes of [addr, addr + len), when one copied buffer holds them all as data
 * (pages the process had written: what a read would memcpy); NULL otherwise. */
const uint8_t *pyh_live_view_copy(struct pyh_target *t, uint64_t addr, size_t len);

/* What pyh_live_prepare_copy found. */
struct pyh_live_copy_plan {
    uint64_t bytes;     /* the bytes to copy: the pages that hold data in the writable mappings */
    uint64_t available; /* MemAvailable when it was measured; UINT64_MAX when unknown */
    bool fits;          /* false: the copy would not fit; no buffers are held */
    double rate;        /* bytes per second of a sample copy made while the process ran; 0 when
                           not measured */
};

/* While the process runs: buffers for its writable mappings, faulted in where it has data.
 * When they would not fit in the memory available with a margin, holds none and says so in
 * plan->fits rather than failing. */
struct pyh_error *pyh_live_prepare_copy(struct pyh_live_state *s, struct pyh_live_copy_plan *plan);

/* Test hooks: PYHEAP_TEST_MEM_AVAILABLE=BYTES stands for MemAvailable, and
 * PYHEAP_TEST_COPY_RATE=BYTES_PER_S for the measured rate of the copy. */
uint64_t pyh_live_memory_available(void);

/* While the process is stopped: the writable mappings in want copied into the buffers. With
 * deadline > 0 (CLOCK_MONOTONIC seconds), a copy still running at the deadline stops there,
 * *abandoned set (the buffers then hold part of the process: the caller drops them). */
struct pyh_error *pyh_live_copy_writable(struct pyh_target *t, struct pyh_live_state *s,
                                         struct pyh_live_wanted_list *want, double deadline,
                                         bool *abandoned);

/* Once the process runs again: gives back the memory the copy no longer uses. */
void pyh_live_release_unused(struct pyh_live_state *s);

/* Unmaps every buffer of the copy (at close). */
void pyh_live_free_copy(struct pyh_live_state *s);

#endif
