/* Every built-in layout table against the DWARF of the interpreter it describes, field by
 * field: for each pyenv CPython on this machine, every row of PYH_LAYOUT_FIELDS is looked up
 * in that libpython's DWARF (every alternative path) and must equal the table's value
 * (-1 when the member does not exist). Interpreters that are not installed are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "allocators/pymalloc_layout.h"
#include "image/dwarf.h"
#include "runtime/layout.h"

static const struct {
    int minor;
    const char *libpython;
} interpreters[] = {
    {8, "/root/.pyenv/versions/3.8.18/lib/libpython3.8.so.1.0"},
    {9, "/root/.pyenv/versions/3.9.18/lib/libpython3.9.so.1.0"},
    {10, "/root/.pyenv/versions/3.10.13/lib/libpython3.10.so.1.0"},
    {11, "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0"},
    {12, "/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0"},
    {13, "/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0"},
};

static void test_builtin_tables_match_dwarf(void **state)
{
    (void)state;
    size_t nfields, checked = 0, interpreters_seen = 0;
    const struct pyh_layout_field *fields = pyh_layout_fields(&nfields);
    int mismatches = 0;
    for (size_t i = 0; i < sizeof(interpreters) / sizeof(interpreters[0]); i++) {
        if (access(interpreters[i].libpython, R_OK) != 0) {
            printf("skipped: %s is not installed\n", interpreters[i].libpython);
            continue;
        }
        interpreters_seen++;
        struct pyh_dwarf *dw = NULL;
        struct pyh_error *err = pyh_dwarf_open(interpreters[i].libpython, &dw);
        if (err) fail_msg("%s: %s", interpreters[i].libpython, pyh_error_message(err));
        struct pyh_layout builtin, from_dwarf;
        assert_true(pyh_layout_builtin(interpreters[i].minor, &builtin));
        memset(&from_dwarf, 0xff, sizeof(from_dwarf)); /* every field -1: "absent" */
        size_t answered;
        err = pyh_layout_apply_dwarf(&from_dwarf, dw, true, &answered);
        if (err) fail_msg("%s: %s", interpreters[i].libpython, pyh_error_message(err));
        for (size_t k = 0; k < nfields; k++) {
            int64_t expected = pyh_layout_get(&builtin, &fields[k]);
            int64_t actual = pyh_layout_get(&from_dwarf, &fields[k]);
            checked++;
            if (expected != actual) {
                printf("3.%d %s (%s.%s): built-in %lld, DWARF %lld\n", interpreters[i].minor,
                       fields[k].name, fields[k].dwarf_type, fields[k].dwarf_paths,
                       (long long)expected, (long long)actual);
                mismatches++;
            }
        }
        pyh_dwarf_close(dw);
    }
    printf("checked %zu fields of %zu interpreters\n", checked, interpreters_seen);
    assert_int_equal(mismatches, 0);
}

/* pymalloc's structs, kept apart from the runtime layout (allocators/pymalloc_layout.h). */
static void test_pymalloc_layout_matches_dwarf(void **state)
{
    (void)state;
    static const struct pyh_static_layout_field fields[] = {PYH_PYMALLOC_LAYOUT_FIELDS};
    size_t n = sizeof(fields) / sizeof(fields[0]);
    int mismatches = 0;
    for (size_t i = 0; i < sizeof(interpreters) / sizeof(interpreters[0]); i++) {
        if (access(interpreters[i].libpython, R_OK) != 0) continue;
        struct pyh_dwarf *dw = NULL;
        struct pyh_error *err = pyh_dwarf_open(interpreters[i].libpython, &dw);
        if (err) fail_msg("%s: %s", interpreters[i].libpython, pyh_error_message(err));
        struct pyh_dwarf_query qs[64];
        assert_true(n <= 64);
        for (size_t k = 0; k < n; k++) qs[k] = (struct pyh_dwarf_query){fields[k].type, fields[k].path, -1};
        assert_null(pyh_dwarf_member_offsets(dw, qs, n));
        for (size_t k = 0; k < n; k++) {
            long expected = interpreters[i].minor >= fields[k].since_minor ? fields[k].offset : -1;
            if (qs[k].result != expected) {
                printf("3.%d %s.%s: expected %ld, DWARF %lld\n", interpreters[i].minor,
                       fields[k].type, fields[k].path, expected, (long long)qs[k].result);
                mismatches++;
            }
        }
        pyh_dwarf_close(dw);
    }
    assert_int_equal(mismatches, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_tables_match_dwarf),
        cmocka_unit_test(test_pymalloc_layout_matches_dwarf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
