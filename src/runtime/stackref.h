/* What an interpreter frame's slots hold, per version: the one place that knows.
 *
 * 3.11-3.13: f_executable (f_code), f_funcobj and localsplus[] are plain PyObject pointers.
 * 3.14+: they are _PyStackRef words whose two low bits are a tag (Include/internal/
 * pycore_stackref.h, default build): 0 an owned reference, 1 (Py_TAG_REFCNT) a deferred or
 * borrowed one (immortal objects always have it), 3 a tagged int (no object), 2 an error
 * marker (3.15); the word 1 alone is NULL. Objects are 8-byte aligned, so masking the tag
 * gives the pointer. */
#ifndef PYH_RUNTIME_STACKREF_H
#define PYH_RUNTIME_STACKREF_H

#include <stdint.h>

#include "runtime/runtime.h"

#define PYH_STACKREF_TAG_BITS 3u
#define PYH_STACKREF_INT_TAG 3u
#define PYH_STACKREF_INVALID_TAG 2u

/* The object a frame slot refers to, 0 for none (NULL, a tagged int, an error marker). */
static inline uint64_t pyh_stackref_object(const struct pyh_runtime *rt, uint64_t bits)
{
    if (rt->minor < 14) return bits;
    unsigned tag = (unsigned)(bits & PYH_STACKREF_TAG_BITS);
    if (tag == PYH_STACKREF_INT_TAG || tag == PYH_STACKREF_INVALID_TAG) return 0;
    return bits & ~(uint64_t)PYH_STACKREF_TAG_BITS;
}

/* _PyInterpreterFrame.owner: 0 thread, 1 generator, 2 frame object; from 3.12 anything
 * above is not a Python frame (3.12-3.13: 3 the C stack; 3.14: 3 the interpreter's entry
 * frame, 4 the C stack; 3.15: 3 the entry frame) and CPython's own walks skip it. */
#define PYH_FRAME_OWNED_BY_GENERATOR 1
#define PYH_FRAME_OWNED_BY_FRAME_OBJECT 2
#define PYH_FRAME_OWNER_NOT_PYTHON 3 /* owner >= this: not a Python frame */

#endif
