"""Helpers for the object-census integration tests (`types`, `objects`, `show`); standard
library only. Builds on pyheap_testlib (imported as T, never modified here).

What is here:

  * CensusWorkload: fixtures/workloads/census_workload.py under one interpreter, with its
    ground truth (GROUND_TRUTH_PATH and the .ids file beside it), ready once the main thread
    is in its final sleep;
  * start_census_workloads() / census_workload() / census_core(): one workload process and
    one gcore of it per interpreter per test process, started in parallel, reused by every
    test that only reads them;
  * census_runs(): every interpreter and the py-heap arguments it needs (Debian's stripped
    python3.11 always with `--debug-dir ''`);
  * pyheap_json(): one py-heap run that must succeed with JSON;
  * CoreImage: a gcore as an address space (PT_LOAD segments, mmapped) to read words, find
    every word equal to given addresses (the "holders" of an object), and patch copies;
  * the accounting rules: Expected counts per type (ground truth + leaked + native caches),
    the residual objects py-heap finds beyond them and the evidence that each is a live
    object that only C code holds (RESIDUAL RULE below).

THE ACCOUNTING. For a type T, what py-heap counts in `types` (heap objects: static ones are
on the `static` line) must be exactly

    extended(T)        objects the workload reaches in-process, following what
                       gc.get_referents() shows plus what it does not (dict keys, code object
                       fields, static types' dicts, heap types' names, ...: "EXTENDED
                       REFERENTS" in the workload)
  + leaked(T)          objects the workload leaked on purpose (a reference count and no
                       reference: no in-process walk can find them)
  + native_roots(T)    objects only a C cache holds that the workload can name by value
                       (3.9/3.10 small ints, latin-1 characters, one-byte bytes)
  + residual(T)        what is left: objects no Python-visible object refers to. py-heap
                       reports them by address (`objects --type T --limit 0`), and each must
                       pass the RESIDUAL RULE, else it is not explained (a false positive).

and the plain in-process census (the gc.get_objects() + gc.get_referents() closure) is
census(T) <= extended(T): the difference is what only non-GC references reach (interned
attribute names are dict keys that dict_traverse does not visit, code objects are not GC
objects at all, static types are not GC objects for gc.get_referents, ...).

RESIDUAL RULE: an object in the residual is explained when the core shows that something
holds it: H, the number of 8-byte words in the whole core equal to its address (outside the
object itself), is at least 1, and, unless its count is immortal (3.12+: >= 2^31), its
reference count is at most H (every strong reference is a word in memory: a C global, a
native block, a thread's stack). Garbage read as an object fails it: a word pair inside a
dict's key table that reads as (refcount, type) has a "count" that is really a pointer
(millions) and nothing pointing at it. Interned strings are labelled as such (state bits),
for the report.
"""
import json
import os
import shutil
import struct
import unittest

import pyheap_testlib as T

CENSUS_WORKLOAD = os.path.join(T.FIXTURES, "workloads", "census_workload.py")
ASAN_BIN = os.environ.get("PYHEAP_ASAN_BIN") or os.path.join(T.SOURCE_DIR, "build-asan",
                                                             "py-heap")

# The workload's own classes and how many of each it keeps (fixtures/workloads/
# census_workload.py: N_* + the chosen objects of `show`).
WORKLOAD_CLASSES = {
    "__main__.Plain": 301,
    "__main__.Slotted": 401,
    "__main__.Point": 250,
    "__main__.Frozen": 150,
    "__main__.Node": 200,
    "__main__.WorkloadError": 20,
}
LEAKED_CLASSES = {"__main__.Leaked": 500, "__main__.LeakedWithSlot": 101}
# Builtin types whose counts and sizes are checked object by object.
BUILTIN_TYPES = ("str", "bytes", "int", "float", "tuple", "list", "dict", "set", "frozenset")
# Types whose every object the plain gc closure already reaches (GC objects, held by GC
# objects): py-heap == census + leaked, with no residual at all.
GC_VISIBLE = tuple(WORKLOAD_CLASSES) + tuple(LEAKED_CLASSES) + (
    "ValueError", "generator", "function", "cell", "method", "list", "set", "frozenset")



def extension_sizeof(name):
    """Types whose sys.getsizeof adds private C state of an extension module, which an
    outside reader does not model: ctypes' StgDict (format, shape, ffi types) and the
    ctypes metatypes (3.13: StgInfo in the type), _struct.Struct (its format codes), _io's
    buffered files (their buffer)."""
    return (name in ("StgDict", "Struct", "_struct.Struct") or name.startswith(
        ("_ctypes.", "ctypes.", "_io.Buffered")))


IMMORTAL_MIN = 1 << 31  # 3.12+: a count whose low 32 bits have the top bit set
STR_STATE = 32  # offsetof(PyASCIIObject, state) on 64-bit, 3.8-3.13; interned: bits 0-1

# ---- the workload ------------------------------------------------------------------------


class CensusWorkload(T.Workload):
    """census_workload.py and its ground truth (gt) and extended-closure objects (ids)."""

    def __init__(self, interp):
        super().__init__(interp, script=CENSUS_WORKLOAD)
        self.ids = None

    settled_threads = 1

    def wait_for_ground_truth(self, timeout=T.WORKLOAD_TIMEOUT * 3):
        gt = super().wait_for_ground_truth(timeout)
        self.ids = read_ids_file(self.gt_path + ".ids")
        return gt


def read_ids_file(path):
    """{address: (type name, sys.getsizeof)} of every heap object of the extended census
    (format: census_workload.ids_file_bytes)."""
    with open(path, "rb") as fh:
        data = fh.read()
    nl = data.index(b"\n")
    names = json.loads(data[:nl].decode())
    out = {}
    for addr, index, size in struct.iter_unpack("<QII", data[nl + 1:]):
        out[addr] = (names[index], size)
    return out


_workloads = {}
_cores = {}


def start_census_workloads(interps):
    """Starts the workload of every available interpreter at once (they measure themselves
    in parallel); census_workload() then waits for each."""
    T.start_workloads(CensusWorkload, interps, _workloads)


def census_workload(interp):
    """The census workload of this interpreter (started once per test process)."""
    w = _workloads.get(interp.label)
    if w is None:
        start_census_workloads([interp])
        w = _workloads[interp.label]
    T.wait_for_workload(w, _workloads)
    if not w.alive():
        raise T.WorkloadError("%s census workload died; log:\n%s" % (interp.label, w.log()))
    return w


def census_core(interp):
    """A gcore of census_workload(interp), made once per test process."""
    return T.workload_core(census_workload(interp), _cores)


class CensusRunCase(unittest.TestCase):
    """A test class for one interpreter of census_runs() (subclasses set `crun`; not `run`:
    that is TestCase.run): its census workload `w`, the workload's ground truth `gt` and its
    core `core`, set up once for the class."""

    crun = None
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        T.require_run(cls.crun)
        cls.w = census_workload(cls.crun.interp)
        cls.gt = cls.w.gt
        cls.core = census_core(cls.crun.interp)


def stop_census_workloads():
    for w in _workloads.values():
        w.stop()
    _workloads.clear()
    _cores.clear()


def census_runs():
    """Every interpreter of the machine; Debian's stripped python3.11 in the production case
    (no separate debug file is ever used). PYHEAP_CENSUS_ONLY=3.12,3.11-debian (labels)
    restricts the list while working on one version."""
    only = [x for x in os.environ.get("PYHEAP_CENSUS_ONLY", "").split(",") if x]
    return [T.InterpreterRun(i) for i in T.INTERPRETERS if not only or i.label in only]


# ---- running py-heap ------------------------------------------------------------------------


class PyHeapFailed(AssertionError):
    pass


def pyheap_json(args, bin_path=None, env=None, timeout=T.PYHEAP_TIMEOUT):
    """Runs py-heap ARGS --json; returns the parsed JSON. Fails (AssertionError with the
    command line and stderr) unless it exits 0 with valid JSON."""
    res = T.run_pyheap(list(args) + ["--json"], timeout=timeout, env=env, binary=bin_path)
    if res.returncode != 0:
        raise PyHeapFailed("py-heap failed: %s" % res.describe())
    return res.json()


def rows_by_name(types_report):
    """{name: [count, size, [type addresses]]} of a `types --json` report (two types can
    share a name: their rows add up)."""
    out = {}
    for row in types_report.get("types", []):
        r = out.setdefault(row["name"], [0, 0, []])
        r[0] += row["count"]
        r[1] += row["size"]
        r[2].append(row["type_address"])
    return out


def fragmentation_heap_total(frag):
    """The heap total of `fragmentation --json`: what pymalloc and glibc hold, used or free,
    resident or not (docs/json-schema.md: resident.mapped_split)."""
    s = frag["resident"]["mapped_split"]
    return s["pymalloc_used"] + s["pymalloc_free"] + s["glibc_used"] + s["glibc_free"]


def objects_of(target_args, name):
    """{address: (size, location)} of every object py-heap lists for type `name`."""
    rep = pyheap_json(["objects"] + target_args + ["--type", name, "--limit", "0"])
    return {int(o["address"], 16): (o["size"], o["location"]) for o in rep["objects"]}, rep


# ---- the ground truth's accounting ------------------------------------------------------------


def expected_rows(gt):
    """{name: [count, size]}: extended + leaked + native roots (without the residual)."""
    out = {name: list(row) for name, row in gt["extended"].items()}
    for name, leak in gt["leaked"].items():
        r = out.setdefault(name, [0, 0])
        r[0] += leak["count"]
        r[1] += leak["size"]
    for cache in gt["native_roots"].values():
        for name, (count, size) in cache.items():
            r = out.setdefault(name, [0, 0])
            r[0] += count
            r[1] += size
    return out


def known_addresses(workload):
    """{address: (name, size)} of every heap object the ground truth names: the extended
    closure and native roots (the .ids file) and the leaked objects."""
    out = dict(workload.ids)
    for name, leak in workload.gt["leaked"].items():
        for addr, size in leak["objects"]:
            out[addr] = (name, size)
    return out


# ---- cores ------------------------------------------------------------------------------------


class CoreImage(T.CoreImage):
    """A core's memory (pyheap_testlib.CoreImage: its PT_LOAD segments' file bytes, mmapped),
    and the words in it that point at given addresses."""

    def holders(self, addresses):
        """{address: [positions of 8-byte aligned words equal to it]} over every segment."""
        wanted = set(addresses)
        out = {a: [] for a in wanted}
        for p in self.segments:
            n = p.filesz - p.filesz % 8
            view = memoryview(self.map)[p.offset:p.offset + n].cast("Q")
            try:
                for i, word in enumerate(view):
                    if word in wanted:
                        out[word].append(p.vaddr + 8 * i)
            finally:
                view.release()
        return out


def copy_core(core, directory, name):
    """A copy of a core file to patch (the shared core stays intact)."""
    path = os.path.join(directory, name)
    shutil.copyfile(core, path)
    return path


def patch_core(path, patches):
    """Writes {target address: bytes} into the core file at path."""
    with CoreImage(path) as img:
        offsets = [(img.offset(addr, len(data)), data) for addr, data in patches.items()]
    fd = os.open(path, os.O_WRONLY)
    try:
        for off, data in offsets:
            os.pwrite(fd, data, off)
    finally:
        os.close(fd)


# ---- the residual -------------------------------------------------------------------------------


class Residual:
    """One object py-heap counts that the ground truth does not name, and the evidence."""

    def __init__(self, addr, name, size, location):
        self.addr, self.name, self.size, self.location = addr, name, size, location
        self.refcount = None
        self.holders = []
        self.interned = None
        self.why_not = None  # None: explained

    def describe(self):
        return ("0x%x %s (size %s, %s): refcount %s, %d word(s) in the core point at it%s%s"
                % (self.addr, self.name, self.size, self.location, self.refcount,
                   len(self.holders),
                   "" if self.interned is None else ", interned state %d" % self.interned,
                   "" if self.why_not is None else " -- NOT EXPLAINED: " + self.why_not))


def judge_residual(core_path, items, minor):
    """Applies the RESIDUAL RULE to items [(addr, name, size, location)]; returns Residual
    objects (why_not set on those not explained)."""
    out = [Residual(*item) for item in items]
    if not out:
        return out
    with CoreImage(core_path) as img:
        holders = img.holders([r.addr for r in out])
        for r in out:
            try:
                r.refcount = img.u64(r.addr)
                if r.name == "str":
                    r.interned = img.u32(r.addr + STR_STATE) & 3
            except KeyError as e:
                r.why_not = "its header is not in the core (%s)" % e
                continue
            size = r.size or 16
            r.holders = [h for h in holders[r.addr] if not r.addr <= h < r.addr + size]
            immortal = minor >= (3, 12) and r.refcount >= IMMORTAL_MIN
            if not r.holders:
                r.why_not = "nothing points at it"
            elif not immortal and not 1 <= r.refcount <= len(r.holders):
                r.why_not = ("its reference count %d is more than the %d word(s) pointing at "
                             "it" % (r.refcount, len(r.holders)))
    return out
