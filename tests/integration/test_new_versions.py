"""CPython 3.14 and 3.15 (Debian sid's python3.14 3.14.10 and python3.15 3.15.2, stripped, in
the chroot scripts/setup.sh makes at /var/cache/py-heap/chroot/sid), and a version py-heap
does not know: what issue 11 asks of them, against the interpreter's own numbers.

  * info, live and on a gcore (--sysroot, no debug files): fixtures/workloads/info_workload.py
    run in the chroot, compared with compare_info() as test_info does for 3.8-3.13 (version,
    sys.modules, the GC generations as the interpreter has them, threads and top frames);
  * fixtures/workloads/versions_workload.py: 20,000 instances of a class, 5,000 immortal
    interned names (3.14's split refcount word: ob_refcnt 3 << 30 and ob_flags) and, on
    3.15, the lazy_import objects of 300 `lazy import`s: counted exactly by `types`, every
    name found by `objects --type str`, live and in the core;
  * an unknown version: a copy of the 3.15 core (and of its executable, for Py_Version)
    saying 3.16.0a1 is read through its _Py_DebugOffsets with the 3.15 tables, every result
    partial with the reason and the version assumed; saying 3.15.0b1, the same as a
    pre-release; a 3.14 core saying 3.16 does not check out and is refused with a clear
    message, never read as garbage.

Workloads run with their own mount namespace (unshare -m) and /proc mounted inside the
chroot, which CPython's threading and the workloads read; the processes are ordinary
processes of this machine, read from outside as any other. Skipped when the chroot or an
interpreter is missing.
"""
import json
import os
import shutil
import struct
import subprocess
import time
import unittest

import pyheap_testlib as T

SID = "/var/cache/py-heap/chroot/sid"
VERSIONS = [("3.14", "/usr/bin/python3.14"), ("3.15", "/usr/bin/python3.15")]
INFO_WORKLOAD = os.path.join(T.FIXTURES, "workloads", "info_workload.py")
VERSIONS_WORKLOAD = os.path.join(T.FIXTURES, "workloads", "versions_workload.py")


class ChrootWorkload:
    """A workload script run by an interpreter of the sid chroot; its ground truth."""

    def __init__(self, binary, script):
        self.binary = binary
        self.inside = T.make_temp_dir("pyheap-sid-")  # a host directory, bound into the chroot
        self.dir_in_chroot = "/tmp/" + os.path.basename(self.inside)
        self.host_dir = SID + self.dir_in_chroot
        os.makedirs(self.host_dir, exist_ok=True)
        shutil.copy(script, self.host_dir)
        self.script = os.path.join(self.dir_in_chroot, os.path.basename(script))
        self.gt_host = os.path.join(self.host_dir, "ground_truth.json")
        self.log = os.path.join(self.inside, "workload.log")
        self.proc = None

    def start(self, timeout=T.WORKLOAD_TIMEOUT):
        cmd = "mount -t proc proc %s/proc && exec chroot %s %s %s %s" % (
            SID, SID, self.binary, self.script,
            os.path.join(self.dir_in_chroot, "ground_truth.json"))
        with open(self.log, "wb") as log:
            # unshare execs sh, which execs chroot, which execs python: one process, one pid.
            self.proc = T.start_process(["unshare", "-m", "sh", "-c", cmd], stdout=log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.gt_host):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise T.WorkloadError("%s %s wrote no ground truth; log:\n%s" % (
                    self.binary, self.script, T.log_tail(self.log)))
            time.sleep(0.05)
        with open(self.gt_host) as fh:
            self.gt = json.load(fh)
        if "error" in self.gt:
            raise T.WorkloadError("%s: %s" % (self.script, self.gt["error"]))
        pid = self.proc.pid
        if not T.wait_until(lambda: T.syscall_of(pid, pid) in T.SLEEP_SYSCALLS and
                            all(s == "S" for s in T.thread_states(pid).values()), timeout):
            raise T.WorkloadError("%s: main thread not in its final sleep" % self.script)
        return self

    def core(self):
        path = os.path.join(self.inside, "core")
        if not os.path.exists(path):
            T.gcore(self.proc.pid, path)
        return path

    def stop(self):
        if self.proc:
            T.kill_process(self.proc)
        shutil.rmtree(self.host_dir, ignore_errors=True)


def pyheap(args):
    res = T.run_pyheap(list(args))
    return res


CORE_ARGS = ["--sysroot", SID, "--debug-dir", ""]


class VersionBase:
    label = binary = None

    @classmethod
    def setUpClass(cls):
        T.require_pyheap()
        if not os.path.exists(SID + cls.binary):
            raise unittest.SkipTest("%s not installed in %s (scripts/setup.sh)" % (cls.binary, SID))
        cls.info_w = ChrootWorkload(cls.binary, INFO_WORKLOAD).start()
        cls.addClassCleanup(cls.info_w.stop)
        cls.ver_w = ChrootWorkload(cls.binary, VERSIONS_WORKLOAD).start()
        cls.addClassCleanup(cls.ver_w.stop)

    def check_info(self, target_args):
        res = pyheap(["info", "--json", "--debug-dir", ""] + target_args)
        self.assertEqual(res.returncode, 0, res.describe())
        info = res.json()
        gt = dict(self.info_w.gt)
        # The workload sees its own paths; outside they are under the chroot.
        gt["executable"] = SID + gt["executable"]
        problems = T.compare_info(info, gt, expect_debug_info=False)
        self.assertEqual(problems, [], "\n".join(problems))
        self.assertEqual(info["python"]["layout_source"], "debug-offsets")

    def test_info_live(self):
        self.check_info(["--pid", str(self.info_w.proc.pid)])

    def test_info_core(self):
        self.check_info([self.info_w.core()] + CORE_ARGS)

    def check_counts(self, target_args):
        gt = self.ver_w.gt
        res = pyheap(["types", "--json", "--limit", "0"] + target_args)
        self.assertIn(res.returncode, (0, 1), res.describe())
        rows = {r["name"]: r["count"] for r in res.json()["types"]}
        self.assertEqual(rows.get("__main__.Leak"), gt["leak"])
        if gt["lazy_import"] or self.label == "3.15":
            self.assertGreaterEqual(gt["lazy_import"], 300)
            self.assertEqual(rows.get("lazy_import"), gt["lazy_import"])
        self.assertEqual(gt["names_immortal"], len(gt["names"]))
        res = pyheap(["objects", "--json", "--type", "str", "--limit", "0"] + target_args)
        self.assertIn(res.returncode, (0, 1), res.describe())
        found = {int(o["address"], 16) for o in res.json()["objects"]}
        missing = [hex(a) for a in gt["names"] if a not in found]
        self.assertEqual(missing, [], "immortal interned names not found")

    def test_counts_live(self):
        self.check_counts(["--pid", str(self.ver_w.proc.pid)])

    def test_counts_core(self):
        self.check_counts([self.ver_w.core()] + CORE_ARGS)


class Test314(VersionBase, unittest.TestCase):
    label, binary = VERSIONS[0]


class Test315(VersionBase, unittest.TestCase):
    label, binary = VERSIONS[1]


def patch_file(path, offset, data):
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def claim_version(core, exe, workdir, version_hex):
    """Copies of core and exe whose Py_Version and _Py_DebugOffsets.version say version_hex
    (wherever each is: the executable's read-only data, the core's copy of it if any, and
    _PyRuntime in the core)."""
    core2, exe2 = os.path.join(workdir, "core.patched"), os.path.join(workdir, "python.patched")
    shutil.copy(core, core2)
    shutil.copy(exe, exe2)
    py_version = T.dynsym_value(exe, "Py_Version")
    runtime = T.dynsym_value(exe, "_PyRuntime")
    for ph in T.program_headers(exe):
        if ph.type == T.PT_LOAD and ph.vaddr <= py_version < ph.vaddr + ph.filesz:
            patch_file(exe2, ph.offset + py_version - ph.vaddr, struct.pack("<I", version_hex))
    seg = T.segment_containing(core, py_version)  # non-PIE: file addresses are addresses
    if seg:
        patch_file(core2, seg.offset + py_version - seg.vaddr, struct.pack("<I", version_hex))
    seg = T.segment_containing(core, runtime + 8)
    assert seg, "no _PyRuntime in the core"
    patch_file(core2, seg.offset + runtime + 8 - seg.vaddr, struct.pack("<Q", version_hex))
    return core2, exe2


class TestIncrementalGc(unittest.TestCase):
    """CPython 3.14.0-3.14.4 collect incrementally: a young generation and two old spaces,
    which a full scan visits in turns (runtime/gc.h). No package ships such a 3.14 any more;
    one built locally from the release source is named in PYHEAP_EXTRA_PYTHONS (it may not be
    committed). Live and on a core: `info` says the collector is incremental, counts the
    young generation and both old spaces against the interpreter's own gc.get_objects()
    (compare_info), and tells the visited space from the unvisited one as gdb reads them
    through the build's DWARF (`visited_space`, `old[0]`, `old[1]`)."""

    def test_young_and_old_spaces(self):
        T.require_pyheap()
        interps = [i for i in T.INTERPRETERS if i.available and i.label.startswith("extra-3.14.")
                   and int(i.label.split(".")[-1]) <= 4]
        if not interps:
            self.skipTest("PYHEAP_EXTRA_PYTHONS names no CPython 3.14.0-3.14.4 GIL build")
        for interp in interps:
            with self.subTest(interp=interp.label):
                w, core = T.shared_workload(interp), T.shared_core(interp)
                oracle = T.run_gdb_oracle(interp, core=core)
                self.assertEqual([], oracle["errors"])
                visited, lists = oracle["visited_space"], oracle["generations"]
                want = [lists[0], lists[1 + visited], lists[2 - visited]]
                for target in (["--pid", str(w.pid)], [core]):
                    res = T.run_pyheap(["info"] + target + T.pyheap_args(interp) + ["--json"])
                    self.assertEqual(0, res.returncode, res.describe())
                    doc = res.json()
                    self.assertEqual([], T.compare_info(doc, w.gt), target)
                    self.assertEqual(want, doc["gc"]["generations"], target)
                    self.assertEqual("incremental", doc["gc"]["collector"], target)
                res = T.run_pyheap(["info", core, "--wide"] + T.pyheap_args(interp))
                self.assertRegex(res.stdout, r"GC +young: %d, old: %d visited \+ %d unvisited, "
                                             r"permanent: \d+ \(incremental collector\)"
                                 % tuple(want))


class TestUnknownVersion(unittest.TestCase):
    """A version py-heap has no table for goes on only through a _Py_DebugOffsets that
    checks out, partial and saying what it assumed; otherwise a clear refusal."""

    @classmethod
    def setUpClass(cls):
        T.require_pyheap()
        for _label, binary in VERSIONS:
            if not os.path.exists(SID + binary):
                raise unittest.SkipTest("%s not installed in %s" % (binary, SID))
        cls.w = {}
        for label, binary in VERSIONS:
            w = ChrootWorkload(binary, VERSIONS_WORKLOAD).start()
            cls.addClassCleanup(w.stop)
            cls.w[label] = w
        cls.tmp = T.make_temp_dir("pyheap-unknown-")

    def read_as(self, label, version_hex, name):
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        w = self.w[label]
        core, exe = claim_version(w.core(), SID + w.binary, d, version_hex)
        return core, ["--exe", exe] + CORE_ARGS

    def test_newer_version_is_read_through_debug_offsets(self):
        core, args = self.read_as("3.15", 0x031000a1, "316")
        res = pyheap(["types", "--json", "--limit", "0", core] + args)
        self.assertEqual(res.returncode, 1, res.describe())  # partial
        out = res.json()
        self.assertTrue(out["partial"])
        reason = [m for m in out["warnings"] if "3.16.0a1" in m]
        self.assertTrue(reason and "read as 3.15" in reason[0] and "_Py_DebugOffsets" in reason[0],
                        out["warnings"])
        rows = {r["name"]: r["count"] for r in out["types"]}
        self.assertEqual(rows.get("__main__.Leak"), self.w["3.15"].gt["leak"])
        self.assertIn("read as 3.15", res.stderr)
        info = pyheap(["info", "--json", core] + args)
        self.assertEqual(info.returncode, 1, info.describe())
        self.assertTrue(info.json()["partial"])
        self.assertEqual(info.json()["python"]["layout_source"], "debug-offsets")

    def test_prerelease_is_partial(self):
        core, args = self.read_as("3.15", 0x030f00b1, "315b1")
        res = pyheap(["info", "--json", core] + args)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertTrue(res.json()["partial"])
        self.assertTrue(any("3.15.0b1" in m and "pre-release" in m and "read as 3.15" in m
                            for m in res.json()["warnings"]), res.json()["warnings"])

    def test_newer_version_without_matching_offsets_is_refused(self):
        # A 3.14 table (760 bytes, another word order) read as the 3.15 one does not check out.
        core, args = self.read_as("3.14", 0x031000a1, "314as316")
        res = pyheap(["types", core] + args)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertEqual(res.stdout, "")
        self.assertIn("unsupported Python version 3.16", res.stderr_lines()[-1])
        self.assertIn("_Py_DebugOffsets", res.stderr_lines()[-1])


if __name__ == "__main__":
    unittest.main()
