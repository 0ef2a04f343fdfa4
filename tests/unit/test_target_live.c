/* The live target's copy (PYH_LIVE_COPY) of a child process whose mappings change between
 * the prepare (buffers made ready while it runs) and the stop: the copy holds the mappings
 * as they are while it is stopped — a mapping grown, one removed, one shrunk, one new, one
 * split by mprotect, a page written in a sparse mapping — and the bytes they held then, not
 * the bytes written after the process was resumed; pages never written are not copied and
 * stay absent from the child. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pagemap_probe.h"

#include "target/internal.h"
#include "target/target.h"

#define MiB (1ull << 20)
#define PAGE 4096ull

/* The child's mappings, at offsets of a reservation (PROT_NONE) made before the fork:
 *   A  [0, 8 MiB)        rw, every page written; grown to 12 MiB in between
 *   B  [16, 20 MiB)      rw, written; unmapped in between
 *   C  [24, 32 MiB)      rw, written; shrunk to 2 MiB in between
 *   D  [40, 44 MiB)      made rw and written in between
 *   E  [48, 56 MiB)      rw, pages 0, 5 and 100 written; page 7 written in between
 *   F  [60, 64 MiB)      rw, written; its middle MiB made read-only in between */
#define RESERVED (80 * MiB)
#define A 0
#define B (16 * MiB)
#define C (24 * MiB)
#define D (40 * MiB)
#define E (48 * MiB)
#define F (60 * MiB)

static uint8_t *base; /* the reservation, at the same address in the child */
static int to_child = -1, from_child = -1;
static pid_t child;

static uint8_t byte_at(uint64_t addr, int generation)
{
    return (uint8_t)((addr >> 12) * 13 + (uint64_t)generation * 101 + 1);
}

static void fill(uint64_t off, uint64_t len, int generation)
{
    for (uint64_t p = off; p < off + len; p += PAGE)
        memset(base + p, byte_at((uint64_t)(uintptr_t)(base + p), generation), PAGE);
}

static void make_rw(uint64_t off, uint64_t len)
{
    if (mprotect(base + off, len, PROT_READ | PROT_WRITE) != 0) _exit(3);
}

static void child_main(int in, int out)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Small pages: a huge one would make all of E present at its first write. */
    madvise(base, RESERVED, MADV_NOHUGEPAGE);
    bool changed = false;
    make_rw(A, 8 * MiB);
    fill(A, 8 * MiB, 1);
    make_rw(B, 4 * MiB);
    fill(B, 4 * MiB, 1);
    make_rw(C, 8 * MiB);
    fill(C, 8 * MiB, 1);
    make_rw(E, 8 * MiB);
    fill(E, PAGE, 1);
    fill(E + 5 * PAGE, PAGE, 1);
    fill(E + 100 * PAGE, PAGE, 1);
    make_rw(F, 4 * MiB);
    fill(F, 4 * MiB, 1);
    for (;;) {
        char cmd;
        ssize_t n = read(in, &cmd, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n != 1 || cmd == 'q') _exit(0);
        if (cmd == 'm') { /* between the prepare and the stop */
            make_rw(A + 8 * MiB, 4 * MiB);
            fill(A + 8 * MiB, 4 * MiB, 1);
            munmap(base + B, 4 * MiB);
            munmap(base + C + 2 * MiB, 6 * MiB);
            make_rw(D, 4 * MiB);
            fill(D, 4 * MiB, 1);
            fill(E + 7 * PAGE, PAGE, 1);
            mprotect(base + F + MiB, MiB, PROT_READ);
            changed = true;
        } else if (cmd == 'z' && changed) { /* after the copy: none of this may be seen */
            fill(A, 12 * MiB, 2);
            fill(C, 2 * MiB, 2);
            fill(D, 4 * MiB, 2);
            fill(E, PAGE, 2);
            fill(E + 5 * PAGE, 3 * PAGE, 2);
            fill(F, MiB, 2);
            fill(F + 2 * MiB, 2 * MiB, 2);
        } else if (cmd == 'z') {
            fill(A, 8 * MiB, 2);
            fill(B, 4 * MiB, 2);
            fill(C, 8 * MiB, 2);
            fill(E, PAGE, 2);
            fill(E + 5 * PAGE, PAGE, 2);
            fill(F, 4 * MiB, 2);
        }
        if (write(out, &cmd, 1) != 1) _exit(4);
    }
}

static void tell_child(char cmd)
{
    assert_int_equal(write(to_child, &cmd, 1), 1);
    char ack;
    ssize_t n;
    while ((n = read(from_child, &ack, 1)) < 0 && errno == EINTR) {}
    assert_int_equal(n, 1);
    assert_int_equal(ack, cmd);
}

static void start_child(void)
{
    base = mmap(NULL, RESERVED, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(base != MAP_FAILED);
    int down[2], up[2];
    assert_int_equal(pipe(down), 0);
    assert_int_equal(pipe(up), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(down[1]);
        close(up[0]);
        child_main(down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);
    to_child = down[1];
    from_child = up[0];
    char ready = 'r';
    assert_int_equal(write(to_child, &ready, 1), 1); /* an unknown command: an ack when set up */
    char ack;
    assert_int_equal(read(from_child, &ack, 1), 1);
}

static void stop_child(void)
{
    char quit = 'q';
    if (write(to_child, &quit, 1) != 1) kill(child, SIGKILL);
    int status;
    waitpid(child, &status, 0);
    close(to_child);
    close(from_child);
    munmap(base, RESERVED);
}

static void hook(int pid)
{
    assert_int_equal(pid, child);
    tell_child('m');
}

/* Opens the child with a copy; NULL (the test skipped) where ptrace is not allowed. */
static struct pyh_target *open_copy(struct pyh_diag *diag, bool change_in_between)
{
    struct pyh_target *t = NULL;
    pyh_live_test_prepared = change_in_between ? hook : NULL;
    struct pyh_error *err = pyh_target_open_live(child, PYH_LIVE_COPY, NULL, 0, diag, &t);
    pyh_live_test_prepared = NULL;
    if (err && strstr(pyh_error_message(err), "cannot trace")) {
        pyh_error_free(err);
        return NULL;
    }
    if (err) fail_msg("%s", pyh_error_message(err));
    assert_true(t->copied);
    assert_false(t->stopped);
    return t;
}

/* Every page of [off, off + len) reads as generation's bytes (0: zeros; -1: readable). */
static void assert_pages(struct pyh_target *t, uint64_t off, uint64_t len, int generation)
{
    static uint8_t got[PAGE], want[PAGE];
    for (uint64_t p = off; p < off + len; p += PAGE) {
        uint64_t addr = (uint64_t)(uintptr_t)(base + p);
        memset(want, generation > 0 ? byte_at(addr, generation) : 0, PAGE);
        struct pyh_error *err = pyh_target_read(t, addr, got, PAGE);
        if (err) fail_msg("offset 0x%llx: %s", (unsigned long long)p, pyh_error_message(err));
        if (generation >= 0 && memcmp(got, want, PAGE) != 0)
            fail_msg("offset 0x%llx: 0x%02x, not 0x%02x", (unsigned long long)p, got[0], want[0]);
        /* Where the copy holds the page as data, a view of it (pyh_target_view) has the
         * bytes a read gives. */
        const uint8_t *v = pyh_target_view(t, addr, PAGE);
        if (v && memcmp(v, got, PAGE) != 0) fail_msg("offset 0x%llx: the view differs", (unsigned long long)p);
    }
}

/* [off, off + len) is not mapped, or mapped without access (the reservation). */
static void assert_unmapped(struct pyh_target *t, uint64_t off, uint64_t len)
{
    for (uint64_t p = off; p < off + len; p += MiB) {
        const struct pyh_mapping *m = pyh_target_mapping_at(t, (uint64_t)(uintptr_t)(base + p));
        assert_true(m == NULL || m->prot == 0);
    }
    uint8_t byte;
    struct pyh_error *err = pyh_target_read(t, (uint64_t)(uintptr_t)(base + off), &byte, 1);
    assert_non_null(err);
    pyh_error_free(err);
}

/* Whether page off of the child is present or swapped out (its pagemap entry). */
static bool child_has_page(uint64_t off)
{
    return pagemap_has_page(child, base + off);
}

/* Whether the child has a tracer (TracerPid in /proc/PID/status). */
static bool child_traced(void)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)child);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int tracer = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "TracerPid: %d", &tracer) == 1) break;
    fclose(f);
    assert_true(tracer >= 0);
    return tracer != 0;
}

/* The target's mappings inside the reservation are the child's, as /proc lists them now. */
static void assert_maps_are_the_childs(struct pyh_target *t)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)child);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    uint64_t lo = (uint64_t)(uintptr_t)base, hi = lo + RESERVED;
    size_t listed = 0, ours = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long start, end;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s", &start, &end, perms) != 3) continue;
        if (start < lo || end > hi || perms[0] != 'r') continue;
        const struct pyh_mapping *m = pyh_target_mapping_at(t, start);
        assert_non_null(m);
        assert_int_equal(m->start, start);
        assert_int_equal(m->end, end);
        assert_int_equal(!!(m->prot & PYH_PROT_W), perms[1] == 'w');
        listed++;
    }
    fclose(f);
    for (size_t i = 0; i < t->nmaps; i++)
        if (t->maps[i].start >= lo && t->maps[i].end <= hi && (t->maps[i].prot & PYH_PROT_R)) ours++;
    assert_int_equal(ours, listed);
}

/* The residency of [off, off + len) is want bytes (from pagemap: by page), or, without
 * pagemap (pagemap == 2), only known per mapping, from smaps. */
static void assert_residency(struct pyh_target *t, int pagemap, uint64_t off, uint64_t len,
                             uint64_t want)
{
    const struct pyh_residency *r;
    struct pyh_error *err = pyh_target_residency(t, &r);
    if (err) fail_msg("%s", pyh_error_message(err));
    uint64_t addr = (uint64_t)(uintptr_t)(base + off);
    if (pagemap == 2) {
        assert_string_equal(r->source, "smaps");
        assert_false(r->by_page);
        return;
    }
    assert_string_equal(r->source, "pagemap");
    assert_true(r->by_page);
    assert_int_equal(pyh_residency_bytes(r, addr, addr + len), want);
    const struct pyh_mapping *m = pyh_target_mapping_at(t, addr);
    assert_non_null(m);
    assert_int_equal(m->rss, pyh_residency_bytes(r, m->start, m->end));
}

/* pagemap and mem_fd: the switches pyh_live_test_pagemap and pyh_live_test_mem_fd. */
static void changes_between_prepare_and_stop(int pagemap, bool mem_fd)
{
    start_child();
    pyh_live_test_pagemap = pagemap;
    pyh_live_test_mem_fd = mem_fd;
    struct pyh_diag diag = {0};
#if defined(__SANITIZE_ADDRESS__)
    if (pagemap != 0) {
        /* The child of an ASan program has terabytes of shadow mappings: copied whole,
         * they cannot fit; found page by page in pagemap (8 bytes a page, 28 GiB), they would
         * take minutes. The copy is refused before the child is stopped. */
        struct pyh_target *t = NULL;
        pyh_live_test_pagemap = pagemap;
        struct pyh_error *err = pyh_target_open_live(child, PYH_LIVE_COPY, NULL, 0, &diag, &t);
        pyh_live_test_pagemap = 0;
        assert_non_null(err);
        assert_null(t);
        /* The message is what open_stopping (or the pagemap reader) says; kept before the
         * error is freed, so that a failed check leaks nothing. */
        bool said = strstr(pyh_error_message(err), pagemap == 2
                                                       ? "does not fit in the memory available"
                                                       : "would take reading") != NULL;
        if (!said) print_error("unexpected refusal: %s\n", pyh_error_message(err));
        pyh_error_free(err);
        assert_true(said);
        assert_false(child_traced());
        pyh_diag_free(&diag);
        stop_child();
        return;
    }
#endif
    struct pyh_target *t = open_copy(&diag, true);
    pyh_live_test_pagemap = 0;
    pyh_live_test_mem_fd = false;
    if (!t) {
        stop_child();
        skip();
    }
    assert_maps_are_the_childs(t);
    assert_false(child_traced());
    tell_child('z'); /* the process runs again: what it writes now is not in the copy */
    /* Residency from the copy's stop: A grown and written whole, E's four written pages. */
    assert_residency(t, pagemap, A, 12 * MiB, 12 * MiB);
    assert_residency(t, pagemap, E, 8 * MiB, 4 * PAGE);

    assert_pages(t, A, 12 * MiB, 1); /* grown */
    assert_unmapped(t, B, 4 * MiB);  /* removed */
    assert_pages(t, C, 2 * MiB, 1);  /* shrunk */
    assert_unmapped(t, C + 2 * MiB, 6 * MiB);
    assert_pages(t, D, 4 * MiB, 1); /* new */
    assert_pages(t, E, PAGE, 1);    /* sparse: the written pages, zeros elsewhere */
    assert_pages(t, E + PAGE, 4 * PAGE, 0);
    assert_pages(t, E + 5 * PAGE, PAGE, 1);
    assert_pages(t, E + 6 * PAGE, PAGE, 0);
    assert_pages(t, E + 7 * PAGE, PAGE, 1); /* written in between */
    assert_pages(t, E + 8 * PAGE, 92 * PAGE, 0);
    assert_pages(t, E + 100 * PAGE, PAGE, 1);
    assert_pages(t, E + 101 * PAGE, 8 * MiB - 101 * PAGE, 0);
    assert_pages(t, F, 4 * MiB, 1); /* split: the read-only middle is read from the process */
    const struct pyh_mapping *middle = pyh_target_mapping_at(t, (uint64_t)(uintptr_t)(base + F + MiB));
    assert_non_null(middle);
    assert_int_equal(middle->prot & PYH_PROT_W, 0);
    /* The copy did not make the child's never-written pages resident (without pagemap,
     * mappings are copied whole). */
    assert_int_equal(child_has_page(E + 50 * PAGE), pagemap == 2);
    assert_int_equal(child_has_page(E + 8 * MiB - PAGE), pagemap == 2);
    assert_true(child_has_page(E + 7 * PAGE));

    pyh_target_close(t);
    pyh_diag_free(&diag);
    stop_child();
}

static void test_changes_between_prepare_and_stop(void **state)
{
    (void)state;
    changes_between_prepare_and_stop(0, false);
}

/* As before Linux 6.7: /proc/PID/pagemap read, 8 bytes a page. */
static void test_changes_with_pagemap_read(void **state)
{
    (void)state;
    changes_between_prepare_and_stop(1, false);
}

/* Without /proc/PID/pagemap: every writable mapping copied whole. */
static void test_changes_without_pagemap(void **state)
{
    (void)state;
    changes_between_prepare_and_stop(2, false);
}

/* process_vm_readv refused: the copy read through /proc/PID/mem. */
static void test_changes_through_proc_mem(void **state)
{
    (void)state;
    changes_between_prepare_and_stop(0, true);
}

static void test_copy_of_unchanged_mappings(void **state)
{
    (void)state;
    start_child();
    struct pyh_diag diag = {0};
    struct pyh_target *t = open_copy(&diag, false);
    if (!t) {
        stop_child();
        skip();
    }
    assert_maps_are_the_childs(t);
    tell_child('z');
    /* A, written whole and copied, is seen where the copy has it: no read, no copy out. */
    assert_non_null(pyh_target_view(t, (uint64_t)(uintptr_t)(base + A), 8 * MiB));
    assert_pages(t, A, 8 * MiB, 1);
    assert_unmapped(t, A + 8 * MiB, 8 * MiB);
    assert_pages(t, B, 4 * MiB, 1);
    assert_pages(t, C, 8 * MiB, 1);
    assert_unmapped(t, D, 4 * MiB);
    assert_pages(t, E, PAGE, 1);
    assert_pages(t, E + PAGE, 4 * PAGE, 0);
    assert_pages(t, E + 5 * PAGE, PAGE, 1);
    assert_pages(t, E + 6 * PAGE, 94 * PAGE, 0);
    assert_pages(t, E + 100 * PAGE, PAGE, 1);
    assert_pages(t, F, 4 * MiB, 1);
    assert_false(child_has_page(E + 50 * PAGE));
    pyh_target_close(t);
    pyh_diag_free(&diag);
    stop_child();
}

/* A stopped process: its residency is measured in the stop, before any read — reads of
 * pages it never wrote (which map the shared zero page there) change nothing; with the
 * pagemap read of kernels before 6.7 as well. */
static void residency_while_stopped(int pagemap)
{
    start_child();
    struct pyh_diag diag = {0};
    struct pyh_target *t = NULL;
    pyh_live_test_pagemap = pagemap;
    struct pyh_error *err = pyh_target_open_live(child, PYH_LIVE_STOP, NULL, 0, &diag, &t);
    pyh_live_test_pagemap = 0;
    if (err && strstr(pyh_error_message(err), "cannot trace")) {
        pyh_error_free(err);
        stop_child();
        skip();
    }
    if (err) fail_msg("%s", pyh_error_message(err));
    assert_pages(t, E, 8 * MiB, -1); /* every page of E read */
    assert_residency(t, pagemap, A, 8 * MiB, 8 * MiB);
    assert_residency(t, pagemap, E, 8 * MiB, 3 * PAGE);
    assert_residency(t, pagemap, E + 5 * PAGE, PAGE / 2, PAGE / 2);
    assert_residency(t, pagemap, F, 4 * MiB, 4 * MiB);
    pyh_target_close(t);
    /* Again: the reads above left the shared zero page mapped over E's unwritten pages,
     * present in the page tables but not resident memory (not in Rss). */
    pyh_live_test_pagemap = pagemap;
    err = pyh_target_open_live(child, PYH_LIVE_STOP, NULL, 0, &diag, &t);
    pyh_live_test_pagemap = 0;
    if (err) fail_msg("%s", pyh_error_message(err));
    assert_residency(t, pagemap, E, 8 * MiB, 3 * PAGE);
    pyh_target_close(t);
    pyh_diag_free(&diag);
    stop_child();
}

static void test_residency_while_stopped(void **state)
{
    (void)state;
    residency_while_stopped(0);
}

static void test_residency_with_pagemap_read(void **state)
{
    (void)state;
    residency_while_stopped(1);
}

static void test_residency_without_pagemap(void **state)
{
    (void)state;
    residency_while_stopped(2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changes_between_prepare_and_stop),
        cmocka_unit_test(test_changes_with_pagemap_read),
        cmocka_unit_test(test_changes_without_pagemap),
        cmocka_unit_test(test_changes_through_proc_mem),
        cmocka_unit_test(test_copy_of_unchanged_mappings),
        cmocka_unit_test(test_residency_while_stopped),
        cmocka_unit_test(test_residency_with_pagemap_read),
        cmocka_unit_test(test_residency_without_pagemap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
