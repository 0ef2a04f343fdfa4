/* The host target (gdb's memory through a callback): every byte of a session read through
 * the host once, in blocks and runs of blocks rather than one read per object; never
 * outside the readable mappings; resident memory from the host's smaps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "target/internal.h"
#include "target/target.h"

#define BLOCK PYH_CACHE_BLOCK

/* A process of five mappings, read by a host that logs every read:
 *   [0x10000000, +16 blocks + 4 KiB)  rw-p  "[heap]"  (ends inside a block)
 *   [0x20000000, +4 KiB)              ---p            (a thread stack's guard page)
 *   [0x20001000, +8 blocks - 4 KiB)   rw-p            (the stack, up to a block's end)
 *   [0x30000000, +32 KiB)             r--p            (a library's end, then a hole,
 *   [0x30009000, +92 KiB)             rw-p             then memory: one block, two parts)
 *   [FAR, +4 blocks)                  rw-p            (1 GiB above [heap]) */
#define HEAP 0x10000000ull
#define HEAP_SIZE (16 * BLOCK + 4096)
#define GUARD 0x20000000ull
#define STACK (GUARD + 4096)
#define STACK_SIZE (8 * BLOCK - 4096)
#define FAR (HEAP + (uint64_t)PYH_HOST_CACHE_SLOTS * BLOCK) /* [heap]'s first block's number,
                                                               modulo the cache's slots */
#define FAR_SIZE (4 * BLOCK)
#define LIB 0x30000000ull
#define LIB_SIZE 0x8000
#define ANON 0x30009000ull
#define ANON_SIZE 0x17000

struct fake_host {
    uint8_t *heap, *stack;
    struct { uint64_t addr; size_t len; } reads[256];
    size_t nreads;
};

static uint8_t byte_at(uint64_t addr)
{
    return (uint8_t)(addr * 7 + (addr >> 12));
}

static int fake_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
    struct fake_host *h = ctx;
    if (h->nreads < 256) {
        h->reads[h->nreads].addr = addr;
        h->reads[h->nreads].len = len;
    }
    h->nreads++;
    /* Like gdb through gdbserver (/proc/PID/mem), the guard page reads as well: it is for
     * the target to keep away from it. */
    for (size_t i = 0; i < len; i++) {
        uint64_t a = addr + i;
        bool mapped = (a >= HEAP && a < HEAP + HEAP_SIZE) || (a >= GUARD && a < STACK + STACK_SIZE) ||
                      (a >= LIB && a < LIB + LIB_SIZE) || (a >= ANON && a < ANON + ANON_SIZE) ||
                      (a >= FAR && a < FAR + FAR_SIZE);
        if (!mapped) return -1;
        ((uint8_t *)buf)[i] = byte_at(a);
    }
    return 0;
}

static const char SMAPS[] =
    "10000000-10011000 rw-p 00000000 00:00 0                                  [heap]\n"
    "Size:                 68 kB\n"
    "Rss:                  40 kB\n"
    "20000000-20001000 ---p 00000000 00:00 0 \n"
    "Rss:                   0 kB\n"
    "20001000-20080000 rw-p 00000000 00:00 0 \n"
    "Size:                508 kB\n"
    "Rss:                 12 kB\n";

static struct pyh_target *open_fake(struct fake_host *h, struct pyh_diag *diag, const char *smaps)
{
    struct pyh_host_mapping maps[] = {
        {STACK, STACK + STACK_SIZE, 0, 3, NULL}, /* not sorted: the target sorts them */
        {HEAP, HEAP + HEAP_SIZE, 0, 3, "[heap]"},
        {GUARD, STACK, 0, 0, NULL},
        {LIB, LIB + LIB_SIZE, 0x1000, 1, "/usr/lib/libx.so"},
        {ANON, ANON + ANON_SIZE, 0, 3, NULL},
        {FAR, FAR + FAR_SIZE, 0, 3, NULL},
    };
    struct pyh_host_thread threads[] = {{42, 0x401000, STACK + 0x1000, 0x7000}};
    struct pyh_host_target host = {.ctx = h, .read = fake_read, .mappings = maps, .nmappings = 6,
                                   .threads = threads, .nthreads = 1, .pid = 42,
                                   .description = "process 42 through gdb (remote x)",
                                   .stopped = true, .smaps = smaps};
    struct pyh_target *t = NULL;
    assert_null(pyh_target_open_host(&host, diag, &t));
    return t;
}

static void check_bytes(const uint8_t *buf, uint64_t addr, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != byte_at(addr + i)) fail_msg("byte 0x%llx differs", (unsigned long long)(addr + i));
}

/* A read of many blocks is one host read; reading anything in them again costs none. */
static void test_long_read_is_one_host_read_and_kept(void **state)
{
    (void)state;
    struct fake_host h = {0};
    struct pyh_diag diag = {0};
    struct pyh_target *t = open_fake(&h, &diag, NULL);
    assert_int_equal(t->kind, PYH_TARGET_HOST);
    assert_true(t->stopped);
    assert_int_equal(t->pid, 42);

    size_t len = 10 * BLOCK + 100;
    uint8_t *buf = malloc(HEAP_SIZE);
    assert_null(pyh_target_read(t, HEAP + 300, buf, len));
    check_bytes(buf, HEAP + 300, len);
    assert_int_equal(h.nreads, 1);
    assert_int_equal(h.reads[0].addr, HEAP); /* whole blocks */
    assert_int_equal(h.reads[0].len, 11 * BLOCK);

    /* Again, and small reads inside: from the cache. */
    assert_null(pyh_target_read(t, HEAP + 300, buf, len));
    uint64_t v;
    for (uint64_t a = HEAP; a < HEAP + 11 * BLOCK; a += 4000) assert_null(pyh_read_u64(t, a, &v));
    assert_int_equal(h.nreads, 1);

    /* A read over cached and uncached blocks reads only those it lacks, up to the end of
     * the mapping (the last block holds 4 KiB of it). */
    len = HEAP_SIZE - 5 * BLOCK;
    assert_null(pyh_target_read(t, HEAP + 5 * BLOCK, buf, len));
    check_bytes(buf, HEAP + 5 * BLOCK, len);
    assert_int_equal(h.nreads, 2);
    assert_int_equal(h.reads[1].addr, HEAP + 11 * BLOCK);
    assert_int_equal(h.reads[1].len, 5 * BLOCK + 4096);
    free(buf);
    pyh_target_close(t);
    pyh_diag_free(&diag);
}

/* Small reads (object headers) fill one block per host read, each block once. */
static void test_small_reads_fill_blocks_once(void **state)
{
    (void)state;
    struct fake_host h = {0};
    struct pyh_diag diag = {0};
    struct pyh_target *t = open_fake(&h, &diag, NULL);
    for (int pass = 0; pass < 3; pass++) {
        for (uint64_t a = HEAP; a + 16 <= HEAP + 8 * BLOCK; a += 48) {
            uint8_t head[16];
            assert_null(pyh_target_read(t, a, head, sizeof(head)));
            check_bytes(head, a, sizeof(head));
        }
    }
    assert_int_equal(h.nreads, 8);
    for (size_t i = 0; i < 8; i++) assert_int_equal(h.reads[i].len, BLOCK);
    pyh_target_close(t);
    pyh_diag_free(&diag);
}

/* What the process cannot read (a PROT_NONE guard page, unmapped memory) is not read from
 * the host at all, not even as part of a block, and reading it fails. */
static void test_never_reads_outside_readable_mappings(void **state)
{
    (void)state;
    struct fake_host h = {0};
    struct pyh_diag diag = {0};
    struct pyh_target *t = open_fake(&h, &diag, NULL);
    uint64_t v;
    /* The stack's first word: its block starts at the guard page. */
    assert_null(pyh_read_u64(t, STACK, &v));
    uint8_t want[8];
    for (int i = 0; i < 8; i++) want[i] = byte_at(STACK + (uint64_t)i);
    assert_memory_equal(&v, want, 8);
    /* A long read of the whole stack. */
    uint8_t *buf = malloc(STACK_SIZE);
    assert_null(pyh_target_read(t, STACK, buf, STACK_SIZE));
    check_bytes(buf, STACK, STACK_SIZE);
    free(buf);
    /* The guard page, and a read that crosses into it. */
    struct pyh_error *err = pyh_read_u64(t, GUARD + 8, &v);
    assert_int_equal(pyh_error_code(err), PYH_ERR_FAULT);
    pyh_error_free(err);
    uint8_t two[16];
    err = pyh_target_read(t, STACK - 8, two, sizeof(two));
    assert_int_equal(pyh_error_code(err), PYH_ERR_FAULT);
    pyh_error_free(err);
    /* Past the end of [heap], inside its last block. */
    err = pyh_read_u64(t, HEAP + HEAP_SIZE, &v);
    assert_int_equal(pyh_error_code(err), PYH_ERR_FAULT);
    pyh_error_free(err);
    for (size_t i = 0; i < h.nreads && i < 256; i++) {
        uint64_t a = h.reads[i].addr, end = a + h.reads[i].len;
        bool in_heap = a >= HEAP && end <= HEAP + HEAP_SIZE;
        bool in_stack = a >= STACK && end <= STACK + STACK_SIZE;
        if (!in_heap && !in_stack)
            fail_msg("host read %zu: 0x%llx+%zu is outside the readable mappings", i,
                     (unsigned long long)a, h.reads[i].len);
    }
    pyh_target_close(t);
    pyh_diag_free(&diag);
}

/* Blocks whose numbers are equal modulo the cache's slots, which a direct-mapped cache
 * would hold in one slot, are both kept: passes that go from one to the other (a heap and
 * the arenas 1 GiB above it) read each once. */
static void test_blocks_a_cache_size_apart_are_both_kept(void **state)
{
    (void)state;
    struct fake_host h = {0};
    struct pyh_diag diag = {0};
    struct pyh_target *t = open_fake(&h, &diag, NULL);
    uint8_t *buf = malloc(FAR_SIZE);
    for (int pass = 0; pass < 3; pass++) {
        for (uint64_t off = 0; off < 4 * BLOCK; off += 1024) {
            uint64_t v;
            assert_null(pyh_read_u64(t, HEAP + off, &v));
            check_bytes((const uint8_t *)&v, HEAP + off, 8);
            assert_null(pyh_read_u64(t, FAR + off, &v));
            check_bytes((const uint8_t *)&v, FAR + off, 8);
        }
        assert_null(pyh_target_read(t, FAR, buf, FAR_SIZE));
        check_bytes(buf, FAR, FAR_SIZE);
    }
    assert_int_equal(h.nreads, 8);
    free(buf);
    pyh_target_close(t);
    pyh_diag_free(&diag);
}

/* A block shared by two mappings, with a hole between them: each part is read once,
 * however reads go from one to the other. */
static void test_block_shared_by_two_mappings(void **state)
{
    (void)state;
    struct fake_host h = {0};
    struct pyh_diag diag = {0};
    struct pyh_target *t = open_fake(&h, &diag, NULL);
    for (int i = 0; i < 10; i++) {
        uint64_t a = i % 2 ? LIB + 0x100 * (uint64_t)i : ANON + 0x800 * (uint64_t)i, v;
        assert_null(pyh_read_u64(t, a, &v));
        check_bytes((const uint8_t *)&v, a, 8);
    }
    /* Across the end of the first block (inside the second mapping). */
    uint8_t buf[64];
    assert_null(pyh_target_read(t, LIB + BLOCK - 32, buf, sizeof(buf)));
    check_bytes(buf, LIB + BLOCK - 32, sizeof(buf));
    assert_int_equal(h.nreads, 3);
    assert_int_equal(h.reads[0].addr, ANON);
    assert_int_equal(h.reads[0].len, LIB + BLOCK - ANON);
    assert_int_equal(h.reads[1].addr, LIB);
    assert_int_equal(h.reads[1].len, LIB_SIZE);
    assert_int_equal(h.reads[2].addr, LIB + BLOCK);
    assert_int_equal(h.reads[2].len, ANON + ANON_SIZE - LIB - BLOCK);
    /* The hole stays unreadable. */
    uint64_t v;
    struct pyh_error *err = pyh_read_u64(t, LIB + LIB_SIZE + 8, &v);
    assert_int_equal(pyh_error_code(err), PYH_ERR_FAULT);
    pyh_error_free(err);
    assert_int_equal(h.nreads, 3);
    pyh_target_close(t);
    pyh_diag_free(&diag);
}

/* Resident memory from the smaps text the host gave; none without it. */
static void test_resident_from_host_smaps(void **state)
{
    (void)state;
    struct fake_host h = {0};
    struct pyh_diag diag = {0};
    struct pyh_target *t = open_fake(&h, &diag, SMAPS);
    const struct pyh_residency *r;
    assert_null(pyh_target_residency(t, &r));
    assert_string_equal(r->source, "smaps");
    assert_false(r->by_page);
    assert_int_equal(r->total, (40 + 12) * 1024);
    assert_int_equal(pyh_target_mapping_at(t, HEAP)->rss, 40 * 1024);
    assert_int_equal(pyh_target_mapping_at(t, STACK)->rss, 12 * 1024);
    pyh_target_close(t);

    t = open_fake(&h, &diag, NULL);
    struct pyh_error *err = pyh_target_residency(t, &r);
    assert_int_equal(pyh_error_code(err), PYH_ERR_UNSUPPORTED);
    pyh_error_free(err);
    pyh_target_close(t);
    pyh_diag_free(&diag);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_read_is_one_host_read_and_kept),
        cmocka_unit_test(test_small_reads_fill_blocks_once),
        cmocka_unit_test(test_never_reads_outside_readable_mappings),
        cmocka_unit_test(test_block_shared_by_two_mappings),
        cmocka_unit_test(test_blocks_a_cache_size_apart_are_both_kept),
        cmocka_unit_test(test_resident_from_host_smaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
