/* The table of kinds (heap/kinds/): every kind has its file's entry, and the entries do not
 * contradict each other — each static type and each C type name belongs to one kind, a kind
 * that owns buffers sizes itself, a literal kind has a preview and types of its own. These
 * are what the heap, graph and analysis code rely on when they ask the table instead of
 * switching on a kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "heap/kinds/kind.h"

#define NSTATICS (sizeof(((struct pyh_kind *)0)->statics) / sizeof(size_t))
#define NNAMES (sizeof(((struct pyh_kind *)0)->c_names) / sizeof(char *))

static void test_every_kind_has_an_entry(void **state)
{
    (void)state;
    for (int k = 0; k < PYH_KIND_COUNT; k++) {
        assert_non_null(pyh_kinds[k]);
        assert_non_null(pyh_kinds[k]->name);
        /* Every kind but the catch-all is reached from some type: a static one or a name. */
        if (k != PYH_KIND_OTHER)
            assert_true(pyh_kinds[k]->statics[0] != 0 || pyh_kinds[k]->c_names[0] != NULL);
    }
    assert_int_equal(pyh_kinds[PYH_KIND_OTHER]->statics[0], 0);
    assert_null(pyh_kinds[PYH_KIND_OTHER]->c_names[0]);
}

static void test_statics_and_names_are_claimed_once(void **state)
{
    (void)state;
    for (int a = 0; a < PYH_KIND_COUNT; a++)
        for (int b = 0; b < PYH_KIND_COUNT; b++)
            for (size_t i = 0; i < NSTATICS && pyh_kinds[a]->statics[i]; i++) {
                assert_true(pyh_kinds[a]->statics[i] - 1 + 8 <= sizeof(struct pyh_static_types));
                for (size_t j = 0; j < NSTATICS && pyh_kinds[b]->statics[j]; j++)
                    if (a != b || i != j)
                        assert_int_not_equal(pyh_kinds[a]->statics[i], pyh_kinds[b]->statics[j]);
            }
    for (int a = 0; a < PYH_KIND_COUNT; a++)
        for (int b = 0; b < PYH_KIND_COUNT; b++)
            for (size_t i = 0; i < NNAMES && pyh_kinds[a]->c_names[i]; i++)
                for (size_t j = 0; j < NNAMES && pyh_kinds[b]->c_names[j]; j++)
                    if (a != b || i != j)
                        assert_string_not_equal(pyh_kinds[a]->c_names[i], pyh_kinds[b]->c_names[j]);
}

static void test_rules_agree(void **state)
{
    (void)state;
    for (int k = 0; k < PYH_KIND_COUNT; k++) {
        const struct pyh_kind *kind = pyh_kinds[k];
        /* A kind with buffers has a size rule of its own (its struct plus them), and is not
         * self-contained; a literal is previewed and is a static type's kind. */
        if (kind->buffers) {
            assert_non_null(kind->size);
            assert_false(kind->self_contained);
        }
        if (kind->literal) {
            assert_non_null(kind->preview);
            assert_true(kind->statics[0] != 0);
        }
    }
}

/* The static types of a runtime resolve to their kind, and a type of no kind to none. */
static void test_own_statics(void **state)
{
    (void)state;
    struct pyh_static_types st;
    memset(&st, 0, sizeof(st));
    st.tuple = 0x1000;
    st.frozenset = 0x2000;
    st.bool_ = 0x3000;
    st.object = 0x4000;
    assert_true(pyh_kind_is_own_static(&st, pyh_kinds[PYH_KIND_TUPLE], 0x1000));
    assert_true(pyh_kind_is_own_static(&st, pyh_kinds[PYH_KIND_SET], 0x2000));
    assert_true(pyh_kind_is_own_static(&st, pyh_kinds[PYH_KIND_INT], 0x3000));
    assert_false(pyh_kind_is_own_static(&st, pyh_kinds[PYH_KIND_LIST], 0x1000));
    /* frozendict is 0 before 3.15: no type at address 0 is a dict. */
    assert_false(pyh_kind_is_own_static(&st, pyh_kinds[PYH_KIND_DICT], 0));
    struct pyh_u64map map = {0};
    assert_null(pyh_kind_statics_map(&st, &map));
    uint64_t kind;
    assert_true(pyh_u64map_get(&map, 0x2000, &kind));
    assert_int_equal(kind, PYH_KIND_SET);
    assert_false(pyh_u64map_get(&map, 0x4000, &kind));
    assert_false(pyh_u64map_get(&map, 0, &kind));
    pyh_u64map_free(&map);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_has_an_entry),
        cmocka_unit_test(test_statics_and_names_are_claimed_once),
        cmocka_unit_test(test_rules_agree),
        cmocka_unit_test(test_own_statics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
