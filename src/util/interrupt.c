/* Interruption flag; see interrupt.h and pyheap.h. */
#include "util/interrupt.h"

#include <signal.h>
#include <stddef.h>
#include <time.h>

static volatile sig_atomic_t interrupt_flag;
static bool (*interrupt_poll)(void);
static unsigned poll_counter;
static struct timespec last_poll;

void pyh_interrupt(void) { interrupt_flag = 1; }

void pyh_interrupt_clear(void) { interrupt_flag = 0; }

void pyh_interrupt_set_poll(bool (*poll)(void))
{
    interrupt_poll = poll;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &last_poll);
}

/* True when 20 ms have passed since the last host poll. Callers call pyh_interrupted() at
 * very different rates (once per object, once per partition of a sort, once per arena), so a
 * call count alone gives latencies from microseconds to seconds; the clock bounds it. */
static bool poll_due(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    long long ms = (now.tv_sec - last_poll.tv_sec) * 1000LL + (now.tv_nsec - last_poll.tv_nsec) / 1000000;
    if (ms < 20) return false;
    last_poll = now;
    return true;
}

bool pyh_interrupted(void)
{
    if (interrupt_flag) return true;
    /* A host poll (gdb's quit flag) takes the GIL's signal check, and even reading the
     * clock costs: look at the clock every 256 calls, poll the host every 20 ms. */
    if (interrupt_poll && (++poll_counter & 255) == 0 && poll_due() && interrupt_poll()) interrupt_flag = 1;
    return interrupt_flag != 0;
}

struct pyh_error *pyh_check_interrupt(void)
{
    return pyh_interrupted() ? pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted") : NULL;
}
