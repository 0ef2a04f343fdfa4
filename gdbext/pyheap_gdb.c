/* _pyheap_gdb: libpyheap for gdb's embedded Python.
 *
 * A thin binding: sessions open a core file, a process gdb holds stopped, or any other gdb
 * target through a read callback, and run the same verbs as the CLI through
 * pyh_command_run, returning the same text. Everything gdb-specific (evaluating address
 * expressions, choosing the target, parameters, completion, the pager) is in py-heap-gdb.py.
 *
 * Built against the headers of the Python that gdb embeds (gdb -batch -ex 'python ...' at
 * configure time), so the module matches the interpreter that loads it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyheap.h"

static PyObject *PyHeapError; /* _pyheap_gdb.Error(message, usage) */

typedef struct {
    PyObject_HEAD
    struct pyh_session *session;
    PyObject *reader; /* host targets: the read callable, kept alive with the session */
} SessionObject;

/* ---- Errors and interruption ------------------------------------------------------ */

/* Raises _pyheap_gdb.Error for err (or KeyboardInterrupt when the user interrupted) and
 * frees err; returns NULL for the caller to return. */
static PyObject *raise_error(struct pyh_error *err)
{
    if (pyh_error_code(err) == PYH_ERR_INTERRUPTED && PyErr_Occurred()) {
        pyh_error_free(err); /* KeyboardInterrupt is already set: gdb prints "Quit" */
        return NULL;
    }
    if (pyh_error_code(err) == PYH_ERR_INTERRUPTED) {
        pyh_error_free(err);
        PyErr_SetNone(PyExc_KeyboardInterrupt);
        return NULL;
    }
    PyObject *args = Py_BuildValue("(si)", pyh_error_message(err), pyh_error_code(err) == PYH_ERR_USAGE);
    if (args) {
        PyErr_SetObject(PyHeapError, args);
        Py_DECREF(args);
    }
    pyh_error_free(err);
    return NULL;
}

/* gdb turns Ctrl-C into a Python KeyboardInterrupt while Python runs: poll for it. We hold
 * the GIL during every library call, so this is safe. */
static bool poll_interrupt(void)
{
    return PyErr_CheckSignals() != 0;
}

/* Library calls start with a clear flag (an earlier Ctrl-C must not fail the next command)
 * and poll gdb for Ctrl-C while they run. */
static void begin_library_call(void)
{
    pyh_interrupt_clear();
    pyh_interrupt_set_poll(poll_interrupt);
}

static void end_library_call(void)
{
    pyh_interrupt_set_poll(NULL);
}

/* A command line from a list of str, NULL-terminated, borrowing the strings' UTF-8 (valid
 * while the list lives); free() it. NULL with a Python exception set on failure. */
static char **argv_from_list(PyObject *list, Py_ssize_t *argc)
{
    *argc = PyList_Size(list);
    char **argv = calloc((size_t)*argc + 1, sizeof(char *));
    if (!argv) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < *argc; i++) {
        argv[i] = (char *)PyUnicode_AsUTF8(PyList_GetItem(list, i));
        if (!argv[i]) {
            free(argv);
            return NULL;
        }
    }
    return argv;
}

/* ---- Session type ----------------------------------------------------------------- */

static void session_dealloc(SessionObject *self)
{
    pyh_session_close(self->session);
    Py_XDECREF(self->reader);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Session.run(argv, json, limit) -> (output, warnings, partial_reason) */
static PyObject *session_run(SessionObject *self, PyObject *args)
{
    PyObject *list;
    int json;
    long limit;
    if (!PyArg_ParseTuple(args, "O!pl", &PyList_Type, &list, &json, &limit)) return NULL;
    if (!self->session) {
        PyErr_SetString(PyExc_ValueError, "the py-heap session is closed");
        return NULL;
    }
    Py_ssize_t argc;
    char **argv = argv_from_list(list, &argc);
    if (!argv) return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out) {
        free(argv);
        return PyErr_NoMemory();
    }
    struct pyh_command_defaults defaults = {json ? PYH_FORMAT_JSON : PYH_FORMAT_TEXT, limit};
    begin_library_call();
    struct pyh_error *err = pyh_command_run(self->session, (int)argc, argv, &defaults, out);
    end_library_call();
    fclose(out);
    free(argv);
    if (err) {
        free(text);
        return raise_error(err);
    }
    PyObject *warnings = PyList_New(0);
    for (size_t i = 0; warnings && i < pyh_session_warning_count(self->session); i++) {
        PyObject *w = PyUnicode_FromString(pyh_session_warning(self->session, i));
        if (!w || PyList_Append(warnings, w) < 0) Py_CLEAR(warnings);
        Py_XDECREF(w);
    }
    const char *partial = pyh_session_partial_reason(self->session);
    PyObject *result = warnings ? Py_BuildValue("(s#Oz)", text ? text : "", (Py_ssize_t)size,
                                                warnings, partial)
                                : NULL;
    Py_XDECREF(warnings);
    free(text);
    return result;
}

/* Session.type_names(prefix) -> list of names, for completion. */
static PyObject *session_type_names(SessionObject *self, PyObject *args)
{
    const char *prefix;
    if (!PyArg_ParseTuple(args, "s", &prefix)) return NULL;
    char **names;
    size_t n;
    begin_library_call();
    struct pyh_error *err = pyh_session_type_names(self->session, prefix, &names, &n);
    end_library_call();
    if (err) return raise_error(err);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        /* A name from the target need not be UTF-8: keep its bytes (surrogateescape). */
        PyObject *s = PyUnicode_DecodeUTF8(names[i], (Py_ssize_t)strlen(names[i]), "surrogateescape");
        if (!s) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, s);
    }
    pyh_session_free_names(names, n);
    return list;
}

static PyObject *session_close(SessionObject *self, PyObject *unused)
{
    (void)unused;
    pyh_session_close(self->session);
    self->session = NULL;
    Py_RETURN_NONE;
}

static PyMethodDef session_methods[] = {
    {"run", (PyCFunction)session_run, METH_VARARGS,
     "run(argv, json, limit) -> (output, warnings, partial_reason): one verb and its options"},
    {"type_names", (PyCFunction)session_type_names, METH_VARARGS,
     "type_names(prefix) -> the target's type names that start with prefix"},
    {"close", (PyCFunction)session_close, METH_NOARGS, "close(): releases the target"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SessionType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_pyheap_gdb.Session",
    .tp_basicsize = sizeof(SessionObject),
    .tp_dealloc = (destructor)session_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An open py-heap target",
    .tp_methods = session_methods,
};

static PyObject *wrap(struct pyh_session *session, PyObject *reader)
{
    SessionObject *self = PyObject_New(SessionObject, &SessionType);
    if (!self) {
        pyh_session_close(session);
        return NULL;
    }
    self->session = session;
    self->reader = reader;
    Py_XINCREF(reader);
    return (PyObject *)self;
}

/* ---- Opening targets ------------------------------------------------------------------ */

/* Parses [(tid, rip, rsp, fs_base), ...] into a malloc'ed array. */
static struct pyh_host_thread *parse_threads(PyObject *list, size_t *n)
{
    *n = (size_t)PyList_Size(list);
    struct pyh_host_thread *threads = calloc(*n ? *n : 1, sizeof(*threads));
    if (!threads) {
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t i = 0; i < *n; i++) {
        unsigned long long rip, rsp, fs;
        int tid;
        if (!PyArg_ParseTuple(PyList_GetItem(list, (Py_ssize_t)i), "iKKK", &tid, &rip, &rsp, &fs)) {
            free(threads);
            return NULL;
        }
        threads[i] = (struct pyh_host_thread){tid, rip, rsp, fs};
    }
    return threads;
}

static PyObject *open_core(PyObject *self, PyObject *args)
{
    (void)self;
    const char *path, *exe = NULL, *sysroot = NULL, *lib_path = NULL, *debug_dirs = NULL;
    if (!PyArg_ParseTuple(args, "s|zzzz", &path, &exe, &sysroot, &lib_path, &debug_dirs)) return NULL;
    struct pyh_target_options o = {exe, sysroot, lib_path, debug_dirs, false};
    struct pyh_session *s;
    begin_library_call();
    struct pyh_error *err = pyh_session_open_core(path, &o, &s);
    end_library_call();
    return err ? raise_error(err) : wrap(s, NULL);
}

static PyObject *open_stopped_pid(PyObject *self, PyObject *args)
{
    (void)self;
    int pid;
    PyObject *list;
    const char *debug_dirs = NULL, *sysroot = NULL;
    if (!PyArg_ParseTuple(args, "iO!|zz", &pid, &PyList_Type, &list, &debug_dirs, &sysroot))
        return NULL;
    size_t n;
    struct pyh_host_thread *threads = parse_threads(list, &n);
    if (!threads) return NULL;
    struct pyh_target_options o = {NULL, sysroot, NULL, debug_dirs, false};
    struct pyh_session *s;
    begin_library_call();
    struct pyh_error *err = pyh_session_open_stopped_pid(pid, threads, n, &o, &s);
    end_library_call();
    free(threads);
    return err ? raise_error(err) : wrap(s, NULL);
}

/* The host read callback: calls reader(addr, len) -> bytes (raises when unreadable). */
static int host_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
    PyObject *res = PyObject_CallFunction((PyObject *)ctx, "Kn", (unsigned long long)addr, (Py_ssize_t)len);
    if (!res) {
        if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
            pyh_interrupt(); /* keep it set: the caller re-raises it */
            return -1;
        }
        PyErr_Clear();
        return -1;
    }
    Py_buffer view;
    int rc = -1;
    if (PyObject_GetBuffer(res, &view, PyBUF_SIMPLE) == 0) {
        if ((size_t)view.len == len) {
            memcpy(buf, view.buf, len);
            rc = 0;
        }
        PyBuffer_Release(&view);
    } else {
        PyErr_Clear();
    }
    Py_DECREF(res);
    return rc;
}

static PyObject *open_host(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *reader, *maps, *threads_list;
    int pid, stopped = 0;
    const char *exe = NULL, *description = NULL, *debug_dirs = NULL, *smaps = NULL, *sysroot = NULL;
    if (!PyArg_ParseTuple(args, "OO!O!izz|zpzz", &reader, &PyList_Type, &maps, &PyList_Type,
                          &threads_list, &pid, &exe, &description, &debug_dirs, &stopped, &smaps,
                          &sysroot))
        return NULL;
    size_t nmaps = (size_t)PyList_Size(maps), nthreads;
    struct pyh_host_mapping *m = calloc(nmaps ? nmaps : 1, sizeof(*m));
    if (!m) return PyErr_NoMemory();
    for (size_t i = 0; i < nmaps; i++) {
        unsigned long long start, end, offset;
        unsigned int prot;
        const char *path;
        if (!PyArg_ParseTuple(PyList_GetItem(maps, (Py_ssize_t)i), "KKKIz", &start, &end, &offset, &prot, &path)) {
            free(m);
            return NULL;
        }
        m[i] = (struct pyh_host_mapping){start, end, offset, prot, path};
    }
    struct pyh_host_thread *threads = parse_threads(threads_list, &nthreads);
    if (!threads) {
        free(m);
        return NULL;
    }
    struct pyh_host_target host = {.ctx = reader, .read = host_read, .mappings = m, .nmappings = nmaps,
                                   .threads = threads, .nthreads = nthreads, .pid = pid,
                                   .exe_path = exe, .description = description,
                                   .stopped = stopped, .smaps = smaps};
    struct pyh_target_options o = {NULL, sysroot, NULL, debug_dirs, false};
    struct pyh_session *s;
    begin_library_call();
    struct pyh_error *err = pyh_session_open_host(&host, &o, &s);
    end_library_call();
    free(m);
    free(threads);
    return err ? raise_error(err) : wrap(s, reader);
}

/* Indexed by enum pyh_value_kind: a kind added there without a name here fails the build. */
static const char *const kind_names[] = {
    [PYH_VALUE_NONE] = "flag", [PYH_VALUE_INT] = "int",      [PYH_VALUE_SIZE] = "size",
    [PYH_VALUE_TEXT] = "text", [PYH_VALUE_CHOICE] = "choice", [PYH_VALUE_FILE] = "file",
    [PYH_VALUE_DIR] = "dir",   [PYH_VALUE_TYPE] = "type",     [PYH_VALUE_PID] = "pid",
    [PYH_VALUE_ADDRESS] = "address",
};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == PYH_VALUE_ADDRESS + 1,
               "a name for every enum pyh_value_kind");

/* verbs() -> [(name, summary, help, arg_kind, max_args, own_targets,
 *              [(option, short, kind, choices), ...]), ...]: the verbs of the table that run
 * in gdb, with gdb's help text and the options gdb completes. */
static PyObject *verbs(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list && pyh_verb_at(i); i++) {
        const struct pyh_verb_info *v = pyh_verb_at(i);
        if (!(v->frontends & PYH_FRONTEND_GDB)) continue;
        PyObject *options = PyList_New(0);
        for (size_t k = 0; options && k < v->noptions; k++) {
            const struct pyh_option *o = &v->options[k];
            if (o->frontends && !(o->frontends & PYH_FRONTEND_GDB)) continue;
            char short_name[3] = {o->short_name ? '-' : 0, o->short_name, 0};
            PyObject *item = Py_BuildValue("(sssz)", o->name, short_name, kind_names[o->kind],
                                           o->choices);
            if (!item || PyList_Append(options, item) < 0) Py_CLEAR(options);
            Py_XDECREF(item);
        }
        PyObject *item = options ? Py_BuildValue("(ssssiOO)", v->name, v->summary,
                                                 pyh_command_help(v->name, PYH_FRONTEND_GDB),
                                                 kind_names[v->arg_kind], v->max_args,
                                                 v->own_targets ? Py_True : Py_False, options)
                                 : NULL;
        Py_XDECREF(options);
        if (!item || PyList_Append(list, item) < 0) Py_CLEAR(list);
        Py_XDECREF(item);
    }
    return list;
}

/* option_arity(verb, option) -> 1 takes a value, 0 flag, -1 unknown */
static PyObject *option_arity(PyObject *self, PyObject *args)
{
    (void)self;
    const char *verb, *option;
    if (!PyArg_ParseTuple(args, "ss", &verb, &option)) return NULL;
    return PyLong_FromLong(pyh_command_option_arity(verb, option));
}

/* run_offline(argv, json, limit, debug_dirs) -> output: diff and trend, which open the
 * snapshots, cores or processes they are given. */
static PyObject *run_offline(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *list;
    int json;
    long limit;
    const char *debug_dirs = NULL;
    if (!PyArg_ParseTuple(args, "O!pl|z", &PyList_Type, &list, &json, &limit, &debug_dirs))
        return NULL;
    Py_ssize_t argc;
    char **argv = argv_from_list(list, &argc);
    if (!argv) return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out) {
        free(argv);
        return PyErr_NoMemory();
    }
    struct pyh_command_defaults defaults = {json ? PYH_FORMAT_JSON : PYH_FORMAT_TEXT, limit};
    struct pyh_target_options o = {NULL, NULL, NULL, debug_dirs, false, false};
    begin_library_call();
    struct pyh_error *err = pyh_command_run_offline((int)argc, argv, &o, &defaults, out);
    end_library_call();
    fclose(out);
    free(argv);
    /* A partial comparison still has its report: return it with the reason. */
    if (err && pyh_error_code(err) == PYH_ERR_PARTIAL) {
        PyObject *result = Py_BuildValue("(s#s)", text ? text : "", (Py_ssize_t)size,
                                         pyh_error_message(err));
        pyh_error_free(err);
        free(text);
        return result;
    }
    if (err) {
        free(text);
        return raise_error(err);
    }
    PyObject *result = Py_BuildValue("(s#z)", text ? text : "", (Py_ssize_t)size, NULL);
    free(text);
    return result;
}

static PyObject *version(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyUnicode_FromString(pyh_version());
}

static PyMethodDef module_methods[] = {
    {"open_core", open_core, METH_VARARGS, "open_core(path, exe, sysroot, lib_path, debug_dirs)"},
    {"open_stopped_pid", open_stopped_pid, METH_VARARGS,
     "open_stopped_pid(pid, [(tid, rip, rsp, fs_base)], debug_dirs): a process gdb holds"},
    {"open_host", open_host, METH_VARARGS,
     "open_host(reader, [(start, end, offset, prot, path)], threads, pid, exe, description, "
     "debug_dirs, stopped, smaps): memory read through reader(addr, len)"},
    {"verbs", verbs, METH_NOARGS,
     "verbs() -> [(name, summary, help, arg_kind, max_args, own_targets, options)]"},
    {"run_offline", run_offline, METH_VARARGS,
     "run_offline(argv, json, limit, debug_dirs) -> (output, partial): diff and trend"},
    {"option_arity", option_arity, METH_VARARGS, "option_arity(verb, option)"},
    {"version", version, METH_NOARGS, "version() -> py-heap's version"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pyheap_gdb", "py-heap for gdb: the library's sessions and verbs", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__pyheap_gdb(void)
{
    if (PyType_Ready(&SessionType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    PyHeapError = PyErr_NewException("_pyheap_gdb.Error", NULL, NULL);
    Py_XINCREF(PyHeapError);
    if (!PyHeapError || PyModule_AddObject(m, "Error", PyHeapError) < 0) {
        Py_XDECREF(PyHeapError);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&SessionType);
    if (PyModule_AddObject(m, "Session", (PyObject *)&SessionType) < 0) {
        Py_DECREF(&SessionType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
