/* Frames: frame objects (3.8-3.10 the frame itself; 3.11+ a wrapper of an interpreter frame
 * it owns once the frame outlived its call) and 3.11+ interpreter frames, which are no
 * objects: a thread's chain (roots) and the frames embedded in generators. */
#include "heap/kinds/kind.h"
#include "runtime/objects.h"
#include "runtime/stackref.h"

#define MAX_FRAME_SLOTS (1 << 20) /* locals plus stack of one frame; more is corrupt */

/* frame.__sizeof__ and generator.__sizeof__. 3.8-3.10 (frames only: generators then had no
 * frame inside): sizeof(PyFrameObject), which holds one slot, plus a slot per local, cell,
 * free variable and stack entry of f_code — not ob_size, which a frame reused from the free
 * list may have larger. 3.11+: the basic size plus one slot per local and stack entry of
 * the frame's code object (the embedded frame's for generators, f_frame's for frame
 * objects). */
struct pyh_error *pyh_kind_frame_size(const struct pyh_heap *heap, const struct pyh_type *t,
                                      uint64_t obj, const uint8_t *bytes, size_t avail,
                                      uint64_t *size)
{
    const struct pyh_layout *L = &heap->rt->layout;
    uint64_t code = 0, nlocals = 0, stack = 0, ncells = 0, nfrees = 0, cells, frees;
    struct pyh_error *err = NULL;
    *size = (uint64_t)t->basicsize;
    if (heap->rt->minor <= 10) {
        if (t->kind != PYH_KIND_FRAME) return NULL;
        if ((err = pyh_kind_field(heap, obj, bytes, avail, L->frame_code, 8, &code)) ||
            (err = pyh_kind_field(heap, code, NULL, 0, L->code_nlocals, 4, &nlocals)) ||
            (err = pyh_kind_field(heap, code, NULL, 0, L->code_stacksize, 4, &stack)) ||
            (err = pyh_kind_field(heap, code, NULL, 0, L->code_cellvars, 8, &cells)) ||
            (err = pyh_kind_field(heap, code, NULL, 0, L->code_freevars, 8, &frees)) ||
            (err = pyh_kind_var_len(heap, cells, &ncells)) ||
            (err = pyh_kind_var_len(heap, frees, &nfrees)))
            return err;
        uint64_t extras = nlocals + stack + ncells + nfrees;
        *size += extras ? 8 * (extras - 1) : 0;
        return NULL;
    }
    if (t->itemsize <= 0) return NULL;
    uint64_t iframe = t->kind == PYH_KIND_GENERATOR ? obj + (uint64_t)L->gen_iframe : 0;
    if (t->kind == PYH_KIND_FRAME)
        err = pyh_kind_field(heap, obj, bytes, avail, L->frame_iframe, 8, &iframe);
    if (!err) err = pyh_kind_field(heap, iframe, NULL, 0, L->iframe_code, 8, &code);
    code = pyh_stackref_object(heap->rt, code);
    if (!err) err = pyh_kind_field(heap, code, NULL, 0, L->code_nlocalsplus, 4, &nlocals);
    if (!err) err = pyh_kind_field(heap, code, NULL, 0, L->code_stacksize, 4, &stack);
    *size += 8 * (nlocals + stack);
    return err;
}

/* 3.11+ generators and frames declare an item size but have no ob_size: the word there is
 * a pointer; their frame part is sized by their code object. (3.8-3.10 frames have a real
 * ob_size: the slots allocated.) */
uint64_t pyh_kind_frame_least_size(const struct pyh_heap *heap, const struct pyh_type *t,
                                   const uint8_t *obj, size_t avail)
{
    if (heap->rt->minor >= 11) return (uint64_t)t->basicsize;
    return pyh_kind_least_size_items(heap, t, obj, avail);
}

/* 3.8-3.10 frame objects: their fields, locals (cells and free variables included) and the
 * value stack. */
static void frame_object_310(struct pyh_walk *w, uint64_t obj)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    pyh_walk_field(w, obj, L->frame_back, "f_back");
    pyh_walk_field(w, obj, L->frame_code, "f_code");
    pyh_walk_field(w, obj, L->frame_builtins, "f_builtins");
    pyh_walk_field(w, obj, L->frame_globals, "f_globals");
    pyh_walk_field(w, obj, L->frame_locals, "f_locals");
    uint64_t co = pyh_walk_read(w, obj + (uint64_t)L->frame_code);
    if (!co) return;
    uint32_t nlocals = 0;
    pyh_error_free(pyh_read_u32(w->heap->rt->target, co + (uint64_t)L->code_nlocals, &nlocals));
    uint64_t cells = pyh_walk_read(w, co + (uint64_t)L->code_cellvars);
    uint64_t frees = pyh_walk_read(w, co + (uint64_t)L->code_freevars);
    uint64_t ncells = cells ? pyh_walk_read(w, cells + (uint64_t)L->var_size) : 0;
    uint64_t nfrees = frees ? pyh_walk_read(w, frees + (uint64_t)L->var_size) : 0;
    uint64_t nslots = nlocals + ncells + nfrees;
    pyh_walk_items(w, obj + (uint64_t)L->frame_localsplus, nslots, PYH_REF_LOCAL, 0, co);
    uint64_t valuestack = pyh_walk_read(w, obj + (uint64_t)L->frame_valuestack), depth = 0;
    if (L->frame_stacktop >= 0) {
        uint64_t top = pyh_walk_read(w, obj + (uint64_t)L->frame_stacktop);
        depth = top > valuestack ? (top - valuestack) / 8 : 0;
    } else {
        uint32_t d = 0;
        pyh_error_free(pyh_read_u32(w->heap->rt->target, obj + (uint64_t)L->frame_stackdepth, &d));
        depth = d;
    }
    if (valuestack && depth < 1 << 20) pyh_walk_items(w, valuestack, depth, PYH_REF_STACK, 0, 0);
}

/* A 3.11+ interpreter frame's references. stacktop (3.14+: stackpointer, a pointer into
 * localsplus, NULL while the frame executes) counts the valid slots of localsplus
 * (locals, then the value stack) only while the frame is suspended: a frame that calls a
 * Python function, a suspended generator, a frame object's frame after its call. While a
 * frame executes, CPython 3.11-3.13 keep the stack pointer in a C local and set stacktop to
 * -1 (_PyFrame_GetStackPointer; 3.11 in ceval's SET_LOCALS_FROM_FRAME), so that the GC,
 * which cannot know the depth, visits none of its slots. That is every thread's innermost
 * frame and any frame blocked in a C call (time.sleep, a lock, a C function calling back
 * into Python). An object-owned frame (generator, frame object) keeps the GC's rule, so
 * that referrers agree with gc.get_referrers(). A thread's frame (thread_frame) is a root
 * and its locals are alive whether or not it executes: its co_nlocalsplus local slots are
 * read, as they are always initialised once the frame has started (arguments copied, the
 * rest NULL, cells made before the first traceable instruction; the frame walk skips
 * frames that have not got that far). Its value stack is left out: its depth is not
 * recorded, and slots above the real top are stale pointers to popped, possibly freed,
 * objects. */
void pyh_kind_iframe(struct pyh_walk *w, uint64_t f, bool thread_frame)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    uint64_t co = pyh_stackref_object(w->heap->rt, pyh_walk_read(w, f + (uint64_t)L->iframe_code));
    pyh_walk_slot_field(w, f, L->iframe_code, "f_code");
    pyh_walk_slot_field(w, f, L->iframe_func, "f_func");
    if (thread_frame) { /* borrowed from the function: a reference of the thread's only */
        pyh_walk_field(w, f, L->iframe_globals, "f_globals");
        pyh_walk_field(w, f, L->iframe_builtins, "f_builtins");
    }
    pyh_walk_field(w, f, L->iframe_locals, "f_locals");
    pyh_walk_field(w, f, L->iframe_frame_obj, "frame_obj");
    int32_t stacktop = 0, nlocalsplus = 0;
    uint64_t localsplus = f + (uint64_t)L->iframe_localsplus;
    if (L->iframe_stackpointer >= 0) {
        uint64_t sp = pyh_walk_read(w, f + (uint64_t)L->iframe_stackpointer);
        stacktop = !sp ? -1 : sp < localsplus || (sp - localsplus) / 8 > MAX_FRAME_SLOTS
                                  ? MAX_FRAME_SLOTS + 1
                                  : (int32_t)((sp - localsplus) / 8);
    } else {
        pyh_error_free(pyh_target_read(w->heap->rt->target, f + (uint64_t)L->iframe_stacktop, &stacktop, 4));
    }
    if (co) pyh_error_free(pyh_target_read(w->heap->rt->target, co + (uint64_t)L->code_nlocalsplus, &nlocalsplus, 4));
    if (stacktop < 0 && thread_frame) {
        if (nlocalsplus > 0 && nlocalsplus <= MAX_FRAME_SLOTS)
            pyh_walk_frame_slots(w, localsplus, (uint64_t)nlocalsplus, PYH_REF_LOCAL, co);
        return;
    }
    if (stacktop < 0 || stacktop > MAX_FRAME_SLOTS) return;
    uint64_t n = (uint64_t)stacktop, nl = nlocalsplus > 0 && (uint64_t)nlocalsplus < n ? (uint64_t)nlocalsplus : n;
    pyh_walk_frame_slots(w, localsplus, nl, PYH_REF_LOCAL, co);
    if (n > nl) pyh_walk_frame_slots(w, localsplus + 8 * nl, n - nl, PYH_REF_STACK, 0);
}

void pyh_iframe_referents(struct pyh_heap *heap, uint64_t f, pyh_ref_visit visit, void *ctx)
{
    struct pyh_walk w = {heap, visit, ctx, false, 0};
    pyh_kind_iframe(&w, f, true);
}

/* 3.11+ frame objects own their interpreter frame only once it outlived its call
 * (owner == FRAME_OWNED_BY_FRAME_OBJECT); otherwise the frame is a thread's root. */
static void frame_object_311(struct pyh_walk *w, uint64_t obj)
{
    const struct pyh_layout *L = &w->heap->rt->layout;
    pyh_walk_field(w, obj, L->frame_back, "f_back");
    uint64_t f = pyh_walk_read(w, obj + (uint64_t)L->frame_iframe);
    uint8_t owner = 0;
    if (!f) return;
    pyh_error_free(pyh_read_u8(w->heap->rt->target, f + (uint64_t)L->iframe_owner, &owner));
    if (owner == PYH_FRAME_OWNED_BY_FRAME_OBJECT) pyh_kind_iframe(w, f, false);
}

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    if (w->heap->rt->layout.tstate_frame >= 0) frame_object_310(w, obj);
    else frame_object_311(w, obj);
}

const struct pyh_kind pyh_kind_frame = {
    .name = "frame",
    .statics = {PYH_KIND_STATIC(frame)},
    .least_size = pyh_kind_frame_least_size,
    .size = pyh_kind_frame_size,
    .referents = referents,
};
