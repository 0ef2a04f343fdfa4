/* Diagnostics that are not errors: warnings gathered while opening and analysing a target,
 * and the "partial" mark of results that could not be read completely. One diag belongs to
 * a session; every layer that can degrade gracefully writes to it. */
#ifndef PYH_UTIL_DIAG_H
#define PYH_UTIL_DIAG_H

#include <stdbool.h>
#include <stddef.h>

struct pyh_diag {
    char **warnings; /* owned strings */
    size_t nwarnings, cap;
    bool partial;  /* some result is incomplete because data was missing or corrupt */
    size_t reason; /* when partial: index of the warning that first made it so */
};

/* Adds a warning (printf format); duplicates of an existing warning are dropped so that a
 * repeated condition is reported once. Out of memory drops the warning silently. */
void pyh_diag_warn(struct pyh_diag *diag, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Adds a warning and marks the results partial. */
void pyh_diag_partial(struct pyh_diag *diag, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Frees the warnings. */
void pyh_diag_free(struct pyh_diag *diag);

#endif
