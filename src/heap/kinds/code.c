/* code (codeobject.c): the constants, names and tables it refers to, 3.12+'s cached
 * co_code and name tuples, and its __sizeof__ per version. */
#include "heap/kinds/kind.h"

#define MAX_CO_EXTRA_USERS 255 /* ceval.c: co_extra never has more slots */

/* What a code object's co_extra adds: sizeof(_PyCodeObjectExtra) + (ce_size - 1) slots,
 * the same in every version that has it. */
static struct pyh_error *extra_size(const struct pyh_heap *heap, uint64_t obj,
                                    const uint8_t *bytes, size_t avail, uint64_t *size)
{
    uint64_t extra, ce_size;
    *size = 0;
    struct pyh_error *err = pyh_kind_field(heap, obj, bytes, avail, heap->rt->layout.code_extra, 8, &extra);
    if (err || !extra) return err;
    if ((err = pyh_kind_field(heap, extra, NULL, 0, 0, 8, &ce_size))) return err;
    if (ce_size > MAX_CO_EXTRA_USERS)
        return pyh_error_create(PYH_ERR_CORRUPT,
                                "co_extra of the code object at 0x%llx has %llu slots",
                                (unsigned long long)obj, (unsigned long long)ce_size);
    *size = 8 + 8 * ce_size;
    return NULL;
}

/* code.__sizeof__. 3.8-3.10: the struct, plus the cell-to-argument map (one Py_ssize_t per
 * cell variable) when there is one, plus the LOAD_GLOBAL/LOAD_ATTR cache once the code has
 * run often enough (a byte per code unit for the map and one _PyOpcache per entry).
 * 3.11+: the struct and its bytecode, rounded up to a word (_PyObject_VAR_SIZE). Every
 * version adds co_extra. */
static struct pyh_error *size(const struct pyh_heap *heap, const struct pyh_type *t, uint64_t obj,
                              const uint8_t *bytes, size_t avail, uint64_t *size)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t v = 0, extra = 0;
    struct pyh_error *err;
    *size = (uint64_t)t->basicsize;
    if (heap->rt->minor >= 11) {
        if ((err = pyh_kind_field(heap, obj, bytes, avail, L->var_size, 8, &v))) return err;
        if (v >= PYH_KIND_MAX_ITEMS)
            return pyh_error_create(PYH_ERR_CORRUPT, "code object with %llu code units",
                                    (unsigned long long)v);
        *size = (*size + v * (uint64_t)t->itemsize + 7) & ~7ULL;
    } else {
        uint64_t cell2arg, cellvars, opcache, opcache_size, code, ncells, ncode;
        if ((err = pyh_kind_field(heap, obj, bytes, avail, L->code_cell2arg, 8, &cell2arg)) ||
            (err = pyh_kind_field(heap, obj, bytes, avail, L->code_cellvars, 8, &cellvars)) ||
            (err = pyh_kind_field(heap, obj, bytes, avail, L->code_opcache, 8, &opcache)) ||
            (err = pyh_kind_field(heap, obj, bytes, avail, L->code_opcache_size, 1, &opcache_size)))
            return err;
        if (cell2arg && cellvars) {
            if ((err = pyh_kind_var_len(heap, cellvars, &ncells))) return err;
            *size += 8 * ncells;
        }
        if (opcache) {
            if ((err = pyh_kind_field(heap, obj, bytes, avail, L->code_code, 8, &code)) ||
                (err = pyh_kind_var_len(heap, code, &ncode)))
                return err;
            *size += ncode / 2 + opcache_size * (uint64_t)L->opcache_entry_size;
        }
    }
    if ((err = extra_size(heap, obj, bytes, avail, &extra))) return err;
    *size += extra;
    return NULL;
}

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    const struct pyh_layout *L = &w->heap->rt->layout;
    pyh_walk_field(w, obj, L->code_consts, "co_consts");
    pyh_walk_field(w, obj, L->code_names, "co_names");
    pyh_walk_field(w, obj, L->code_varnames, "co_varnames");
    pyh_walk_field(w, obj, L->code_localsplusnames, "co_localsplusnames");
    pyh_walk_field(w, obj, L->code_cellvars, "co_cellvars");
    pyh_walk_field(w, obj, L->code_freevars, "co_freevars");
    pyh_walk_field(w, obj, L->code_filename, "co_filename");
    pyh_walk_field(w, obj, L->code_name, "co_name");
    pyh_walk_field(w, obj, L->code_qualname, "co_qualname");
    pyh_walk_field(w, obj, L->code_code, "co_code");
    pyh_walk_field(w, obj, L->code_lnotab, "co_lnotab");
    pyh_walk_field(w, obj, L->code_linetable, "co_linetable");
    pyh_walk_field(w, obj, L->code_exceptiontable, "co_exceptiontable");
    pyh_walk_field(w, obj, L->code_localspluskinds, "co_localspluskinds");
    pyh_walk_field(w, obj, L->code_co_code, "co_code"); /* 3.11: the bytes co_code made, kept */
    if (L->code_co_cached < 0) return;
    /* 3.12+: _PyCoCached {_co_code, _co_varnames, _co_cellvars, _co_freevars}, malloc'ed
     * when one of them is first asked for. */
    uint64_t cached = pyh_walk_read(w, obj + (uint64_t)L->code_co_cached);
    static const char *const names[4] = {"co_code", "co_varnames", "co_cellvars", "co_freevars"};
    for (int k = 0; cached && k < 4; k++)
        pyh_walk_field(w, cached, 8 * k, names[k]);
}

static void preview(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr, int depth,
                    char *buf, size_t cap, size_t *len)
{
    (void)t, (void)depth;
    const struct pyh_layout *L = &heap->rt->layout;
    char name[256], file[512];
    int32_t line = 0;
    pyh_str_field(heap, addr, L->code_name, name, sizeof(name));
    pyh_str_field(heap, addr, L->code_filename, file, sizeof(file));
    pyh_error_free(pyh_target_read(heap->rt->target, addr + (uint64_t)L->code_firstlineno, &line, 4));
    pyh_put(buf, cap, len, "<code object %s at 0x%llx, file \"%s\", line %d>", name,
            (unsigned long long)addr, file, line);
}

const struct pyh_kind pyh_kind_code = {
    .name = "code",
    .statics = {PYH_KIND_STATIC(code)},
    .native_pointers = true,
    .size = size,
    .referents = referents,
    .preview = preview,
};
