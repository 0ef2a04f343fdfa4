/* The util layer: hash maps, chain guards, warnings and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/chain.h"
#include "util/diag.h"
#include "util/error.h"
#include "util/ranges.h"
#include "util/hashmap.h"
#include "util/sanitize.h"

static void test_u64map(void **state)
{
    (void)state;
    struct pyh_u64map map = {0};
    for (uint64_t i = 0; i < 100000; i++) assert_null(pyh_u64map_put(&map, i * 16 + 0x7f0000000000, i));
    assert_int_equal(map.len, 100000);
    uint64_t v;
    for (uint64_t i = 0; i < 100000; i += 777) {
        assert_true(pyh_u64map_get(&map, i * 16 + 0x7f0000000000, &v));
        assert_int_equal(v, i);
    }
    assert_false(pyh_u64map_get(&map, 8, &v));
    assert_null(pyh_u64map_put(&map, 0x7f0000000000, 42)); /* replace */
    assert_true(pyh_u64map_get(&map, 0x7f0000000000, &v));
    assert_int_equal(v, 42);
    assert_int_equal(map.len, 100000);
    pyh_u64map_free(&map);
}

static void test_strmap(void **state)
{
    (void)state;
    struct pyh_strmap map = {0};
    static const char *names[] = {"_PyRuntime", "PyType_Type", "arenas.lto_priv.0", "arenas"};
    for (int i = 0; i < 4; i++) assert_null(pyh_strmap_put(&map, names[i], (uint64_t)i, false));
    assert_null(pyh_strmap_put(&map, "arenas", 99, false)); /* first one stays */
    uint64_t v;
    assert_true(pyh_strmap_get(&map, "arenas", &v));
    assert_int_equal(v, 3);
    assert_true(pyh_strmap_get_n(&map, "PyType_Type_extra", 11, &v));
    assert_int_equal(v, 1);
    assert_false(pyh_strmap_get(&map, "PyType", &v));
    pyh_strmap_free(&map);
}

static void test_chain_guard_finds_cycles_and_caps(void **state)
{
    (void)state;
    /* A list 0 -> 1 -> ... -> 9 -> 4 (a cycle of 6 after a tail of 4). */
    struct pyh_chain_guard g = pyh_chain_guard_init(1000);
    uint64_t node = 0;
    int steps = 0;
    while (pyh_chain_step(&g, node) && steps < 1000) {
        node = node == 9 ? 4 : node + 1;
        steps++;
    }
    assert_true(pyh_chain_is_cycle(&g));
    assert_true(steps < 40);
    /* A long list without a cycle stops at the cap. */
    g = pyh_chain_guard_init(500);
    for (node = 0; pyh_chain_step(&g, node); node++) {}
    assert_false(pyh_chain_is_cycle(&g));
    assert_int_equal(node, 500);
    /* A self-loop. */
    g = pyh_chain_guard_init(100);
    assert_true(pyh_chain_step(&g, 7));
    assert_false(pyh_chain_step(&g, 7));
    assert_true(pyh_chain_is_cycle(&g));
}

static void test_diag_and_errors(void **state)
{
    (void)state;
    struct pyh_diag d = {0};
    pyh_diag_warn(&d, "missing %s", "libfoo");
    pyh_diag_warn(&d, "missing %s", "libfoo");
    assert_int_equal(d.nwarnings, 1);
    assert_false(d.partial);
    pyh_diag_partial(&d, "core truncated at %d", 12);
    pyh_diag_partial(&d, "other");
    assert_true(d.partial);
    assert_string_equal(d.warnings[d.reason], "core truncated at 12");
    pyh_diag_free(&d);

    struct pyh_error *err = pyh_error_create(PYH_ERR_FAULT, "cannot read 0x%x", 16);
    err = pyh_error_wrap(err, "reading %s", "sys.modules");
    assert_string_equal(pyh_error_message(err), "reading sys.modules: cannot read 0x10");
    assert_int_equal(pyh_error_code(err), PYH_ERR_FAULT);
    assert_int_equal(pyh_error_exit_status(err), 1);
    pyh_error_free(err);
    assert_null(pyh_error_wrap(NULL, "x"));
    err = pyh_error_create(PYH_ERR_USAGE, "bad");
    assert_int_equal(pyh_error_exit_status(err), 2);
    pyh_error_free(err);
    pyh_error_free(pyh_error_nomem()); /* static: a no-op */
}

/* The output sanitiser: what it escapes (and how), what it keeps byte for byte, and a
 * stream whose writes cut UTF-8 sequences anywhere. */
static void test_sanitize(void **state)
{
    (void)state;
    static const struct {
        const char *in, *line;
    } cases[] = {
        {"plain \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", NULL}, /* valid UTF-8: kept */
        {"\x1b[2J", "\\x1b[2J"},
        {"a\x07" "b\x7f", "a\\x07b\\x7f"},
        {"tab\tnl\n", "tab\\x09nl\\x0a"},
        {"\xc2\x9b" "31m", "\\u009b31m"},            /* C1 CSI, as UTF-8 */
        {"\x9b" "31m", "\\x9b31m"},                   /* a raw 0x9b byte: invalid UTF-8 */
        {"\xe2\x80\xae" "txt", "\\u202etxt"},         /* RIGHT-TO-LEFT OVERRIDE */
        {"\xe2\x81\xa6\xe2\x80\xa8", "\\u2066\\u2028"},
        {"\xc0\xaf", "\\xc0\\xaf"},                   /* overlong */
        {"\xed\xb3\xbf", "\\xed\\xb3\\xbf"},           /* a surrogate */
        {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"}, /* past U+10FFFF */
        {"cut\xe2\x82", "cut\\xe2\\x82"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *want = cases[i].line ? cases[i].line : cases[i].in;
        char *got = pyh_sanitize_line(cases[i].in);
        assert_string_equal(got, want);
        assert_int_equal(pyh_text_is_clean(cases[i].in, strlen(cases[i].in), true),
                         cases[i].line == NULL);
        char *again = pyh_sanitize_line(got); /* idempotent */
        assert_string_equal(again, got);
        free(again);
        free(got);
    }
    char *j = pyh_escape_invalid_utf8("\x1b\xe2\x80\xae\xff");
    assert_string_equal(j, "\x1b\xe2\x80\xae\\xff"); /* only the invalid byte */
    free(j);

    /* The stream: one byte per write, so that every sequence is cut; newline and tab kept. */
    const char in[] = "ok \xc3\xa9\n\t\xe2\x80\xae\xf0\x9f\x98\x80\xe2\x82|\x1b\xc2";
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    FILE *z = pyh_sanitize_stream(mem, true);
    assert_non_null(z);
    setvbuf(z, NULL, _IONBF, 0);
    for (size_t i = 0; i + 1 < sizeof(in); i++) fputc(in[i], z);
    fclose(z);
    assert_string_equal(text, "ok \xc3\xa9\n\t\\u202e\xf0\x9f\x98\x80\\xe2\\x82|\\x1b\\xc2");
    free(text);
}

/* Sorted ranges: merging as they are added, set operations, and covered bytes with and
 * without the prefix sums. */
static void test_ranges(void **state)
{
    (void)state;
    struct pyh_ranges a = {0}, b = {0}, out = {0};
    assert_null(pyh_ranges_add(&a, 100, 200));
    assert_null(pyh_ranges_add(&a, 200, 300)); /* touching: merged */
    assert_null(pyh_ranges_add(&a, 250, 280)); /* inside: nothing */
    assert_null(pyh_ranges_add(&a, 400, 500));
    assert_null(pyh_ranges_add(&a, 600, 600)); /* empty */
    assert_int_equal(a.n, 2);
    assert_int_equal(a.bytes, 300);
    assert_null(pyh_ranges_add(&b, 150, 450));
    assert_null(pyh_ranges_combine(&a, &b, PYH_RANGES_AND_NOT, &out));
    assert_int_equal(out.n, 2);
    assert_int_equal(out.v[0].start, 100);
    assert_int_equal(out.v[0].end, 150);
    assert_int_equal(out.v[1].start, 450);
    assert_int_equal(out.bytes, 100);
    uint64_t *below = pyh_ranges_index(&a);
    assert_non_null(below);
    const uint64_t q[][3] = {{0, 1000, 300}, {0, 100, 0}, {150, 420, 170}, {300, 400, 0},
                             {450, 451, 1}, {499, 10000, 1}, {120, 110, 0}, {500, 600, 0}};
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        assert_int_equal(pyh_ranges_covered(&a, below, q[i][0], q[i][1]), q[i][2]);
        assert_int_equal(pyh_ranges_covered(&a, NULL, q[i][0], q[i][1]), q[i][2]);
    }
    free(below);
    pyh_ranges_free(&a);
    pyh_ranges_free(&b);
    pyh_ranges_free(&out);
    assert_int_equal(pyh_ranges_covered(&a, NULL, 0, 100), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64map),
        cmocka_unit_test(test_strmap),
        cmocka_unit_test(test_chain_guard_finds_cycles_and_caps),
        cmocka_unit_test(test_diag_and_errors),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
