/* Reading 3.13's _Py_DebugOffsets; see debug_offsets.h. The layout of the table itself
 * (3.13.0: cookie[8], version, free_threaded, then sub-tables that each start with the size
 * of the struct they describe) is from Include/internal/pycore_runtime.h. */
#include "runtime/debug_offsets.h"

#include <string.h>

#include "runtime/runtime.h"

#define COOKIE "xdebugpy"
#define TABLE_SIZE 584 /* sizeof(_Py_DebugOffsets) in 3.13.0 */

/* Word indexes in the table (each entry is a uint64_t). */
enum {
    W_VERSION = 1,
    W_FREE_THREADED = 2,
    W_RUNTIME_SIZE = 3,
    W_RUNTIME_INTERPRETERS_HEAD = 5,
    W_INTERP_SIZE = 6,
    W_INTERP_ID,
    W_INTERP_NEXT,
    W_INTERP_THREADS_HEAD,
    W_INTERP_GC,
    W_INTERP_MODULES,
    W_INTERP_SYSDICT,
    W_INTERP_BUILTINS,
    W_TSTATE_SIZE = 19,
    W_TSTATE_PREV,
    W_TSTATE_NEXT,
    W_TSTATE_INTERP,
    W_TSTATE_CURRENT_FRAME,
    W_TSTATE_THREAD_ID,
    W_TSTATE_NATIVE_THREAD_ID,
    W_FRAME_SIZE = 28,
    W_FRAME_PREVIOUS,
    W_FRAME_EXECUTABLE,
    W_FRAME_INSTR_PTR,
    W_FRAME_LOCALSPLUS,
    W_FRAME_OWNER,
    W_CODE_SIZE = 34,
    W_CODE_FILENAME,
    W_CODE_NAME,
    W_CODE_QUALNAME,
    W_CODE_LINETABLE,
    W_CODE_FIRSTLINENO,
    W_CODE_ARGCOUNT,
    W_CODE_LOCALSPLUSNAMES,
    W_CODE_LOCALSPLUSKINDS,
    W_CODE_CODE_ADAPTIVE,
    W_OBJECT_SIZE = 44,
    W_TYPE_SIZE = 46,
    W_TYPE_NAME,
    W_TYPE_REPR,
    W_TYPE_FLAGS,
    W_TUPLE_SIZE = 50,
    W_TUPLE_ITEMS,
    W_LIST_SIZE = 53,
    W_LIST_ITEMS,
    W_DICT_SIZE = 56,
    W_DICT_KEYS,
    W_DICT_VALUES,
    W_FLOAT_SIZE = 59,
    W_FLOAT_VALUE,
    W_LONG_SIZE = 61,
    W_LONG_TAG,
    W_LONG_DIGITS,
    W_BYTES_SIZE = 64,
    W_BYTES_SIZE_FIELD,
    W_BYTES_SVAL,
    W_UNICODE_SIZE = 67,
    W_UNICODE_STATE,
    W_UNICODE_LENGTH,
    W_UNICODE_ASCII_SIZE,
    W_GC_SIZE = 71,
    W_GC_COLLECTING,
    W_COUNT = TABLE_SIZE / 8
};

bool pyh_debug_offsets_version(struct pyh_target *t, uint64_t runtime_addr, uint64_t *version)
{
    uint64_t head[2];
    struct pyh_error *err = pyh_target_read(t, runtime_addr, head, sizeof(head));
    if (err) {
        pyh_error_free(err);
        return false;
    }
    if (memcmp(&head[0], COOKIE, 8) != 0) return false;
    *version = head[1];
    return true;
}

/* One published offset and the layout field it sets. */
struct mapping {
    int word;      /* index of the offset in the table */
    int size_word; /* index of the size of the struct it is an offset into */
    size_t field;  /* offsetof(struct pyh_layout, ...) */
};

#define MAP(w, s, f) {w, s, offsetof(struct pyh_layout, f)}
static const struct mapping mappings[] = {
    MAP(W_RUNTIME_INTERPRETERS_HEAD, W_RUNTIME_SIZE, rt_interpreters_head),
    MAP(W_INTERP_ID, W_INTERP_SIZE, interp_id),
    MAP(W_INTERP_NEXT, W_INTERP_SIZE, interp_next),
    MAP(W_INTERP_THREADS_HEAD, W_INTERP_SIZE, interp_threads_head),
    MAP(W_INTERP_GC, W_INTERP_SIZE, interp_gc),
    MAP(W_INTERP_MODULES, W_INTERP_SIZE, interp_modules),
    MAP(W_INTERP_SYSDICT, W_INTERP_SIZE, interp_sysdict),
    MAP(W_INTERP_BUILTINS, W_INTERP_SIZE, interp_builtins),
    MAP(W_TSTATE_NEXT, W_TSTATE_SIZE, tstate_next),
    MAP(W_TSTATE_INTERP, W_TSTATE_SIZE, tstate_interp),
    MAP(W_TSTATE_CURRENT_FRAME, W_TSTATE_SIZE, tstate_current_frame),
    MAP(W_TSTATE_THREAD_ID, W_TSTATE_SIZE, tstate_thread_id),
    MAP(W_TSTATE_NATIVE_THREAD_ID, W_TSTATE_SIZE, tstate_native_thread_id),
    MAP(W_FRAME_PREVIOUS, W_FRAME_SIZE, iframe_previous),
    MAP(W_FRAME_EXECUTABLE, W_FRAME_SIZE, iframe_code),
    MAP(W_FRAME_INSTR_PTR, W_FRAME_SIZE, iframe_instr),
    MAP(W_FRAME_LOCALSPLUS, W_FRAME_SIZE, iframe_localsplus),
    MAP(W_FRAME_OWNER, W_FRAME_SIZE, iframe_owner),
    MAP(W_CODE_FILENAME, W_CODE_SIZE, code_filename),
    MAP(W_CODE_NAME, W_CODE_SIZE, code_name),
    MAP(W_CODE_QUALNAME, W_CODE_SIZE, code_qualname),
    MAP(W_CODE_LINETABLE, W_CODE_SIZE, code_linetable),
    MAP(W_CODE_FIRSTLINENO, W_CODE_SIZE, code_firstlineno),
    MAP(W_CODE_ARGCOUNT, W_CODE_SIZE, code_argcount),
    MAP(W_CODE_LOCALSPLUSNAMES, W_CODE_SIZE, code_localsplusnames),
    MAP(W_CODE_CODE_ADAPTIVE, W_CODE_SIZE, code_code_adaptive),
    MAP(W_TYPE_NAME, W_TYPE_SIZE, type_name),
    MAP(W_TYPE_FLAGS, W_TYPE_SIZE, type_flags),
    MAP(W_TUPLE_ITEMS, W_TUPLE_SIZE, tuple_items),
    MAP(W_LIST_ITEMS, W_LIST_SIZE, list_items),
    MAP(W_DICT_KEYS, W_DICT_SIZE, dict_keys),
    MAP(W_DICT_VALUES, W_DICT_SIZE, dict_values),
    MAP(W_FLOAT_VALUE, W_FLOAT_SIZE, float_value),
    MAP(W_LONG_TAG, W_LONG_SIZE, long_tag),
    MAP(W_LONG_DIGITS, W_LONG_SIZE, long_digits),
    MAP(W_BYTES_SVAL, W_BYTES_SIZE, bytes_sval),
    MAP(W_UNICODE_STATE, W_UNICODE_SIZE, ascii_state),
    MAP(W_UNICODE_LENGTH, W_UNICODE_SIZE, ascii_length),
    MAP(W_UNICODE_ASCII_SIZE, W_UNICODE_SIZE, ascii_size),
    MAP(W_GC_COLLECTING, W_GC_SIZE, gc_collecting),
};

bool pyh_debug_offsets_apply(struct pyh_runtime *rt)
{
    uint64_t w[W_COUNT];
    struct pyh_error *err = pyh_target_read(rt->target, rt->runtime_addr, w, sizeof(w));
    if (err) {
        pyh_error_free(err);
        return false;
    }
    if (memcmp(&w[0], COOKIE, 8) != 0) return false;
    if (w[W_FREE_THREADED]) {
        pyh_diag_warn(rt->diag, "this is a free-threaded build (no GIL); py-heap reads only the "
                                "default build, results are likely wrong");
        return false;
    }
    /* The table was designed to grow: only a 3.13 table is read as one. */
    if (((w[W_VERSION] >> 16) & 0xffff) != 0x030d) return false;
    for (size_t i = 0; i < sizeof(mappings) / sizeof(mappings[0]); i++) {
        const struct mapping *m = &mappings[i];
        uint64_t size = w[m->size_word];
        if (size == 0 || size > (1u << 24) || w[m->word] >= size) {
            pyh_diag_warn(rt->diag, "_Py_DebugOffsets at 0x%llx is inconsistent (entry %d is %llu "
                                    "in a struct of %llu bytes); using the built-in layout",
                          (unsigned long long)rt->runtime_addr, m->word,
                          (unsigned long long)w[m->word], (unsigned long long)size);
            return false;
        }
    }
    for (size_t i = 0; i < sizeof(mappings) / sizeof(mappings[0]); i++)
        *(int32_t *)((char *)&rt->layout + mappings[i].field) = (int32_t)w[mappings[i].word];
    return true;
}
