/* 3.13+: _Py_DebugOffsets, the table of struct offsets CPython keeps at the start of
 * _PyRuntime for out-of-process tools. It covers the runtime, interpreter, thread and frame
 * structs and a few object types, not the allocator, the GC lists, module objects or heap
 * type names: those stay with the built-in table. */
#ifndef PYH_RUNTIME_DEBUG_OFFSETS_H
#define PYH_RUNTIME_DEBUG_OFFSETS_H

#include <stdbool.h>
#include <stdint.h>

#include "target/target.h"

struct pyh_runtime;

/* True when _PyRuntime at runtime_addr starts with the "xdebugpy" cookie; stores the
 * PY_VERSION_HEX it records. */
bool pyh_debug_offsets_version(struct pyh_target *t, uint64_t runtime_addr, uint64_t *version);

/* The minor version whose table layout is used to read the _Py_DebugOffsets of 3.<minor>:
 * the minor itself for 3.13-3.15, the newest known for a newer one, -1 before 3.13. */
int pyh_debug_offsets_table_minor(int minor);

/* Overrides rt->layout with the offsets the target publishes, after checking them: the
 * cookie, the version (rt->minor), each offset within the size of the struct it is an offset
 * into as published with it, and the pointers it leads to (the interpreter list, the main
 * interpreter's threads, sys and modules) landing in the target's memory. Returns true when
 * it applied them; a table that fails its checks is ignored with a warning saying why. */
bool pyh_debug_offsets_apply(struct pyh_runtime *rt);

#endif
