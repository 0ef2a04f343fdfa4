/* function (funcobject.c func_traverse). */
#include "heap/kinds/kind.h"

static void referents(struct pyh_walk *w, uint64_t obj, const struct pyh_type *t)
{
    (void)t;
    const struct pyh_layout *L = &w->heap->rt->layout;
    pyh_walk_field(w, obj, L->func_code, "__code__");
    pyh_walk_field(w, obj, L->func_globals, "__globals__");
    pyh_walk_field(w, obj, L->func_builtins, "__builtins__");
    pyh_walk_field(w, obj, L->func_name, "__name__");
    pyh_walk_field(w, obj, L->func_qualname, "__qualname__");
    pyh_walk_field(w, obj, L->func_defaults, "__defaults__");
    pyh_walk_field(w, obj, L->func_kwdefaults, "__kwdefaults__");
    pyh_walk_field(w, obj, L->func_closure, "__closure__");
    pyh_walk_field(w, obj, L->func_doc, "__doc__");
    pyh_walk_field(w, obj, L->func_dict, "__dict__");
    pyh_walk_field(w, obj, L->func_module, "__module__");
    pyh_walk_field(w, obj, L->func_annotations, "__annotations__");
}

static void preview(struct pyh_heap *heap, const struct pyh_type *t, uint64_t addr, int depth,
                    char *buf, size_t cap, size_t *len)
{
    (void)t, (void)depth;
    const struct pyh_layout *L = &heap->rt->layout;
    char name[256], file[512];
    pyh_str_field(heap, addr, L->func_qualname, name, sizeof(name));
    uint64_t code;
    int32_t line = 0;
    file[0] = '\0';
    struct pyh_error *err = pyh_rt_read_ptr(heap->rt, addr, L->func_code, &code);
    if (!err) pyh_str_field(heap, code, L->code_filename, file, sizeof(file));
    if (!err) err = pyh_target_read(heap->rt->target, code + (uint64_t)L->code_firstlineno, &line, 4);
    pyh_error_free(err);
    pyh_put(buf, cap, len, "<function %s at 0x%llx, %s:%d>", name, (unsigned long long)addr, file, line);
}

const struct pyh_kind pyh_kind_function = {
    .name = "function",
    .statics = {PYH_KIND_STATIC(function)},
    .referents = referents,
    .preview = preview,
};
