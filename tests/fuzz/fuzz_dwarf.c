/* Fuzz target (b): the DWARF reader. The input is an ELF file (an object, a shared object or
 * a separate debug file) with DWARF. It is opened with pyh_dwarf_open, asked every member
 * offset the layout table asks (each alternative path on its own, by typedef and by tag),
 * some paths through nested and anonymous members and a few that do not exist, then the
 * addresses of static variables, as the runtime and pymalloc layers ask them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "image/dwarf.h"
#include "runtime/layout.h"

#define MAX_QUERIES 512

static struct pyh_dwarf_query queries[MAX_QUERIES];
static char paths[MAX_QUERIES][64];
static size_t nqueries;

static void add(const char *type, const char *path)
{
    if (nqueries == MAX_QUERIES) return;
    snprintf(paths[nqueries], sizeof(paths[nqueries]), "%s", path);
    queries[nqueries].type_name = type;
    queries[nqueries].member_path = paths[nqueries];
    nqueries++;
}

static void build_queries(void)
{
    if (nqueries) return;
    size_t n;
    const struct pyh_layout_field *fields = pyh_layout_fields(&n);
    for (size_t i = 0; i < n; i++) {
        const char *alts = fields[i].dwarf_paths;
        while (1) {
            size_t len = strcspn(alts, "|");
            char one[64];
            snprintf(one, sizeof(one), "%.*s", (int)len, alts);
            add(fields[i].dwarf_type, one);
            if (!alts[len]) break;
            alts += len + 1;
        }
    }
    static const char *const extra[][2] = {
        {"arena_object", ""},           {"arena_object", "pool_address"},
        {"pool_header", "nextoffset"},  {"_obmalloc_state", "mgmt.arenas"},
        {"_is", "threads.head"},        {"pyruntimestate", "interpreters.head"},
        {"_typeobject", "tp_flags"},    {"PyTypeObject", "ob_base.ob_base.ob_type"},
        {"no_such_type", "x"},          {"PyObject", "no.such.member"},
        {"PyDictKeysObject", "dk_indices"},
        {"PyLongObject", "long_value.ob_digit"},
        {"point", "x"},                 {"point", ""}, {"nested", "inner.a.b"},
        {"nested", "anon_member"},      {"u", "i"},
    };
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) add(extra[i][0], extra[i][1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    build_queries();
    const char *path = fuzz_file(data, size);
    if (!path) return 0;
    struct pyh_dwarf *dw = NULL;
    struct pyh_error *err = pyh_dwarf_open(path, &dw);
    if (err) {
        pyh_error_free(err);
        return 0;
    }
    /* In two batches, as the runtime asks (present fields first, absent ones later): the
     * second walk starts again at the first CU with the CU list of the first. */
    size_t half = nqueries / 2;
    fuzz_ignore(pyh_dwarf_member_offsets(dw, queries, half));
    fuzz_ignore(pyh_dwarf_member_offsets(dw, queries + half, nqueries - half));
    static const char *const vars[] = {"arenas", "maxarenas", "narenas_highwater",
                                       "_PyRuntime", "usedpools", "no_such_variable"};
    uint64_t addr;
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        (void)pyh_dwarf_variable_address(dw, vars[i], &addr);
    pyh_dwarf_close(dw);
    return 0;
}
