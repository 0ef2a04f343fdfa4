/* The verb table and what is made from it (help, parsing of command lines, documents), the
 * folding stream, and compressed cores streamed into sparse files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#ifdef PYH_TEST_ZLIB
#include <zlib.h>
#endif

#include "command/command.h"
#include "target/core_input.h"
#include "util/fold.h"

/* Every verb and option is complete, and no name is taken twice within a verb. */
static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; pyh_verb_at(i); i++) {
        const struct pyh_verb_info *v = pyh_verb_at(i);
        assert_non_null(v->summary);
        assert_true(strlen(v->summary) <= 61); /* `py-heap --help` lists them in 80 columns */
        assert_non_null(v->help);
        assert_true(v->frontends & PYH_FRONTEND_CLI);
        for (size_t k = 0; k < v->noptions; k++) {
            const struct pyh_option *o = &v->options[k];
            assert_non_null(o->help);
            if (o->kind != PYH_VALUE_NONE) assert_non_null(o->metavar);
            if (o->kind == PYH_VALUE_CHOICE) assert_non_null(o->choices);
            if (o->def) assert_null(pyh_option_check(v->name, o, o->def)); /* defaults check out */
            for (size_t j = 0; j < k; j++) {
                assert_string_not_equal(o->name, v->options[j].name);
                if (o->short_name) assert_int_not_equal(o->short_name, v->options[j].short_name);
            }
        }
    }
}

/* Help texts fit 80 columns, in both front ends. */
static void test_help_width(void **state)
{
    (void)state;
    for (size_t i = 0; pyh_verb_at(i); i++) {
        for (int fe = PYH_FRONTEND_CLI; fe <= PYH_FRONTEND_GDB; fe++) {
            const char *text = pyh_command_help(pyh_verb_at(i)->name, (enum pyh_frontend)fe);
            assert_non_null(text);
            for (const char *line = text; *line;) {
                size_t n = strcspn(line, "\n");
                if (n > 79)
                    fail_msg("%s help: a line of %zu columns: %.*s", pyh_verb_at(i)->name, n,
                             (int)n, line);
                line += n + (line[n] == '\n');
            }
        }
    }
}

/* The words of parsed lines: cl points into them until the test ends. */
static char *kept[64];
static size_t nkept;

static struct pyh_error *parse(struct pyh_command_line *cl, const char *line)
{
    char *copy = strdup(line), *words[32];
    int n = 0;
    for (char *w = strtok(copy, " "); w && n < 32; w = strtok(NULL, " "))
        words[n++] = w;
    struct pyh_error *err = pyh_command_line_parse(n, words, cl);
    if (nkept < 64)
        kept[nkept++] = copy;
    else
        free(copy);
    return err;
}

static void expect_error(const char *line, const char *fragment)
{
    struct pyh_command_line cl;
    struct pyh_error *err = parse(&cl, line);
    if (!err) fail_msg("'%s' parsed", line);
    if (!strstr(pyh_error_message(err), fragment))
        fail_msg("'%s': %s (wanted '%s')", line, pyh_error_message(err), fragment);
    assert_int_equal(pyh_error_code(err), PYH_ERR_USAGE);
    pyh_error_free(err);
    pyh_command_line_free(&cl);
}

static void test_command_line(void **state)
{
    (void)state;
    struct pyh_command_line cl;
    /* Target and verb options in any order; -p, the verb's -o. */
    assert_null(parse(&cl, "snapshot -o out.json /bin/true --no-retainers --debug-dir="));
    assert_string_equal(cl.core, "/bin/true");
    assert_string_equal(cl.target.debug_dirs, "");
    assert_int_equal(cl.argc, 4);
    assert_string_equal(cl.argv[1], "-o");
    pyh_command_line_free(&cl);
    assert_null(parse(&cl, "show -p 42 0x7f00 --json -q"));
    assert_int_equal(cl.pid, 42);
    assert_true(cl.json && cl.quiet);
    assert_null(cl.core);
    pyh_command_line_free(&cl);
    assert_null(parse(&cl, "show 0x7f00 /bin/true"));
    assert_string_equal(cl.core, "/bin/true");
    pyh_command_line_free(&cl);
    assert_null(parse(&cl, "types --coredump myservice --limit=3"));
    assert_string_equal(cl.coredump, "myservice");
    pyh_command_line_free(&cl);
    assert_null(parse(&cl, "watch -p 7 --rss-limit 2G --out /tmp"));
    assert_int_equal(cl.pid, 0); /* watch's own -p */
    pyh_command_line_free(&cl);
    assert_null(parse(&cl, "types --help"));
    assert_true(cl.help);
    pyh_command_line_free(&cl);
    /* Habits: did you mean, a PID for a core, values checked against the table. */
    expect_error("tpyes /bin/true", "did you mean types?");
    expect_error("types --limt 3 /bin/true", "did you mean --limit?");
    expect_error("types --pdi 3", "did you mean --pid?");
    expect_error("types 99999999", "use -p 99999999");
    expect_error("types --sort name /bin/true", "size|count");
    expect_error("types --limit -1 /bin/true", "from 0 to");
    expect_error("types", "no target");
    expect_error("types /bin/true -p 3", "not both");
    expect_error("diff a b --pid 3", "pid:N");
    expect_error("watch -p 7 --rss-limit lots --out /tmp", "size such as");
}

static void test_documents(void **state)
{
    (void)state;
    static const char *const kinds[] = {"man", "bash", "zsh", "fish", "targets"};
    for (size_t i = 0; i < 5; i++) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        assert_null(pyh_command_write_document(kinds[i], f));
        fclose(f);
        /* Every verb and every option of types is in each. */
        if (strcmp(kinds[i], "targets") != 0)
            for (size_t v = 0; pyh_verb_at(v); v++)
                assert_non_null(strstr(buf, pyh_verb_at(v)->name));
        assert_non_null(strstr(buf, strcmp(kinds[i], "man") ? "coredump" : "coredump"));
        free(buf);
    }
    struct pyh_error *err = pyh_command_write_document("html", stdout);
    assert_non_null(err);
    pyh_error_free(err);
}

static void test_fold(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    FILE *f = pyh_fold_stream(out, 20);
    fprintf(f, "short line\n");
    fprintf(f, "  a line that is longer than twenty columns\n");
    fprintf(f, "abcdefghijklmnopqrstuvwxyz0123\n");
    fprintf(f,
            "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
            "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\n");
    fclose(f);
    fclose(out);
    assert_string_equal(buf,
                        "short line\n"
                        "  a line that is\n"
                        "    longer than\n"
                        "    twenty columns\n"
                        "abcdefghijklmnopqrstuvwxyz0123\n"
                        /* 20 two-byte characters are 20 columns: one line */
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                        "\xc3\xa9\xc3\xa9\n");
    free(buf);

    /* A line of nothing but spaces that fills the fold's buffer (256 bytes) exactly: its
     * indentation is counted within the line, never past its end (ASan saw the overrun). */
    buf = NULL;
    out = open_memstream(&buf, &size);
    f = pyh_fold_stream(out, 20);
    fprintf(f, "%256s\n", "");
    fclose(f);
    fclose(out);
    assert_string_equal(buf, "                    \n");
    free(buf);
}

/* A core path that is no regular file is refused naming what it is, as files of the target
 * are (a device would otherwise read as a stream of zeros, or as a terminal). */
static void test_core_not_regular(void **state)
{
    (void)state;
    struct pyh_core_input in;
    struct pyh_error *err = pyh_core_input_open("/dev/null", &in);
    assert_non_null(err);
    assert_string_equal(pyh_error_message(err), "/dev/null is not a regular file (a device)");
    pyh_error_free(err);
    err = pyh_core_input_open("/", &in);
    assert_non_null(err);
    assert_string_equal(pyh_error_message(err), "/ is not a regular file (a directory)");
    pyh_error_free(err);
}

#ifdef PYH_TEST_ZLIB
/* A gzip file of data whose middle pages are zeros decompresses to the same bytes, with
 * holes where the zeros were (what the residency of a sparse core relies on). */
static void test_gzip_sparse(void **state)
{
    (void)state;
    enum { PAGES = 64, PAGE = 4096 };
    unsigned char *data = calloc(PAGES, PAGE);
    for (size_t i = 0; i < PAGES * PAGE; i++)
        if (i / PAGE < 8 || i / PAGE >= 56) data[i] = (unsigned char)(i * 7 + 1);
    char path[] = "/tmp/pyheap-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    gzFile gz = gzdopen(dup(fd), "wb");
    assert_int_equal(gzwrite(gz, data, PAGES * PAGE), PAGES * PAGE);
    gzclose(gz);
    close(fd);
    struct pyh_core_input in;
    struct pyh_error *err = pyh_core_input_open(path, &in);
    unlink(path);
    assert_null(err);
    assert_string_equal(in.format, "gzip");
    assert_true(in.temporary);
    assert_int_equal(in.out_bytes, PAGES * PAGE);
    unsigned char *back = malloc(PAGES * PAGE);
    assert_int_equal(pread(in.fd, back, PAGES * PAGE, 0), PAGES * PAGE);
    assert_memory_equal(back, data, PAGES * PAGE);
    /* The zero pages are a hole (where the file system keeps holes at all). */
    off_t hole = lseek(in.fd, 0, SEEK_HOLE);
    if (hole < PAGES * PAGE) {
        assert_int_equal(hole, 8 * PAGE);
        assert_int_equal(lseek(in.fd, hole, SEEK_DATA), 56 * PAGE);
    }
    close(in.fd);
    free(back);
    free(data);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),        cmocka_unit_test(test_help_width),
        cmocka_unit_test(test_command_line), cmocka_unit_test(test_documents),
        cmocka_unit_test(test_fold),         cmocka_unit_test(test_core_not_regular),
#ifdef PYH_TEST_ZLIB
        cmocka_unit_test(test_gzip_sparse),
#endif
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    for (size_t i = 0; i < nkept; i++)
        free(kept[i]);
    return failed;
}
