/* The built-in layout tables, generated from the rows of PYH_LAYOUT_FIELDS; see layout.h. */
#include "runtime/layout.h"

#include <stdlib.h>
#include <string.h>

#include "image/dwarf.h"
#include "util/mem.h"


static const struct pyh_layout_field fields[] = {
#define PYH_LAYOUT_ROW(field, type, path, v38, v39, v310, v311, v312, v313, v314, v315)        \
    {#field, offsetof(struct pyh_layout, field), type, path},
    PYH_LAYOUT_FIELDS(PYH_LAYOUT_ROW)
#undef PYH_LAYOUT_ROW
};

/* Column i of the table: the layout of 3.(8+i). */
static const struct pyh_layout builtin[PYH_LAYOUT_LAST_MINOR - PYH_LAYOUT_FIRST_MINOR + 1] = {
#define PYH_LAYOUT_COLUMN(n)                                                                   \
    {                                                                                          \
        PYH_LAYOUT_FIELDS(PYH_LAYOUT_PICK_##n)                                                 \
    }
#define PYH_LAYOUT_PICK_0(f, t, p, a, b, c, d, e, g, h, i) .f = a,
#define PYH_LAYOUT_PICK_1(f, t, p, a, b, c, d, e, g, h, i) .f = b,
#define PYH_LAYOUT_PICK_2(f, t, p, a, b, c, d, e, g, h, i) .f = c,
#define PYH_LAYOUT_PICK_3(f, t, p, a, b, c, d, e, g, h, i) .f = d,
#define PYH_LAYOUT_PICK_4(f, t, p, a, b, c, d, e, g, h, i) .f = e,
#define PYH_LAYOUT_PICK_5(f, t, p, a, b, c, d, e, g, h, i) .f = g,
#define PYH_LAYOUT_PICK_6(f, t, p, a, b, c, d, e, g, h, i) .f = h,
#define PYH_LAYOUT_PICK_7(f, t, p, a, b, c, d, e, g, h, i) .f = i,
    PYH_LAYOUT_COLUMN(0), PYH_LAYOUT_COLUMN(1), PYH_LAYOUT_COLUMN(2), PYH_LAYOUT_COLUMN(3),
    PYH_LAYOUT_COLUMN(4), PYH_LAYOUT_COLUMN(5), PYH_LAYOUT_COLUMN(6), PYH_LAYOUT_COLUMN(7),
};

const struct pyh_layout_field *pyh_layout_fields(size_t *n)
{
    *n = sizeof(fields) / sizeof(fields[0]);
    return fields;
}

bool pyh_layout_builtin(int minor, struct pyh_layout *layout)
{
    if (minor < PYH_LAYOUT_FIRST_MINOR || minor > PYH_LAYOUT_LAST_MINOR) return false;
    *layout = builtin[minor - PYH_LAYOUT_FIRST_MINOR];
    return true;
}

/* The structs of the table that do not start with a PyObject header: the runtime's own, a
 * dict's keys, the GC's. Every other struct of the table is an object's. */
static bool object_struct(const char *dwarf_type)
{
    static const char *const runtime_structs[] = {
        "_PyRuntimeState", "PyInterpreterState", "PyThreadState",   "_PyCFrame",
        "_PyInterpreterFrame", "_PyOpcache",    "PyDictKeysObject", "_gc_runtime_state",
        "gc_generation",   "PyGC_Head"};
    for (size_t i = 0; i < sizeof(runtime_structs) / sizeof(runtime_structs[0]); i++)
        if (strcmp(dwarf_type, runtime_structs[i]) == 0) return false;
    return true;
}

/* Free-threaded values that are not the default build's moved by 16: read from the DWARF of
 * a 3.14.7 and a 3.15.0rc1 built with --disable-gil (the runtime's structs
 * hold per-thread state and locks the default build has not; the code object has co_tlbc).
 * tests/unit/test_layout_dwarf.c checks the result against the DWARF of a free-threaded
 * build it is given (3.14.7t and 3.15.0rc1t checked). */
struct ft_value {
    int minor;
    size_t field;
    int32_t value;
};
#define FT(minor, f, v) {minor, offsetof(struct pyh_layout, f), v}
static const struct ft_value ft_values[] = {
    FT(14, interp_modules, 7712),
    FT(14, interp_sysdict, 7696),
    FT(14, interp_builtins, 7704),
    FT(14, interp_dict, 8536),
    FT(14, interp_obmalloc, 17656), /* NULL: no pymalloc, mimalloc's heaps are per thread */
    FT(14, heaptype_size, 960),
    FT(14, iframe_owner, 78),
    FT(14, iframe_tlbc_index, 72), /* thread-local bytecode: free-threaded only */
    FT(14, code_tlbc, 224),
    FT(14, code_code_adaptive, 232),
    /* 3.15.0rc1 built --disable-gil */
    FT(15, interp_dict, 8472),
    FT(15, interp_obmalloc, 17656),
    FT(15, heaptype_size, 968),
    FT(15, iframe_owner, 78),
    FT(15, iframe_tlbc_index, 72),
    FT(15, code_tlbc, 224),
    FT(15, code_code_adaptive, 232),
};
#undef FT

void pyh_layout_free_threaded(int minor, struct pyh_layout *layout)
{
    size_t nfields = sizeof(fields) / sizeof(fields[0]);
    for (size_t i = 0; i < nfields; i++) {
        int32_t v = pyh_layout_get(layout, &fields[i]);
        if (v >= 0 && object_struct(fields[i].dwarf_type)) pyh_layout_set(layout, &fields[i], v + 16);
    }
    for (size_t i = 0; i < sizeof(ft_values) / sizeof(ft_values[0]); i++)
        if (ft_values[i].minor == minor)
            *(int32_t *)((char *)layout + ft_values[i].field) = ft_values[i].value;
}

/* One DWARF question for one alternative member path of a field. */
struct field_query {
    size_t field; /* row of the table */
    char *path;   /* owned copy of one alternative */
};

/* Structs defined in an extension module's own source file (see pyh_layout_apply_dwarf):
 * their built-in offsets (per version) are what each version's DWARF says, which
 * test_layout_dwarf checks. _functools' lru_cache structs come last of all in 3.12's
 * libpython (at 92% of .debug_info, the struct before them at 32%): asked for, they made the
 * walk 550 million instructions, a tenth of a 15 M-object census. */
static bool module_private(const char *dwarf_type)
{
    return strcmp(dwarf_type, "dequeobject") == 0 || strcmp(dwarf_type, "lru_cache_object") == 0 ||
           strcmp(dwarf_type, "lru_list_elem") == 0;
}

struct pyh_error *pyh_layout_apply_dwarf(struct pyh_layout *layout, struct pyh_dwarf *dw,
                                         bool ask_all, size_t *answered)
{
    size_t nfields = sizeof(fields) / sizeof(fields[0]);
    struct field_query *fq = NULL;
    size_t n = 0, cap = 0;
    struct pyh_error *err = NULL;
    *answered = 0;
    for (size_t i = 0; i < nfields && !err; i++) {
        if (!ask_all &&
            (pyh_layout_get(layout, &fields[i]) < 0 || module_private(fields[i].dwarf_type)))
            continue;
        const char *p = fields[i].dwarf_paths;
        do { /* each '|'-separated alternative; "" is one (empty) path */
            size_t len = strcspn(p, "|");
            struct field_query q = {i, strndup(p, len)};
            if (!q.path || (err = PYH_APPEND(fq, n, cap, &q))) {
                free(q.path);
                err = err ? err : pyh_error_nomem();
                break;
            }
            p += len;
        } while (*p++ == '|');
    }
    struct pyh_dwarf_query *qs = err ? NULL : calloc(n ? n : 1, sizeof(*qs));
    if (!err && !qs) err = pyh_error_nomem();
    for (size_t j = 0; !err && j < n; j++)
        qs[j] = (struct pyh_dwarf_query){fields[fq[j].field].dwarf_type, fq[j].path, -1};
    if (!err) err = pyh_dwarf_member_offsets(dw, qs, n);
    for (size_t j = 0; !err && j < n; j++) {
        /* The first alternative of a field that exists wins. */
        bool earlier = false;
        for (size_t k = j; k-- > 0 && fq[k].field == fq[j].field;) earlier |= qs[k].result >= 0;
        if (qs[j].result < 0 || earlier) continue;
        pyh_layout_set(layout, &fields[fq[j].field], (int32_t)qs[j].result);
        ++*answered;
    }
    for (size_t j = 0; j < n; j++) free(fq[j].path);
    free(fq);
    free(qs);
    return err;
}
