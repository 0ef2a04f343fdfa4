/* A guard for walks over linked structures that the target controls (frame chains, GC
 * lists, thread lists): it stops endless walks with a cap on the number of steps and finds
 * cycles with Brent's algorithm in O(1) memory. */
#ifndef PYH_UTIL_CHAIN_H
#define PYH_UTIL_CHAIN_H

#include <stdbool.h>
#include <stdint.h>

struct pyh_chain_guard {
    uint64_t saved; /* Brent's checkpoint */
    uint64_t power, lam;
    uint64_t steps, cap;
};

/* A guard allowing at most cap steps. */
static inline struct pyh_chain_guard pyh_chain_guard_init(uint64_t cap)
{
    struct pyh_chain_guard g = {UINT64_MAX, 1, 0, 0, cap};
    return g;
}

/* Records one step to node; returns false when the walk must stop: node was seen before
 * (a cycle) or the cap is reached. pyh_chain_is_cycle tells which. */
static inline bool pyh_chain_step(struct pyh_chain_guard *g, uint64_t node)
{
    if (node == g->saved) return false;
    if (++g->steps > g->cap) return false;
    if (++g->lam == g->power) {
        g->saved = node;
        g->power *= 2;
        g->lam = 0;
    }
    return true;
}

/* After pyh_chain_step returned false: true for a cycle, false for the cap. */
static inline bool pyh_chain_is_cycle(const struct pyh_chain_guard *g)
{
    return g->steps <= g->cap;
}

#endif
