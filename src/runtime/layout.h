/* The layout of CPython's structs: one struct of byte offsets per target, filled from the
 * built-in table of the target's minor version, then from the _Py_DebugOffsets of 3.13+,
 * then from DWARF when the target has it.
 *
 * PYH_LAYOUT_FIELDS is the table itself: one row per field, naming the DWARF type and member
 * path it comes from (alternatives separated by '|', for members that were renamed), and its
 * built-in value for 3.8 to 3.15 (-1: the member does not exist in that version). The values
 * were read from the DWARF of the pyenv interpreters (3.8-3.13) and of Debian sid's
 * python3.14/python3.15 -dbg packages (3.14.10, 3.15.2); tests/unit/test_layout_dwarf.c checks
 * every one of them against the DWARF of every interpreter installed. A member path of "" means the size of the type. */
#ifndef PYH_RUNTIME_LAYOUT_H
#define PYH_RUNTIME_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* clang-format off */
#define PYH_LAYOUT_FIELDS(X)                                                                                                         \
    /* field                 DWARF type              member path                   3.8   3.9   3.10  3.11  3.12  3.13  3.14  3.15 */ \
    X(rt_interpreters_head,    "_PyRuntimeState",      "interpreters.head",          32,   32,   32,   40,   40,   632,  808,  936)  \
    X(rt_interpreters_main,    "_PyRuntimeState",      "interpreters.main",          40,   40,   40,   48,   48,   640,  816,  944)  \
    X(rt_gc,                   "_PyRuntimeState",      "gc",                         344,  -1,   -1,   -1,   -1,   -1,   -1,   -1)   \
    X(interp_next,             "PyInterpreterState",   "next",                       0,    0,    0,    0,    0,    7264, 7272, 7264) \
    X(interp_id,               "PyInterpreterState",   "id",                         16,   24,   24,   48,   8,    7272, 7280, 7272) \
    X(interp_threads_head,     "PyInterpreterState",   "tstate_head|threads.head",   8,    8,    8,    16,   72,   7344, 7344, 7336) \
    X(interp_modules,          "PyInterpreterState",   "modules|imports.modules",    56,   856,  856,  888,  944,  7656, 7688, 7592) \
    X(interp_sysdict,          "PyInterpreterState",   "sysdict",                    72,   872,  872,  904,  352,  7640, 7672, 7576) \
    X(interp_builtins,         "PyInterpreterState",   "builtins",                   80,   880,  880,  912,  360,  7648, 7680, 7584) \
    X(interp_dict,             "PyInterpreterState",   "dict",                       544,  1376, 1344, 1400, 1720, 8448, 8496, 8448) \
    X(interp_gc,               "PyInterpreterState",   "gc",                         -1,   616,  616,  648,  112,  7400, 7408, 7400) \
    X(interp_obmalloc,         "PyInterpreterState",   "obmalloc",                   -1,   -1,   -1,   -1,   3960, 10800, 10904, 10880)\
    X(tstate_next,             "PyThreadState",        "next",                       8,    8,    8,    8,    8,    8,    8,    8)    \
    X(tstate_interp,           "PyThreadState",        "interp",                     16,   16,   16,   16,   16,   16,   16,   16)   \
    X(tstate_frame,            "PyThreadState",        "frame",                      24,   24,   24,   -1,   -1,   -1,   -1,   -1)   \
    X(tstate_cframe,           "PyThreadState",        "cframe",                     -1,   -1,   48,   56,   56,   -1,   -1,   -1)   \
    X(tstate_current_frame,    "PyThreadState",        "current_frame",              -1,   -1,   -1,   -1,   -1,   72,   72,   72)   \
    X(tstate_thread_id,        "PyThreadState",        "thread_id",                  176,  176,  176,  152,  136,  152,  152,  176)  \
    X(tstate_native_thread_id, "PyThreadState",        "native_thread_id",           -1,   -1,   -1,   160,  144,  160,  160,  184)  \
    X(tstate_dict,             "PyThreadState",        "dict",                       152,  152,  152,  128,  112,  128,  128,  152)  \
    X(cframe_current_frame,    "_PyCFrame",            "current_frame",              -1,   -1,   -1,   8,    0,    -1,   -1,   -1)   \
    X(iframe_code,             "_PyInterpreterFrame",  "f_code|f_executable",        -1,   -1,   -1,   32,   0,    0,    0,    0)    \
    X(iframe_previous,         "_PyInterpreterFrame",  "previous",                   -1,   -1,   -1,   48,   8,    8,    8,    8)    \
    X(iframe_instr,            "_PyInterpreterFrame",  "prev_instr|instr_ptr",       -1,   -1,   -1,   56,   56,   56,   56,   56)   \
    X(iframe_owner,            "_PyInterpreterFrame",  "owner",                      -1,   -1,   -1,   69,   70,   70,   74,   74)   \
    X(iframe_localsplus,       "_PyInterpreterFrame",  "localsplus",                 -1,   -1,   -1,   72,   72,   72,   80,   80)   \
    X(iframe_stacktop,         "_PyInterpreterFrame",  "stacktop",                   -1,   -1,   -1,   64,   64,   64,   -1,   -1)   \
    X(iframe_stackpointer,     "_PyInterpreterFrame",  "stackpointer",               -1,   -1,   -1,   -1,   -1,   -1,   64,   64)   \
    X(iframe_frame_obj,        "_PyInterpreterFrame",  "frame_obj",                  -1,   -1,   -1,   40,   48,   48,   48,   48)   \
    X(iframe_locals,           "_PyInterpreterFrame",  "f_locals",                   -1,   -1,   -1,   24,   40,   40,   40,   40)   \
    X(iframe_globals,          "_PyInterpreterFrame",  "f_globals",                  -1,   -1,   -1,   8,    24,   24,   24,   24)   \
    X(iframe_func,             "_PyInterpreterFrame",  "f_func|f_funcobj",           -1,   -1,   -1,   0,    16,   16,   16,   16)   \
    X(iframe_tlbc_index,       "_PyInterpreterFrame",  "tlbc_index",                 -1,   -1,   -1,   -1,   -1,   -1,   -1,   -1)   \
    X(iframe_builtins,         "_PyInterpreterFrame",  "f_builtins",                 -1,   -1,   -1,   16,   32,   32,   32,   32)   \
    X(frame_back,              "PyFrameObject",        "f_back",                     24,   24,   24,   16,   16,   16,   16,   16)   \
    X(frame_code,              "PyFrameObject",        "f_code",                     32,   32,   32,   -1,   -1,   -1,   -1,   -1)   \
    X(frame_globals,           "PyFrameObject",        "f_globals",                  48,   48,   48,   -1,   -1,   -1,   -1,   -1)   \
    X(frame_locals,            "PyFrameObject",        "f_locals",                   56,   56,   56,   -1,   -1,   -1,   -1,   -1)   \
    X(frame_lasti,             "PyFrameObject",        "f_lasti",                    104,  104,  96,   -1,   -1,   -1,   -1,   -1)   \
    X(frame_lineno,            "PyFrameObject",        "f_lineno",                   108,  108,  100,  40,   40,   40,   40,   40)   \
    X(frame_iframe,            "PyFrameObject",        "f_frame",                    -1,   -1,   -1,   24,   24,   24,   24,   24)   \
    X(frame_localsplus,        "PyFrameObject",        "f_localsplus",               360,  360,  352,  -1,   -1,   -1,   -1,   -1)   \
    X(frame_builtins,          "PyFrameObject",        "f_builtins",                 40,   40,   40,   -1,   -1,   -1,   -1,   -1)   \
    X(frame_valuestack,        "PyFrameObject",        "f_valuestack",               64,   64,   64,   -1,   -1,   -1,   -1,   -1)   \
    X(frame_stacktop,          "PyFrameObject",        "f_stacktop",                 72,   72,   -1,   -1,   -1,   -1,   -1,   -1)   \
    X(frame_stackdepth,        "PyFrameObject",        "f_stackdepth",               -1,   -1,   80,   -1,   -1,   -1,   -1,   -1)   \
    X(frame_gen,               "PyFrameObject",        "f_gen",                      96,   96,   88,   -1,   -1,   -1,   -1,   -1)   \
    X(code_argcount,           "PyCodeObject",         "co_argcount",                16,   16,   16,   56,   52,   52,   52,   52)   \
    X(code_flags,              "PyCodeObject",         "co_flags",                   36,   36,   36,   48,   48,   48,   48,   48)   \
    X(code_firstlineno,        "PyCodeObject",         "co_firstlineno",             40,   40,   40,   72,   68,   68,   68,   68)   \
    X(code_code,               "PyCodeObject",         "co_code",                    48,   48,   48,   -1,   -1,   -1,   -1,   -1)   \
    X(code_consts,             "PyCodeObject",         "co_consts",                  56,   56,   56,   24,   24,   24,   24,   24)   \
    X(code_names,              "PyCodeObject",         "co_names",                   64,   64,   64,   32,   32,   32,   32,   32)   \
    X(code_varnames,           "PyCodeObject",         "co_varnames",                72,   72,   72,   -1,   -1,   -1,   -1,   -1)   \
    X(code_localsplusnames,    "PyCodeObject",         "co_localsplusnames",         -1,   -1,   -1,   96,   96,   96,   96,   96)   \
    X(code_cellvars,           "PyCodeObject",         "co_cellvars",                88,   88,   88,   -1,   -1,   -1,   -1,   -1)   \
    X(code_freevars,           "PyCodeObject",         "co_freevars",                80,   80,   80,   -1,   -1,   -1,   -1,   -1)   \
    X(code_nlocals,            "PyCodeObject",         "co_nlocals",                 28,   28,   28,   80,   80,   80,   80,   80)   \
    X(code_exceptiontable,     "PyCodeObject",         "co_exceptiontable",          -1,   -1,   -1,   40,   40,   40,   40,   40)   \
    X(code_filename,           "PyCodeObject",         "co_filename",                104,  104,  104,  112,  112,  112,  112,  112)  \
    X(code_name,               "PyCodeObject",         "co_name",                    112,  112,  112,  120,  120,  120,  120,  120)  \
    X(code_qualname,           "PyCodeObject",         "co_qualname",                -1,   -1,   -1,   128,  128,  128,  128,  128)  \
    X(code_lnotab,             "PyCodeObject",         "co_lnotab",                  120,  120,  -1,   -1,   -1,   -1,   -1,   -1)   \
    X(code_linetable,          "PyCodeObject",         "co_linetable",               -1,   -1,   120,  136,  136,  136,  136,  136)  \
    X(code_firsttraceable,     "PyCodeObject",         "_co_firsttraceable",         -1,   -1,   -1,   168,  176,  184,  192,  192)  \
    X(code_stacksize,          "PyCodeObject",         "co_stacksize",               32,   32,   32,   68,   64,   64,   64,   64)   \
    X(code_nlocalsplus,        "PyCodeObject",         "co_nlocalsplus",             -1,   -1,   -1,   76,   72,   72,   72,   72)   \
    X(code_localspluskinds,    "PyCodeObject",         "co_localspluskinds",         -1,   -1,   -1,   104,  104,  104,  104,  104)  \
    X(code_co_code,            "PyCodeObject",         "_co_code",                   -1,   -1,   -1,   152,  -1,   -1,   -1,   -1)   \
    X(code_co_cached,          "PyCodeObject",         "_co_cached",                 -1,   -1,   -1,   -1,   152,  160,  160,  160)  \
    X(gen_frame,               "PyGenObject",          "gi_frame",                   16,   16,   16,   -1,   -1,   -1,   -1,   -1)   \
    X(gen_code,                "PyGenObject",          "gi_code",                    32,   32,   24,   16,   -1,   -1,   -1,   -1)   \
    X(gen_name,                "PyGenObject",          "gi_name",                    48,   48,   40,   32,   24,   24,   24,   24)   \
    X(gen_qualname,            "PyGenObject",          "gi_qualname",                56,   56,   48,   40,   32,   32,   32,   32)   \
    X(gen_exc_type,            "PyGenObject",          "gi_exc_state.exc_type",      64,   64,   56,   -1,   -1,   -1,   -1,   -1)   \
    X(gen_exc_value,           "PyGenObject",          "gi_exc_state.exc_value",     72,   72,   64,   48,   40,   40,   40,   40)   \
    X(gen_exc_traceback,       "PyGenObject",          "gi_exc_state.exc_traceback", 80,   80,   72,   -1,   -1,   -1,   -1,   -1)   \
    X(gen_iframe,              "PyGenObject",          "gi_iframe",                  -1,   -1,   -1,   80,   72,   72,   72,   72)   \
    X(code_code_adaptive,      "PyCodeObject",         "co_code_adaptive",           -1,   -1,   -1,   184,  192,  200,  208,  208)  \
    X(code_tlbc,               "PyCodeObject",         "co_tlbc",                    -1,   -1,   -1,   -1,   -1,   -1,   -1,   -1)   \
    X(code_cell2arg,           "PyCodeObject",         "co_cell2arg",                96,   96,   96,   -1,   -1,   -1,   -1,   -1)   \
    X(code_extra,              "PyCodeObject",         "co_extra",                   144,  144,  144,  176,  184,  192,  200,  200)  \
    X(code_opcache,            "PyCodeObject",         "co_opcache",                 160,  160,  160,  -1,   -1,   -1,   -1,   -1)   \
    X(code_opcache_size,       "PyCodeObject",         "co_opcache_size",            172,  172,  172,  -1,   -1,   -1,   -1,   -1)   \
    X(opcache_entry_size,      "_PyOpcache",           "",                           32,   32,   32,   -1,   -1,   -1,   -1,   -1)   \
    X(deque_leftblock,         "dequeobject",          "leftblock",                  24,   24,   24,   24,   24,   24,   24,   24)   \
    X(deque_leftindex,         "dequeobject",          "leftindex",                  40,   40,   40,   40,   40,   40,   40,   40)   \
    X(type_name,               "PyTypeObject",         "tp_name",                    24,   24,   24,   24,   24,   24,   24,   24)   \
    X(type_basicsize,          "PyTypeObject",         "tp_basicsize",               32,   32,   32,   32,   32,   32,   32,   32)   \
    X(type_itemsize,           "PyTypeObject",         "tp_itemsize",                40,   40,   40,   40,   40,   40,   40,   40)   \
    X(type_flags,              "PyTypeObject",         "tp_flags",                   168,  168,  168,  168,  168,  168,  168,  168)  \
    X(type_weaklistoffset,     "PyTypeObject",         "tp_weaklistoffset",          208,  208,  208,  208,  208,  208,  208,  208)  \
    X(type_base,               "PyTypeObject",         "tp_base",                    256,  256,  256,  256,  256,  256,  256,  256)  \
    X(type_dict,               "PyTypeObject",         "tp_dict",                    264,  264,  264,  264,  264,  264,  264,  264)  \
    X(type_dictoffset,         "PyTypeObject",         "tp_dictoffset",              288,  288,  288,  288,  288,  288,  288,  288)  \
    X(type_bases,              "PyTypeObject",         "tp_bases",                   336,  336,  336,  336,  336,  336,  336,  336)  \
    X(type_mro,                "PyTypeObject",         "tp_mro",                     344,  344,  344,  344,  344,  344,  344,  344)  \
    X(type_subclasses,         "PyTypeObject",         "tp_subclasses",              360,  360,  360,  360,  360,  360,  360,  360)  \
    X(type_size,               "PyTypeObject",         "",                           416,  408,  408,  408,  416,  416,  416,  424)  \
    X(heaptype_name,           "PyHeapTypeObject",     "ht_name",                    848,  840,  848,  848,  856,  856,  856,  864)  \
    X(heaptype_slots,          "PyHeapTypeObject",     "ht_slots",                   856,  848,  856,  856,  864,  864,  864,  872)  \
    X(heaptype_qualname,       "PyHeapTypeObject",     "ht_qualname",                864,  856,  864,  864,  872,  872,  872,  880)  \
    X(heaptype_cached_keys,    "PyHeapTypeObject",     "ht_cached_keys",             872,  864,  872,  872,  880,  880,  880,  888)  \
    X(heaptype_module,         "PyHeapTypeObject",     "ht_module",                  -1,   872,  880,  880,  888,  888,  888,  896)  \
    X(heaptype_size,           "PyHeapTypeObject",     "",                           880,  880,  888,  904,  920,  928,  936,  944)  \
    X(object_size,             "PyObject",             "",                           16,   16,   16,   16,   16,   16,   16,   16)   \
    X(object_type,             "PyObject",             "ob_type",                    8,    8,    8,    8,    8,    8,    8,    8)    \
    X(var_size,                "PyVarObject",          "ob_size",                    16,   16,   16,   16,   16,   16,   16,   16)   \
    X(gchead_size,             "PyGC_Head",            "",                           16,   16,   16,   16,   16,   16,   16,   16)   \
    X(ascii_length,            "PyASCIIObject",        "length",                     16,   16,   16,   16,   16,   16,   16,   16)   \
    X(ascii_state,             "PyASCIIObject",        "state",                      32,   32,   32,   32,   32,   32,   32,   32)   \
    X(ascii_size,              "PyASCIIObject",        "",                           48,   48,   48,   48,   40,   40,   40,   40)   \
    X(ascii_wstr,              "PyASCIIObject",        "wstr",                       40,   40,   40,   40,   -1,   -1,   -1,   -1)   \
    X(compact_size,            "PyCompactUnicodeObject", "",                           72,   72,   72,   72,   56,   56,   56,   56) \
    X(compact_utf8_length,     "PyCompactUnicodeObject", "utf8_length",                48,   48,   48,   48,   40,   40,   40,   40) \
    X(compact_utf8,            "PyCompactUnicodeObject", "utf8",                       56,   56,   56,   56,   48,   48,   48,   48) \
    X(compact_wstr_length,     "PyCompactUnicodeObject", "wstr_length",                64,   64,   64,   64,   -1,   -1,   -1,   -1) \
    X(long_digits,             "PyLongObject",         "ob_digit|long_value.ob_digit",24,   24,   24,   24,   24,   24,   24,   24)  \
    X(long_tag,                "PyLongObject",         "long_value.lv_tag",          -1,   -1,   -1,   -1,   16,   16,   16,   16)   \
    X(float_value,             "PyFloatObject",        "ob_fval",                    16,   16,   16,   16,   16,   16,   16,   16)   \
    X(bytes_sval,              "PyBytesObject",        "ob_sval",                    32,   32,   32,   32,   32,   32,   32,   32)   \
    X(list_items,              "PyListObject",         "ob_item",                    24,   24,   24,   24,   24,   24,   24,   24)   \
    X(list_allocated,          "PyListObject",         "allocated",                  32,   32,   32,   32,   32,   32,   32,   32)   \
    X(tuple_items,             "PyTupleObject",        "ob_item",                    24,   24,   24,   24,   24,   24,   32,   32)   \
    X(dict_used,               "PyDictObject",         "ma_used",                    16,   16,   16,   16,   16,   16,   16,   16)   \
    X(dict_keys,               "PyDictObject",         "ma_keys",                    32,   32,   32,   32,   32,   32,   32,   32)   \
    X(dict_values,             "PyDictObject",         "ma_values",                  40,   40,   40,   40,   40,   40,   40,   40)   \
    X(keys_refcnt,             "PyDictKeysObject",     "dk_refcnt",                  0,    0,    0,    0,    0,    0,    0,    0)    \
    X(keys_usable,             "PyDictKeysObject",     "dk_usable",                  24,   24,   24,   16,   16,   16,   16,   16)   \
    X(keys_header_size,        "PyDictKeysObject",     "",                           40,   40,   40,   32,   32,   32,   32,   32)   \
    X(keys_size,               "PyDictKeysObject",     "dk_size",                    8,    8,    8,    -1,   -1,   -1,   -1,   -1)   \
    X(keys_log2_size,          "PyDictKeysObject",     "dk_log2_size",               -1,   -1,   -1,   8,    8,    8,    8,    8)    \
    X(keys_log2_index_bytes,   "PyDictKeysObject",     "dk_log2_index_bytes",        -1,   -1,   -1,   9,    9,    9,    9,    9)    \
    X(keys_kind,               "PyDictKeysObject",     "dk_kind",                    -1,   -1,   -1,   10,   10,   10,   10,   10)   \
    X(keys_nentries,           "PyDictKeysObject",     "dk_nentries",                32,   32,   32,   24,   24,   24,   24,   24)   \
    X(keys_indices,            "PyDictKeysObject",     "dk_indices",                 40,   40,   40,   32,   32,   32,   32,   32)   \
    X(set_mask,                "PySetObject",          "mask",                       32,   32,   32,   32,   32,   32,   32,   32)   \
    X(set_table,               "PySetObject",          "table",                      40,   40,   40,   40,   40,   40,   40,   40)   \
    X(set_smalltable,          "PySetObject",          "smalltable",                 64,   64,   64,   64,   64,   64,   64,   64)   \
    X(bytearray_alloc,         "PyByteArrayObject",    "ob_alloc",                   24,   24,   24,   24,   24,   24,   24,   24)   \
    X(bytearray_bytes,         "PyByteArrayObject",    "ob_bytes",                   32,   32,   32,   32,   32,   32,   32,   32)   \
    X(bytearray_bytes_object,  "PyByteArrayObject",    "ob_bytes_object",            -1,   -1,   -1,   -1,   -1,   -1,   -1,   56)   \
    X(module_dict,             "PyModuleObject",       "md_dict",                    16,   16,   16,   16,   16,   16,   16,   16)   \
    X(module_def,              "PyModuleObject",       "md_def",                     24,   24,   24,   24,   24,   24,   24,   -1)   \
    X(module_name,             "PyModuleObject",       "md_name",                    48,   48,   48,   48,   48,   48,   48,   40)   \
    X(func_globals,            "PyFunctionObject",     "func_globals",               24,   24,   16,   16,   16,   16,   16,   16)   \
    X(func_name,               "PyFunctionObject",     "func_name",                  64,   64,   32,   32,   32,   32,   32,   32)   \
    X(func_qualname,           "PyFunctionObject",     "func_qualname",              104,  104,  40,   40,   40,   40,   40,   40)   \
    X(func_code,               "PyFunctionObject",     "func_code",                  16,   16,   48,   48,   48,   48,   48,   48)   \
    X(func_defaults,           "PyFunctionObject",     "func_defaults",              32,   32,   56,   56,   56,   56,   56,   56)   \
    X(func_closure,            "PyFunctionObject",     "func_closure",               48,   48,   72,   72,   72,   72,   72,   72)   \
    X(func_module,             "PyFunctionObject",     "func_module",                88,   88,   104,  104,  104,  104,  104,  104)  \
    X(func_builtins,           "PyFunctionObject",     "func_builtins",              -1,   -1,   24,   24,   24,   24,   24,   24)   \
    X(func_kwdefaults,         "PyFunctionObject",     "func_kwdefaults",            40,   40,   64,   64,   64,   64,   64,   64)   \
    X(func_doc,                "PyFunctionObject",     "func_doc",                   56,   56,   80,   80,   80,   80,   80,   80)   \
    X(func_dict,               "PyFunctionObject",     "func_dict",                  72,   72,   88,   88,   88,   88,   88,   88)   \
    X(func_annotations,        "PyFunctionObject",     "func_annotations",           96,   96,   112,  112,  112,  112,  112,  112)  \
    X(method_func,             "PyMethodObject",       "im_func",                    16,   16,   16,   16,   16,   16,   16,   16)   \
    X(method_self,             "PyMethodObject",       "im_self",                    24,   24,   24,   24,   24,   24,   24,   24)   \
    X(cfunction_self,          "PyCFunctionObject",    "m_self",                     24,   24,   24,   24,   24,   24,   24,   24)   \
    X(cfunction_module,        "PyCFunctionObject",    "m_module",                   32,   32,   32,   32,   32,   32,   32,   32)   \
    X(exc_dict,                "PyBaseExceptionObject", "dict",                       16,   16,   16,   16,   16,   16,   16,   16)  \
    X(exc_args,                "PyBaseExceptionObject", "args",                       24,   24,   24,   24,   24,   24,   24,   24)  \
    X(exc_notes,               "PyBaseExceptionObject", "notes",                      -1,   -1,   -1,   32,   32,   32,   32,   32)  \
    X(exc_traceback,           "PyBaseExceptionObject", "traceback",                  32,   32,   32,   40,   40,   40,   40,   40)  \
    X(exc_context,             "PyBaseExceptionObject", "context",                    40,   40,   40,   48,   48,   48,   48,   48)  \
    X(exc_cause,               "PyBaseExceptionObject", "cause",                      48,   48,   48,   56,   56,   56,   56,   56)  \
    X(weakref_callback,        "PyWeakReference",      "wr_callback",                24,   24,   24,   24,   24,   24,   24,   24)   \
    X(property_name,           "propertyobject",       "prop_name",                  -1,   -1,   48,   48,   48,   48,   48,   48)   \
    X(type_members,            "PyTypeObject",         "tp_members",                 240,  240,  240,  240,  240,  240,  240,  240)  \
    X(type_getset,             "PyTypeObject",         "tp_getset",                  248,  248,  248,  248,  248,  248,  248,  248)  \
    X(module_state,            "PyModuleObject",       "md_state",                   32,   32,   32,   32,   32,   32,   32,   24)   \
    X(lru_root_next,           "lru_cache_object",     "root.next",                  24,   24,   24,   24,   24,   24,   24,   24)   \
    X(lru_cache,               "lru_cache_object",     "cache",                      72,   72,   72,   72,   72,   72,   72,   72)   \
    X(lru_func,                "lru_cache_object",     "func",                       88,   88,   88,   88,   88,   88,   88,   88)   \
    X(lru_kwd_mark,            "lru_cache_object",     "kwd_mark",                   -1,   -1,   112,  112,  112,  112,  112,  112)  \
    X(lru_elem_type,           "lru_cache_object",     "lru_list_elem_type",         -1,   -1,   120,  120,  120,  120,  120,  120)  \
    X(lru_cache_info_type,     "lru_cache_object",     "cache_info_type",            112,  112,  128,  128,  128,  128,  128,  128)  \
    X(lru_dict,                "lru_cache_object",     "dict",                       120,  120,  136,  136,  136,  136,  136,  136)  \
    X(lru_elem_next,           "lru_list_elem",        "next",                       24,   24,   24,   24,   24,   24,   24,   24)   \
    X(lru_elem_key,            "lru_list_elem",        "key",                        40,   40,   40,   40,   40,   40,   40,   40)   \
    X(lru_elem_result,         "lru_list_elem",        "result",                     48,   48,   48,   48,   48,   48,   48,   48)   \
    X(cell_ref,                "PyCellObject",         "ob_ref",                     16,   16,   16,   16,   16,   16,   16,   16)   \
    X(property_get,            "propertyobject",       "prop_get",                   16,   16,   16,   16,   16,   16,   16,   16)   \
    X(classmethod_callable,    "classmethod",          "cm_callable",                16,   16,   16,   16,   16,   16,   16,   16)   \
    X(classmethod_dict,        "classmethod",          "cm_dict",                    24,   24,   24,   24,   24,   24,   24,   24)   \
    X(gc_enabled,              "_gc_runtime_state",    "enabled",                    12,   12,   12,   12,   12,   12,   12,   0)    \
    X(gc_generations,          "_gc_runtime_state",    "generations|young",          24,   24,   24,   24,   24,   24,   24,   8)    \
    X(gc_generation_size,      "gc_generation",        "",                           24,   24,   24,   24,   24,   24,   24,   24)   \
    X(gc_generation_threshold, "gc_generation",        "threshold",                  16,   16,   16,   16,   16,   16,   16,   16)   \
    X(gc_generation_count,     "gc_generation",        "count",                      20,   20,   20,   20,   20,   20,   20,   20)   \
    X(gc_stats,                "_gc_runtime_state",    "generation_stats",           128,  128,  128,  128,  128,  128,  120,  104)   \
    X(gc_permanent,            "_gc_runtime_state",    "permanent_generation",       104,  104,  104,  104,  104,  104,  96,   80)   \
    X(gc_collecting,           "_gc_runtime_state",    "collecting",                 200,  200,  200,  200,  200,  200,  192,  112)
/* clang-format on */

/* The minor versions with a built-in table, oldest first (3.8 .. 3.15). */
#define PYH_LAYOUT_FIRST_MINOR 8
#define PYH_LAYOUT_LAST_MINOR 15

/* Byte offsets (and sizes) of CPython struct members for one target; -1 = absent. */
struct pyh_layout {
#define PYH_LAYOUT_DECLARE(field, type, path, v38, v39, v310, v311, v312, v313, v314, v315)    \
    int32_t field;
    PYH_LAYOUT_FIELDS(PYH_LAYOUT_DECLARE)
#undef PYH_LAYOUT_DECLARE
};

/* One row of the table, for code that treats fields generically (DWARF, tests). */
struct pyh_layout_field {
    const char *name;        /* "interp_modules" */
    size_t offset;           /* offsetof(struct pyh_layout, field) */
    const char *dwarf_type;  /* "PyInterpreterState" */
    const char *dwarf_paths; /* "modules|imports.modules" */
};

/* The table's rows; n receives how many. */
const struct pyh_layout_field *pyh_layout_fields(size_t *n);

/* Fills layout from the built-in table for 3.<minor>; false for a minor without one. */
bool pyh_layout_builtin(int minor, struct pyh_layout *layout);

/* Turns layout (3.<minor>'s built-in one) into the free-threaded build's (Py_GIL_DISABLED,
 * 3.14+): every struct that starts with a PyObject header moves by the 16 bytes that header
 * grew (32 bytes: ob_tid, ob_flags, ob_mutex, ob_gc_bits, ob_ref_local, ob_ref_shared, then
 * ob_type at +24); the runtime's own structs take the free-threaded values measured for
 * that minor (measured: 3.14, 3.15). */
void pyh_layout_free_threaded(int minor, struct pyh_layout *layout);

struct pyh_dwarf;

/* Overrides the fields of layout that the DWARF knows, in one pass over it; a field takes
 * the first of its alternative member paths that exists. The pass ends once every type
 * asked for is found, so two kinds of fields are asked only when ask_all (the tests): those
 * that layout marks absent (-1), since asking for a type the DWARF lacks walks every
 * compilation unit, and those of structs private to an extension module's source
 * (dequeobject, _functools' lru_cache_object and lru_list_elem), whose compilation unit
 * comes late: asking for them costs a walk of most of libpython's DWARF (measured: 340 to
 * 550 million instructions, 70 to 80 ms, on 3.12). *answered
 * receives how many fields were set. */
struct pyh_error *pyh_layout_apply_dwarf(struct pyh_layout *layout, struct pyh_dwarf *dw,
                                         bool ask_all, size_t *answered);

/* The value of field f in layout. */
static inline int32_t pyh_layout_get(const struct pyh_layout *layout,
                                     const struct pyh_layout_field *f)
{
    return *(const int32_t *)((const char *)layout + f->offset);
}

static inline void pyh_layout_set(struct pyh_layout *layout, const struct pyh_layout_field *f,
                                  int32_t value)
{
    *(int32_t *)((char *)layout + f->offset) = value;
}

#endif
