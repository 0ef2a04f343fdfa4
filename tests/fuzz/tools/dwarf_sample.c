/* DWARF for the dwarf and symbols fuzz seeds: structs named and shaped like the CPython ones
 * py-heap asks about (typedefs and tags, nested and anonymous members, arrays, bit-fields,
 * qualifiers), static variables (some declared extern first), and the symbols the runtime
 * and allocator layers look up. Built several ways by tests/fuzz/tools/make_seeds.sh. */
#include <stddef.h>
#include <stdint.h>

typedef struct _object {
    intptr_t ob_refcnt;
    struct _typeobject *ob_type;
} PyObject;

typedef struct {
    PyObject ob_base;
    intptr_t ob_size;
} PyVarObject;

typedef struct _typeobject {
    PyVarObject ob_base;
    const char *tp_name;
    intptr_t tp_basicsize, tp_itemsize;
    void *slots[15];
    unsigned long tp_flags;
    const char *tp_doc;
    void *more[4];
    intptr_t tp_weaklistoffset;
    void *more2[5];
    struct _typeobject *tp_base;
    PyObject *tp_dict;
    void *more3[2];
    intptr_t tp_dictoffset;
} PyTypeObject;

typedef struct _ts PyThreadState;
typedef struct _is PyInterpreterState;

struct _ts {
    PyThreadState *prev, *next;
    PyInterpreterState *interp;
    struct {
        void *current_frame;
    } *cframe;
    unsigned long thread_id;
    unsigned int native_thread_id : 24;
    unsigned int flags : 8;
};

struct _is {
    PyInterpreterState *next;
    union {
        struct {
            PyThreadState *head;
            long count;
        } threads;
        long id;
    };
    struct {
        PyObject *modules;
        PyObject *importlib;
    } imports;
    PyObject *sysdict, *builtins;
    char gc[200];
    void *obmalloc;
    PyObject *dict;
};

typedef struct pyruntimestate {
    int initialized;
    struct {
        void *mutex;
        PyInterpreterState *head;
        PyInterpreterState *main;
    } interpreters;
    const volatile struct pyruntimestate *self;
} _PyRuntimeState;

struct arena_object {
    uintptr_t address;
    uintptr_t pool_address;
    unsigned int nfreepools, ntotalpools;
    struct pool_header *freepools;
    struct arena_object *nextarena, *prevarena;
};

struct pool_header {
    union {
        void *_padding;
        unsigned int count;
    } ref;
    void *freeblock;
    struct pool_header *nextpool, *prevpool;
    unsigned int arenaindex, szidx, nextoffset, maxnextoffset;
};

struct point {
    int x, y;
};
struct nested {
    struct {
        struct {
            int b;
        } a;
    } inner;
    union {
        int anon_member;
        float f;
    };
    struct point pts[4];
};
union u {
    int i;
    double d;
};

extern _PyRuntimeState _PyRuntime;
_PyRuntimeState _PyRuntime = {.initialized = 1};
const unsigned long Py_Version = 0x030b07f0;
PyTypeObject PyType_Type, PyDict_Type, PyUnicode_Type;
static struct arena_object *arenas;
static unsigned int maxarenas;
static size_t narenas_highwater;
static struct pool_header *usedpools[64];
struct nested nested_var;
union u u_var;
PyThreadState ts_var;

size_t _Py_GetAllocatedBlocks(void)
{
    size_t n = narenas_highwater;
    for (unsigned int i = 0; i < maxarenas; i++)
        if (arenas[i].address) n += arenas[i].ntotalpools;
    return n + (size_t)usedpools[0] + (size_t)nested_var.inner.a.b + (size_t)u_var.i +
           ts_var.thread_id;
}

/* Writes the allocator's variables, so that they exist (never-written statics are folded). */
void _PyObject_SetArenas(struct arena_object *a, unsigned int n)
{
    arenas = a;
    maxarenas = n;
    narenas_highwater = n;
    usedpools[1] = usedpools[0];
}
