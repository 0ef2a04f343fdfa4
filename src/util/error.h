/* Error objects: how every fallible function in libpyheap reports failure.
 *
 * A function that can fail returns `struct pyh_error *`: NULL on success, otherwise an
 * error the caller owns. Callers add context as the error travels up (pyh_error_wrap), and
 * the front end prints it once. The library itself never prints, exits or aborts on target
 * data. */
#ifndef PYH_UTIL_ERROR_H
#define PYH_UTIL_ERROR_H

#include <stdarg.h>
#include <stdbool.h>

#include "pyheap.h"

/* The error object behind the opaque public type. */
struct pyh_error {
    enum pyh_error_code code;
    char *message; /* owned; never NULL */
};

/* A new error with a printf-formatted message. Never returns NULL: when memory runs out, a
 * static out-of-memory error is returned instead (pyh_error_free ignores it). */
struct pyh_error *pyh_error_create(enum pyh_error_code code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Like pyh_error_create, with a va_list. */
struct pyh_error *pyh_error_vcreate(enum pyh_error_code code, const char *fmt, va_list ap);

/* An error from errno: "<formatted context>: strerror(errnum)". */
struct pyh_error *pyh_error_errno(int errnum, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes context to err's message ("context: message") and returns err. NULL stays NULL,
 * so `return pyh_error_wrap(f(), "reading x");` is fine. */
struct pyh_error *pyh_error_wrap(struct pyh_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends to err's message ("message<formatted suffix>": the suffix brings its own
 * separator) and returns err. NULL stays NULL. For a remark that qualifies the error
 * rather than causes it, e.g. " (warning: ...)". */
struct pyh_error *pyh_error_append(struct pyh_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The out-of-memory error; static, freeing it is a no-op. */
struct pyh_error *pyh_error_nomem(void);

/* True when err is not NULL and has the given code. */
static inline bool pyh_error_is(const struct pyh_error *err, enum pyh_error_code code)
{
    return err && err->code == code;
}

#endif
