/* Finding CPython in a target: _PyRuntime, the version, the struct layout and the
 * interpreters; see runtime.h.
 *
 * The version comes from the target alone: Py_Version (3.11+), the _Py_DebugOffsets cookie
 * (3.13+), else the major.minor in the name of the module defining _PyRuntime
 * (libpython3.8.so.1.0, python3.9), else by trying every built-in layout. Whatever the
 * source, the layout is accepted only when the runtime it describes checks out: the main
 * interpreter's sys.modules and sys dicts are dicts. */
#include "runtime/runtime.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "allocators/mimalloc.h"
#include "runtime/debug_offsets.h"
#include "runtime/gc.h"
#include "runtime/objects.h"
#include "util/interrupt.h"
#include "util/mem.h"

const char *pyh_layout_source_name(enum pyh_layout_source source)
{
    switch (source) {
    case PYH_LAYOUT_DWARF:
        return "dwarf";
    case PYH_LAYOUT_DEBUG_OFFSETS:
        return "debug-offsets";
    default:
        return "built-in";
    }
}

struct pyh_error *pyh_rt_read_ptr(struct pyh_runtime *rt, uint64_t base, int32_t offset,
                                  uint64_t *out)
{
    if (offset < 0)
        return pyh_error_create(PYH_ERR_UNSUPPORTED,
                                "a field needed here does not exist in Python %s", rt->version);
    return pyh_read_u64(rt->target, base + (uint64_t)offset, out);
}

int64_t pyh_interp_id(struct pyh_runtime *rt, size_t k)
{
    uint64_t id = 0;
    struct pyh_error *err = k < rt->ninterps ? pyh_rt_read_ptr(rt, rt->interps[k], rt->layout.interp_id, &id)
                                             : pyh_error_create(PYH_ERR_NOT_FOUND, "no interpreter %zu", k);
    bool ok = !err;
    pyh_error_free(err);
    return ok ? (int64_t)id : -1;
}

void pyh_runtime_free(struct pyh_runtime *rt)
{
    if (!rt) return;
    free(rt->sys_version);
    free(rt);
}

/* "python3.11" in a file name or soname gives 3.11; false when there is none. */
static bool minor_from_name(const char *name, int *major, int *minor)
{
    if (!name) return false;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *p = strstr(base, "python");
    if (!p || !isdigit((unsigned char)p[6]) || p[7] != '.' || !isdigit((unsigned char)p[8]))
        return false;
    *major = p[6] - '0';
    *minor = (int)strtol(p + 8, NULL, 10);
    return true;
}

/* Reads a pointer-sized field and checks that it points at an object of the given type. */
static bool field_is_a(struct pyh_runtime *rt, uint64_t base, int32_t offset, uint64_t type)
{
    uint64_t obj, actual;
    if (offset < 0 || !type) return false;
    struct pyh_error *err = pyh_read_u64(rt->target, base + (uint64_t)offset, &obj);
    if (!err && obj) err = pyh_obj_type(rt, obj, &actual);
    bool ok = !err && obj && actual == type;
    pyh_error_free(err);
    return ok;
}

/* The main interpreter under the current layout, 0 if it cannot be read. */
static uint64_t main_interpreter(struct pyh_runtime *rt)
{
    uint64_t interp = 0;
    struct pyh_error *err = pyh_rt_read_ptr(rt, rt->runtime_addr, rt->layout.rt_interpreters_main, &interp);
    if (err || !interp) {
        pyh_error_free(err);
        err = pyh_rt_read_ptr(rt, rt->runtime_addr, rt->layout.rt_interpreters_head, &interp);
    }
    pyh_error_free(err);
    return interp;
}

/* True when the current layout reads a plausible runtime. */
static bool layout_checks_out(struct pyh_runtime *rt)
{
    uint64_t interp = main_interpreter(rt);
    return interp && field_is_a(rt, interp, rt->layout.interp_modules, rt->types.dict) &&
           field_is_a(rt, interp, rt->layout.interp_sysdict, rt->types.dict);
}

static void find_static_types(struct pyh_runtime *rt)
{
    static const struct {
        const char *symbol;
        size_t offset;
    } names[] = {
        {"PyType_Type", offsetof(struct pyh_static_types, type)},
        {"PyBaseObject_Type", offsetof(struct pyh_static_types, object)},
        {"PyDict_Type", offsetof(struct pyh_static_types, dict)},
        {"PyUnicode_Type", offsetof(struct pyh_static_types, str)},
        {"PyLong_Type", offsetof(struct pyh_static_types, long_)},
        {"PyBool_Type", offsetof(struct pyh_static_types, bool_)},
        {"PyFloat_Type", offsetof(struct pyh_static_types, float_)},
        {"PyTuple_Type", offsetof(struct pyh_static_types, tuple)},
        {"PyList_Type", offsetof(struct pyh_static_types, list)},
        {"PyBytes_Type", offsetof(struct pyh_static_types, bytes)},
        {"PyByteArray_Type", offsetof(struct pyh_static_types, bytearray)},
        {"PyModule_Type", offsetof(struct pyh_static_types, module)},
        {"PyCode_Type", offsetof(struct pyh_static_types, code)},
        {"PyFrame_Type", offsetof(struct pyh_static_types, frame)},
        {"PyFunction_Type", offsetof(struct pyh_static_types, function)},
        {"PyGen_Type", offsetof(struct pyh_static_types, generator)},
        {"PyCoro_Type", offsetof(struct pyh_static_types, coroutine)},
        {"PyAsyncGen_Type", offsetof(struct pyh_static_types, async_generator)},
        {"PyCell_Type", offsetof(struct pyh_static_types, cell)},
        {"PyMethod_Type", offsetof(struct pyh_static_types, method)},
        {"PyCFunction_Type", offsetof(struct pyh_static_types, cfunction)},
        {"PyClassMethod_Type", offsetof(struct pyh_static_types, classmethod)},
        {"PyStaticMethod_Type", offsetof(struct pyh_static_types, staticmethod)},
        {"PyProperty_Type", offsetof(struct pyh_static_types, property)},
        {"_PyWeakref_RefType", offsetof(struct pyh_static_types, weakref_ref)},
        {"_PyWeakref_ProxyType", offsetof(struct pyh_static_types, weakref_proxy)},
        {"_PyWeakref_CallableProxyType", offsetof(struct pyh_static_types, weakref_callable_proxy)},
        {"PySet_Type", offsetof(struct pyh_static_types, set)},
        {"PyFrozenSet_Type", offsetof(struct pyh_static_types, frozenset)},
        {"_Py_NoneStruct", offsetof(struct pyh_static_types, none)},
        {"_Py_TrueStruct", offsetof(struct pyh_static_types, true_)},
        {"_Py_FalseStruct", offsetof(struct pyh_static_types, false_)},
        {"PyModuleDef_Type", offsetof(struct pyh_static_types, moduledef)},
        {"PyFrozenDict_Type", offsetof(struct pyh_static_types, frozendict)},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        uint64_t addr = 0;
        if (!pyh_module_symbol(rt->images, rt->module, names[i].symbol, &addr))
            pyh_images_symbol(rt->images, names[i].symbol, &addr, NULL);
        *(uint64_t *)((char *)&rt->types + names[i].offset) = addr;
    }
}

/* Overrides layout fields with the module's DWARF. */
static void apply_dwarf(struct pyh_runtime *rt)
{
    struct pyh_dwarf *dw = pyh_module_dwarf(rt->images, rt->module);
    if (!dw) return;
    size_t answered = 0;
    struct pyh_error *err = pyh_layout_apply_dwarf(&rt->layout, dw, false, &answered);
    if (err) {
        pyh_diag_warn(rt->diag, "cannot read struct offsets from the DWARF of %s: %s",
                      rt->module->path, pyh_error_message(err));
        pyh_error_free(err);
    } else if (answered > 0) {
        rt->debug_info = true;
        rt->layout_source = PYH_LAYOUT_DWARF;
    }
}

/* The version from the target's own data: Py_Version (3.11+), else the debug-offsets
 * cookie (3.13+), else the module name. */
static void find_version(struct pyh_runtime *rt, bool *known)
{
    uint64_t addr;
    uint32_t hex;
    *known = false;
    if (pyh_module_symbol(rt->images, rt->module, "Py_Version", &addr)) {
        struct pyh_error *err = pyh_read_u32(rt->target, addr, &hex);
        if (!err && (hex >> 24) == 3) {
            rt->version_hex = hex;
            rt->major = 3;
            rt->minor = (hex >> 16) & 0xff;
            rt->micro = (hex >> 8) & 0xff;
            *known = true;
            return;
        }
        pyh_error_free(err);
    }
    uint64_t dbg_version;
    if (pyh_debug_offsets_version(rt->target, rt->runtime_addr, &dbg_version)) {
        rt->version_hex = (uint32_t)dbg_version;
        rt->major = 3;
        rt->minor = (int)((dbg_version >> 16) & 0xff);
        rt->micro = (int)((dbg_version >> 8) & 0xff);
        *known = true;
        return;
    }
    if (minor_from_name(rt->module->soname, &rt->major, &rt->minor) ||
        minor_from_name(rt->module->path, &rt->major, &rt->minor))
        *known = true;
    rt->micro = -1;
}

/* Reads the interpreter list (the main one first) with a cap and a cycle check. */
static struct pyh_error *read_interpreters(struct pyh_runtime *rt)
{
    uint64_t main = main_interpreter(rt), interp = 0;
    struct pyh_error *err = pyh_rt_read_ptr(rt, rt->runtime_addr, rt->layout.rt_interpreters_head, &interp);
    if (err) return err;
    rt->interps[rt->ninterps++] = main;
    while (interp && rt->ninterps < PYH_MAX_INTERPRETERS) {
        bool seen = false;
        for (size_t i = 0; i < rt->ninterps; i++) seen |= rt->interps[i] == interp;
        if (!seen) rt->interps[rt->ninterps++] = interp;
        else if (interp != main) break; /* a cycle */
        if ((err = pyh_rt_read_ptr(rt, interp, rt->layout.interp_next, &interp))) {
            pyh_diag_partial(rt->diag, "the interpreter list is unreadable after %zu entries: %s",
                             rt->ninterps, pyh_error_message(err));
            pyh_error_free(err);
            break;
        }
    }
    return NULL;
}

/* sys.version from the main interpreter's sys dict: the full version string; and, before
 * 3.11 (no Py_Version), sys.hexversion for PY_VERSION_HEX. */
static void read_sys_version(struct pyh_runtime *rt)
{
    uint64_t sysdict, version, hexversion;
    struct pyh_error *err = pyh_rt_read_ptr(rt, rt->interps[0], rt->layout.interp_sysdict, &sysdict);
    if (!err && !rt->version_hex) {
        int64_t hex;
        struct pyh_error *e = pyh_dict_get_str(rt, sysdict, "hexversion", &hexversion);
        if (!e) e = pyh_long_read(rt, hexversion, &hex);
        if (!e && (hex >> 24) == rt->major && ((hex >> 16) & 0xff) == rt->minor) {
            rt->version_hex = (uint32_t)hex;
            rt->micro = (int)((hex >> 8) & 0xff);
        }
        pyh_error_free(e);
    }
    if (!err) err = pyh_dict_get_str(rt, sysdict, "version", &version);
    char buf[512];
    if (!err) err = pyh_str_read(rt, version, buf, sizeof(buf), NULL);
    if (err) {
        pyh_diag_warn(rt->diag, "cannot read sys.version: %s", pyh_error_message(err));
        pyh_error_free(err);
    } else {
        rt->sys_version = pyh_strdup(buf);
    }
    if (rt->sys_version) {
        size_t n = strcspn(rt->sys_version, " ");
        if (n >= sizeof(rt->version)) n = sizeof(rt->version) - 1;
        memcpy(rt->version, rt->sys_version, n);
        rt->version[n] = '\0';
    }
}

static struct pyh_error *not_python(struct pyh_runtime *rt)
{
    struct pyh_module *exe = pyh_images_exe(rt->images);
    for (size_t i = 0; i < rt->images->nmods; i++) {
        struct pyh_module *m = &rt->images->mods[i];
        if (!m->file && (m->is_exe || strstr(m->path, "python")))
            return pyh_error_create(PYH_ERR_NOT_FOUND,
                                    "cannot find %s%s, mapped by %s: use --exe PATH%s to point "
                                    "at it",
                                    m->is_exe ? "the executable " : "",
                                    m->path, rt->target->description,
                                    m->is_exe ? "" : " or --lib-path DIR");
    }
    /* Any other module whose file is missing may be libpython under another name (a
     * sysroot, a renamed copy): "not a Python process" would be a guess; say what is
     * missing instead, the executable first. */
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < rt->images->nmods; i++) {
            struct pyh_module *m = &rt->images->mods[i];
            if (m->file || !m->path || m->path[0] != '/' || m->is_exe != (pass == 0)) continue;
            return pyh_error_create(PYH_ERR_NOT_FOUND,
                                    "cannot find %s%s, mapped by %s: use --exe PATH%s to point "
                                    "at it (no module found defines _PyRuntime)",
                                    m->is_exe ? "the executable " : "", m->path,
                                    rt->target->description, m->is_exe ? "" : " or --lib-path DIR");
        }
    /* Python 2 and 3.0-3.6 have no _PyRuntime: a module defining Py_Initialize with a
     * version in its name is one of those, not "no Python". */
    for (size_t i = 0; i < rt->images->nmods; i++) {
        struct pyh_module *m = &rt->images->mods[i];
        int major, minor;
        uint64_t addr;
        if ((minor_from_name(m->soname, &major, &minor) || minor_from_name(m->path, &major, &minor)) &&
            pyh_module_symbol(rt->images, m, "Py_Initialize", &addr))
            return pyh_error_create(PYH_ERR_UNSUPPORTED,
                                    "unsupported Python version %d.%d in %s (py-heap supports 3.%d "
                                    "to 3.%d)",
                                    major, minor, m->path, PYH_LAYOUT_FIRST_MINOR,
                                    PYH_LAYOUT_LAST_MINOR);
    }
    return pyh_error_create(PYH_ERR_NOT_PYTHON,
                            "%s is not a Python process: no loaded module defines _PyRuntime "
                            "(executable: %s)",
                            rt->target->description,
                            exe ? exe->path : rt->target->exe_path ? rt->target->exe_path : "unknown");
}

/* What can be said of a free-threaded target that is refused: its allocator, walked from
 * the segments alone (mimalloc needs no runtime offsets), appended to the refusal. */
static void ft_allocator_note(struct pyh_runtime *rt, struct pyh_error *err)
{
    struct pyh_mimalloc *m = NULL;
    struct pyh_error *merr = pyh_mimalloc_open(rt->target, rt->diag, &m);
    if (merr || !m) {
        pyh_error_free(merr);
        return;
    }
    pyh_error_append(err,
                     "; its heap: mimalloc %s (%s build), %zu segment%s, %llu live blocks "
                     "(mem %llu, object %llu, gc %llu, gc_pre %llu)%s",
                     m->layout->version, m->layout->free_threaded ? "free-threaded" : "GIL",
                     m->nsegments, m->nsegments == 1 ? "" : "s",
                     (unsigned long long)m->blocks_live,
                     (unsigned long long)m->tag_live[PYH_MI_TAG_MEM],
                     (unsigned long long)m->tag_live[PYH_MI_TAG_OBJECT],
                     (unsigned long long)m->tag_live[PYH_MI_TAG_GC],
                     (unsigned long long)m->tag_live[PYH_MI_TAG_GC_PRE],
                     m->bad_pages ? " (some pages rejected)" : "");
    pyh_mimalloc_free(m);
}

struct pyh_error *pyh_runtime_open(struct pyh_target *t, struct pyh_images *images,
                                   struct pyh_diag *diag, struct pyh_runtime **out)
{
    *out = NULL;
    struct pyh_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt) return pyh_error_nomem();
    rt->target = t;
    rt->images = images;
    rt->diag = diag;
    struct pyh_error *err = NULL;
    if (!pyh_images_symbol(images, "_PyRuntime", &rt->runtime_addr, &rt->module)) {
        err = not_python(rt);
        goto fail;
    }
    find_static_types(rt);
    if (!rt->types.dict || !rt->types.str) {
        err = pyh_error_create(PYH_ERR_NOT_PYTHON,
                               "%s defines _PyRuntime but not PyDict_Type/PyUnicode_Type: not a "
                               "CPython py-heap knows",
                               rt->module->path);
        goto fail;
    }
    bool known;
    find_version(rt, &known);
    if (known && (rt->major != 3 || rt->minor < PYH_LAYOUT_FIRST_MINOR)) {
        err = pyh_error_create(PYH_ERR_UNSUPPORTED,
                               "unsupported Python version %d.%d in %s (py-heap supports 3.%d to 3.%d)",
                               rt->major, rt->minor, rt->module->path, PYH_LAYOUT_FIRST_MINOR,
                               PYH_LAYOUT_LAST_MINOR);
        goto fail;
    }
    /* A version newer than the tables (3.16) or a pre-release, whose structs may still move
     * (3.15.0b1 and b4 changed _Py_DebugOffsets itself), is read as the newest known minor
     * with the offsets the target publishes; without them it is not read at all. */
    bool newer = known && rt->minor > PYH_LAYOUT_LAST_MINOR;
    bool prerelease = rt->version_hex && ((rt->version_hex >> 4) & 0xf) != 0xf;
    rt->version_assumed = newer || prerelease;
    rt->layout_minor = newer ? PYH_LAYOUT_LAST_MINOR : rt->minor;
    if (known) {
        pyh_layout_builtin(rt->layout_minor, &rt->layout);
    } else {
        /* No name to go by (an embedded, renamed interpreter): try every layout. */
        for (int minor = PYH_LAYOUT_LAST_MINOR; minor >= PYH_LAYOUT_FIRST_MINOR && !known; minor--) {
            pyh_layout_builtin(minor, &rt->layout);
            rt->major = 3;
            rt->minor = rt->layout_minor = minor;
            known = layout_checks_out(rt);
        }
        if (!known) {
            if ((err = pyh_check_interrupt())) goto fail;
            err = pyh_error_create(PYH_ERR_UNSUPPORTED,
                                   "cannot tell the Python version of %s: no Py_Version, no "
                                   "version in its name, and no known layout fits",
                                   rt->module->path);
            goto fail;
        }
    }
    snprintf(rt->version, sizeof(rt->version), "%d.%d", rt->major, rt->minor);
    rt->layout_source = PYH_LAYOUT_BUILTIN;
    if (pyh_debug_offsets_apply(rt)) {
        rt->layout_source = PYH_LAYOUT_DEBUG_OFFSETS;
    } else if (rt->free_threaded) {
        /* A free-threaded build is read from 3.14 through its own _Py_DebugOffsets over the
         * free-threaded layout (pyh_layout_free_threaded); 3.13t (experimental, its own
         * header and frames) is not, nor one whose table does not check out: read with the
         * default build's layout, the first check would fail as "corrupt". Say what it is. */
        err = pyh_error_create(PYH_ERR_UNSUPPORTED,
                               "Python %d.%d in %s is a free-threaded build (no GIL): py-heap "
                               "reads those from 3.14, through their _Py_DebugOffsets%s",
                               rt->major, rt->minor, rt->module->path,
                               rt->minor < 14 ? "" : ", and this one's do not check out");
        ft_allocator_note(rt, err);
        goto fail;
    } else if (newer) {
        err = pyh_error_create(PYH_ERR_UNSUPPORTED,
                               "unsupported Python version %d.%d in %s (py-heap supports 3.%d to "
                               "3.%d; a newer version is read only through its _Py_DebugOffsets, "
                               "and this one has none that checks out)",
                               rt->major, rt->minor, rt->module->path, PYH_LAYOUT_FIRST_MINOR,
                               PYH_LAYOUT_LAST_MINOR);
        goto fail;
    }
    apply_dwarf(rt);
    if (!layout_checks_out(rt)) {
        /* An interrupted read looks like unreadable memory: name the real cause. */
        if ((err = pyh_check_interrupt())) goto fail;
        err = pyh_error_create(PYH_ERR_CORRUPT,
                               "the Python %s runtime at 0x%llx in %s does not check out: the main "
                               "interpreter's sys.modules is not a dict (a patched or unknown "
                               "build, or corrupt memory)",
                               rt->version, (unsigned long long)rt->runtime_addr, rt->module->path);
        goto fail;
    }
    if ((err = read_interpreters(rt))) goto fail;
    pyh_gc_check_heads(rt);
    read_sys_version(rt);
    if (rt->version_assumed) {
        /* PY_VERSION_HEX as a version string: 0x031000a1 is 3.16.0a1. */
        static const char *const levels[16] = {[0xa] = "a", [0xb] = "b", [0xc] = "rc"};
        unsigned level = (rt->version_hex >> 4) & 0xf;
        char said[48];
        int n = snprintf(said, sizeof(said), "%u.%u.%u", rt->version_hex >> 24,
                         (rt->version_hex >> 16) & 0xff, (rt->version_hex >> 8) & 0xff);
        if (levels[level] && n > 0 && (size_t)n < sizeof(said))
            snprintf(said + n, sizeof(said) - (size_t)n, "%s%u", levels[level],
                     rt->version_hex & 0xf);
        pyh_diag_partial(diag,
                         "Python %s is %s py-heap knows (3.%d to 3.%d): read as 3.%d, with the "
                         "offsets the target publishes in _Py_DebugOffsets%s; any result may be "
                         "wrong",
                         said, newer ? "newer than the versions" : "a pre-release of one of the versions",
                         PYH_LAYOUT_FIRST_MINOR, PYH_LAYOUT_LAST_MINOR, rt->layout_minor,
                         rt->layout_source == PYH_LAYOUT_DEBUG_OFFSETS ? "" : " (none checked out)");
    }
    *out = rt;
    return NULL;
fail:
    pyh_runtime_free(rt);
    return err;
}
