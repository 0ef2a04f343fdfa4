/* The `info` analysis; see info.h. */
#include "analysis/info.h"

#include <stdlib.h>
#include <string.h>

#include "allocators/mimalloc.h"
#include "allocators/pymalloc.h"
#include "runtime/objects.h"

/* Every interpreter: its id, whether it has an allocator of its own, its GC lists (the main
 * one's are info->gc). */
static struct pyh_error *gather_interpreters(struct pyh_runtime *rt, struct pyh_info *info)
{
    info->interps = calloc(rt->ninterps ? rt->ninterps : 1, sizeof(*info->interps));
    if (!info->interps) return pyh_error_nomem();
    info->ninterps = rt->ninterps;
    bool shared_gc = rt->layout.rt_gc >= 0; /* 3.8: one GC state for all */
    for (size_t k = 0; k < rt->ninterps; k++) {
        struct pyh_info_interp *in = &info->interps[k];
        in->address = rt->interps[k];
        in->id = pyh_interp_id(rt, k);
        in->own_allocator = pyh_pymalloc_own_allocator(rt, k);
        if (k == 0 || shared_gc || rt->free_threaded) {
            in->gc = info->gc;
            in->gc_known = info->gc_known;
            continue;
        }
        struct pyh_error *err = pyh_gc_counts(rt, in->address, &in->gc);
        if (err && err->code == PYH_ERR_INTERRUPTED) return err;
        in->gc_known = !err;
        pyh_error_free(err);
    }
    return NULL;
}

struct pyh_error *pyh_info_gather(struct pyh_runtime *rt, struct pyh_info *info)
{
    memset(info, 0, sizeof(*info));
    struct pyh_module *exe = pyh_images_exe(rt->images);
    if (exe) info->binaries[info->nbinaries++] = (struct pyh_info_binary){"executable", exe};
    if (rt->module && rt->module != exe)
        info->binaries[info->nbinaries++] = (struct pyh_info_binary){"libpython", rt->module};

    uint64_t modules;
    struct pyh_error *err = pyh_rt_read_ptr(rt, rt->interps[0], rt->layout.interp_modules, &modules);
    if (!err) err = pyh_dict_len(rt, modules, &info->modules);
    if (err) {
        pyh_diag_partial(rt->diag, "cannot read sys.modules: %s", pyh_error_message(err));
        pyh_error_free(err);
    } else {
        info->modules_known = true;
    }

    if ((err = pyh_threads_read(rt, &info->threads, &info->nthreads))) return err;

    if (rt->free_threaded) {
        /* No GC lists to count (runtime/gc.h); the allocator is mimalloc: which one. */
        struct pyh_mimalloc *m = NULL;
        if ((err = pyh_mimalloc_open(rt->target, rt->diag, &m))) return err;
        if (m) {
            info->mimalloc_version = m->layout->version;
            info->mimalloc_segments = m->nsegments;
        }
        pyh_mimalloc_free(m);
    } else if ((err = pyh_gc_counts(rt, rt->interps[0], &info->gc))) {
        if (err->code == PYH_ERR_INTERRUPTED) return err;
        pyh_diag_partial(rt->diag, "cannot count the GC generations: %s", pyh_error_message(err));
        pyh_error_free(err);
    } else {
        info->gc_known = true;
        if (info->gc.collecting)
            pyh_diag_warn(rt->diag, "a garbage collection was running when the target was read: "
                                    "GC counts may be in flux");
    }
    if ((err = gather_interpreters(rt, info))) return err;
    pyh_memory_map(rt->target, rt->images, &info->memory);
    return NULL;
}

void pyh_info_free(struct pyh_info *info)
{
    free(info->threads);
    free(info->interps);
    memset(info, 0, sizeof(*info));
}
