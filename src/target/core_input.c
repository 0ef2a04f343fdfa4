/* Opening a core as users have it: plain, compressed, or from a pipe; see core_input.h. */
#include "target/core_input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef PYH_HAVE_ZSTD
#include <zstd.h>
#endif
#ifdef PYH_HAVE_ZLIB
#include <zlib.h>
#endif
#ifdef PYH_HAVE_LZMA
#include <lzma.h>
#endif
#ifdef PYH_HAVE_LZ4
#include <lz4frame.h>
#endif

#include "target/internal.h"
#include "util/interrupt.h"
#include "util/progress.h"

#define CHUNK (1 << 20) /* input and output buffers: 1 MiB each */
#define PAGE 4096       /* pages of zeros become holes */

/* ---- The sparse output -------------------------------------------------------------- */

struct source {
    int fd;
    unsigned char *buf; /* CHUNK bytes */
    size_t len, pos;    /* valid bytes in buf, and the next one to use */
    bool eof;
};

/* The temporary file being written: pages of zeros are skipped (holes), the rest written. */
struct sink {
    int fd;
    uint64_t size;            /* bytes of the core so far */
    const char *name;         /* for messages: the input */
    uint64_t in_bytes;        /* compressed bytes read, for progress */
    uint64_t in_total;        /* the input's size, 0 for a stream */
    const struct source *src; /* for the bytes of it decoded so far */
};

static struct pyh_error *open_temporary(const char *name, int *fd)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/var/tmp"; /* on disk, not a tmpfs in memory: cores are big */
    /* O_TMPFILE: never visible by name, gone when closed, even if py-heap is killed. */
    *fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (*fd >= 0) return NULL;
    char path[4096];
    snprintf(path, sizeof(path), "%s/py-heap-core-XXXXXX", dir);
    *fd = mkostemp(path, O_CLOEXEC);
    if (*fd < 0)
        return pyh_error_errno(errno,
                               "cannot create a temporary file in %s to decompress %s "
                               "(set TMPDIR to a directory with room for the core)",
                               dir, name);
    unlink(path);
    return NULL;
}

static bool all_zero(const unsigned char *p, size_t n)
{
    static const unsigned char zeros[PAGE];
    return memcmp(p, zeros, n) == 0;
}

/* The length of the piece of buf at i up to the next page boundary of the core. */
static size_t piece(const struct sink *s, size_t i, size_t n)
{
    size_t to_boundary = PAGE - (size_t)((s->size + i) % PAGE);
    return n - i < to_boundary ? n - i : to_boundary;
}

/* Appends n bytes of the core. Each page of the core (at offsets of the core, whatever the
 * decoder's output sizes) that is all zeros is a hole; a run of other pages one write. */
static struct pyh_error *sink_write(struct sink *s, const unsigned char *buf, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t len = piece(s, i, n);
        if (all_zero(buf + i, len)) {
            i += len;
            continue;
        }
        size_t start = i;
        while (i < n && !all_zero(buf + i, (len = piece(s, i, n))))
            i += len;
        for (size_t off = start; off < i;) {
            ssize_t w = pwrite(s->fd, buf + off, i - off, (off_t)(s->size + off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0)
                return pyh_error_errno(w < 0 ? errno : ENOSPC,
                                       "cannot write the decompressed core of %s (set TMPDIR to "
                                       "a directory with room for it)",
                                       s->name);
            off += (size_t)w;
        }
    }
    s->size += n;
    /* Progress in input bytes decoded (read, less what waits in the buffer). */
    uint64_t done = s->in_bytes - (s->src ? s->src->len - s->src->pos : 0);
    pyh_progress("decompressing the core", PYH_PROGRESS_BYTES, done, s->in_total);
    return pyh_check_interrupt();
}

static struct pyh_error *sink_finish(struct sink *s)
{
    /* The trailing holes: the file's size is the core's. */
    if (ftruncate(s->fd, (off_t)s->size) != 0)
        return pyh_error_errno(errno, "cannot size the decompressed core of %s", s->name);
    pyh_progress_end();
    return NULL;
}

/* ---- The input ---------------------------------------------------------------------- */

/* Refills src->buf (what was not used is moved to its start first). */
static struct pyh_error *source_fill(struct source *src, struct sink *s)
{
    if (src->pos > 0) {
        memmove(src->buf, src->buf + src->pos, src->len - src->pos);
        src->len -= src->pos;
        src->pos = 0;
    }
    while (src->len < CHUNK && !src->eof) {
        ssize_t r = read(src->fd, src->buf + src->len, CHUNK - src->len);
        if (r < 0 && errno == EINTR) {
            struct pyh_error *err = pyh_check_interrupt();
            if (err) return err;
            continue;
        }
        if (r < 0) return pyh_error_errno(errno, "cannot read %s", s->name);
        if (r == 0) src->eof = true;
        src->len += (size_t)r;
        s->in_bytes += (uint64_t)r;
        if (r > 0) break; /* a pipe gives what it has: decode it */
    }
    return NULL;
}

static struct pyh_error *truncated(const char *name, const char *format)
{
    return pyh_error_create(PYH_ERR_FORMAT,
                            "%s is truncated: its %s stream ends before its end mark (a copy "
                            "cut short?)",
                            name, format);
}

static struct pyh_error *copy_plain(struct source *src, struct sink *s)
{
    struct pyh_error *err = NULL;
    for (;;) {
        if (src->pos == src->len && (err = source_fill(src, s))) return err;
        if (src->pos == src->len && src->eof) return NULL;
        size_t n = src->len - src->pos;
        if ((err = sink_write(s, src->buf + src->pos, n))) return err;
        src->pos += n;
    }
}

#ifdef PYH_HAVE_ZSTD
static struct pyh_error *decode_zstd(struct source *src, struct sink *s, unsigned char *out)
{
    ZSTD_DStream *z = ZSTD_createDStream();
    if (!z) return pyh_error_nomem();
    /* systemd and zstd's defaults use windows of at most 8 MiB; --long cores up to 2 GiB
     * are refused by zstd's default limit (128 MiB) with a message. */
    struct pyh_error *err = NULL;
    size_t last = 1; /* 0 once a frame ended and nothing else was begun */
    for (;;) {
        if (src->pos == src->len && (err = source_fill(src, s))) break;
        if (src->pos == src->len && src->eof) {
            if (last != 0) err = truncated(s->name, "zstd");
            break;
        }
        ZSTD_inBuffer in = {src->buf, src->len, src->pos};
        ZSTD_outBuffer o = {out, CHUNK, 0};
        last = ZSTD_decompressStream(z, &o, &in);
        if (ZSTD_isError(last)) {
            err = pyh_error_create(PYH_ERR_FORMAT, "%s: zstd cannot decompress it: %s", s->name,
                                   ZSTD_getErrorName(last));
            break;
        }
        src->pos = in.pos;
        if (o.pos && (err = sink_write(s, out, o.pos))) break;
    }
    ZSTD_freeDStream(z);
    return err;
}
#else
#define decode_zstd NULL /* not built: the format is recognised, and refused */
#endif

#ifdef PYH_HAVE_ZLIB
static struct pyh_error *decode_gzip(struct source *src, struct sink *s, unsigned char *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 32) != Z_OK) return pyh_error_nomem(); /* gzip or zlib header */
    struct pyh_error *err = NULL;
    bool in_member = true;
    for (;;) {
        if (src->pos == src->len && (err = source_fill(src, s))) break;
        if (src->pos == src->len && src->eof) {
            if (in_member) err = truncated(s->name, "gzip");
            break;
        }
        if (!in_member) { /* another gzip member follows (gzip a b > c; cat x.gz y.gz) */
            inflateReset(&z);
            in_member = true;
        }
        z.next_in = src->buf + src->pos;
        z.avail_in = (uInt)(src->len - src->pos);
        z.next_out = out;
        z.avail_out = CHUNK;
        int rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            err = pyh_error_create(PYH_ERR_FORMAT, "%s: gzip cannot decompress it: %s", s->name,
                                   z.msg ? z.msg : "corrupt data");
            break;
        }
        src->pos = src->len - z.avail_in;
        if (CHUNK - z.avail_out && (err = sink_write(s, out, CHUNK - z.avail_out))) break;
        if (rc == Z_STREAM_END) in_member = false;
    }
    inflateEnd(&z);
    return err;
}
#else
#define decode_gzip NULL /* not built: the format is recognised, and refused */
#endif

#ifdef PYH_HAVE_LZMA
static struct pyh_error *decode_xz(struct source *src, struct sink *s, unsigned char *out)
{
    lzma_stream z = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&z, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK) return pyh_error_nomem();
    struct pyh_error *err = NULL;
    for (;;) {
        if (src->pos == src->len && !src->eof && (err = source_fill(src, s))) break;
        z.next_in = src->buf + src->pos;
        z.avail_in = src->len - src->pos;
        z.next_out = out;
        z.avail_out = CHUNK;
        lzma_ret rc = lzma_code(&z, src->pos == src->len && src->eof ? LZMA_FINISH : LZMA_RUN);
        src->pos = src->len - z.avail_in;
        if (CHUNK - z.avail_out && (err = sink_write(s, out, CHUNK - z.avail_out))) break;
        if (rc == LZMA_STREAM_END) break;
        if (rc == LZMA_BUF_ERROR && src->eof && src->pos == src->len) {
            err = truncated(s->name, "xz");
            break;
        }
        if (rc != LZMA_OK) {
            err = pyh_error_create(PYH_ERR_FORMAT, "%s: xz cannot decompress it (liblzma error %d)",
                                   s->name, (int)rc);
            break;
        }
    }
    lzma_end(&z);
    return err;
}
#else
#define decode_xz NULL /* not built: the format is recognised, and refused */
#endif

#ifdef PYH_HAVE_LZ4
static struct pyh_error *decode_lz4(struct source *src, struct sink *s, unsigned char *out)
{
    LZ4F_dctx *z;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&z, LZ4F_VERSION))) return pyh_error_nomem();
    struct pyh_error *err = NULL;
    size_t hint = 1; /* 0 once a frame is complete */
    for (;;) {
        if (src->pos == src->len && (err = source_fill(src, s))) break;
        if (src->pos == src->len && src->eof) {
            if (hint != 0) err = truncated(s->name, "lz4");
            break;
        }
        size_t in_len = src->len - src->pos, out_len = CHUNK;
        hint = LZ4F_decompress(z, out, &out_len, src->buf + src->pos, &in_len, NULL);
        if (LZ4F_isError(hint)) {
            err = pyh_error_create(PYH_ERR_FORMAT, "%s: lz4 cannot decompress it: %s", s->name,
                                   LZ4F_getErrorName(hint));
            break;
        }
        src->pos += in_len;
        if (out_len && (err = sink_write(s, out, out_len))) break;
    }
    LZ4F_freeDecompressionContext(z);
    return err;
}
#else
#define decode_lz4 NULL /* not built: the format is recognised, and refused */
#endif

/* ---- Recognising and opening -------------------------------------------------------- */

typedef struct pyh_error *(*decoder)(struct source *src, struct sink *s, unsigned char *out);

/* Each compression format and its decoder (NULL when this build lacks its library). */
static const struct {
    const char *name;
    unsigned char magic[6];
    size_t len;
    const char *package; /* what to build py-heap with */
    decoder decode;
} formats[] = {
    {"zstd", {0x28, 0xb5, 0x2f, 0xfd}, 4, "libzstd-dev", decode_zstd},
    {"gzip", {0x1f, 0x8b}, 2, "zlib1g-dev", decode_gzip},
    {"xz", {0xfd, '7', 'z', 'X', 'Z', 0}, 6, "liblzma-dev", decode_xz},
    {"lz4", {0x04, 0x22, 0x4d, 0x18}, 4, "liblz4-dev", decode_lz4},
};
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

/* Decodes (or copies) src into a new temporary file. */
static struct pyh_error *to_temporary(struct source *src, const char *name, decoder decode,
                                      uint64_t in_total, struct pyh_core_input *out)
{
    struct sink s = {
        .fd = -1, .name = name, .in_bytes = src->len, .in_total = in_total, .src = src};
    struct pyh_error *err = open_temporary(name, &s.fd);
    if (err) return err;
    unsigned char *buf = decode ? malloc(CHUNK) : NULL;
    if (!decode)
        err = copy_plain(src, &s);
    else if (!buf)
        err = pyh_error_nomem();
    else
        err = decode(src, &s, buf);
    free(buf);
    if (!err) err = sink_finish(&s);
    if (err) {
        pyh_progress_end();
        close(s.fd);
        return err;
    }
    out->fd = s.fd;
    out->temporary = true;
    out->in_bytes = s.in_bytes;
    out->out_bytes = s.size;
    return NULL;
}

struct pyh_error *pyh_core_input_open(const char *path, struct pyh_core_input *out)
{
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    bool is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "the core on standard input" : path;
    /* O_NONBLOCK: opening a FIFO without a writer must not hang (it then reads as empty);
     * O_NOCTTY: a terminal named as the core is refused, never made ours (as in files.c). */
    int fd = is_stdin ? dup(0) : open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return pyh_error_errno(errno, "cannot open core file %s", name);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return pyh_error_errno(e, "cannot stat core file %s", name);
    }
    bool stream = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || (is_stdin && S_ISCHR(st.st_mode));
    if (is_stdin && S_ISCHR(st.st_mode) && isatty(fd)) {
        close(fd);
        return pyh_error_create(PYH_ERR_USAGE,
                                "core '-' is standard input, which is a terminal: pipe a core "
                                "into py-heap (coredumpctl dump PID | py-heap VERB -)");
    }
    if (!S_ISREG(st.st_mode) && !stream) {
        close(fd);
        return pyh_error_create(PYH_ERR_FORMAT, "%s is not a regular file%s", name,
                                pyh_file_kind(st.st_mode));
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    out->stream = stream;

    struct source src = {.fd = fd, .buf = malloc(CHUNK)};
    if (!src.buf) {
        close(fd);
        return pyh_error_nomem();
    }
    struct pyh_error *err = NULL;
    /* The first bytes tell the format: 6 are enough for every magic. */
    while (!err && src.len < 6 && !src.eof)
        err = source_fill(&src, &(struct sink){.name = name});
    const char *format = "elf";
    size_t which = NFORMATS;
    for (size_t i = 0; !err && i < NFORMATS; i++)
        if (src.len >= formats[i].len && memcmp(src.buf, formats[i].magic, formats[i].len) == 0) {
            format = formats[i].name;
            which = i;
        }
    out->format = format;
    if (!err && src.len == 0)
        err = pyh_error_create(PYH_ERR_FORMAT, "%s is empty (0 bytes)%s", name,
                               stream ? ": nothing came through the pipe" : "");
    else if (!err && which < NFORMATS && !formats[which].decode)
        err = pyh_error_create(PYH_ERR_UNSUPPORTED,
                               "%s is %s-compressed, but this py-heap was built without %s: "
                               "decompress it first, or rebuild py-heap with %s",
                               name, format, format, formats[which].package);
    decoder decode = which < NFORMATS ? formats[which].decode : NULL;
    if (!err && !stream && !decode) {
        /* A plain core: read in place, as always. */
        free(src.buf);
        out->fd = fd;
        out->out_bytes = (uint64_t)st.st_size;
        return NULL;
    }
    if (!err) err = to_temporary(&src, name, decode, stream ? 0 : (uint64_t)st.st_size, out);
    free(src.buf);
    close(fd);
    return err;
}
