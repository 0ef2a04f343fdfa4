/* The `info` analysis; see info.h. */
#include "analysis/info.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/objects.h"

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

    err = pyh_gc_counts(rt, rt->interps[0], &info->gc);
    if (err) {
        if (err->code == PYH_ERR_INTERRUPTED) return err;
        pyh_diag_partial(rt->diag, "cannot count the GC generations: %s", pyh_error_message(err));
        pyh_error_free(err);
    } else {
        info->gc_known = true;
        if (info->gc.collecting)
            pyh_diag_warn(rt->diag, "a garbage collection was running when the target was read: "
                                    "GC counts may be in flux");
    }
    pyh_memory_map(rt->target, rt->images, &info->memory);
    return NULL;
}

void pyh_info_free(struct pyh_info *info)
{
    free(info->threads);
    memset(info, 0, sizeof(*info));
}
