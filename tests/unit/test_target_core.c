/* The core target on synthetic cores: reads inside and across segments, bytes the core left
 * out read from the mapped file, truncation, and files that are not cores. */
#include <elf.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "synthetic.h"
#include "target/internal.h"
#include "target/target.h"

static struct pyh_file_search no_search;

static void fill(uint8_t *buf, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(seed + i * 7);
}

static void test_reads_segments_and_notes(void **state)
{
    (void)state;
    static uint8_t a[8192], b[4096];
    fill(a, sizeof(a), 1);
    fill(b, sizeof(b), 2);
    struct syn_segment segs[] = {{0x10000, a, sizeof(a), 0, PF_R | PF_W},
                                 {0x20000, b, sizeof(b), 0, PF_R}};
    struct syn_thread threads[] = {{100, 0x1111, 0x10800, 0x7000}, {101, 0x2222, 0x10900, 0x8000}};
    uint64_t auxv[] = {AT_PHDR, 0x20040, AT_NULL, 0};
    struct syn_core c = {segs, 2, NULL, 0, threads, 2, auxv, 2};
    const char *path = syn_write_core(&c, "basic.core");

    struct pyh_diag diag = {0};
    struct pyh_target *t = NULL;
    struct pyh_error *err = pyh_target_open_core(path, &no_search, &diag, &t);
    assert_null(err);
    assert_int_equal(t->kind, PYH_TARGET_CORE);
    assert_int_equal(t->nthreads, 2);
    assert_int_equal(t->threads[1].tid, 101);
    assert_int_equal(t->threads[1].rsp, 0x10900);
    assert_int_equal(t->threads[0].fs_base, 0x7000);
    assert_int_equal(t->pid, 100);
    assert_int_equal(pyh_target_auxv(t, AT_PHDR), 0x20040);
    assert_int_equal(t->nmaps, 2); /* anonymous: no NT_FILE */
    assert_int_equal(t->maps[0].prot, PYH_PROT_R | PYH_PROT_W);

    uint8_t buf[100];
    assert_null(pyh_target_read(t, 0x10000 + 5000, buf, sizeof(buf)));
    assert_memory_equal(buf, a + 5000, sizeof(buf));
    uint64_t v;
    assert_null(pyh_read_u64(t, 0x20000 + 8, &v));
    assert_memory_equal(&v, b + 8, 8);

    /* Unmapped, and a read that runs off the end of a segment. */
    err = pyh_target_read(t, 0x30000, buf, 8);
    assert_non_null(err);
    assert_int_equal(pyh_error_code(err), PYH_ERR_FAULT);
    assert_non_null(strstr(pyh_error_message(err), "0x30000"));
    pyh_error_free(err);
    err = pyh_target_read(t, 0x20000 + 4090, buf, 16);
    assert_int_equal(pyh_error_code(err), PYH_ERR_FAULT);
    pyh_error_free(err);
    assert_false(diag.partial);
    pyh_target_close(t);
    pyh_diag_free(&diag);
}

static void test_left_out_bytes_come_from_the_file(void **state)
{
    (void)state;
    /* A "library": two pages of text the core leaves out, one page of data it holds. */
    static uint8_t lib[3 * 4096], data[4096];
    fill(lib, sizeof(lib), 3);
    fill(data, sizeof(data), 4);
    const char *lib_path = syn_write_file("libfake.so", lib, sizeof(lib));
    struct syn_segment segs[] = {
        {0x40000, NULL, 8192, 8192, PF_R | PF_X}, /* kernel style: p_filesz 0 */
        {0x42000, data, 4096, 0, PF_R | PF_W},
    };
    struct syn_file files[] = {{0x40000, 0x42000, 0, lib_path}, {0x42000, 0x43000, 8192, lib_path},
                               {0x50000, 0x51000, 0, lib_path}}; /* gdb style: no PT_LOAD */
    struct syn_core c = {segs, 2, files, 3, NULL, 0, NULL, 0};
    const char *path = syn_write_core(&c, "files.core");
    struct pyh_diag diag = {0};
    struct pyh_target *t = NULL;
    assert_null(pyh_target_open_core(path, &no_search, &diag, &t));
    uint8_t buf[64];
    assert_null(pyh_target_read(t, 0x40000 + 100, buf, sizeof(buf)));
    assert_memory_equal(buf, lib + 100, sizeof(buf));
    /* Across the boundary: file bytes then core bytes (which win over the file's). */
    assert_null(pyh_target_read(t, 0x42000 - 32, buf, sizeof(buf)));
    assert_memory_equal(buf, lib + 8192 - 32, 32);
    assert_memory_equal(buf + 32, data, 32);
    assert_null(pyh_target_read(t, 0x50000 + 8, buf, 8));
    assert_memory_equal(buf, lib + 8, 8);
    const struct pyh_mapping *m = pyh_target_mapping_at(t, 0x40010);
    assert_non_null(m);
    assert_string_equal(m->path, lib_path);
    assert_non_null(m->file);
    pyh_target_close(t);
    pyh_diag_free(&diag);
}

static void test_truncated_core_is_partial(void **state)
{
    (void)state;
    static uint8_t a[4 * 4096];
    fill(a, sizeof(a), 5);
    struct syn_segment segs[] = {{0x10000, a, sizeof(a), 0, PF_R | PF_W}};
    struct syn_core c = {segs, 1, NULL, 0, NULL, 0, NULL, 0};
    const char *path = syn_write_core(&c, "cut.core");
    /* Headers + notes page + 2 of the segment's 4 pages. */
    syn_truncate(path, 4096 + 2 * 4096);
    struct pyh_diag diag = {0};
    struct pyh_target *t = NULL;
    assert_null(pyh_target_open_core(path, &no_search, &diag, &t));
    assert_true(diag.partial);
    assert_non_null(strstr(diag.warnings[diag.reason], "truncated"));
    uint8_t buf[16];
    assert_null(pyh_target_read(t, 0x10000 + 4096, buf, sizeof(buf)));
    assert_memory_equal(buf, a + 4096, sizeof(buf));
    struct pyh_error *err = pyh_target_read(t, 0x10000 + 3 * 4096, buf, sizeof(buf));
    assert_int_equal(pyh_error_code(err), PYH_ERR_FAULT);
    assert_non_null(strstr(pyh_error_message(err), "truncated"));
    pyh_error_free(err);
    pyh_target_close(t);
    pyh_diag_free(&diag);
}

/* Views (pyh_target_view): the core's own bytes where they are, inside one segment's data;
 * NULL across segments, past a truncation, and for bytes the core left out (read from the
 * file); still the same bytes after a release. Sparse reads read. */
static void test_views(void **state)
{
    (void)state;
    static uint8_t a[4 * 4096], b[4096], lib[2 * 4096];
    fill(a, sizeof(a), 6);
    fill(b, sizeof(b), 7);
    fill(lib, sizeof(lib), 8);
    const char *lib_path = syn_write_file("libview.so", lib, sizeof(lib));
    struct syn_segment segs[] = {{0x10000, a, sizeof(a), 0, PF_R | PF_W},
                                 {0x14000, b, sizeof(b), 0, PF_R | PF_W},
                                 {0x40000, NULL, 8192, 8192, PF_R | PF_X}};
    struct syn_file files[] = {{0x40000, 0x42000, 0, lib_path}};
    struct syn_core c = {segs, 3, files, 1, NULL, 0, NULL, 0};
    const char *path = syn_write_core(&c, "views.core");
    struct pyh_diag diag = {0};
    struct pyh_target *t = NULL;
    assert_null(pyh_target_open_core(path, &no_search, &diag, &t));

    const uint8_t *v = pyh_target_view(t, 0x10000 + 100, 3 * 4096);
    assert_non_null(v);
    assert_memory_equal(v, a + 100, 3 * 4096);
    assert_non_null(pyh_target_view(t, 0x10000, sizeof(a)));            /* a whole segment */
    assert_null(pyh_target_view(t, 0x10000 + sizeof(a) - 8, 16));        /* into the next */
    assert_null(pyh_target_view(t, 0x30000, 8));                         /* unmapped */
    assert_null(pyh_target_view(t, 0x40000, 8));                         /* left out: the file's */
    assert_null(pyh_target_view(t, UINT64_MAX - 4, 8));                  /* wraps */
    /* Given back, the pages come again with the same bytes. */
    pyh_target_view_release(t, 0x10000, sizeof(a));
    assert_memory_equal(v, a + 100, 3 * 4096);

    /* A sparse read is a read. */
    uint8_t buf[48];
    assert_null(pyh_target_read_sparse(t, 0x10000 + 4096, buf, sizeof(buf)));
    assert_memory_equal(buf, a + 4096, sizeof(buf));
    struct pyh_error *err = pyh_target_read_sparse(t, 0x30000, buf, 8);
    assert_int_equal(pyh_error_code(err), PYH_ERR_FAULT);
    pyh_error_free(err);
    pyh_target_close(t);
    pyh_diag_free(&diag);

    /* Truncated inside the first segment: a view stops where the file does. */
    syn_truncate(path, (size_t)syn_segment_offset(path, 0x10000) + 2 * 4096);
    diag = (struct pyh_diag){0};
    assert_null(pyh_target_open_core(path, &no_search, &diag, &t));
    assert_non_null(pyh_target_view(t, 0x10000, 2 * 4096));
    assert_null(pyh_target_view(t, 0x10000, 2 * 4096 + 1));
    assert_null(pyh_target_view(t, 0x14000, 8));
    pyh_target_close(t);
    pyh_diag_free(&diag);
}

/* What the target knows is wrong with it goes on the errors it may explain: the truncation
 * leads, a build-id mismatch follows as a warning, each once; errors that are not about the
 * target pass unchanged. */
static void test_explain_joins_what_is_wrong(void **state)
{
    (void)state;
    static uint8_t a[4 * 4096];
    struct syn_segment segs[] = {{0x10000, a, sizeof(a), 0, PF_R | PF_W}};
    struct syn_core c = {segs, 1, NULL, 0, NULL, 0, NULL, 0};
    const char *path = syn_write_core(&c, "explain.core");
    syn_truncate(path, 4096 + 2 * 4096);
    struct pyh_diag diag = {0};
    struct pyh_target *t = NULL;
    assert_null(pyh_target_open_core(path, &no_search, &diag, &t));
    assert_non_null(t->truncation);

    char want[1024];
    snprintf(want, sizeof(want),
             "core file %s is truncated: 8192 bytes of 1 segments are missing (the file has "
             "12288 bytes): the runtime does not check out",
             path);
    struct pyh_error *err = pyh_error_create(PYH_ERR_CORRUPT, "the runtime does not check out");
    err = pyh_target_explain(t, err);
    assert_string_equal(pyh_error_message(err), want);
    err = pyh_target_explain(t, err); /* explained once only */
    assert_string_equal(pyh_error_message(err), want);
    assert_int_equal(pyh_error_code(err), PYH_ERR_CORRUPT);
    pyh_error_free(err);

    err = pyh_target_explain(t, pyh_error_create(PYH_ERR_USAGE, "bad option"));
    assert_string_equal(pyh_error_message(err), "bad option");
    pyh_error_free(err);
    err = pyh_target_explain(t, pyh_error_create(PYH_ERR_INTERRUPTED, "interrupted"));
    assert_string_equal(pyh_error_message(err), "interrupted");
    pyh_error_free(err);
    assert_null(pyh_target_explain(t, NULL));

    /* A file of another build (any build-id differs from this one). */
    static const uint8_t recorded[20] = {0xde, 0xad, 0xbe, 0xef};
    assert_non_null(pyh_target_find_file(t, &no_search, "/bin/true", false, recorded,
                                         sizeof(recorded), true));
    assert_int_equal(t->nmismatches, 1);
    err = pyh_target_explain(t, pyh_error_create(PYH_ERR_CORRUPT, "no dict"));
    const char *msg = pyh_error_message(err);
    assert_non_null(strstr(msg, ": no dict (warning: build-id mismatch for /bin/true: the core "
                                "recorded deadbeef00000000000000000000000000000000 but /bin/true has "));
    assert_non_null(strstr(msg, "; results may be wrong (use --sysroot or --lib-path to point at "
                                "the right file))"));
    assert_true(strncmp(msg, "core file ", 10) == 0);
    pyh_error_free(err);
    /* The warning is there too, for a session that opens. */
    bool warned = false;
    for (size_t i = 0; i < diag.nwarnings; i++)
        warned |= strstr(diag.warnings[i], "build-id mismatch for /bin/true") != NULL;
    assert_true(warned);
    pyh_target_close(t);
    pyh_diag_free(&diag);
}

static void expect_open_error(const char *path, enum pyh_error_code code, const char *words)
{
    struct pyh_diag diag = {0};
    struct pyh_target *t = NULL;
    struct pyh_error *err = pyh_target_open_core(path, &no_search, &diag, &t);
    assert_non_null(err);
    assert_null(t);
    assert_int_equal(pyh_error_code(err), code);
    if (!strstr(pyh_error_message(err), words)) fail_msg("message: %s", pyh_error_message(err));
    pyh_error_free(err);
    pyh_diag_free(&diag);
}

static void test_not_a_core(void **state)
{
    (void)state;
    expect_open_error(syn_write_file("text.txt", "hello, world\n......................................"
                                                 "..................",
                                     70),
                      PYH_ERR_FORMAT, "not an ELF file");
    expect_open_error(syn_write_file("tiny", "x", 1), PYH_ERR_FORMAT, "not an ELF file");
    expect_open_error("/bin/true", PYH_ERR_FORMAT, "not a core file");
    expect_open_error("/nonexistent/core", PYH_ERR_OS, "cannot open core file");

    /* A core for another machine. */
    struct syn_core c = {0};
    const char *path = syn_write_core(&c, "arm.core");
    FILE *f = fopen(path, "r+b");
    uint16_t machine = EM_AARCH64;
    fseek(f, offsetof(Elf64_Ehdr, e_machine), SEEK_SET);
    fwrite(&machine, 2, 1, f);
    fclose(f);
    expect_open_error(path, PYH_ERR_UNSUPPORTED, "another machine");

    /* Program headers cut off. */
    static uint8_t a[4096];
    struct syn_segment segs[] = {{0x10000, a, sizeof(a), 0, PF_R}};
    struct syn_core c2 = {segs, 1, NULL, 0, NULL, 0, NULL, 0};
    path = syn_write_core(&c2, "headers.core");
    syn_truncate(path, sizeof(Elf64_Ehdr) + 10);
    expect_open_error(path, PYH_ERR_FORMAT, "program headers");

    /* Cut after some of its program headers: libelf counts only the entries the file
     * holds, then refuses to read any of them; the header's own count tells. */
    struct syn_segment three[] = {{0x10000, a, sizeof(a), 0, PF_R},
                                  {0x20000, a, sizeof(a), 0, PF_R},
                                  {0x30000, a, sizeof(a), 0, PF_R}};
    struct syn_core c3 = {three, 3, NULL, 0, NULL, 0, NULL, 0};
    path = syn_write_core(&c3, "cut-headers.core");
    syn_truncate(path, sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) + 8);
    expect_open_error(path, PYH_ERR_FORMAT,
                      "is truncated or corrupt: its program headers cannot be read");
}

static void test_bad_nt_file(void **state)
{
    (void)state;
    /* NT_FILE claiming more entries than it has bytes for. */
    struct syn_file files[] = {{0x1000, 0x2000, 0, "/x"}};
    struct syn_core c = {NULL, 0, files, 1, NULL, 0, NULL, 0};
    const char *path = syn_write_core(&c, "ntfile.core");
    FILE *f = fopen(path, "r+b");
    /* The NT_FILE descriptor starts after the phdr, the note header (12) and "CORE\0" (8). */
    long desc = (long)(sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 12 + 8);
    uint64_t count = 1ULL << 40;
    fseek(f, desc, SEEK_SET);
    fwrite(&count, 8, 1, f);
    fclose(f);
    expect_open_error(path, PYH_ERR_FORMAT, "NT_FILE");
}

/* Residency from a core: file-backed pages the core holds count whole; anonymous pages
 * count unless all zeros (a core without holes: gcore's); the pages a core leaves out
 * (p_filesz 0, kernel style) do not. A sparse core says it with its holes instead: every page
 * of data counts, zeros too, and a hole does not. */
static void test_residency(void **state)
{
    (void)state;
    enum { P = 4096 };
    static uint8_t anon[6 * P], data[2 * P], lib[4 * P];
    memset(anon, 0, sizeof(anon));
    fill(anon, P, 5);               /* page 0: data */
    anon[3 * P + P - 1] = 1;        /* page 3: one byte */
    fill(anon + 5 * P, P / 2, 6);   /* page 5: half */
    memset(data, 0, sizeof(data));  /* file-backed zeros: the core's word is taken */
    fill(lib, sizeof(lib), 7);
    const char *lib_path = syn_write_file("libres.so", lib, sizeof(lib));
    struct syn_segment segs[] = {
        {0x100000, anon, sizeof(anon), 0, PF_R | PF_W},
        {0x200000, NULL, 2 * P, 2 * P, PF_R | PF_X}, /* left out: p_filesz 0 */
        {0x202000, data, sizeof(data), 0, PF_R | PF_W},
    };
    struct syn_file files[] = {{0x200000, 0x202000, 0, lib_path}, {0x202000, 0x204000, 2 * P, lib_path}};
    struct syn_core c = {segs, 3, files, 2, NULL, 0, NULL, 0};
    const char *path = syn_write_core(&c, "residency.core");
    for (int sparse = 0; sparse < 2; sparse++) {
        struct pyh_diag diag = {0};
        struct pyh_target *t = NULL;
        assert_null(pyh_target_open_core(path, &no_search, &diag, &t));
        const struct pyh_residency *r;
        assert_null(pyh_target_residency(t, &r));
        assert_string_equal(r->source, "core");
        assert_true(r->by_page);
        if (!sparse) {
            assert_int_equal(pyh_residency_bytes(r, 0x100000, 0x100000 + 6 * P), 3 * P);
            assert_int_equal(pyh_residency_bytes(r, 0x100000 + P, 0x100000 + 3 * P), 0);
            assert_int_equal(pyh_residency_bytes(r, 0x100000 + 3 * P + 100, 0x100000 + 4 * P), P - 100);
            assert_int_equal(r->total, 3 * P + 2 * P);
        } else {
            /* Pages 1 and 4 of anon are holes; page 2, zeros written, counts. */
            assert_int_equal(pyh_residency_bytes(r, 0x100000, 0x100000 + 6 * P), 4 * P);
            assert_int_equal(pyh_residency_bytes(r, 0x100000 + 2 * P, 0x100000 + 3 * P), P);
            assert_int_equal(pyh_residency_bytes(r, 0x100000 + 4 * P, 0x100000 + 5 * P), 0);
        }
        assert_int_equal(pyh_residency_bytes(r, 0x200000, 0x202000), 0);
        assert_int_equal(pyh_residency_bytes(r, 0x202000, 0x204000), 2 * P);
        assert_int_equal(pyh_target_mapping_at(t, 0x202000)->rss, 2 * P);
        pyh_target_close(t);
        pyh_diag_free(&diag);
        if (sparse) break;
        /* Punch holes where pages 1 and 4 of anon are in the file. */
        int fd = open(path, O_RDWR);
        assert_true(fd >= 0);
        off_t anon_off = syn_segment_offset(path, 0x100000);
        assert_true(anon_off > 0);
        int punched = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, anon_off + P, P) == 0 &&
                      fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, anon_off + 4 * P, P) == 0;
        close(fd);
        if (!punched) break; /* a file system without holes: nothing more to test */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_segments_and_notes),
        cmocka_unit_test(test_left_out_bytes_come_from_the_file),
        cmocka_unit_test(test_truncated_core_is_partial),
        cmocka_unit_test(test_explain_joins_what_is_wrong),
        cmocka_unit_test(test_not_a_core),
        cmocka_unit_test(test_bad_nt_file),
        cmocka_unit_test(test_residency),
        cmocka_unit_test(test_views),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    syn_cleanup();
    return rc;
}
