/* Snapshot files: the "partial" mark survives a write and a read, files written before it
 * existed read as whole, and a mark that is not a boolean is refused (a partial snapshot
 * read as whole makes diff and trend take the objects it missed for freed ones). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "report/report.h"

/* A temporary file holding text; its path is malloc'ed. */
static char *temp_file(const char *text)
{
    char *path = strdup("/tmp/pyheap-test-snapshot-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static struct pyh_snapshot *round_trip(const struct pyh_snapshot *in)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    assert_null(pyh_snapshot_save(in, f));
    fclose(f);
    char *path = temp_file(buf);
    struct pyh_snapshot *out = NULL;
    struct pyh_error *err = pyh_snapshot_load(path, &out);
    assert_null(err);
    unlink(path);
    free(path);
    free(buf);
    return out;
}

static void test_partial_round_trip(void **state)
{
    (void)state;
    struct pyh_snapshot s = {.time = 1796318209.9858, .pid = 42, .resident = -1};
    strcpy(s.python, "3.12.1");
    s.partial = true;
    s.partial_reason = "cannot walk glibc's malloc heap";
    struct pyh_snapshot *back = round_trip(&s);
    assert_true(back->partial);
    assert_string_equal(back->partial_reason, "cannot walk glibc's malloc heap");
    assert_true(back->time == s.time); /* the fraction of a second is kept exactly */
    pyh_snapshot_free(back);

    s.partial = false;
    s.partial_reason = NULL;
    back = round_trip(&s);
    assert_false(back->partial);
    assert_null(back->partial_reason);
    pyh_snapshot_free(back);
}

#define HEAD                                                                                       \
    "{\"format\": \"py-heap-snapshot\", \"version\": 1, \"time\": 1.5, \"types\": [], "            \
    "\"totals\": {\"objects\": 0, \"size\": 0}"

static void test_partial_absent_or_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int loads, partial;
    } cases[] = {
        {HEAD "}", 1, 0}, /* written before "partial" existed */
        {HEAD ", \"partial\": false}", 1, 0},
        {HEAD ", \"partial\": true}", 1, 1}, /* no reason: still partial */
        {HEAD ", \"partial\": \"yes\"}", 0, 0},
        {HEAD ", \"partial\": 1}", 0, 0},
        {HEAD ", \"partial\": null}", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path = temp_file(cases[i].text);
        struct pyh_snapshot *s = NULL;
        struct pyh_error *err = pyh_snapshot_load(path, &s);
        if (cases[i].loads) {
            assert_null(err);
            assert_int_equal(s->partial, cases[i].partial);
            assert_null(s->partial_reason);
        } else {
            assert_non_null(err);
            assert_null(s);
            /* The message names the file and the member. */
            assert_non_null(strstr(pyh_error_message(err), path));
            assert_non_null(strstr(pyh_error_message(err), "\"partial\""));
        }
        pyh_error_free(err);
        pyh_snapshot_free(s);
        unlink(path);
        free(path);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partial_round_trip),
        cmocka_unit_test(test_partial_absent_or_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
