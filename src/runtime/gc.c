/* Counting the GC generation lists; see gc.h. */
#include "runtime/gc.h"

#include "util/chain.h"


uint64_t pyh_gc_state(struct pyh_runtime *rt, uint64_t interp)
{
    if (rt->layout.rt_gc >= 0) return rt->runtime_addr + (uint64_t)rt->layout.rt_gc;
    return interp + (uint64_t)rt->layout.interp_gc;
}

uint64_t pyh_gc_list_head(struct pyh_runtime *rt, uint64_t interp, int g)
{
    uint64_t gc = pyh_gc_state(rt, interp);
    if (g == 3) return gc + (uint64_t)rt->layout.gc_permanent;
    return gc + (uint64_t)rt->layout.gc_generations + 24 * (uint64_t)g; /* gc_generation: 24 B */
}

/* Follows _gc_next from head until it comes back to head. Bit 0 of _gc_next marks
 * unreachable objects during a collection; it is masked. */
static struct pyh_error *count_list(struct pyh_runtime *rt, uint64_t head, const char *name,
                                    uint64_t *count)
{
    struct pyh_chain_guard guard = pyh_chain_guard_init(MAX_GC_OBJECTS);
    uint64_t node;
    *count = 0;
    struct pyh_error *err = pyh_read_u64(rt->target, head, &node);
    while (!err) {
        node &= ~(uint64_t)1;
        if (node == head) return NULL;
        if (!pyh_chain_step(&guard, node))
            return pyh_error_create(PYH_ERR_CORRUPT, "GC list of %s %s after %llu objects", name,
                                    pyh_chain_is_cycle(&guard) ? "loops without returning to its head"
                                                               : "is too long",
                                    (unsigned long long)*count);
        ++*count;
        err = pyh_read_u64(rt->target, node, &node);
    }
    return pyh_error_wrap(err, "walking the GC list of %s after %llu objects", name,
                          (unsigned long long)*count);
}

struct pyh_error *pyh_gc_counts(struct pyh_runtime *rt, uint64_t interp,
                                struct pyh_gc_counts *counts)
{
    static const char *const names[] = {"generation 0", "generation 1", "generation 2",
                                        "the permanent generation"};
    int32_t collecting = 0;
    struct pyh_error *err = pyh_target_read(
        rt->target, pyh_gc_state(rt, interp) + (uint64_t)rt->layout.gc_collecting, &collecting, 4);
    if (err) return pyh_error_wrap(err, "reading the GC state");
    counts->collecting = collecting != 0;
    for (int g = 0; g < 4; g++) {
        uint64_t *out = g < 3 ? &counts->generations[g] : &counts->permanent;
        if ((err = count_list(rt, pyh_gc_list_head(rt, interp, g), names[g], out))) return err;
    }
    return NULL;
}

struct generation_search {
    uint64_t target;
    int *generation;
};

static struct pyh_error *match_head(uint64_t node, int generation, uint64_t *next, bool *stop,
                                    void *ctx)
{
    (void)next;
    struct generation_search *gs = ctx;
    if (node == gs->target) {
        *gs->generation = generation;
        *stop = true;
    }
    return NULL;
}

struct pyh_error *pyh_gc_generation_of(struct pyh_runtime *rt, uint64_t target, int *generation)
{
    *generation = -1;
    struct generation_search gs = {target, generation};
    return pyh_gc_visit(rt, false, match_head, &gs);
}
