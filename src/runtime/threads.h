/* Threads and frames: every thread state of every interpreter, with its ids, its name from
 * the threading module, and its Python frames (3.8-3.10 frame objects; 3.11+ interpreter
 * frames, skipping C-stack shims and frames still being set up). */
#ifndef PYH_RUNTIME_THREADS_H
#define PYH_RUNTIME_THREADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"

/* One Python frame as a report shows it. */
struct pyh_frame_info {
    uint64_t frame; /* the frame (3.8-3.10 PyFrameObject, 3.11+ _PyInterpreterFrame) */
    uint64_t code;  /* its code object */
    char function[256];
    char file[1024];
    int line; /* -1 when unknown */
};

/* One thread state. */
struct pyh_pythread {
    uint64_t tstate;
    uint64_t interp;
    int64_t interp_id;
    uint64_t thread_id; /* threading.get_ident(): the pthread_t */
    int64_t native_id;  /* threading.get_native_id(), -1 when unknown */
    bool has_name;
    char name[256]; /* the threading.Thread name */
    bool has_frame;
    struct pyh_frame_info top;
};

/* Reads every thread state of every interpreter; *threads is malloc'ed (caller frees).
 * Unreadable parts become warnings and the thread is kept with what was read. */
struct pyh_error *pyh_threads_read(struct pyh_runtime *rt, struct pyh_pythread **threads,
                                   size_t *n);

/* Walks the Python frames of tstate from the innermost out, calling visit for each until it
 * returns false. Frames are capped at 1,000,000 and cycles are errors. */
struct pyh_error *pyh_frames_walk(struct pyh_runtime *rt, uint64_t tstate,
                                  bool (*visit)(void *ctx, const struct pyh_frame_info *frame),
                                  void *ctx);

/* The line a code object is at for a byte offset into its bytecode (-1 if unknown). */
struct pyh_error *pyh_code_line(struct pyh_runtime *rt, uint64_t code, int64_t byte_offset,
                                int *line);

#endif
