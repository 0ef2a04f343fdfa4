/* Reading the _Py_DebugOffsets of 3.13+; see debug_offsets.h.
 *
 * The table has no layout version of its own: which word holds which offset depends on the
 * minor version (3.13: 584 bytes, 3.14: 760, 3.15: 888). Each version's word order below is
 * the declaration order of struct _Py_DebugOffsets in that version's headers
 * (Include/internal/pycore_runtime.h in 3.13, pycore_debug_offsets.h from 3.14; read from
 * Debian sid's python3.13/3.14/3.15-dev): every member is a uint64_t but the 8-byte cookie,
 * and the members of each section are offsets into the struct whose size is the section's
 * "size" member. An offset is taken by its name, so an entry a version lacks is left to the
 * built-in table. */
#include "runtime/debug_offsets.h"

#include <string.h>

#include "runtime/runtime.h"

#define COOKIE "xdebugpy"
#define MAX_STRUCT_SIZE (1u << 24) /* _PyRuntimeState, the largest, is ~350 KiB */

/* clang-format off */
static const char *const words_313[] = {
    "cookie", "version", "free_threaded", "runtime_state.size", "runtime_state.finalizing",
    "runtime_state.interpreters_head", "interpreter_state.size", "interpreter_state.id",
    "interpreter_state.next", "interpreter_state.threads_head", "interpreter_state.gc",
    "interpreter_state.imports_modules", "interpreter_state.sysdict",
    "interpreter_state.builtins", "interpreter_state.ceval_gil",
    "interpreter_state.gil_runtime_state", "interpreter_state.gil_runtime_state_enabled",
    "interpreter_state.gil_runtime_state_locked", "interpreter_state.gil_runtime_state_holder",
    "thread_state.size", "thread_state.prev", "thread_state.next", "thread_state.interp",
    "thread_state.current_frame", "thread_state.thread_id", "thread_state.native_thread_id",
    "thread_state.datastack_chunk", "thread_state.status", "interpreter_frame.size",
    "interpreter_frame.previous", "interpreter_frame.executable", "interpreter_frame.instr_ptr",
    "interpreter_frame.localsplus", "interpreter_frame.owner", "code_object.size",
    "code_object.filename", "code_object.name", "code_object.qualname", "code_object.linetable",
    "code_object.firstlineno", "code_object.argcount", "code_object.localsplusnames",
    "code_object.localspluskinds", "code_object.co_code_adaptive", "pyobject.size",
    "pyobject.ob_type", "type_object.size", "type_object.tp_name", "type_object.tp_repr",
    "type_object.tp_flags", "tuple_object.size", "tuple_object.ob_item", "tuple_object.ob_size",
    "list_object.size", "list_object.ob_item", "list_object.ob_size", "dict_object.size",
    "dict_object.ma_keys", "dict_object.ma_values", "float_object.size", "float_object.ob_fval",
    "long_object.size", "long_object.lv_tag", "long_object.ob_digit", "bytes_object.size",
    "bytes_object.ob_size", "bytes_object.ob_sval", "unicode_object.size",
    "unicode_object.state", "unicode_object.length", "unicode_object.asciiobject_size",
    "gc.size", "gc.collecting",
};

static const char *const words_314[] = {
    "cookie", "version", "free_threaded", "runtime_state.size", "runtime_state.finalizing",
    "runtime_state.interpreters_head", "interpreter_state.size", "interpreter_state.id",
    "interpreter_state.next", "interpreter_state.threads_head",
    "interpreter_state.threads_main", "interpreter_state.gc",
    "interpreter_state.imports_modules", "interpreter_state.sysdict",
    "interpreter_state.builtins", "interpreter_state.ceval_gil",
    "interpreter_state.gil_runtime_state", "interpreter_state.gil_runtime_state_enabled",
    "interpreter_state.gil_runtime_state_locked", "interpreter_state.gil_runtime_state_holder",
    "interpreter_state.code_object_generation", "interpreter_state.tlbc_generation",
    "thread_state.size", "thread_state.prev", "thread_state.next", "thread_state.interp",
    "thread_state.current_frame", "thread_state.thread_id", "thread_state.native_thread_id",
    "thread_state.datastack_chunk", "thread_state.status", "interpreter_frame.size",
    "interpreter_frame.previous", "interpreter_frame.executable", "interpreter_frame.instr_ptr",
    "interpreter_frame.localsplus", "interpreter_frame.owner", "interpreter_frame.stackpointer",
    "interpreter_frame.tlbc_index", "code_object.size", "code_object.filename",
    "code_object.name", "code_object.qualname", "code_object.linetable",
    "code_object.firstlineno", "code_object.argcount", "code_object.localsplusnames",
    "code_object.localspluskinds", "code_object.co_code_adaptive", "code_object.co_tlbc",
    "pyobject.size", "pyobject.ob_type", "type_object.size", "type_object.tp_name",
    "type_object.tp_repr", "type_object.tp_flags", "tuple_object.size", "tuple_object.ob_item",
    "tuple_object.ob_size", "list_object.size", "list_object.ob_item", "list_object.ob_size",
    "set_object.size", "set_object.used", "set_object.table", "set_object.mask",
    "dict_object.size", "dict_object.ma_keys", "dict_object.ma_values", "float_object.size",
    "float_object.ob_fval", "long_object.size", "long_object.lv_tag", "long_object.ob_digit",
    "bytes_object.size", "bytes_object.ob_size", "bytes_object.ob_sval", "unicode_object.size",
    "unicode_object.state", "unicode_object.length", "unicode_object.asciiobject_size",
    "gc.size", "gc.collecting", "gen_object.size", "gen_object.gi_name", "gen_object.gi_iframe",
    "gen_object.gi_frame_state", "llist_node.next", "llist_node.prev",
    "debugger_support.eval_breaker", "debugger_support.remote_debugger_support",
    "debugger_support.remote_debugging_enabled", "debugger_support.debugger_pending_call",
    "debugger_support.debugger_script_path", "debugger_support.debugger_script_path_size",
};

static const char *const words_315[] = {
    "cookie", "version", "free_threaded", "runtime_state.size", "runtime_state.finalizing",
    "runtime_state.interpreters_head", "interpreter_state.size", "interpreter_state.id",
    "interpreter_state.next", "interpreter_state.threads_head",
    "interpreter_state.threads_main", "interpreter_state.gc",
    "interpreter_state.imports_modules", "interpreter_state.sysdict",
    "interpreter_state.builtins", "interpreter_state.ceval_gil",
    "interpreter_state.gil_runtime_state", "interpreter_state.gil_runtime_state_enabled",
    "interpreter_state.gil_runtime_state_locked", "interpreter_state.gil_runtime_state_holder",
    "interpreter_state.code_object_generation", "interpreter_state.tlbc_generation",
    "thread_state.size", "thread_state.prev", "thread_state.next", "thread_state.interp",
    "thread_state.current_frame", "thread_state.base_frame", "thread_state.last_profiled_frame",
    "thread_state.last_profiled_frame_seq", "thread_state.thread_id",
    "thread_state.native_thread_id", "thread_state.datastack_chunk", "thread_state.status",
    "thread_state.holds_gil", "thread_state.gil_requested", "thread_state.current_exception",
    "thread_state.exc_state", "err_stackitem.exc_value", "interpreter_frame.size",
    "interpreter_frame.previous", "interpreter_frame.executable", "interpreter_frame.instr_ptr",
    "interpreter_frame.localsplus", "interpreter_frame.owner", "interpreter_frame.stackpointer",
    "interpreter_frame.tlbc_index", "code_object.size", "code_object.filename",
    "code_object.name", "code_object.qualname", "code_object.linetable",
    "code_object.firstlineno", "code_object.argcount", "code_object.localsplusnames",
    "code_object.localspluskinds", "code_object.co_code_adaptive", "code_object.co_tlbc",
    "pyobject.size", "pyobject.ob_type", "type_object.size", "type_object.tp_name",
    "type_object.tp_repr", "type_object.tp_flags", "type_object.tp_basicsize",
    "type_object.tp_dictoffset", "heap_type_object.size", "heap_type_object.ht_cached_keys",
    "tuple_object.size", "tuple_object.ob_item", "tuple_object.ob_size", "list_object.size",
    "list_object.ob_item", "list_object.ob_size", "set_object.size", "set_object.used",
    "set_object.table", "set_object.mask", "dict_object.size", "dict_object.ma_keys",
    "dict_object.ma_values", "float_object.size", "float_object.ob_fval", "long_object.size",
    "long_object.lv_tag", "long_object.ob_digit", "bytes_object.size", "bytes_object.ob_size",
    "bytes_object.ob_sval", "unicode_object.size", "unicode_object.state",
    "unicode_object.length", "unicode_object.asciiobject_size",
    "unicode_object.compactunicodeobject_size", "gc.size", "gc.collecting", "gc.frame",
    "gc.generation_stats_size", "gc.generation_stats", "gen_object.size", "gen_object.gi_name",
    "gen_object.gi_iframe", "gen_object.gi_frame_state", "llist_node.next", "llist_node.prev",
    "debugger_support.eval_breaker", "debugger_support.remote_debugger_support",
    "debugger_support.remote_debugging_enabled", "debugger_support.debugger_pending_call",
    "debugger_support.debugger_script_path", "debugger_support.debugger_script_path_size",
};
/* clang-format on */

#define WORDS(a) a, sizeof(a) / sizeof(a[0])
static const struct version_words {
    int minor;
    const char *const *names;
    size_t n;
} versions[] = {
    {13, WORDS(words_313)}, {14, WORDS(words_314)}, {15, WORDS(words_315)},
};
#define NVERSIONS (sizeof(versions) / sizeof(versions[0]))
#define MAX_WORDS 128

/* One published offset (or struct size) and the layout field it sets. */
struct mapping {
    const char *name; /* "interpreter_state.gc" */
    size_t field;     /* offsetof(struct pyh_layout, ...) */
    int width;        /* bytes read at the offset (it must fit in the struct); 0: a size */
    bool ft_only;     /* published as 0 by a default build (no such member there) */
};

#define MAP(n, f, w) {n, offsetof(struct pyh_layout, f), w, false}
#define MAP_FT(n, f, w) {n, offsetof(struct pyh_layout, f), w, true}
static const struct mapping mappings[] = {
    MAP("runtime_state.interpreters_head", rt_interpreters_head, 8),
    MAP("interpreter_state.id", interp_id, 8),
    MAP("interpreter_state.next", interp_next, 8),
    MAP("interpreter_state.threads_head", interp_threads_head, 8),
    MAP("interpreter_state.gc", interp_gc, 8),
    MAP("interpreter_state.imports_modules", interp_modules, 8),
    MAP("interpreter_state.sysdict", interp_sysdict, 8),
    MAP("interpreter_state.builtins", interp_builtins, 8),
    MAP("thread_state.next", tstate_next, 8),
    MAP("thread_state.interp", tstate_interp, 8),
    MAP("thread_state.current_frame", tstate_current_frame, 8),
    MAP("thread_state.thread_id", tstate_thread_id, 8),
    MAP("thread_state.native_thread_id", tstate_native_thread_id, 8),
    MAP("interpreter_frame.previous", iframe_previous, 8),
    MAP("interpreter_frame.executable", iframe_code, 8),
    MAP("interpreter_frame.instr_ptr", iframe_instr, 8),
    MAP("interpreter_frame.localsplus", iframe_localsplus, 8),
    MAP("interpreter_frame.owner", iframe_owner, 1),
    MAP("interpreter_frame.stackpointer", iframe_stackpointer, 8),
    MAP_FT("interpreter_frame.tlbc_index", iframe_tlbc_index, 4),
    MAP_FT("code_object.co_tlbc", code_tlbc, 8),
    MAP("code_object.filename", code_filename, 8),
    MAP("code_object.name", code_name, 8),
    MAP("code_object.qualname", code_qualname, 8),
    MAP("code_object.linetable", code_linetable, 8),
    MAP("code_object.firstlineno", code_firstlineno, 4),
    MAP("code_object.argcount", code_argcount, 4),
    MAP("code_object.localsplusnames", code_localsplusnames, 8),
    MAP("code_object.localspluskinds", code_localspluskinds, 8),
    MAP("code_object.co_code_adaptive", code_code_adaptive, 2),
    MAP("pyobject.ob_type", object_type, 8),
    MAP("pyobject.size", object_size, 0),
    MAP("type_object.size", type_size, 0),
    MAP("type_object.tp_name", type_name, 8),
    MAP("type_object.tp_flags", type_flags, 8),
    MAP("type_object.tp_basicsize", type_basicsize, 8),
    MAP("type_object.tp_dictoffset", type_dictoffset, 8),
    MAP("heap_type_object.size", heaptype_size, 0),
    MAP("heap_type_object.ht_cached_keys", heaptype_cached_keys, 8),
    MAP("tuple_object.ob_item", tuple_items, 0),
    MAP("list_object.ob_item", list_items, 8),
    MAP("set_object.table", set_table, 8),
    MAP("set_object.mask", set_mask, 8),
    MAP("dict_object.ma_keys", dict_keys, 8),
    MAP("dict_object.ma_values", dict_values, 8),
    MAP("float_object.ob_fval", float_value, 8),
    MAP("long_object.lv_tag", long_tag, 8),
    MAP("long_object.ob_digit", long_digits, 0),
    MAP("bytes_object.ob_sval", bytes_sval, 0),
    MAP("unicode_object.state", ascii_state, 4),
    MAP("unicode_object.length", ascii_length, 8),
    MAP("unicode_object.asciiobject_size", ascii_size, 0),
    MAP("unicode_object.compactunicodeobject_size", compact_size, 0),
    MAP("gc.collecting", gc_collecting, 4),
    MAP("gen_object.gi_name", gen_name, 8),
    MAP("gen_object.gi_iframe", gen_iframe, 0),
};

static const struct version_words *words_for(int minor)
{
    if (minor < versions[0].minor) return NULL;
    for (size_t i = 0; i < NVERSIONS; i++)
        if (versions[i].minor == minor) return &versions[i];
    return &versions[NVERSIONS - 1]; /* newer than py-heap: the newest table it knows */
}

/* Index of the word called name in v, -1 when the version has none. */
static int word_index(const struct version_words *v, const char *name)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->names[i], name) == 0) return (int)i;
    return -1;
}

/* Index of the size word of the section name belongs to ("gc.collecting" -> "gc.size"). */
static int size_index(const struct version_words *v, const char *name)
{
    char size[96];
    size_t section = strcspn(name, ".");
    snprintf(size, sizeof(size), "%.*s.size", (int)section, name);
    return word_index(v, size);
}

int pyh_debug_offsets_table_minor(int minor)
{
    const struct version_words *v = words_for(minor);
    return v ? v->minor : -1;
}

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

/* True when the pointer at base + offset is 0 (if may_be_null) or lies in a mapping. */
static bool pointer_lands(struct pyh_runtime *rt, uint64_t base, int32_t offset, bool may_be_null)
{
    uint64_t p;
    struct pyh_error *err = pyh_read_u64(rt->target, base + (uint64_t)offset, &p);
    if (err) {
        pyh_error_free(err);
        return false;
    }
    return (p == 0 && may_be_null) || (p && pyh_target_mapping_at(rt->target, p));
}

static bool reject(struct pyh_runtime *rt, const char *fmt, const char *name, uint64_t a,
                   uint64_t b)
{
    char why[256];
    snprintf(why, sizeof(why), fmt, name, (unsigned long long)a, (unsigned long long)b);
    pyh_diag_warn(rt->diag, "_Py_DebugOffsets at 0x%llx does not check out (%s); using the "
                            "built-in layout of 3.%d",
                  (unsigned long long)rt->runtime_addr, why, rt->layout_minor);
    return false;
}

bool pyh_debug_offsets_apply(struct pyh_runtime *rt)
{
    const struct version_words *v = words_for(rt->minor);
    /* A word table longer than the buffer (a future version's) would overrun it. */
    if (!v || v->n > MAX_WORDS) return false;
    uint64_t w[MAX_WORDS];
    struct pyh_error *err = pyh_target_read(rt->target, rt->runtime_addr, w, 8 * v->n);
    if (err) {
        pyh_error_free(err);
        return false;
    }
    if (memcmp(&w[0], COOKIE, 8) != 0) return false;
    if (w[2] && !rt->free_threaded) {
        /* A free-threaded build publishes the same words with its own values: the built-in
         * layout they are laid over must be the free-threaded one too (pyh_runtime_open
         * refuses the versions it has none for). */
        rt->free_threaded = true;
        if (rt->minor < 14) return false;
        pyh_layout_free_threaded(rt->layout_minor, &rt->layout);
    }
    if (((w[1] >> 24) & 0xff) != 3 || (int)((w[1] >> 16) & 0xff) != rt->minor)
        return reject(rt, "%s is 0x%llx, not 3.%llu", "its version", w[1], (uint64_t)rt->minor);
    /* Every offset within the struct it is an offset into, by that struct's own size. */
    struct pyh_layout layout = rt->layout;
    for (size_t i = 0; i < sizeof(mappings) / sizeof(mappings[0]); i++) {
        const struct mapping *m = &mappings[i];
        int at = word_index(v, m->name), size_at = size_index(v, m->name);
        if (at < 0 || size_at < 0 || (m->ft_only && !rt->free_threaded)) continue;
        uint64_t size = w[size_at], value = w[at];
        if (size == 0 || size > MAX_STRUCT_SIZE)
            return reject(rt, "the struct of %s claims %llu bytes%.0llu", m->name, size, 0);
        if (m->width ? value + (uint64_t)m->width > size : value > size)
            return reject(rt, "%s is %llu in a struct of %llu bytes", m->name, value, size);
        *(int32_t *)((char *)&layout + m->field) = (int32_t)value;
    }
    /* The object header is the one the readers of counts and GC bits know (refcount.h): 16
     * bytes with ob_type at 8, or free-threaded 32 with ob_type at 24. Every read of a header
     * is sized by these two (a 32-byte copy of a type's header, the static scan's window): a
     * table that moves them is damage, not a layout. */
    if (layout.object_type != rt->layout.object_type || layout.object_size != rt->layout.object_size)
        return reject(rt, "%s is at %llu in a header of %llu bytes", "pyobject.ob_type",
                      (uint64_t)layout.object_type, (uint64_t)layout.object_size);
    /* The pointers the table leads to land in the target's memory: the interpreter list,
     * and the main interpreter's thread list, sys dict and modules. */
    uint64_t interp;
    if (!pointer_lands(rt, rt->runtime_addr, layout.rt_interpreters_head, false))
        return reject(rt, "%s leads nowhere%.0llu%.0llu", "runtime_state.interpreters_head", 0, 0);
    if ((err = pyh_read_u64(rt->target, rt->runtime_addr + (uint64_t)layout.rt_interpreters_head,
                            &interp))) {
        pyh_error_free(err);
        return false;
    }
    if (!pointer_lands(rt, interp, layout.interp_threads_head, true) ||
        !pointer_lands(rt, interp, layout.interp_sysdict, false) ||
        !pointer_lands(rt, interp, layout.interp_modules, false))
        return reject(rt, "%s: threads, sys or modules lead nowhere%.0llu%.0llu",
                      "the first interpreter", 0, 0);
    rt->layout = layout;
    return true;
}
