/* Reads of a live process that leave its resident memory as it was.
 *
 * Reading a page of a mapped file that the process has not faulted in (process_vm_readv,
 * /proc/PID/mem) faults it in — and the kernel maps up to 16 pages around it — in the
 * process's page tables: its resident memory grows by what py-heap looked at (the first
 * page of every mapped file, whose build-id is read; a library's read-only data), and the
 * next measurement, py-heap's or anyone's, sees a process py-heap changed.
 *
 * Such a page holds the file's bytes: a page of a file mapping that is neither present nor
 * swapped out has not been written by the process (a written private page is an anonymous
 * copy, present or in swap). So those pages are read from the file itself, through
 * /proc/PID/map_files/START-END — the very file mapped, even when it has since been replaced
 * or deleted on disk — and only the pages the process holds are read from it. Which pages it
 * holds is measured with its resident pages, in the same stop, before any read.
 *
 * Without map_files (it needs CAP_SYS_ADMIN) or without pagemap, every read goes to the
 * process, as before. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target/live_internal.h"

#define PAGE 4096ull
#define NO_FD (-1)      /* not opened yet */
#define REFUSED_FD (-2) /* could not be opened: read the process */

/* The map_files descriptor of mapping index i; REFUSED_FD when it cannot be had. */
static int map_fd(struct pyh_target *t, struct pyh_live_state *s, size_t i)
{
    if (s->nmap_fds != t->nmaps) { /* first use, or the mappings were read again */
        pyh_live_close_map_files(s);
        s->map_fds = malloc(t->nmaps * sizeof(*s->map_fds));
        if (!s->map_fds) return REFUSED_FD;
        for (size_t j = 0; j < t->nmaps; j++) s->map_fds[j] = NO_FD;
        s->nmap_fds = t->nmaps;
    }
    if (s->map_fds[i] == NO_FD) {
        char path[96];
        snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", s->pid,
                 (unsigned long long)t->maps[i].start, (unsigned long long)t->maps[i].end);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        s->map_fds[i] = fd >= 0 ? fd : REFUSED_FD;
    }
    return s->map_fds[i];
}

struct pyh_error *pyh_live_measure_file_held(struct pyh_target *t, struct pyh_live_state *s)
{
    pyh_ranges_free(&s->file_held);
    pyh_live_close_map_files(s); /* the mappings were read again: descriptors by index */
    s->file_held_known = false;
    struct pyh_error *err = NULL;
    for (size_t i = 0; i < t->nmaps && !err; i++) {
        const struct pyh_mapping *m = &t->maps[i];
        if (!pyh_live_file_mapping(m)) continue;
        struct pyh_ranges one = {0};
        err = pyh_live_data_pages(s, m->start, m->end, &one);
        if (err && !pyh_error_is(err, PYH_ERR_NOMEM)) {
            /* A mapping pagemap cannot tell of (one too big to read page by page before
             * Linux 6.7): taken as held, read from the process. */
            pyh_error_free(err);
            err = pyh_ranges_add(&s->file_held, m->start, m->end);
        }
        for (size_t j = 0; j < one.n && !err; j++)
            err = pyh_ranges_add(&s->file_held, one.v[j].start, one.v[j].end);
        pyh_ranges_free(&one);
    }
    if (err) {
        pyh_ranges_free(&s->file_held);
        return err;
    }
    /* map_files needs CAP_SYS_ADMIN: without it, nothing is read from files. */
    for (size_t i = 0; i < t->nmaps; i++)
        if (pyh_live_file_mapping(&t->maps[i])) {
            s->file_held_known = true;
            if (map_fd(t, s, i) < 0) s->file_held_known = false;
            break;
        }
    return NULL;
}

/* Whether the page at addr is held by the process; in *until, where that stops being so
 * (the next boundary of s->file_held after addr). */
static bool held_at(const struct pyh_ranges *r, uint64_t addr, uint64_t *until)
{
    size_t lo = 0, hi = r->n; /* the first range that ends after addr */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->v[mid].end <= addr) lo = mid + 1;
        else hi = mid;
    }
    if (lo < r->n && r->v[lo].start <= addr) {
        *until = r->v[lo].end;
        return true;
    }
    *until = lo < r->n ? r->v[lo].start : UINT64_MAX;
    return false;
}

size_t pyh_live_read_unheld(struct pyh_target *t, struct pyh_live_state *s, uint64_t addr,
                            void *buf, size_t len, size_t *from_process)
{
    *from_process = len;
    const struct pyh_mapping *m = pyh_target_mapping_at(t, addr);
    if (!m) return 0;
    uint64_t end = addr + len < m->end ? addr + len : m->end;
    *from_process = (size_t)(end - addr); /* never past the mapping: the next may be a file's */
    if (!s->file_held_known || !pyh_live_file_mapping(m)) return 0;
    uint64_t until;
    bool held = held_at(&s->file_held, addr & ~(PAGE - 1), &until);
    if (until < end) end = until;
    *from_process = (size_t)(end - addr);
    int fd = held ? REFUSED_FD : map_fd(t, s, (size_t)(m - t->maps));
    if (fd < 0) return 0;
    size_t want = (size_t)(end - addr), done = 0;
    off_t at = (off_t)(m->file_offset + (addr - m->start));
    while (done < want) {
        ssize_t n = pread(fd, (char *)buf + done, want - done, at + (off_t)done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        if (n == 0) {
            /* The file ends here: the rest of its last page reads as zeros in the process;
             * pages past it cannot be read at all (the process says so, faulting nothing
             * in). */
            uint64_t pos = (uint64_t)at + done;
            uint64_t zeros = ((pos + PAGE - 1) & ~(PAGE - 1)) - pos;
            if (zeros > want - done) zeros = want - done;
            memset((char *)buf + done, 0, (size_t)zeros);
            done += (size_t)zeros;
            break;
        }
        done += (size_t)n;
    }
    return done;
}

void pyh_live_close_map_files(struct pyh_live_state *s)
{
    for (size_t i = 0; i < s->nmap_fds; i++)
        if (s->map_fds[i] >= 0) close(s->map_fds[i]);
    free(s->map_fds);
    s->map_fds = NULL;
    s->nmap_fds = 0;
}
