/* Progress reports; see progress.h and pyheap.h. */
#include "util/progress.h"

#include <stddef.h>
#include <time.h>

static pyh_progress_fn listener;
static void *listener_ctx;
static struct timespec started, last_call;
static const char *current_phase;

void pyh_progress_set_listener(pyh_progress_fn fn, void *ctx)
{
    listener = fn;
    listener_ctx = ctx;
    current_phase = NULL;
}

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

void pyh_progress(const char *phase, enum pyh_progress_unit unit, uint64_t done, uint64_t total)
{
    if (!listener) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    if (phase != current_phase) {
        current_phase = phase;
        started = now;
        last_call = now;
    } else if (seconds_between(&last_call, &now) < 0.1 && done != total) {
        return;
    }
    last_call = now;
    struct pyh_progress p = {phase, unit, done, total, seconds_between(&started, &now)};
    listener(&p, listener_ctx);
}

void pyh_progress_end(void)
{
    if (!listener || !current_phase) return;
    current_phase = NULL;
    listener(NULL, listener_ctx);
}

double pyh_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double pyh_realtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
