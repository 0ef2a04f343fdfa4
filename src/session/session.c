/* Opening and closing sessions: the public entry points of pyheap.h that build the layers
 * bottom-up (target, images, runtime). */
#include "session/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/core_input.h"
#include "util/mem.h"
#include "util/progress.h"

/* Builds images and runtime over an open target; on failure closes everything. */
static struct pyh_error *finish_open(struct pyh_session *s, const struct pyh_target_options *o,
                                     struct pyh_session **out)
{
    struct pyh_error *err = pyh_images_load(s->target, o ? o->debug_dirs : NULL, &s->diag, &s->images);
    if (!err) err = pyh_runtime_open(s->target, s->images, &s->diag, &s->runtime);
    if (err) {
        /* The warnings die with the session: what the target knows is wrong with it (a
         * process that exited, a truncated core, files of another build) goes on the error
         * itself, as the likely cause of a runtime that does not check out. */
        err = pyh_target_explain(s->target, err);
        pyh_session_close(s);
        return err;
    }
    *out = s;
    return NULL;
}

struct pyh_error *pyh_session_open_core(const char *core_path,
                                        const struct pyh_target_options *options,
                                        struct pyh_session **out)
{
    *out = NULL;
    struct pyh_session *s = calloc(1, sizeof(*s));
    if (!s) return pyh_error_nomem();
    struct pyh_file_search search = {0};
    if (options) {
        search.exe = options->exe;
        search.sysroot = options->sysroot;
        search.lib_path = options->lib_path;
    }
    s->core_path = pyh_strdup(core_path);
    struct pyh_error *err = pyh_file_search_check(&search);
    if (err) {
        pyh_session_close(s);
        return err;
    }
    err = pyh_target_open_core(core_path, &search, &s->diag, &s->target);
    if (err) {
        pyh_session_close(s);
        return err;
    }
    return finish_open(s, options, out);
}

/* A process py-heap may not trace: when it belongs to another user (and py-heap is not
 * root), say so and what to do, rather than leave the user to guess at ptrace_scope. */
static struct pyh_error *permission_hint(int pid, struct pyh_error *err)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d", pid);
    uid_t me = geteuid();
    if (!err || me == 0 || stat(path, &st) != 0 || st.st_uid == me) return err;
    /* The ptrace error's guesses (another debugger, ptrace_scope) do not apply. */
    struct pyh_error *hint =
        pyh_error_create(pyh_error_code(err),
                         "cannot read process %d: it belongs to uid %u and py-heap runs as uid "
                         "%u: run py-heap as root (sudo) or as the process's owner",
                         pid, (unsigned)st.st_uid, (unsigned)me);
    pyh_error_free(err);
    return hint;
}

struct pyh_error *pyh_session_open_coredump(const char *match,
                                            const struct pyh_target_options *options,
                                            struct pyh_session **out)
{
    *out = NULL;
    char *path;
    struct pyh_error *err = pyh_coredump_find(match, &path, NULL);
    if (err) return err;
    err = pyh_session_open_core(path, options, out);
    free(path);
    return err;
}

struct pyh_error *pyh_session_open_pid(int pid, const struct pyh_target_options *options,
                                       struct pyh_session **out)
{
    *out = NULL;
    struct pyh_session *s = calloc(1, sizeof(*s));
    if (!s) return pyh_error_nomem();
    /* A copy by default: the process stopped only as long as the copy takes. */
    enum pyh_live_mode mode = !options                 ? PYH_LIVE_COPY_OR_STOP
                              : options->no_stop       ? PYH_LIVE_NO_STOP
                              : options->copy          ? PYH_LIVE_COPY
                              : options->no_copy       ? PYH_LIVE_STOP
                                                       : PYH_LIVE_COPY_OR_STOP;
    double max_pause = options ? options->max_pause : 0;
    struct pyh_error *err = NULL;
    if (options && options->copy && options->no_copy)
        err = pyh_error_create(PYH_ERR_USAGE, "give --copy or --no-copy, not both");
    else if (mode == PYH_LIVE_STOP && max_pause > 0)
        err = pyh_error_create(PYH_ERR_USAGE,
                               "--max-pause bounds the copy's pause: with --no-copy the process "
                               "stays stopped for the whole analysis");
    else if (max_pause < 0 || max_pause != max_pause)
        err = pyh_error_create(PYH_ERR_USAGE, "--max-pause takes a positive number of seconds");
    if (err) {
        free(s);
        return err;
    }
    err = pyh_target_open_live_bounded(pid, mode, max_pause, &s->diag, &s->target);
    if (err) {
        pyh_session_close(s);
        return permission_hint(pid, err);
    }
    if (options && (options->exe || options->sysroot || options->lib_path)) {
        struct pyh_file_search user = {options->sysroot, options->lib_path, options->exe};
        if ((err = pyh_file_search_check(&user))) {
            pyh_session_close(s);
            return err;
        }
        pyh_live_attach_files(s->target, &user);
    }
    return finish_open(s, options, out);
}

struct pyh_error *pyh_session_open_stopped_pid(int pid, const struct pyh_host_thread *threads,
                                               size_t nthreads,
                                               const struct pyh_target_options *options,
                                               struct pyh_session **out)
{
    *out = NULL;
    struct pyh_session *s = calloc(1, sizeof(*s));
    if (!s) return pyh_error_nomem();
    struct pyh_error *err =
        pyh_target_open_live(pid, PYH_LIVE_HOST_STOPPED, threads, nthreads, &s->diag, &s->target);
    if (err) {
        pyh_session_close(s);
        return err;
    }
    /* The files as the CLI's live targets find them (gdb's sysroot, in the gdb module). */
    if (options && (options->exe || options->sysroot || options->lib_path)) {
        struct pyh_file_search user = {options->sysroot, options->lib_path, options->exe};
        if ((err = pyh_file_search_check(&user))) {
            pyh_session_close(s);
            return err;
        }
        pyh_live_attach_files(s->target, &user);
    }
    return finish_open(s, options, out);
}

struct pyh_error *pyh_session_open_host(const struct pyh_host_target *host,
                                        const struct pyh_target_options *options,
                                        struct pyh_session **out)
{
    *out = NULL;
    struct pyh_session *s = calloc(1, sizeof(*s));
    if (!s) return pyh_error_nomem();
    struct pyh_file_search search = {0};
    if (options) {
        search.sysroot = options->sysroot;
        search.lib_path = options->lib_path;
    }
    struct pyh_error *err = pyh_target_open_host_in(host, &search, &s->diag, &s->target);
    if (err) {
        pyh_session_close(s);
        return err;
    }
    return finish_open(s, options, out);
}

/* An allocator that cannot be walked makes the results partial (a warning naming it); only
 * an interruption or lack of memory is returned. */
static struct pyh_error *walk_failed(struct pyh_session *s, struct pyh_error *err, const char *what)
{
    if (!err || err->code == PYH_ERR_INTERRUPTED || err->code == PYH_ERR_NOMEM) return err;
    pyh_diag_partial(&s->diag, "cannot walk %s: %s", what, pyh_error_message(err));
    pyh_error_free(err);
    return NULL;
}

struct pyh_error *pyh_session_allocators(struct pyh_session *s, struct pyh_pymalloc **pm,
                                         struct pyh_glibc **glibc)
{
    if (!s->allocators_done) {
        /* A free-threaded build has no pymalloc (interp->obmalloc is NULL): mimalloc only. */
        struct pyh_error *err =
            s->runtime->free_threaded
                ? NULL
                : walk_failed(s, pyh_pymalloc_open(s->runtime, &s->pymalloc), "pymalloc");
        if (err) return err;
        /* pymalloc's pools are no mmapped chunks: the scan for those need not read them. */
        struct pyh_glibc_options opts = {0};
        if (s->pymalloc) {
            opts.pool_runs = s->pymalloc->pool_runs;
            opts.npool_runs = s->pymalloc->npool_runs;
            opts.pool_size = s->pymalloc->pool_size;
        }
        err = walk_failed(s, pyh_glibc_open(s->target, s->images, &opts, &s->diag, &s->glibc),
                          "glibc's malloc heap");
        if (err) {
            pyh_pymalloc_free(s->pymalloc);
            s->pymalloc = NULL;
            return err;
        }
        /* Without pymalloc the objects live in mimalloc (free-threaded builds,
         * PYTHONMALLOC=mimalloc) or in malloc: look for mimalloc's segments. */
        if (!s->pymalloc)
            err = walk_failed(s, pyh_mimalloc_open(s->target, &s->diag, &s->mimalloc), "mimalloc");
        if (err) {
            pyh_glibc_free(s->glibc);
            s->glibc = NULL;
            return err;
        }
        s->allocators_done = true;
    }
    *pm = s->pymalloc;
    *glibc = s->glibc;
    return NULL;
}

/* A partial warning for failures counted while the heap or the graph was built: how many,
 * and the first (its object's type and address, what failed). fmt takes the count, the
 * type name, the object's address and the message. */
static void warn_failures(struct pyh_session *s, const struct pyh_read_failures *f,
                          const char *fmt)
{
    if (!f->count) return;
    struct pyh_heap *heap = s->heap;
    size_t i = pyh_heap_object_at(heap, f->object);
    const char *type = i != SIZE_MAX ? pyh_heap_type_name(heap, heap->objects[i].type)
                       : f->typed    ? pyh_heap_type_name(heap, f->type)
                                     : "object";
    char message[200];
    if (f->address && !strstr(f->message, "0x"))
        snprintf(message, sizeof(message), "%s (at 0x%llx)", f->message[0] ? f->message : "unreadable",
                 (unsigned long long)f->address);
    else
        snprintf(message, sizeof(message), "%s", f->message[0] ? f->message : "unreadable");
    pyh_diag_partial(&s->diag, fmt, (unsigned long long)f->count, type,
                     (unsigned long long)f->object, message);
}

static struct pyh_error *build_heap(struct pyh_session *s, enum pyh_heap_listing listing)
{
    struct pyh_pymalloc *pm;
    struct pyh_glibc *glibc;
    struct pyh_error *err = pyh_session_allocators(s, &pm, &glibc);
    if (!err) {
        pyh_heap_free(s->heap); /* a census's, which lists too little */
        s->heap = NULL;
        err = pyh_heap_build(s->runtime, pm, s->mimalloc, glibc, listing, &s->heap);
    }
    if (err || s->heap_warned) return err;
    s->heap_warned = true; /* the same heap read again fails the same way */
    warn_failures(s, &s->heap->size_unread,
                  "the sizes of %llu objects could not be read (counted at their basic "
                  "size); the first, the %s at 0x%llx: %s");
    warn_failures(s, &s->heap->buffers_unread,
                  "%llu objects' buffers are in unreadable memory (the blocks they lost, if "
                  "any, count as native allocations); the first, the %s at 0x%llx: %s");
    warn_failures(s, &s->heap->misfits,
                  "%llu blocks hold an object header whose size does not fit the block (not "
                  "counted as objects); the first, the %s at 0x%llx: %s");
    warn_failures(s, &s->heap->size_bounded,
                  "%llu objects claim sizes their allocator blocks cannot hold (counted at "
                  "the blocks' size); the first, the %s at 0x%llx: %s");
    return NULL;
}

struct pyh_error *pyh_session_heap(struct pyh_session *s, struct pyh_heap **heap)
{
    struct pyh_error *err = s->heap && !s->heap->tally ? NULL : build_heap(s, PYH_LIST_ALL);
    *heap = err ? NULL : s->heap;
    return err;
}

struct pyh_error *pyh_session_heap_census(struct pyh_session *s, struct pyh_heap **heap)
{
    struct pyh_error *err = s->heap ? NULL : build_heap(s, PYH_LIST_CENSUS);
    *heap = err ? NULL : s->heap;
    return err;
}

struct pyh_error *pyh_session_graph(struct pyh_session *s, struct pyh_graph **graph,
                                    const struct pyh_reach **reach)
{
    struct pyh_error *err = NULL;
    struct pyh_heap *heap;
    if (!s->graph && !(err = pyh_session_heap(s, &heap)) &&
        !(err = pyh_graph_build(heap, &s->graph)))
        warn_failures(s, &s->graph->refs_unread,
                      "%llu reads failed while following references: what only they lead to "
                      "may be missing from paths or called unreachable, and retained sizes may "
                      "be low; the first, in the %s at 0x%llx: %s");
    /* The shortest-path tree only for who asks (not `referrers`): 4 bytes per node. */
    if (!err && reach && !s->reach_done && !(err = pyh_reach_compute(s->graph, &s->reach)))
        s->reach_done = true;
    if (err) return err;
    *graph = s->graph;
    if (reach) *reach = &s->reach;
    return NULL;
}

struct pyh_error *pyh_session_dominators(struct pyh_session *s, const struct pyh_dominators **d)
{
    struct pyh_graph *g;
    const struct pyh_reach *r;
    struct pyh_error *err = pyh_session_graph(s, &g, &r);
    if (!err && !s->dominators_done && !(err = pyh_dominators_compute(g, r, &s->dominators))) {
        /* Native memory with an owner counts in its owner's retained size. */
        if ((err = pyh_native_owners_compute(g, &s->dominators, &s->native)))
            pyh_dominators_free(&s->dominators);
        else
            s->dominators_done = true;
    }
    if (err) return err;
    *d = &s->dominators;
    return NULL;
}

void pyh_session_close(struct pyh_session *s)
{
    if (!s) return;
    pyh_dominators_free(&s->dominators);
    pyh_native_owners_free(&s->native);
    pyh_reach_free(&s->reach);
    pyh_graph_free(s->graph);
    pyh_heap_free(s->heap);
    pyh_glibc_free(s->glibc);
    pyh_mimalloc_free(s->mimalloc);
    pyh_pymalloc_free(s->pymalloc);
    pyh_runtime_free(s->runtime);
    pyh_images_free(s->images);
    pyh_target_close(s->target); /* resumes a live target */
    pyh_diag_free(&s->diag);
    free(s->core_path);
    free(s);
}

size_t pyh_session_warning_count(const struct pyh_session *s) { return s->diag.nwarnings; }

const char *pyh_session_warning(const struct pyh_session *s, size_t i)
{
    return i < s->diag.nwarnings ? s->diag.warnings[i] : NULL;
}

const char *pyh_session_partial_reason(const struct pyh_session *s)
{
    if (!s->diag.partial) return NULL;
    if (s->diag.reason < s->diag.nwarnings) return s->diag.warnings[s->diag.reason];
    return "some data could not be read";
}

int pyh_error_exit_status(const struct pyh_error *err)
{
    if (!err) return 0;
    switch (pyh_error_code(err)) {
    case PYH_ERR_USAGE:
        return 2;
    case PYH_ERR_INTERRUPTED:
        return 130;
    default:
        return 1;
    }
}

const char *pyh_version(void) { return PYHEAP_VERSION; }

struct pyh_error *pyh_session_type_names(struct pyh_session *s, const char *prefix, char ***names,
                                         size_t *n)
{
    *names = NULL;
    *n = 0;
    struct pyh_heap *heap;
    struct pyh_error *err = pyh_session_heap(s, &heap);
    if (err) return err;
    size_t cap = 0, plen = prefix ? strlen(prefix) : 0;
    for (size_t t = 0; t < heap->ntypes && !err; t++) {
        const char *name = pyh_heap_type_name(heap, (uint32_t)t);
        if (plen && strncmp(name, prefix, plen) != 0) continue;
        bool dup = false;
        for (size_t k = 0; k < *n && !dup; k++) dup = strcmp((*names)[k], name) == 0;
        if (dup) continue;
        char *copy = strdup(name);
        if (!copy || (err = PYH_APPEND(*names, *n, cap, &copy))) {
            free(copy);
            err = err ? err : pyh_error_nomem();
        }
    }
    if (err) {
        pyh_session_free_names(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return err;
}

void pyh_session_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

double pyh_session_pause_seconds(const struct pyh_session *s)
{
    return pyh_target_stopped_seconds(s->target);
}

const char *pyh_session_pause_how(const struct pyh_session *s) { return s->target->pause_how; }

void pyh_session_resume(struct pyh_session *s) { pyh_target_resume(s->target); }
