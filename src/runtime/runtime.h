/* The runtime layer: the CPython in the target — its version, the layout of its structs,
 * _PyRuntime and the interpreters, and the well-known static objects. Objects, threads and
 * GC lists have their own headers in this folder (objects.h, threads.h, gc.h). */
#ifndef PYH_RUNTIME_RUNTIME_H
#define PYH_RUNTIME_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/image.h"
#include "runtime/layout.h"
#include "target/target.h"
#include "util/diag.h"

/* Where the struct offsets came from (the most authoritative source that was used). */
enum pyh_layout_source {
    PYH_LAYOUT_BUILTIN,       /* the built-in table of the minor version */
    PYH_LAYOUT_DEBUG_OFFSETS, /* 3.13+: _Py_DebugOffsets in _PyRuntime */
    PYH_LAYOUT_DWARF,         /* the target's own DWARF */
};

#define PYH_MAX_INTERPRETERS 256

/* Addresses of static type objects and singletons (0 when not found). */
struct pyh_static_types {
    uint64_t type, object, dict, str, long_, bool_, float_, tuple, list, bytes, bytearray,
        module, code, frame, function, set, frozenset, none, true_, false_, generator, coroutine,
        async_generator, cell, method, cfunction, classmethod, staticmethod, property, weakref_ref,
        weakref_proxy, weakref_callable_proxy, moduledef,
        frozendict; /* 3.15+ */
};

struct pyh_runtime {
    struct pyh_target *target; /* borrowed */
    struct pyh_images *images; /* borrowed */
    struct pyh_diag *diag;     /* borrowed */

    int major, minor, micro;
    uint32_t version_hex;  /* PY_VERSION_HEX from the target, 0 when it has none (< 3.11) */
    char version[32];      /* "3.11.7": the first word of sys.version, or "3.11" */
    char *sys_version;     /* the target's sys.version, NULL if unreadable */

    struct pyh_layout layout;
    enum pyh_layout_source layout_source;
    int layout_minor;             /* the minor whose built-in table (and _Py_DebugOffsets
                                     layout) was used: rt->minor, or for a version newer than
                                     py-heap knows (or a pre-release) the one assumed */
    bool version_assumed;         /* an unknown version read as layout_minor: partial */
    bool debug_info;              /* DWARF was found and used */
    bool free_threaded;           /* _Py_DebugOffsets say Py_GIL_DISABLED: a 32-byte object
                                     header (refcount.h), objects in mimalloc pages only */
    bool gc_incremental;          /* 3.14.0-3.14.4's incremental collector: a young list and
                                     two old spaces, not three generations (runtime/gc.h) */
    struct pyh_module *module;    /* the module defining _PyRuntime (libpython or exe) */
    uint64_t runtime_addr;        /* &_PyRuntime */
    uint64_t interps[PYH_MAX_INTERPRETERS];
    size_t ninterps;              /* interps[0] is the main interpreter */
    struct pyh_static_types types;
    /* What the layout's self-checks found where the table was wrong (e.g. GC list heads of a
     * vendor-patched build found 4 bytes before the upstream offset), for `info`. */
    char layout_notes[4][224];
    size_t nlayout_notes;
};

/* Finds CPython in the target and reads its version and layout. Fails with
 * PYH_ERR_NOT_PYTHON when no module defines _PyRuntime, PYH_ERR_UNSUPPORTED for versions
 * before 3.8, or newer than 3.15 without a _Py_DebugOffsets that checks out, PYH_ERR_CORRUPT
 * when the runtime cannot be validated. A newer version (3.16) or a pre-release is read with
 * the newest table and its own _Py_DebugOffsets, and every result is marked partial. */
struct pyh_error *pyh_runtime_open(struct pyh_target *t, struct pyh_images *images,
                                   struct pyh_diag *diag, struct pyh_runtime **out);

void pyh_runtime_free(struct pyh_runtime *rt);

/* Name of a layout source for reports: "built-in", "debug-offsets", "dwarf". */
const char *pyh_layout_source_name(enum pyh_layout_source source);

/* Reads a pointer-sized field at base + offset; fails with a clear error when the layout
 * lacks the field (offset < 0) for this version. */
struct pyh_error *pyh_rt_read_ptr(struct pyh_runtime *rt, uint64_t base, int32_t offset,
                                  uint64_t *out);

/* interp->id of interpreter k (a position in rt->interps); -1 when unreadable. */
int64_t pyh_interp_id(struct pyh_runtime *rt, size_t k);

#endif
