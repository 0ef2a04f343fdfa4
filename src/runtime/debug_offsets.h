/* 3.13+: _Py_DebugOffsets, the table of struct offsets CPython keeps at the start of
 * _PyRuntime for out-of-process tools. It covers the runtime, interpreter, thread and frame
 * structs and a few object types, not the allocator or the GC lists. */
#ifndef PYH_RUNTIME_DEBUG_OFFSETS_H
#define PYH_RUNTIME_DEBUG_OFFSETS_H

#include <stdbool.h>
#include <stdint.h>

#include "target/target.h"

struct pyh_runtime;

/* True when _PyRuntime at runtime_addr starts with the "xdebugpy" cookie; stores the
 * PY_VERSION_HEX it records. */
bool pyh_debug_offsets_version(struct pyh_target *t, uint64_t runtime_addr, uint64_t *version);

/* Overrides rt->layout with the offsets the target publishes, after checking each against
 * the struct size published with it. Returns true when it applied them; a table that fails
 * its checks is ignored with a warning. */
bool pyh_debug_offsets_apply(struct pyh_runtime *rt);

#endif
