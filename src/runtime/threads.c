/* Thread states, their names and their frames; see threads.h. */
#include "runtime/threads.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/linetable.h"
#include "runtime/objects.h"
#include "runtime/stackref.h"
#include "util/chain.h"
#include "util/hashmap.h"
#include "util/mem.h"

#define MAX_FRAMES 1000000
#define MAX_THREADS 100000
#define MAX_LINETABLE (16u << 20)


/* The offset of `tid` in glibc's struct pthread on x86-64 (stable since glibc 2.x; checked
 * against the main thread before use, see native_id_from_pthread). */
#define GLIBC_PTHREAD_TID_OFFSET 0x2d0

/* ---- Line numbers -------------------------------------------------------------------- */

struct pyh_error *pyh_code_line(struct pyh_runtime *rt, uint64_t code, int64_t byte_offset,
                                int *line)
{
    const struct pyh_layout *L = &rt->layout;
    *line = -1;
    int32_t first;
    uint64_t table;
    struct pyh_error *err = pyh_target_read(rt->target, code + (uint64_t)L->code_firstlineno, &first, 4);
    int32_t table_field = L->code_linetable >= 0 ? L->code_linetable : L->code_lnotab;
    if (!err) err = pyh_rt_read_ptr(rt, code, table_field, &table);
    if (err) return err;
    uint64_t size;
    if ((err = pyh_read_u64(rt->target, table + (uint64_t)L->var_size, &size))) return err;
    if (size > MAX_LINETABLE)
        return pyh_error_create(PYH_ERR_CORRUPT, "line table of code 0x%llx claims %llu bytes",
                                (unsigned long long)code, (unsigned long long)size);
    uint8_t *bytes = malloc(size ? size : 1);
    if (!bytes) return pyh_error_nomem();
    err = pyh_target_read(rt->target, table + (uint64_t)L->bytes_sval, bytes, size);
    if (!err) {
        if (rt->minor >= 11)
            *line = pyh_line_locations(bytes, size, first, byte_offset);
        else if (rt->minor == 10)
            *line = pyh_line_linetable310(bytes, size, first, byte_offset);
        else
            *line = pyh_line_lnotab(bytes, size, first, byte_offset);
    }
    free(bytes);
    return err;
}

/* ---- Frames -------------------------------------------------------------------------- */

/* Fills name and file of a frame from its code object. */
static struct pyh_error *describe_code(struct pyh_runtime *rt, uint64_t code,
                                       struct pyh_frame_info *info)
{
    const struct pyh_layout *L = &rt->layout;
    uint64_t name, file;
    info->code = code;
    struct pyh_error *err = pyh_obj_expect(rt, code, rt->types.code, "code object");
    if (!err) err = pyh_rt_read_ptr(rt, code, L->code_name, &name);
    if (!err) err = pyh_rt_read_ptr(rt, code, L->code_filename, &file);
    if (!err) err = pyh_str_read(rt, name, info->function, sizeof(info->function), NULL);
    if (!err) err = pyh_str_read(rt, file, info->file, sizeof(info->file), NULL);
    return err;
}

/* Where the bytecode frame runs starts: its code object's own (co_code_adaptive), or in a
 * free-threaded build the copy its thread specialises (co_tlbc->entries[tlbc_index], a
 * _PyCodeArray {size, entries[]}; entry 0 is the code's own, Include/cpython/code.h 3.14). */
static uint64_t bytecode_of(struct pyh_runtime *rt, uint64_t code, uint64_t frame)
{
    const struct pyh_layout *L = &rt->layout;
    uint64_t own = code + (uint64_t)L->code_code_adaptive, array, size, entry;
    int32_t index;
    if (!rt->free_threaded || L->iframe_tlbc_index < 0 || L->code_tlbc < 0) return own;
    struct pyh_error *err =
        pyh_target_read(rt->target, frame + (uint64_t)L->iframe_tlbc_index, &index, 4);
    if (!err && index > 0) err = pyh_rt_read_ptr(rt, code, L->code_tlbc, &array);
    if (!err && index > 0) err = pyh_read_u64(rt->target, array, &size);
    if (!err && index > 0 && (uint64_t)index < size)
        err = pyh_read_u64(rt->target, array + 8 + 8 * (uint64_t)index, &entry);
    else
        entry = 0;
    pyh_error_free(err);
    return !err && entry ? entry : own;
}

/* True when a 3.11+ interpreter frame has not started running its code yet (its instruction
 * pointer is before the first "traceable" instruction): CPython itself skips those. */
static bool frame_incomplete(struct pyh_runtime *rt, uint64_t code, uint64_t bytecode,
                             uint64_t instr, int owner)
{
    if (owner == PYH_FRAME_OWNED_BY_GENERATOR) return false;
    int32_t first_traceable;
    struct pyh_error *err = pyh_target_read(
        rt->target, code + (uint64_t)rt->layout.code_firsttraceable, &first_traceable, 4);
    if (err) {
        pyh_error_free(err);
        return false;
    }
    return instr < bytecode + 2 * (uint64_t)first_traceable;
}

/* 3.8-3.10: PyFrameObject chain from tstate->frame through f_back. */
static struct pyh_error *walk_frame_objects(struct pyh_runtime *rt, uint64_t tstate,
                                            bool (*visit)(void *, const struct pyh_frame_info *),
                                            void *ctx)
{
    const struct pyh_layout *L = &rt->layout;
    uint64_t frame;
    struct pyh_error *err = pyh_rt_read_ptr(rt, tstate, L->tstate_frame, &frame);
    struct pyh_chain_guard guard = pyh_chain_guard_init(MAX_FRAMES);
    while (!err && frame) {
        if (!pyh_chain_step(&guard, frame))
            return pyh_error_create(PYH_ERR_CORRUPT, "frame chain of thread state 0x%llx %s",
                                    (unsigned long long)tstate,
                                    pyh_chain_is_cycle(&guard) ? "has a cycle" : "is too long");
        struct pyh_frame_info info = {.frame = frame, .line = -1};
        uint64_t code;
        int32_t lasti;
        if ((err = pyh_rt_read_ptr(rt, frame, L->frame_code, &code))) break;
        if ((err = describe_code(rt, code, &info))) break;
        if ((err = pyh_target_read(rt->target, frame + (uint64_t)L->frame_lasti, &lasti, 4))) break;
        /* f_lasti counts bytes up to 3.9 and code units in 3.10. */
        int64_t offset = rt->minor >= 10 ? (int64_t)lasti * 2 : lasti;
        if ((err = pyh_code_line(rt, code, offset, &info.line))) break;
        if (!visit(ctx, &info)) return NULL;
        err = pyh_rt_read_ptr(rt, frame, L->frame_back, &frame);
    }
    return err;
}

/* 3.11+: _PyInterpreterFrame chain from the current frame through `previous`. */
static struct pyh_error *walk_interpreter_frames(struct pyh_runtime *rt, uint64_t tstate,
                                                 bool (*visit)(void *, const struct pyh_frame_info *),
                                                 void *ctx)
{
    const struct pyh_layout *L = &rt->layout;
    uint64_t frame;
    struct pyh_error *err;
    if (L->tstate_current_frame >= 0) {
        err = pyh_rt_read_ptr(rt, tstate, L->tstate_current_frame, &frame);
    } else {
        /* 3.11-3.12: through the thread's current C frame record. */
        uint64_t cframe = 0;
        frame = 0;
        err = pyh_rt_read_ptr(rt, tstate, L->tstate_cframe, &cframe);
        if (!err && cframe) err = pyh_rt_read_ptr(rt, cframe, L->cframe_current_frame, &frame);
    }
    struct pyh_chain_guard guard = pyh_chain_guard_init(MAX_FRAMES);
    while (!err && frame) {
        if (!pyh_chain_step(&guard, frame))
            return pyh_error_create(PYH_ERR_CORRUPT, "frame chain of thread state 0x%llx %s",
                                    (unsigned long long)tstate,
                                    pyh_chain_is_cycle(&guard) ? "has a cycle" : "is too long");
        uint64_t code, instr, previous;
        uint8_t owner;
        if ((err = pyh_rt_read_ptr(rt, frame, L->iframe_code, &code)) ||
            (err = pyh_rt_read_ptr(rt, frame, L->iframe_instr, &instr)) ||
            (err = pyh_rt_read_ptr(rt, frame, L->iframe_previous, &previous)) ||
            (err = pyh_read_u8(rt->target, frame + (uint64_t)L->iframe_owner, &owner)))
            break;
        if (!code) {
            /* Every frame of a chain names its executable (3.13's shims: None; 3.14's entry
             * frames: a static trampoline code): a frame of zeros is memory the target does
             * not have — a core that left the stack out, as gdb 13's gcore does for a thread
             * stack holding a glibc 2.42+ guard page. The frames below it are not seen. */
            pyh_diag_partial(rt->diag, "a frame of thread state 0x%llx at 0x%llx reads as zeros "
                             "(its stack is missing from the core?): the frames below it are "
                             "not seen", (unsigned long long)tstate, (unsigned long long)frame);
            break;
        }
        code = pyh_stackref_object(rt, code);
        /* Shim frames on the C stack (3.12+) and 3.14's entry frames run no Python code; in
         * 3.13 their executable is None rather than a code object. */
        uint64_t type = 0;
        bool is_code = code && !(err = pyh_obj_type(rt, code, &type)) && type == rt->types.code;
        pyh_error_free(err);
        err = NULL;
        uint64_t bytecode = is_code ? bytecode_of(rt, code, frame) : 0;
        if (owner < PYH_FRAME_OWNER_NOT_PYTHON && is_code &&
            !frame_incomplete(rt, code, bytecode, instr, owner)) {
            struct pyh_frame_info info = {.frame = frame, .line = -1};
            if ((err = describe_code(rt, code, &info))) break;
            int64_t offset = (int64_t)(instr - bytecode);
            if ((err = pyh_code_line(rt, code, offset, &info.line))) break;
            if (!visit(ctx, &info)) return NULL;
        }
        frame = previous;
    }
    return err;
}

struct pyh_error *pyh_frames_walk(struct pyh_runtime *rt, uint64_t tstate,
                                  bool (*visit)(void *ctx, const struct pyh_frame_info *frame),
                                  void *ctx)
{
    if (rt->layout.tstate_frame >= 0) return walk_frame_objects(rt, tstate, visit, ctx);
    return walk_interpreter_frames(rt, tstate, visit, ctx);
}

static bool take_first(void *ctx, const struct pyh_frame_info *frame)
{
    struct pyh_pythread *th = ctx;
    th->top = *frame;
    th->has_frame = true;
    return false;
}

/* ---- Names and native ids ------------------------------------------------------------ */

/* threading._active of one interpreter as a map ident -> Thread object; empty when the
 * threading module is not loaded. */
static void read_active_threads(struct pyh_runtime *rt, uint64_t interp, struct pyh_u64map *map)
{
    uint64_t module, active;
    struct pyh_error *err = pyh_module_lookup(rt, interp, "threading", &module);
    if (err && err->code == PYH_ERR_NOT_FOUND) {
        pyh_error_free(err);
        return;
    }
    if (!err) err = pyh_module_global(rt, module, "_active", &active);
    struct pyh_dict_iter it;
    if (!err) err = pyh_dict_iter_init(rt, active, &it);
    if (err) {
        pyh_diag_warn(rt->diag, "cannot read threading._active (thread names): %s",
                      pyh_error_message(err));
        pyh_error_free(err);
        return;
    }
    uint64_t key, value;
    while (pyh_dict_iter_next(&it, &key, &value)) {
        int64_t ident;
        struct pyh_error *e = pyh_long_read(rt, key, &ident);
        if (!e) e = pyh_u64map_put(map, (uint64_t)ident, value);
        pyh_error_free(e);
    }
    if (it.err) {
        pyh_diag_warn(rt->diag, "threading._active is partly unreadable: %s",
                      pyh_error_message(it.err));
        pyh_error_free(it.err);
    }
}

/* The LWP id of a pthread_t: the thread whose fs_base register is that pthread_t (x86-64
 * glibc keeps struct pthread at the TLS block fs points to). Without registers (--no-stop),
 * glibc's struct pthread holds the tid; that offset is used only after it checks out on the
 * main thread (whose tid is the pid). */
static int64_t native_id_from_pthread(struct pyh_runtime *rt, uint64_t pthread, uint64_t main_pthread)
{
    struct pyh_target *t = rt->target;
    for (size_t i = 0; i < t->nthreads; i++)
        if (t->threads[i].has_regs && t->threads[i].fs_base == pthread) return t->threads[i].tid;
    if (!t->pid || !main_pthread) return -1;
    int32_t main_tid, tid;
    struct pyh_error *err = pyh_target_read(t, main_pthread + GLIBC_PTHREAD_TID_OFFSET, &main_tid, 4);
    if (!err && main_tid == t->pid)
        err = pyh_target_read(t, pthread + GLIBC_PTHREAD_TID_OFFSET, &tid, 4);
    else if (!err)
        return -1;
    if (err) {
        pyh_error_free(err);
        return -1;
    }
    return pyh_target_thread(t, tid) ? tid : -1;
}

/* ---- Thread list --------------------------------------------------------------------- */

static struct pyh_error *read_thread(struct pyh_runtime *rt, uint64_t interp, int64_t interp_id,
                                     uint64_t tstate, const struct pyh_u64map *active,
                                     struct pyh_pythread *th)
{
    const struct pyh_layout *L = &rt->layout;
    memset(th, 0, sizeof(*th));
    th->tstate = tstate;
    th->interp = interp;
    th->interp_id = interp_id;
    th->native_id = -1;
    struct pyh_error *err = pyh_rt_read_ptr(rt, tstate, L->tstate_thread_id, &th->thread_id);
    if (err) return err;
    if (L->tstate_native_thread_id >= 0) {
        uint64_t native;
        if (!(err = pyh_rt_read_ptr(rt, tstate, L->tstate_native_thread_id, &native)))
            th->native_id = (int64_t)native;
        pyh_error_free(err);
        err = NULL;
    }
    uint64_t thread_obj, name;
    if (pyh_u64map_get(active, th->thread_id, &thread_obj)) {
        err = pyh_instance_attr(rt, thread_obj, "_name", &name);
        if (!err) err = pyh_str_read(rt, name, th->name, sizeof(th->name), NULL);
        if (err) {
            pyh_diag_warn(rt->diag, "cannot read the name of thread %llu: %s",
                          (unsigned long long)th->thread_id, pyh_error_message(err));
            pyh_error_free(err);
        } else {
            th->has_name = true;
        }
    }
    err = pyh_frames_walk(rt, tstate, take_first, th);
    if (err) {
        pyh_diag_partial(rt->diag, "cannot read the frames of thread %llu: %s",
                         (unsigned long long)th->thread_id, pyh_error_message(err));
        pyh_error_free(err);
    }
    return NULL;
}

struct pyh_error *pyh_threads_read(struct pyh_runtime *rt, struct pyh_pythread **out, size_t *n)
{
    const struct pyh_layout *L = &rt->layout;
    struct pyh_pythread *threads = NULL;
    size_t count = 0, cap = 0;
    struct pyh_error *err = NULL;
    uint64_t main_pthread = 0;
    for (size_t i = 0; i < rt->ninterps && !err; i++) {
        uint64_t interp = rt->interps[i], tstate;
        int64_t interp_id = 0;
        if (L->interp_id >= 0)
            pyh_error_free(pyh_target_read(rt->target, interp + (uint64_t)L->interp_id, &interp_id, 8));
        struct pyh_u64map active = {0};
        read_active_threads(rt, interp, &active);
        err = pyh_rt_read_ptr(rt, interp, L->interp_threads_head, &tstate);
        struct pyh_chain_guard guard = pyh_chain_guard_init(MAX_THREADS);
        while (!err && tstate) {
            if (!pyh_chain_step(&guard, tstate)) {
                pyh_diag_partial(rt->diag, "the thread list of interpreter %lld %s",
                                 (long long)interp_id,
                                 pyh_chain_is_cycle(&guard) ? "has a cycle" : "is too long");
                break;
            }
            struct pyh_pythread th;
            struct pyh_error *e = read_thread(rt, interp, interp_id, tstate, &active, &th);
            if (e) {
                pyh_diag_partial(rt->diag, "cannot read thread state 0x%llx: %s",
                                 (unsigned long long)tstate, pyh_error_message(e));
                pyh_error_free(e);
            } else if ((err = PYH_APPEND(threads, count, cap, &th))) {
                break;
            }
            err = pyh_rt_read_ptr(rt, tstate, L->tstate_next, &tstate);
        }
        pyh_u64map_free(&active);
    }
    if (err) {
        free(threads);
        return err;
    }
    /* The main thread is the one whose pthread's tid is the pid; before 3.11 the thread
     * state has no native id, so it comes from the registers or from struct pthread. */
    for (size_t i = 0; i < count; i++)
        if (threads[i].native_id == rt->target->pid) main_pthread = threads[i].thread_id;
    if (!main_pthread && count) main_pthread = threads[count - 1].thread_id; /* oldest state */
    for (size_t i = 0; i < count; i++)
        if (threads[i].native_id < 0)
            threads[i].native_id = native_id_from_pthread(rt, threads[i].thread_id, main_pthread);
    *out = threads;
    *n = count;
    return NULL;
}
