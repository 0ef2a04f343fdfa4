/* Folding text to a width; see fold.h. */
#include "util/fold.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct fold {
    FILE *out;
    int width;
    char *line; /* the line being collected */
    size_t len, cap;
};

/* Columns of s[0..n): UTF-8 continuation bytes take none. */
static int columns(const char *s, size_t n)
{
    int c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

/* The byte offset where column col begins in s[0..n) (n when the line is shorter). */
static size_t offset_of_column(const char *s, size_t n, int col)
{
    int c = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            if (c == col) return i;
            c++;
        }
    }
    return n;
}

static void emit(struct fold *f, const char *s, size_t n)
{
    if (columns(s, n) <= f->width) {
        fwrite(s, 1, n, f->out);
        fputc('\n', f->out);
        return;
    }
    size_t indent = 0; /* the line is not NUL-terminated: strspn would run past it */
    while (indent < n && s[indent] == ' ')
        indent++;
    if (indent > (size_t)f->width / 3) indent = 0;
    int hang = (int)indent + 2;
    int room = f->width;
    bool first = true;
    while (n > 0) {
        if (!first) {
            while (n > 0 && *s == ' ')
                s++, n--;
            if (n == 0) break;
            fprintf(f->out, "%*s", hang, "");
        }
        int avail = first ? room : room - hang;
        size_t cut = offset_of_column(s, n, avail);
        if (cut < n) {
            /* The last space within the width, past the indentation; else the word runs on
             * to its end: a path or an expression longer than the line is never cut (it is
             * copied, not read in pieces). */
            size_t space = cut;
            while (space > indent + 1 && s[space] != ' ')
                space--;
            if (space > indent + 1)
                cut = space;
            else
                while (cut < n && s[cut] != ' ') /* the line is not NUL-terminated */
                    cut++;
        }
        fwrite(s, 1, cut, f->out);
        fputc('\n', f->out);
        s += cut;
        n -= cut;
        first = false;
    }
}

static ssize_t fold_write(void *cookie, const char *buf, size_t size)
{
    struct fold *f = cookie;
    for (size_t i = 0; i < size; i++) {
        if (buf[i] == '\n') {
            emit(f, f->line, f->len);
            f->len = 0;
            continue;
        }
        if (f->len == f->cap) {
            size_t cap = f->cap ? f->cap * 2 : 256;
            char *line = realloc(f->line, cap);
            if (!line) return -1;
            f->line = line;
            f->cap = cap;
        }
        f->line[f->len++] = buf[i];
    }
    return (ssize_t)size;
}

static int fold_close(void *cookie)
{
    struct fold *f = cookie;
    if (f->len) {
        /* A last line without a newline: folded, and still without one. */
        size_t n = f->len;
        f->len = 0;
        if (columns(f->line, n) <= f->width)
            fwrite(f->line, 1, n, f->out);
        else
            emit(f, f->line, n);
    }
    int rc = fflush(f->out);
    free(f->line);
    free(f);
    return rc;
}

FILE *pyh_fold_stream(FILE *out, int width)
{
    struct fold *f = calloc(1, sizeof(*f));
    if (!f) return NULL;
    f->out = out;
    f->width = width;
    cookie_io_functions_t io = {.write = fold_write, .close = fold_close};
    FILE *s = fopencookie(f, "w", io);
    if (!s) free(f);
    return s;
}
