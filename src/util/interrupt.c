/* Interruption flag; see interrupt.h and pyheap.h. */
#include "util/interrupt.h"

#include <signal.h>
#include <stddef.h>

static volatile sig_atomic_t interrupt_flag;
static bool (*interrupt_poll)(void);
static unsigned poll_counter;

void pyh_interrupt(void) { interrupt_flag = 1; }

void pyh_interrupt_clear(void) { interrupt_flag = 0; }

void pyh_interrupt_set_poll(bool (*poll)(void)) { interrupt_poll = poll; }

bool pyh_interrupted(void)
{
    if (interrupt_flag) return true;
    /* A host poll (gdb's quit flag) may take a lock; calling it on every read would cost. */
    if (interrupt_poll && (++poll_counter & 4095) == 0 && interrupt_poll()) interrupt_flag = 1;
    return interrupt_flag != 0;
}

struct pyh_error *pyh_check_interrupt(void)
{
    return pyh_interrupted() ? pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted") : NULL;
}
