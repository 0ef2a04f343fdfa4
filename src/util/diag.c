/* Warnings and partial results; see diag.h. */
#include "util/diag.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/sanitize.h"

/* Adds a warning unless it is there already; returns its index, or SIZE_MAX when memory
 * ran out. Warnings are few (tens at most), so a linear duplicate check is fine. */
static size_t add(struct pyh_diag *diag, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) return SIZE_MAX;
    /* Names from the target (file paths, type names) reach stderr, gdb and JSON through
     * here: escaped once, at the source (util/sanitize.h). */
    if (!pyh_text_is_clean(msg, strlen(msg), true)) {
        char *clean = pyh_sanitize_line(msg);
        free(msg);
        if (!clean) return SIZE_MAX;
        msg = clean;
    }
    for (size_t i = 0; i < diag->nwarnings; i++) {
        if (strcmp(diag->warnings[i], msg) == 0) {
            free(msg);
            return i;
        }
    }
    struct pyh_error *err = PYH_APPEND(diag->warnings, diag->nwarnings, diag->cap, &msg);
    if (err) {
        free(msg);
        return SIZE_MAX;
    }
    return diag->nwarnings - 1;
}

void pyh_diag_warn(struct pyh_diag *diag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add(diag, fmt, ap);
    va_end(ap);
}

void pyh_diag_partial(struct pyh_diag *diag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t i = add(diag, fmt, ap);
    va_end(ap);
    if (!diag->partial) diag->reason = i;
    diag->partial = true;
}

void pyh_diag_free(struct pyh_diag *diag)
{
    for (size_t i = 0; i < diag->nwarnings; i++) free(diag->warnings[i]);
    free(diag->warnings);
    memset(diag, 0, sizeof(*diag));
}
