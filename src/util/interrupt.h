/* Interruption: a flag set from signal handlers (or a host's poll function) that long
 * walks check, so that Ctrl-C or SIGTERM returns promptly and a live target is resumed. */
#ifndef PYH_UTIL_INTERRUPT_H
#define PYH_UTIL_INTERRUPT_H

#include <stdbool.h>

#include "util/error.h"

/* True when an interruption is pending. Cheap: a flag load, a coarse clock read every 256
 * calls, and the host poll function at most every 20 ms. */
bool pyh_interrupted(void);

/* NULL, or a PYH_ERR_INTERRUPTED error when an interruption is pending. */
struct pyh_error *pyh_check_interrupt(void);

#endif
