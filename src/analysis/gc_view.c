/* The collector's view; see gc_view.h. */
#include "analysis/gc_view.h"

#include <stdio.h>
#include <string.h>

#include "runtime/gc.h"
#include "util/format.h"

void pyh_gc_view_read(struct pyh_runtime *rt, struct pyh_gc_view *out)
{
    memset(out, 0, sizeof(*out));
    const struct pyh_layout *l = &rt->layout;
    if (rt->free_threaded) {
        snprintf(out->why, sizeof(out->why), "a free-threaded build has no generations (its "
                                             "collector walks mimalloc's heaps)");
        return;
    }
    if (!rt->ninterps || l->gc_enabled < 0 || l->gc_generation_threshold < 0 || l->gc_stats < 0) {
        snprintf(out->why, sizeof(out->why), "the collector's state is not known for Python %s",
                 rt->version);
        return;
    }
    uint64_t interp = rt->interps[0], state = pyh_gc_state(rt, interp);
    int32_t enabled = 0, collecting = 0;
    struct pyh_error *err =
        pyh_target_read(rt->target, state + (uint64_t)l->gc_enabled, &enabled, 4);
    if (!err && l->gc_collecting >= 0)
        err = pyh_target_read(rt->target, state + (uint64_t)l->gc_collecting, &collecting, 4);
    struct pyh_gc_counts counts = {0};
    if (!err) err = pyh_gc_counts(rt, interp, &counts);
    for (int g = 0; g < PYH_GC_GENERATIONS && !err; g++) {
        struct pyh_gc_generation *gen = &out->gen[g];
        uint64_t head = pyh_gc_list_head(rt, interp, g);
        /* The incremental collector's gc.get_threshold() is (young's, old[0]'s, 0) whichever
         * space is visited, while gc.get_count() follows the lists (runtime/gc.h). */
        uint64_t at = counts.incremental && g > 0 ? state + (uint64_t)l->gc_generations + 24 : head;
        err = pyh_target_read(rt->target, at + (uint64_t)l->gc_generation_threshold,
                              &gen->threshold, 4);
        if (counts.incremental && g == 2) gen->threshold = 0;
        if (!err)
            err = pyh_target_read(rt->target, head + (uint64_t)l->gc_generation_count, &gen->count,
                                  4);
        int64_t stats[3] = {0, 0, 0};
        /* 3.15's generation_stats points to a ring of samples: not an array of three. */
        if (!err && rt->minor < 15)
            err = pyh_target_read(rt->target, state + (uint64_t)l->gc_stats + 24 * (uint64_t)g,
                                  stats, 24);
        if (!err) {
            gen->collections = stats[0];
            gen->collected = stats[1];
            gen->uncollectable = stats[2];
            gen->objects = counts.generations[g];
        }
    }
    if (err) {
        snprintf(out->why, sizeof(out->why), "the collector's state is unreadable: %s",
                 pyh_error_message(err));
        pyh_error_free(err);
        memset(out->gen, 0, sizeof(out->gen));
        return;
    }
    /* A flag is 0 or 1: anything else is not the state (a wrong offset, corrupt memory). */
    if ((enabled != 0 && enabled != 1) || (collecting != 0 && collecting != 1)) {
        snprintf(out->why, sizeof(out->why), "the collector's state reads as nonsense (enabled=%d)",
                 enabled);
        memset(out->gen, 0, sizeof(out->gen));
        return;
    }
    out->known = true;
    out->stats_known = rt->minor < 15;
    out->incremental = counts.incremental;
    out->enabled = enabled == 1;
    out->collecting = collecting == 1 || counts.collecting;
    out->permanent = counts.permanent;
}

bool pyh_gc_backlog_matters(const struct pyh_gc_view *v, uint64_t objects_bytes)
{
    if (!v->garbage_known) return false;
    uint64_t b = v->garbage.bytes;
    return b >= 64 * 1024 && (b >= 1024 * 1024 || b * 20 >= objects_bytes);
}

void pyh_gc_backlog_line(const struct pyh_gc_view *v, const char *top_type, char *buf, size_t cap)
{
    char a[32], c[32], why[160] = "";
    if (v->known && !v->enabled)
        snprintf(why, sizeof(why), "; the collector is disabled (gc.disable())");
    else if (v->known)
        snprintf(why, sizeof(why),
                 "; generation 0 is at %d of its threshold %d, generation 2 has run %lld times",
                 v->gen[0].count, v->gen[0].threshold, (long long)v->gen[2].collections);
    snprintf(buf, cap,
             "%s of cyclic garbage (%s objects%s%s) is waiting for a collection: a gc.collect() "
             "would free it%s",
             pyh_format_bytes(v->garbage.bytes, a, sizeof(a)),
             pyh_format_count(v->garbage.count, c, sizeof(c)), top_type ? ", most bytes in " : "",
             top_type ? top_type : "", why);
}

void pyh_gc_view_free(struct pyh_gc_view *v)
{
    pyh_garbage_free(&v->garbage);
}
