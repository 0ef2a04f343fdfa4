/* Progress of long work (reading a core, walking the allocators, building the graph), for
 * a front end to show: the library reports, the front end decides whether and how to show
 * it (the CLI: one line on stderr when it is a terminal; see pyheap.h). */
#ifndef PYH_UTIL_PROGRESS_H
#define PYH_UTIL_PROGRESS_H

#include <stdint.h>

#include "pyheap.h"

/* Reports that phase has done `done` of `total` units (total 0 when unknown). Cheap when no
 * front end listens (one load) and otherwise throttled: the listener is called at most ten
 * times a second, and always for done == total. phase is a string literal. */
void pyh_progress(const char *phase, enum pyh_progress_unit unit, uint64_t done, uint64_t total);

/* CLOCK_MONOTONIC in seconds. */
double pyh_monotonic(void);

/* CLOCK_REALTIME in seconds (the Unix time of snapshots). */
double pyh_realtime(void);

/* Says the current phase is over (the front end clears its line). */
void pyh_progress_end(void);

#endif
