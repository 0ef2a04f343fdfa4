/* Error objects; see error.h. */
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sanitize.h"

static struct pyh_error nomem_error = {PYH_ERR_NOMEM, "out of memory"};

struct pyh_error *pyh_error_nomem(void) { return &nomem_error; }

/* Messages name files and objects of the target: escaped at the source, so that no
 * front end (stderr, gdb, JSON) prints a control sequence or invalid UTF-8 from a core. */
static char *clean_message(char *msg)
{
    if (pyh_text_is_clean(msg, strlen(msg), true)) return msg;
    char *clean = pyh_sanitize_line(msg);
    if (!clean) return msg; /* out of memory: the raw message rather than none */
    free(msg);
    return clean;
}

struct pyh_error *pyh_error_vcreate(enum pyh_error_code code, const char *fmt, va_list ap)
{
    struct pyh_error *err = malloc(sizeof(*err));
    if (!err) return &nomem_error;
    if (vasprintf(&err->message, fmt, ap) < 0) {
        free(err);
        return &nomem_error;
    }
    err->message = clean_message(err->message);
    err->code = code;
    return err;
}

struct pyh_error *pyh_error_create(enum pyh_error_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct pyh_error *err = pyh_error_vcreate(code, fmt, ap);
    va_end(ap);
    return err;
}

struct pyh_error *pyh_error_errno(int errnum, const char *fmt, ...)
{
    char *context = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&context, fmt, ap);
    va_end(ap);
    if (n < 0) return &nomem_error;
    enum pyh_error_code code = errnum == ENOMEM ? PYH_ERR_NOMEM : PYH_ERR_OS;
    struct pyh_error *err = pyh_error_create(code, "%s: %s", context, strerror(errnum));
    free(context);
    return err;
}

/* err's message with text formatted from fmt joined on: before it ("TEXT: message") or
 * after it ("messageTEXT"). Out of memory keeps the original message rather than lose the
 * error. */
static struct pyh_error *join_message(struct pyh_error *err, bool before, const char *fmt,
                                      va_list ap)
{
    if (!err || err == &nomem_error) return err;
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0) return err;
    char *joined = NULL;
    int n = before ? asprintf(&joined, "%s: %s", text, err->message)
                   : asprintf(&joined, "%s%s", err->message, text);
    if (n >= 0) {
        free(err->message);
        err->message = clean_message(joined);
    }
    free(text);
    return err;
}

struct pyh_error *pyh_error_wrap(struct pyh_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err = join_message(err, true, fmt, ap);
    va_end(ap);
    return err;
}

struct pyh_error *pyh_error_append(struct pyh_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err = join_message(err, false, fmt, ap);
    va_end(ap);
    return err;
}

void pyh_error_free(struct pyh_error *err)
{
    if (!err || err == &nomem_error) return;
    free(err->message);
    free(err);
}

const char *pyh_error_message(const struct pyh_error *err) { return err ? err->message : ""; }

enum pyh_error_code pyh_error_code(const struct pyh_error *err)
{
    return err ? err->code : PYH_OK;
}
