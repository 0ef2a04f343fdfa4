/* Every built-in layout table against the DWARF of the interpreter it describes, field by
 * field: for each pyenv CPython on this machine, and Debian sid's python3.14/python3.15 in the
 * chroot scripts/setup.sh makes (their -dbg packages' DWARF, found by the stripped binary's
 * build-id), every row of PYH_LAYOUT_FIELDS is looked up in that DWARF (every alternative
 * path) and must equal the table's value (-1 when the member does not exist). Interpreters
 * that are not installed are skipped. The free-threaded tables (pyh_layout_free_threaded)
 * likewise, against the free-threaded interpreters PYHEAP_EXTRA_PYTHONS names (paths of
 * binaries with their DWARF, named python3.Nt as `make install` names them: none ships in a
 * package, none may be committed; skipped without). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <libgen.h>

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>

#include "allocators/pymalloc_layout.h"
#include "image/dwarf.h"
#include "runtime/layout.h"
#include "target/elf_util.h"

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
    /* Debian sid (stripped binaries; "sid:" = the debug file of that binary in the chroot) */
    {14, "sid:/usr/bin/python3.14"},
    {15, "sid:/usr/bin/python3.15"},
};

#define SID_CHROOT "/var/cache/py-heap/chroot/sid"

/* The file whose DWARF describes interpreter i: the libpython itself, or for "sid:BINARY" the
 * -dbg package's .build-id/xx/yyyy.debug of that binary in the sid chroot. Empty when it is
 * not there. */
static void dwarf_file(const char *spec, char *out, size_t cap)
{
    out[0] = '\0';
    if (strncmp(spec, "sid:", 4) != 0) {
        if (access(spec, R_OK) == 0) snprintf(out, cap, "%s", spec);
        return;
    }
    char binary[512];
    snprintf(binary, sizeof(binary), SID_CHROOT "%s", spec + 4);
    int fd = open(binary, O_RDONLY);
    if (fd < 0) return;
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    uint8_t id[64];
    size_t len = elf ? pyh_elf_file_build_id(elf, id, sizeof(id)) : 0;
    if (elf) elf_end(elf);
    close(fd);
    char hex[160];
    if (len < 2 || !pyh_build_id_hex(id, len, hex, sizeof(hex))) return;
    snprintf(out, cap, SID_CHROOT "/usr/lib/debug/.build-id/%.2s/%s.debug", hex, hex + 2);
    if (access(out, R_OK) != 0) out[0] = '\0';
}

static void test_builtin_tables_match_dwarf(void **state)
{
    (void)state;
    size_t nfields, checked = 0, interpreters_seen = 0;
    const struct pyh_layout_field *fields = pyh_layout_fields(&nfields);
    int mismatches = 0;
    for (size_t i = 0; i < sizeof(interpreters) / sizeof(interpreters[0]); i++) {
        char path[1024];
        dwarf_file(interpreters[i].libpython, path, sizeof(path));
        if (!path[0]) {
            printf("skipped: %s is not installed (or has no DWARF)\n", interpreters[i].libpython);
            continue;
        }
        interpreters_seen++;
        struct pyh_dwarf *dw = NULL;
        struct pyh_error *err = pyh_dwarf_open(path, &dw);
        if (err) fail_msg("%s: %s", path, pyh_error_message(err));
        struct pyh_layout builtin, from_dwarf;
        assert_true(pyh_layout_builtin(interpreters[i].minor, &builtin));
        memset(&from_dwarf, 0xff, sizeof(from_dwarf)); /* every field -1: "absent" */
        size_t answered;
        err = pyh_layout_apply_dwarf(&from_dwarf, dw, true, &answered);
        if (err) fail_msg("%s: %s", path, pyh_error_message(err));
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

/* The minor version of a free-threaded binary named python3.Nt, 0 for other names. */
static int free_threaded_minor(const char *path)
{
    char copy[1024];
    snprintf(copy, sizeof(copy), "%s", path);
    const char *base = basename(copy);
    int minor = 0;
    char t = 0;
    if (sscanf(base, "python3.%d%c", &minor, &t) != 2 || t != 't' || base[strlen(base) - 1] != 't')
        return 0;
    return minor;
}

static void test_free_threaded_tables_match_dwarf(void **state)
{
    (void)state;
    size_t nfields, seen = 0;
    const struct pyh_layout_field *fields = pyh_layout_fields(&nfields);
    int mismatches = 0;
    char list[4096];
    const char *env = getenv("PYHEAP_EXTRA_PYTHONS");
    snprintf(list, sizeof(list), "%s", env ? env : "");
    for (char *save = NULL, *path = strtok_r(list, ",", &save); path; path = strtok_r(NULL, ",", &save)) {
        int minor = free_threaded_minor(path);
        if (!minor || access(path, R_OK) != 0) continue;
        seen++;
        struct pyh_dwarf *dw = NULL;
        struct pyh_error *err = pyh_dwarf_open(path, &dw);
        if (err) fail_msg("%s: %s", path, pyh_error_message(err));
        struct pyh_layout builtin, from_dwarf;
        assert_true(pyh_layout_builtin(minor, &builtin));
        pyh_layout_free_threaded(minor, &builtin);
        memset(&from_dwarf, 0xff, sizeof(from_dwarf));
        size_t answered;
        if ((err = pyh_layout_apply_dwarf(&from_dwarf, dw, true, &answered)))
            fail_msg("%s: %s", path, pyh_error_message(err));
        for (size_t k = 0; k < nfields; k++) {
            int64_t expected = pyh_layout_get(&builtin, &fields[k]);
            int64_t actual = pyh_layout_get(&from_dwarf, &fields[k]);
            if (expected != actual) {
                printf("3.%dt %s (%s.%s): built-in %lld, DWARF %lld\n", minor, fields[k].name,
                       fields[k].dwarf_type, fields[k].dwarf_paths, (long long)expected,
                       (long long)actual);
                mismatches++;
            }
        }
        pyh_dwarf_close(dw);
    }
    if (!seen) printf("skipped: PYHEAP_EXTRA_PYTHONS names no free-threaded python3.Nt\n");
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
        char path[1024];
        dwarf_file(interpreters[i].libpython, path, sizeof(path));
        if (!path[0]) continue;
        struct pyh_dwarf *dw = NULL;
        struct pyh_error *err = pyh_dwarf_open(path, &dw);
        if (err) fail_msg("%s: %s", path, pyh_error_message(err));
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
        cmocka_unit_test(test_free_threaded_tables_match_dwarf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
