/* The DWARF reader on the real libpython of every pyenv interpreter on this machine: struct
 * offsets and sizes against the reference table (docs: shared/reference/offsets-table.md),
 * by struct tag and by typedef name, through nested and anonymous members, for types that
 * Python.h declares and for types of one late CU; static variable addresses against the ELF
 * symbol tables; compressed debug sections (libc6-dbg); files without DWARF; corrupted DWARF.
 * Interpreters and debug files that are not installed are skipped with a message. */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "image/dwarf.h"
#include "synthetic.h"

#define NVERSIONS 6
#define ABSENT (-1)

static const char *const libpython[NVERSIONS] = {
    "/root/.pyenv/versions/3.8.18/lib/libpython3.8.so.1.0",
    "/root/.pyenv/versions/3.9.18/lib/libpython3.9.so.1.0",
    "/root/.pyenv/versions/3.10.13/lib/libpython3.10.so.1.0",
    "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0",
    "/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0",
    "/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0",
};

/* Expected answers for 3.8, 3.9, 3.10, 3.11, 3.12, 3.13 (from the reference table). */
static const struct {
    const char *type, *path;
    int64_t expected[NVERSIONS];
} cases[] = {
    /* typedef names and struct tags of the same types */
    {"PyInterpreterState", "threads.head", {ABSENT, ABSENT, ABSENT, 16, 72, 7344}},
    {"_is", "threads.head", {ABSENT, ABSENT, ABSENT, 16, 72, 7344}},
    {"PyInterpreterState", "tstate_head", {8, 8, 8, ABSENT, ABSENT, ABSENT}},
    {"PyInterpreterState", "imports.modules", {ABSENT, ABSENT, ABSENT, ABSENT, 944, 7656}},
    {"PyInterpreterState", "ceval.gil", {ABSENT, ABSENT, ABSENT, ABSENT, 384, 16}},
    {"PyInterpreterState", "", {2720, 5656, 113528, 107752, 383552, 194968}},
    {"_PyRuntimeState", "interpreters.head", {32, 32, 32, 40, 40, 632}},
    {"pyruntimestate", "interpreters.head", {32, 32, 32, 40, 40, 632}},
    {"_PyRuntimeState", "gilstate.autoInterpreterState", {1384, 576, 576, 584, 2568, 9888}},
    {"_PyRuntimeState", "", {1464, 656, 672, 166688, 459944, 283320}},
    {"PyThreadState", "thread_id", {176, 176, 176, 152, 136, 152}},
    {"_ts", "", {264, 264, 280, 360, 288, 304}},
    {"PyCodeObject", "co_firstlineno", {40, 40, 40, 72, 68, 68}},
    {"PyTypeObject", "tp_flags", {168, 168, 168, 168, 168, 168}},
    {"_typeobject", "tp_flags", {168, 168, 168, 168, 168, 168}},
    {"PyTypeObject", "ob_base.ob_base.ob_type", {8, 8, 8, 8, 8, 8}},
    {"PyTypeObject", "", {416, 408, 408, 408, 416, 416}},
    {"PyASCIIObject", "", {48, 48, 48, 48, 40, 40}},
    {"PyASCIIObject", "wstr", {40, 40, 40, 40, ABSENT, ABSENT}},
    /* a member of a bit-field struct: its byte */
    {"PyASCIIObject", "state.ascii", {32, 32, 32, 32, 32, 32}},
    {"PyLongObject", "long_value.ob_digit", {ABSENT, ABSENT, ABSENT, ABSENT, 24, 24}},
    {"_dictkeysobject", "dk_indices", {40, 40, 40, 32, 32, 32}},
    /* 3.12+: ob_refcnt lives in an anonymous union */
    {"PyObject", "ob_refcnt", {0, 0, 0, 0, 0, 0}},
    {"PyObject", "ob_type", {8, 8, 8, 8, 8, 8}},
    /* glibc's struct rusage: the later members sit in anonymous unions */
    {"rusage", "ru_maxrss", {32, 32, 32, 32, 32, 32}},
    {"rusage", "ru_nivcsw", {136, 136, 136, 136, 136, 136}},
    /* obmalloc: defined in Objects/obmalloc.c only before 3.12, a late CU */
    {"pool_header", "nextoffset", {40, 40, 40, 40, 40, 40}},
    {"pool_header", "ref.count", {0, 0, 0, 0, 0, 0}},
    {"pool_header", "", {48, 48, 48, 48, 48, 48}},
    {"arena_object", "nextarena", {32, 32, 32, 32, 32, 32}},
    {"_obmalloc_state", "mgmt.usable_arenas", {ABSENT, ABSENT, ABSENT, ABSENT, 536, 536}},
    {"_obmalloc_state", "", {ABSENT, ABSENT, ABSENT, ABSENT, 263248, 263248}},
    /* absent members, paths and types */
    {"PyTypeObject", "no_such_member", {ABSENT, ABSENT, ABSENT, ABSENT, ABSENT, ABSENT}},
    {"PyTypeObject", "tp_name.deeper", {ABSENT, ABSENT, ABSENT, ABSENT, ABSENT, ABSENT}},
    {"PyTypeObject", "tp_flags.", {ABSENT, ABSENT, ABSENT, ABSENT, ABSENT, ABSENT}},
    {"no_such_type_at_all", "", {ABSENT, ABSENT, ABSENT, ABSENT, ABSENT, ABSENT}},
    {"no_such_type_at_all", "x", {ABSENT, ABSENT, ABSENT, ABSENT, ABSENT, ABSENT}},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static bool installed(const char *path)
{
    if (access(path, R_OK) == 0) return true;
    printf("skipped: %s is not installed\n", path);
    return false;
}

static struct pyh_dwarf *open_or_fail(const char *path)
{
    struct pyh_dwarf *dw = NULL;
    struct pyh_error *err = pyh_dwarf_open(path, &dw);
    if (err) fail_msg("%s: %s", path, pyh_error_message(err));
    assert_non_null(dw);
    return dw;
}

/* The value of the object symbol name in the .symtab or .dynsym of path (libelf, as an
 * independent reference); false if absent. */
static bool elf_symbol(const char *path, const char *name, uint64_t *value)
{
    bool found = false;
    elf_version(EV_CURRENT);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    assert_non_null(elf);
    Elf_Scn *scn = NULL;
    while (!found && (scn = elf_nextscn(elf, scn))) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        for (size_t i = 0; data && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
            GElf_Sym sym;
            if (!gelf_getsym(data, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_OBJECT)
                continue;
            const char *n = elf_strptr(elf, sh.sh_link, sym.st_name);
            if (n && strcmp(n, name) == 0) {
                *value = sym.st_value;
                found = true;
                break;
            }
        }
    }
    elf_end(elf);
    close(fd);
    return found;
}

static void test_offsets_match_reference_table(void **state)
{
    (void)state;
    for (int v = 0; v < NVERSIONS; v++) {
        if (!installed(libpython[v])) continue;
        struct pyh_dwarf *dw = open_or_fail(libpython[v]);
        struct pyh_dwarf_query qs[NCASES];
        for (size_t i = 0; i < NCASES; i++)
            qs[i] = (struct pyh_dwarf_query){cases[i].type, cases[i].path, 12345};
        struct pyh_error *err = pyh_dwarf_member_offsets(dw, qs, NCASES);
        if (err) fail_msg("%s: %s", libpython[v], pyh_error_message(err));
        int mismatches = 0;
        for (size_t i = 0; i < NCASES; i++) {
            if (qs[i].result == cases[i].expected[v]) continue;
            printf("%s: %s.%s = %lld, expected %lld\n", libpython[v], cases[i].type, cases[i].path,
                   (long long)qs[i].result, (long long)cases[i].expected[v]);
            mismatches++;
        }
        pyh_dwarf_close(dw);
        assert_int_equal(mismatches, 0);
    }
}

/* Several calls on one handle: a walk that stops after the first CUs, one that reads them
 * all, the variable map, then the first again (the CU cursor must restart correctly). */
static void test_repeated_queries_on_one_handle(void **state)
{
    (void)state;
    const int v = 4; /* 3.12 */
    if (!installed(libpython[v])) return;
    struct pyh_dwarf *dw = open_or_fail(libpython[v]);
    assert_null(pyh_dwarf_member_offsets(dw, NULL, 0));
    for (int round = 0; round < 2; round++) {
        struct pyh_dwarf_query early[] = {{"PyTypeObject", "tp_flags", -7},
                                          {"PyTypeObject", "tp_name", -7}};
        assert_null(pyh_dwarf_member_offsets(dw, early, 2));
        assert_int_equal(early[0].result, 168);
        assert_int_equal(early[1].result, 24);
        struct pyh_dwarf_query all[] = {{"no_such_type_at_all", "", 0},
                                        {"_obmalloc_state", "mgmt.arenas", 0},
                                        {"rusage", "ru_nivcsw", 0}};
        assert_null(pyh_dwarf_member_offsets(dw, all, 3));
        assert_int_equal(all[0].result, -1);
        assert_int_equal(all[1].result, 512);
        assert_int_equal(all[2].result, 136);
        uint64_t addr = 0;
        assert_true(pyh_dwarf_variable_address(dw, "_PyRuntime", &addr));
        assert_int_equal(addr, 0x643340); /* nm: 0000000000643340 D _PyRuntime */
    }
    pyh_dwarf_close(dw);
}

static void test_variable_addresses_match_symbols(void **state)
{
    (void)state;
    /* _PyRuntime is declared extern in a header and defined elsewhere (DW_AT_specification);
     * PyType_Type likewise; arenas and usedpools are file-static in obmalloc.c before 3.12. */
    const char *names[] = {"_PyRuntime", "PyType_Type", "_Py_NoneStruct", "arenas", "usedpools"};
    for (int v = 0; v < NVERSIONS; v++) {
        if (!installed(libpython[v])) continue;
        struct pyh_dwarf *dw = open_or_fail(libpython[v]);
        size_t checked = 0;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            uint64_t from_elf = 0, from_dwarf = 0;
            bool in_elf = elf_symbol(libpython[v], names[i], &from_elf);
            bool in_dwarf = pyh_dwarf_variable_address(dw, names[i], &from_dwarf);
            if (i < 3) assert_true(in_elf && in_dwarf); /* present in every version */
            if (!in_elf || !in_dwarf) continue;
            if (from_elf != from_dwarf)
                fail_msg("%s: %s at 0x%llx in DWARF, 0x%llx in ELF", libpython[v], names[i],
                         (unsigned long long)from_dwarf, (unsigned long long)from_elf);
            checked++;
        }
        if (v < 4) assert_int_equal(checked, 5);
        uint64_t addr = 0xdead;
        assert_false(pyh_dwarf_variable_address(dw, "no_such_variable_at_all", &addr));
        assert_int_equal(addr, 0xdead);
        pyh_dwarf_close(dw);
    }
}

/* The build-id of path as the /usr/lib/debug/.build-id/xx/yyyy.debug path; false if none. */
static bool debug_file_of(const char *path, char *out, size_t size)
{
    bool found = false;
    elf_version(EV_CURRENT);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return false;
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    Elf_Scn *scn = NULL;
    while (elf && !found && (scn = elf_nextscn(elf, scn))) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE) continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        GElf_Nhdr nh;
        size_t off = 0, name_off, desc_off;
        while (data && (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
            if (nh.n_type != NT_GNU_BUILD_ID || nh.n_descsz < 2) continue;
            const unsigned char *id = (const unsigned char *)data->d_buf + desc_off;
            size_t n = (size_t)snprintf(out, size, "/usr/lib/debug/.build-id/%02x/", id[0]);
            for (size_t i = 1; i < nh.n_descsz && n + 3 < size; i++)
                n += (size_t)snprintf(out + n, size - n, "%02x", id[i]);
            snprintf(out + n, size - n, ".debug");
            found = true;
            break;
        }
    }
    if (elf) elf_end(elf);
    close(fd);
    return found;
}

/* Debian's debug files compress their .debug_* sections (SHF_COMPRESSED, zlib). */
static void test_compressed_debug_sections(void **state)
{
    (void)state;
    char debug[512];
    if (!debug_file_of("/lib/x86_64-linux-gnu/libc.so.6", debug, sizeof(debug)) ||
        !installed(debug))
        return;
    struct pyh_dwarf *dw = open_or_fail(debug);
    struct pyh_dwarf_query qs[] = {{"malloc_chunk", "", 0},
                                   {"malloc_chunk", "mchunk_size", 0},
                                   {"malloc_chunk", "bk_nextsize", 0},
                                   {"mchunkptr", "", 0}, /* a typedef of a pointer */
                                   {"rusage", "ru_nivcsw", 0}};
    assert_null(pyh_dwarf_member_offsets(dw, qs, 5));
    assert_int_equal(qs[0].result, 48);
    assert_int_equal(qs[1].result, 8);
    assert_int_equal(qs[2].result, 40);
    assert_int_equal(qs[3].result, 8);
    assert_int_equal(qs[4].result, 136);
    uint64_t from_dwarf = 0, from_elf = 0;
    assert_true(pyh_dwarf_variable_address(dw, "main_arena", &from_dwarf));
    assert_true(elf_symbol(debug, "main_arena", &from_elf));
    assert_int_equal(from_dwarf, from_elf);
    /* A thread-local variable has no static address. */
    assert_false(pyh_dwarf_variable_address(dw, "tcache", &from_dwarf));
    pyh_dwarf_close(dw);
}

static void test_files_without_dwarf(void **state)
{
    (void)state;
    struct pyh_dwarf *dw = (struct pyh_dwarf *)&dw; /* must be reset to NULL */
    struct pyh_error *err;
    if (installed("/usr/bin/python3.11")) { /* stripped: no .debug_info */
        err = pyh_dwarf_open("/usr/bin/python3.11", &dw);
        assert_int_equal(pyh_error_code(err), PYH_ERR_NOT_FOUND);
        assert_non_null(strstr(pyh_error_message(err), "/usr/bin/python3.11 has no DWARF"));
        assert_null(dw);
        pyh_error_free(err);
    }
    err = pyh_dwarf_open("/nonexistent/libfoo.so", &dw);
    assert_int_equal(pyh_error_code(err), PYH_ERR_OS);
    assert_non_null(strstr(pyh_error_message(err), "/nonexistent/libfoo.so"));
    assert_null(dw);
    pyh_error_free(err);

    static const char text[] = "not an ELF file at all, just some text\n";
    const char *path = syn_write_file("text.so", text, sizeof(text));
    err = pyh_dwarf_open(path, &dw);
    assert_non_null(err);
    assert_non_null(strstr(pyh_error_message(err), path));
    assert_null(dw);
    pyh_error_free(err);
}

/* The byte range of section name in the ELF file at path. */
static bool section_range(const char *path, const char *name, uint64_t *off, uint64_t *size)
{
    bool found = false;
    elf_version(EV_CURRENT);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    size_t shstrndx = 0;
    assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
    Elf_Scn *scn = NULL;
    while (!found && (scn = elf_nextscn(elf, scn))) {
        GElf_Shdr sh;
        const char *n = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
        if (n && strcmp(n, name) == 0) {
            *off = sh.sh_offset;
            *size = sh.sh_size;
            found = true;
        }
    }
    elf_end(elf);
    close(fd);
    return found;
}

static uint8_t *read_whole(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(*size);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, *size, f), *size);
    fclose(f);
    return buf;
}

/* Garbage in .debug_info, a truncated file: errors or absent answers, never a crash (this
 * is what the sanitizer build checks). */
static void test_corrupt_dwarf(void **state)
{
    (void)state;
    const char *src = libpython[0]; /* the smallest */
    if (!installed(src)) return;
    uint64_t off = 0, size = 0;
    assert_true(section_range(src, ".debug_info", &off, &size));
    size_t len = 0;
    uint8_t *buf = read_whole(src, &len);
    uint32_t x = 12345;
    for (int patch = 0; patch < 8; patch++) {
        /* Patches of pseudo-random bytes spread over the section, the first CU spared so
         * that the file opens and the walk reaches the damage. */
        uint64_t at = off + size / 16 + (size / 9) * (uint64_t)patch;
        for (uint64_t i = 0; i < 4096 && at + i < off + size; i++) {
            x = x * 1103515245u + 12345u;
            buf[at + i] = (uint8_t)(x >> 16);
        }
    }
    const char *path = syn_write_file("corrupt.so", buf, len);
    free(buf);
    struct pyh_dwarf *dw = NULL;
    struct pyh_error *err = pyh_dwarf_open(path, &dw);
    if (!err) {
        struct pyh_dwarf_query qs[] = {{"no_such_type_at_all", "", 0},
                                       {"PyTypeObject", "tp_flags", 0},
                                       {"pool_header", "nextoffset", 0}};
        err = pyh_dwarf_member_offsets(dw, qs, 3);
        if (err) {
            assert_int_equal(pyh_error_code(err), PYH_ERR_FORMAT);
            assert_non_null(strstr(pyh_error_message(err), path));
            for (int i = 0; i < 3; i++)
                assert_int_equal(qs[i].result, -1);
        }
        printf("corrupt .debug_info: %s\n", err ? pyh_error_message(err) : "no error");
        pyh_error_free(err);
        uint64_t addr;
        (void)pyh_dwarf_variable_address(dw, "_PyRuntime", &addr);
        pyh_dwarf_close(dw);
    } else {
        printf("corrupt .debug_info: %s\n", pyh_error_message(err));
        pyh_error_free(err);
    }

    /* Cut in the middle of .debug_info: the section headers at the end are gone too. */
    syn_truncate(path, off + size / 2);
    err = pyh_dwarf_open(path, &dw);
    assert_non_null(err);
    assert_non_null(strstr(pyh_error_message(err), path));
    printf("truncated: %s\n", pyh_error_message(err));
    pyh_error_free(err);
}

static int cleanup(void **state)
{
    (void)state;
    syn_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets_match_reference_table),
        cmocka_unit_test(test_repeated_queries_on_one_handle),
        cmocka_unit_test(test_variable_addresses_match_symbols),
        cmocka_unit_test(test_compressed_debug_sections),
        cmocka_unit_test(test_files_without_dwarf),
        cmocka_unit_test(test_corrupt_dwarf),
    };
    return cmocka_run_group_tests(tests, NULL, cleanup);
}
