/* What a child process of a unit test holds in its page tables, from its /proc/PID/pagemap:
 * the live target's tests check that reading a process faults nothing into it. */
#ifndef PYH_TEST_PAGEMAP_PROBE_H
#define PYH_TEST_PAGEMAP_PROBE_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

/* Whether the page at addr of process pid is present or swapped out (bits 63 and 62 of its
 * pagemap entry). Fails the test when pagemap cannot be read. */
static inline bool pagemap_has_page(pid_t pid, const void *addr)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    uint64_t entry = 0;
    assert_int_equal(pread(fd, &entry, 8, (off_t)((uintptr_t)addr / 4096 * 8)), 8);
    close(fd);
    return (entry >> 62) != 0;
}

#endif
