/* Reading a live process leaves its resident memory as it was: the pages of a mapped file
 * that the process has not faulted in are read from the file (live_unheld.c), and read as
 * the process would read them — the file's bytes, zeros past its end in its last page — while
 * the pages it holds (one it wrote: a private copy of its own) come from the process. In
 * both live modes that read the process: stopped (PYH_LIVE_STOP) and copied
 * (PYH_LIVE_COPY, where the mapping is writable, so that the copy takes it). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
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

#include "target/target.h"

#define PAGE 4096ull
#define PAGES 64           /* the mapping: 64 pages, the file 63 pages and TAIL bytes */
#define TAIL 100
#define FILE_SIZE ((PAGES - 1) * PAGE + TAIL)
/* The child writes this page (a private copy of its own). It reads none: at a read fault
 * the kernel maps the pages around it that are in the page cache too, as many as its folios
 * hold, which leaves no page of a small file unheld. */
#define WRITTEN 3

static char path[64];
static uint8_t *map; /* at the same address in the child */
static pid_t child;
static int to_child = -1;

static uint8_t file_byte(uint64_t off)
{
    return (uint8_t)(off / PAGE * 7 + off % 251 + 1);
}

static void make_file(void)
{
    snprintf(path, sizeof(path), "/tmp/pyheap-unheld-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static uint8_t buf[FILE_SIZE];
    for (uint64_t i = 0; i < FILE_SIZE; i++) buf[i] = file_byte(i);
    assert_int_equal(write(fd, buf, FILE_SIZE), FILE_SIZE);
    map = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    assert_true(map != MAP_FAILED);
    close(fd);
    madvise(map, PAGES * PAGE, MADV_RANDOM); /* no read-ahead mapping of neighbours */
}

static void start_child(void)
{
    make_file();
    int down[2], up[2];
    assert_int_equal(pipe(down), 0);
    assert_int_equal(pipe(up), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        memset(map + WRITTEN * PAGE, 0xab, PAGE);
        char c = 'r';
        if (write(up[1], &c, 1) != 1) _exit(2);
        while (read(down[0], &c, 1) < 0 && errno == EINTR) {}
        _exit(0);
    }
    close(down[0]);
    close(up[1]);
    to_child = down[1];
    char ready;
    assert_int_equal(read(up[0], &ready, 1), 1);
    close(up[0]);
}

static void stop_child(void)
{
    char quit = 'q';
    if (write(to_child, &quit, 1) != 1) kill(child, SIGKILL);
    int status;
    waitpid(child, &status, 0);
    close(to_child);
    munmap(map, PAGES * PAGE);
    unlink(path);
}

/* Whether page i of the mapping is in the child's page tables (present or swapped). */
static bool child_has_page(size_t i)
{
    return pagemap_has_page(child, map + i * PAGE);
}

static void read_unheld(enum pyh_live_mode mode)
{
    start_child();
    bool held[PAGES];
    size_t unheld = 0;
    for (size_t i = 0; i < PAGES; i++) unheld += !(held[i] = child_has_page(i));
    assert_true(held[WRITTEN]);
    assert_true(unheld >= PAGES / 2);
    struct pyh_diag diag = {0};
    struct pyh_target *t = NULL;
    struct pyh_error *err = pyh_target_open_live(child, mode, NULL, 0, &diag, &t);
    if (err && strstr(pyh_error_message(err), "cannot trace")) {
        pyh_error_free(err);
        stop_child();
        skip();
    }
    if (err) fail_msg("%s", pyh_error_message(err));
    /* Every byte as the process has it, in reads of several sizes and alignments. */
    static uint8_t got[PAGES * PAGE];
    uint64_t addr = (uint64_t)(uintptr_t)map;
    size_t sizes[] = {PAGES * PAGE, 3 * PAGE + 17, 8, 1};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
        for (uint64_t off = k ? PAGE - 5 : 0; off + sizes[k] <= PAGES * PAGE;
             off += k ? 5 * PAGE + 3 : PAGES * PAGE) {
            err = pyh_target_read(t, addr + off, got, sizes[k]);
            if (err) fail_msg("0x%llx: %s", (unsigned long long)off, pyh_error_message(err));
            for (size_t i = 0; i < sizes[k]; i++) {
                uint64_t o = off + i;
                uint8_t want = o / PAGE == WRITTEN ? 0xab : o < FILE_SIZE ? file_byte(o) : 0;
                if (got[i] != want)
                    fail_msg("offset 0x%llx: 0x%02x, not 0x%02x", (unsigned long long)o, got[i],
                             want);
            }
        }
    /* The reads faulted nothing in. */
    for (size_t i = 0; i < PAGES; i++)
        if (child_has_page(i) != held[i])
            fail_msg("page %zu of the file was faulted into the process", i);
    pyh_target_close(t);
    pyh_diag_free(&diag);
    stop_child();
}

static void test_stopped(void **state)
{
    (void)state;
    read_unheld(PYH_LIVE_STOP);
}

static void test_copied(void **state)
{
    (void)state;
    read_unheld(PYH_LIVE_COPY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stopped),
        cmocka_unit_test(test_copied),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
