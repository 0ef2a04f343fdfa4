/* The output sanitiser; see sanitize.h. */
#include "util/sanitize.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..n) and its code point; 0 when s[0] starts
 * none; SIZE_MAX when the sequence may be valid but is cut by n (more bytes may come). */
static size_t utf8_sequence(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if (i >= n) return SIZE_MAX;
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
        /* Reject early what can only end invalid, so that a cut sequence is judged on
         * the bytes it has. */
        if (i == 1 && len == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0)))
            return 0;
        if (i == 1 && len == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90)))
            return 0;
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

size_t pyh_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    if (n == 0) return 0;
    size_t len = utf8_sequence((const unsigned char *)s, n, cp);
    return len == SIZE_MAX ? 0 : len;
}

bool pyh_code_point_escaped(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 ||
           cp == 0x2029;
}

typedef void (*emit_fn)(void *ctx, const char *s, size_t n);

/* Sanitises s[0..n) through emit; returns how many bytes it consumed, which is less than n
 * only when !final and the input ends inside a UTF-8 sequence that may yet be valid. */
enum mode { STREAM, LINE, INVALID_ONLY };

static size_t sanitize(const unsigned char *s, size_t n, enum mode mode, bool final,
                       emit_fn emit, void *ctx)
{
    size_t i = 0, clean = 0; /* s[clean..i) passes unchanged */
    char esc[16];
    while (i < n) {
        unsigned char c = s[i];
        uint32_t cp = 0;
        size_t len;
        if (c >= 0x20 && c < 0x7f) {
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            if (mode == INVALID_ONLY || (mode == STREAM && (c == '\n' || c == '\t'))) {
                i++;
                continue;
            }
            len = 0;
        } else {
            len = utf8_sequence(s + i, n - i, &cp);
            if (len == SIZE_MAX) {
                if (!final) break;
                len = 0;
            }
            if (len && (mode == INVALID_ONLY || !pyh_code_point_escaped(cp))) {
                i += len;
                continue;
            }
        }
        if (i > clean) emit(ctx, (const char *)s + clean, i - clean);
        if (len) {
            snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
            i += len;
        } else {
            snprintf(esc, sizeof(esc), "\\x%02x", c);
            i++;
        }
        emit(ctx, esc, strlen(esc));
        clean = i;
    }
    if (i > clean) emit(ctx, (const char *)s + clean, i - clean);
    return i;
}

static void count_emit(void *ctx, const char *s, size_t n)
{
    (void)s;
    *(size_t *)ctx += n;
}

bool pyh_text_is_clean(const char *s, size_t n, bool line)
{
    size_t out = 0;
    sanitize((const unsigned char *)s, n, line ? LINE : STREAM, true, count_emit, &out);
    return out == n;
}

struct buffer {
    char *data;
    size_t len;
};

static void buffer_emit(void *ctx, const char *s, size_t n)
{
    struct buffer *b = ctx;
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static char *sanitized_copy(const char *s, enum mode mode)
{
    size_t n = strlen(s), need = 0;
    sanitize((const unsigned char *)s, n, mode, true, count_emit, &need);
    struct buffer b = {malloc(need + 1), 0};
    if (!b.data) return NULL;
    sanitize((const unsigned char *)s, n, mode, true, buffer_emit, &b);
    b.data[b.len] = '\0';
    return b.data;
}

char *pyh_sanitize_line(const char *s) { return sanitized_copy(s, LINE); }

char *pyh_escape_invalid_utf8(const char *s) { return sanitized_copy(s, INVALID_ONLY); }

/* ---- The stream ---------------------------------------------------------------------- */

struct sanitizer {
    FILE *out;
    bool close_out;
    unsigned char pending[4]; /* the start of a UTF-8 sequence cut by the last write */
    size_t npending;
};

static void file_emit(void *ctx, const char *s, size_t n) { fwrite(s, 1, n, (FILE *)ctx); }

static ssize_t sanitizer_write(void *cookie, const char *buf, size_t size)
{
    struct sanitizer *z = cookie;
    size_t used = 0;
    /* Complete a pending sequence with the first bytes of this write. */
    while (z->npending && used < size) {
        z->pending[z->npending++] = (unsigned char)buf[used++];
        size_t done = sanitize(z->pending, z->npending, STREAM, false, file_emit, z->out);
        if (done == z->npending) {
            z->npending = 0;
        } else if (done > 0) {
            memmove(z->pending, z->pending + done, z->npending - done);
            z->npending -= done;
        }
        if (z->npending == sizeof(z->pending)) { /* cannot happen: 4 bytes always decide */
            sanitize(z->pending, z->npending, STREAM, true, file_emit, z->out);
            z->npending = 0;
        }
    }
    size_t done = sanitize((const unsigned char *)buf + used, size - used, STREAM, false,
                           file_emit, z->out);
    size_t rest = size - used - done;
    memcpy(z->pending + z->npending, buf + used + done, rest);
    z->npending += rest;
    /* A flush of this stream (watch's log, one line at a time) reaches out's reader. */
    fflush(z->out);
    return (ssize_t)size;
}

static int sanitizer_close(void *cookie)
{
    struct sanitizer *z = cookie;
    if (z->npending) sanitize(z->pending, z->npending, STREAM, true, file_emit, z->out);
    int rc = z->close_out ? fclose(z->out) : fflush(z->out);
    free(z);
    return rc;
}

FILE *pyh_sanitize_stream(FILE *out, bool close_out)
{
    struct sanitizer *z = calloc(1, sizeof(*z));
    if (!z) return NULL;
    z->out = out;
    z->close_out = close_out;
    cookie_io_functions_t io = {.write = sanitizer_write, .close = sanitizer_close};
    FILE *s = fopencookie(z, "w", io);
    if (!s) free(z);
    return s;
}
