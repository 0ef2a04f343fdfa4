"""Garbage that looks like objects is never counted, and nothing crashes: the census
(`types`, `objects`, `show`) on copies of a census-workload core whose bytes are patched.

Each scenario patches a fresh copy of the interpreter's core (target addresses turned into
file offsets with the ELF program headers: census_testlib.patch_core) and checks:

  * py-heap exits 0, or 1 only with the line `py-heap: error: results are partial: ...`, and
    is never killed by a signal; with exit 0 its JSON is valid;
  * the census changes by exactly what was corrupted: the corrupted objects are not counted
    (their class loses exactly that many), every other row is unchanged, the GC check names
    exactly the corrupted GC-tracked objects as missing, the accounting still adds up to the
    same heap total;
  * the same runs under the ASan/UBSan build when there is one (PYHEAP_ASAN_BIN, or
    build-asan/py-heap beside build/): no sanitizer report on stderr.

Scenarios: (a) ob_type of two instances pointing into nowhere; (b) refcounts set to 0; (c) a
static type's tp_name pointer (in the core: the type object is in the binary's .data)
pointing into nowhere: the type is shown as `<type at 0x...>`; (c') a heap type's
ht_qualname pointer broken; (d) var-size objects whose ob_size no longer fits their block
(a bytes in a pymalloc block, a bytes in a glibc chunk, a tuple); (e) a dict's keys and a
list's items pointing into nowhere (still objects: their headers are intact); (f) main_arena
unfindable: the classes' instances in pymalloc are still counted.

Run from this folder:

    PYHEAP_BIN=../../build/py-heap /usr/bin/python3 -m unittest -v test_census_garbage
"""
import os
import re
import struct
import unittest

import census_testlib as C
import pyheap_testlib as T

RUNS = C.census_runs()
SANITIZER_REPORT = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
                              r"runtime error:|==\d+==ERROR")


def setUpModule():
    T.require_pyheap()
    C.start_census_workloads([r.interp for r in RUNS if r.interp.available])


def tearDownModule():
    C.stop_census_workloads()


def asan_available():
    return os.path.isfile(C.ASAN_BIN) and os.access(C.ASAN_BIN, os.X_OK)


def gap_address(core):
    """An 8-aligned address in no segment of the core (the middle of the first gap of at
    least 16 MiB between two segments): a pointer into nowhere."""
    with C.CoreImage(core) as img:
        segs = [(p.vaddr, p.vaddr + max(p.memsz, p.filesz)) for p in img.segments]
    segs.sort()
    for (_s1, e1), (s2, _e2) in zip(segs, segs[1:]):
        if s2 - e1 >= 16 << 20:
            return (e1 + (s2 - e1) // 2) & ~0xfff
    return 0x1000


class GarbageBase(C.CensusRunCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = T.make_temp_dir("pyheap-garbage-")
        cls.baseline = C.pyheap_json(["types", cls.core] + cls.crun.args + ["--limit", "0"])
        cls.nowhere = gap_address(cls.core)
        cls.bins = [("py-heap", None)]
        if asan_available():
            cls.bins.append(("py-heap (ASan)", C.ASAN_BIN))

    # ---- helpers -------------------------------------------------------------------------

    def patched(self, name, patches):
        path = C.copy_core(self.core, self.tmp, "%s.%s" % (name, self.crun.label))
        try:
            C.patch_core(path, patches)
        except KeyError as e:
            os.unlink(path)
            self.skipTest("cannot patch: %s" % e)
        self.addCleanup(lambda: os.path.exists(path) and os.unlink(path))
        return path

    def run_checked(self, args, allowed=(0, 1)):
        """Runs py-heap ARGS --json with every binary; returns [(label, Result, JSON or
        None)] after checking the exit status (allowed), the error convention (a failure
        says why in one `py-heap: error:` line) and the sanitizers."""
        out = []
        env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
               "UBSAN_OPTIONS": "print_stacktrace=1"}
        for label, bin_path in self.bins:
            argv = list(args) + ["--json"]
            res = T.run_pyheap(argv, env=env, binary=bin_path)
            what = "%s %s: %s" % (label, self.crun.label, res.describe())
            self.assertGreaterEqual(res.returncode, 0, "killed by a signal: " + what)
            self.assertLess(res.returncode, 128, "killed by a signal: " + what)
            self.assertIn(res.returncode, allowed, what)
            self.assertIsNone(SANITIZER_REPORT.search(res.stderr), "sanitizer report: " + what)
            data = None
            if res.returncode == 0:
                data = res.json()
            else:
                errors = [ln for ln in res.stderr_lines() if ln.startswith("py-heap: error: ")]
                self.assertEqual(len(errors), 1, what)
                if res.stdout.strip() and errors[0].startswith("py-heap: error: results are "
                                                               "partial: "):
                    data = res.json()  # a partial result is printed all the same
            out.append((label, res, data))
        return out

    def types_of(self, core, said=None):
        """`types --limit 0` of a patched core, by every binary; the reports must agree and
        be complete — or, with said (a regex), partial (exit 1) with said on stderr (damage
        py-heap must not hide, issue 13); returns the first."""
        runs = self.run_checked(["types", core] + self.crun.args + ["--limit", "0"])
        reports = []
        for label, res, data in runs:
            self.assertEqual(res.returncode, 1 if said else 0, "%s: %s" % (label, res.describe()))
            if said:
                self.assertRegex(res.stderr, said)
            reports.append(C.rows_by_name(data))
        for other in reports[1:]:
            self.assertEqual(other, reports[0], "the ASan build counts otherwise")
        return runs[0][2]

    def assert_census_changed_by(self, report, changes, not_found):
        """changes: {row name: (count delta, size delta)}; every other row unchanged."""
        before = C.rows_by_name(self.baseline)
        after = C.rows_by_name(report)
        want = {}
        for name, (count, size, addrs) in before.items():
            dc, ds = changes.get(name, (0, 0))
            if count + dc:
                want[name] = [count + dc, size + ds, addrs]
        self.assertEqual(sorted(set(after) ^ set(want)), [], "rows that appear or vanish")
        diffs = ["%s: %r, expected %r" % (n, after[n][:2], want[n][:2])
                 for n in sorted(want) if after[n][:2] != want[n][:2]]
        self.assertEqual(diffs, [], "%s: rows" % self.crun.label)
        self.assertEqual(report["gc_check"]["not_found"], not_found, report["gc_check"])
        self.assertEqual(report["gc_check"]["tracked"], self.baseline["gc_check"]["tracked"])
        a = report["accounting"]
        self.assertEqual(a["objects_size"] + a["native_bytes"] + a["rounding_bytes"]
                         + a["free_bytes"], a["heap_total"], a)
        self.assertEqual(a["heap_total"], self.baseline["accounting"]["heap_total"])
        self.assertEqual(report["static"], self.baseline["static"])

    def size_of(self, name, addr):
        """sys.getsizeof of a workload object of type `name` (from the .ids file)."""
        got_name, size = self.w.ids[addr]
        self.assertEqual(got_name, name)
        return size

    def plain(self, i):
        return self.gt["classes"]["__main__.Plain"]["ids"][i]

    # ---- scenarios -----------------------------------------------------------------------------

    def test_a_type_pointer_into_nowhere(self):
        victims = [self.plain(3), self.plain(100)]
        core = self.patched("bad-type", {a + 8: struct.pack("<Q", self.nowhere)
                                         for a in victims})
        rep = self.types_of(core)
        size = sum(self.size_of("__main__.Plain", a) for a in victims)
        self.assert_census_changed_by(rep, {"__main__.Plain": (-2, -size)}, not_found=2)
        for _label, _res, data in self.run_checked(["objects", core] + self.crun.args +
                                                   ["--type", "__main__.Plain", "--limit", "0"]):
            addrs = {int(o["address"], 16) for o in data["objects"]}
            self.assertEqual(data["count"], 299)
            self.assertFalse(addrs & set(victims))
        for a in victims:  # whatever it says, it must say it cleanly
            self.run_checked(["show", core] + self.crun.args + ["0x%x" % a])

    def test_b_refcount_zero(self):
        plain = self.plain(7)
        slotted = self.gt["classes"]["__main__.Slotted"]["ids"][7]
        core = self.patched("zero-refcount", {plain: struct.pack("<Q", 0),
                                              slotted: struct.pack("<Q", 0)})
        rep = self.types_of(core)
        self.assert_census_changed_by(rep, {
            "__main__.Plain": (-1, -self.size_of("__main__.Plain", plain)),
            "__main__.Slotted": (-1, -self.size_of("__main__.Slotted", slotted))}, not_found=2)
        for _label, _res, data in self.run_checked(["objects", core] + self.crun.args +
                                                   ["--type", "__main__.Slotted", "--limit",
                                                    "0"]):
            self.assertEqual(data["count"], 400)
            self.assertNotIn("0x%x" % slotted, [o["address"] for o in data["objects"]])

    def test_c_static_type_name_into_nowhere(self):
        float_type = int(self.gt["names"]["float"], 16)
        tp_name = float_type + self.gt["layout"]["tp_name"]
        core = self.patched("static-name", {tp_name: struct.pack("<Q", self.nowhere)})
        rep = self.types_of(core)
        shown = "<type at 0x%x>" % float_type
        rows = C.rows_by_name(rep)
        self.assertNotIn("float", rows)
        before = C.rows_by_name(self.baseline)
        float_row = before.pop("float")
        self.assertEqual(rows.get(shown), float_row, "%s: the float row" % self.crun.label)
        del rows[shown]
        self.assertEqual(rows, before)
        for _label, res, _data in self.run_checked(["objects", core] + self.crun.args +
                                                   ["--type", "float"], allowed=(2,)):
            # No type is named float any more: a usage error (exit 2) naming it.
            self.assertIn("'float'", res.stderr)
        for _label, _res, data in self.run_checked(["objects", core] + self.crun.args +
                                                   ["--type", "0x%x" % float_type]):
            self.assertEqual((data["count"], data["size"]), tuple(float_row[:2]))
        chosen = self.gt["show"]["float"]
        for _label, _res, data in self.run_checked(["show", core] + self.crun.args +
                                                   ["0x%x" % chosen["id"]]):
            self.assertEqual((data["type"], data["value"], data["size"]),
                             (shown, chosen["value"], chosen["size"]))

    def test_c_heap_type_qualname_into_nowhere(self):
        slotted_type = int(self.gt["names"]["__main__.Slotted"], 16)
        core = self.patched("heap-qualname", {
            slotted_type + self.gt["layout"]["ht_qualname"]: struct.pack("<Q", self.nowhere)})
        rep = self.types_of(core)
        rows = C.rows_by_name(rep)
        before = C.rows_by_name(self.baseline)
        moved = [n for n, r in rows.items() if r[2] == ["0x%x" % slotted_type]]
        self.assertEqual(len(moved), 1, rows.get("__main__.Slotted"))
        # Without its qualname the type can only be named by its tp_name ("Slotted") or its
        # address; its objects are still counted.
        self.assertIn(moved[0], ("Slotted", "<type at 0x%x>" % slotted_type))
        self.assertEqual(rows[moved[0]][:2], before["__main__.Slotted"][:2])
        del rows[moved[0]]
        del before["__main__.Slotted"]
        self.assertEqual(rows, before)

    def test_d_var_size_beyond_its_block(self):
        probes = self.gt["probes"]
        small, small_size = probes["bytes_small"]
        chunk, chunk_size = probes["bytes_chunk"]
        tup, tup_size = probes["tuple"]
        core = self.patched("oversized", {small + 16: struct.pack("<q", 4096),
                                          chunk + 16: struct.pack("<q", 1 << 16),
                                          tup + 16: struct.pack("<q", 1 << 16)})
        # Left out of the census, and said: 3 headers whose counts do not fit their blocks.
        rep = self.types_of(core, said=r"3 blocks hold an object header whose size does not "
                                       r"fit the block \(not counted as objects\)")
        # The tuple, if tracked, is in a GC list but no longer an object (3.14+ never track
        # it: its items are untracked).
        self.assert_census_changed_by(rep, {"bytes": (-2, -small_size - chunk_size),
                                            "tuple": (-1, -tup_size)},
                                      not_found=int(self.gt["probes_tracked"]["tuple"]))
        for _label, _res, data in self.run_checked(["objects", core] + self.crun.args +
                                                   ["--type", "bytes", "--limit", "0"]):
            addrs = {int(o["address"], 16) for o in data["objects"]}
            self.assertFalse(addrs & {small, chunk})
        for a in (small, chunk, tup):
            self.run_checked(["show", core] + self.crun.args + ["0x%x" % a])

    def test_e_container_internals_into_nowhere(self):
        """A dict whose ma_keys and a list whose ob_item point into nowhere: their headers
        are intact, so they are still objects (counted, sizes aside); showing them must
        not crash."""
        d, lst = self.gt["show"]["dict"]["id"], self.gt["show"]["list"]["id"]
        nowhere = struct.pack("<Q", self.nowhere)
        core = self.patched("internals", {d + 32: nowhere,  # PyDictObject.ma_keys
                                          lst + 24: nowhere})  # PyListObject.ob_item
        # Counted, and the damage said (issue 13): buffers in unreadable memory, a size
        # that cannot be read.
        rep = self.types_of(core, said=r"2 objects' buffers are in unreadable memory .*the "
                                       r"first, the (list|dict) at 0x%x" % min(d, lst))
        rows, before = C.rows_by_name(rep), C.rows_by_name(self.baseline)
        for name in ("dict", "list"):
            self.assertEqual(rows[name][0], before[name][0], name)
            del rows[name], before[name]
        self.assertEqual({n: r[:2] for n, r in rows.items()},
                         {n: r[:2] for n, r in before.items()})
        self.assertEqual(rep["gc_check"]["not_found"], 0)
        for a in (d, lst):
            self.run_checked(["show", core] + self.crun.args + ["0x%x" % a])

    def test_f_main_arena_unfindable(self):
        """glibc's heap cannot be walked (main_arena's top pointer made misaligned: no
        candidate passes): partial results, and the heap types (in glibc chunks, found then
        through the GC lists) still name their instances that pymalloc holds — every one."""
        frag = C.pyheap_json(["fragmentation", self.core] + self.crun.args)
        main_arena = int(frag["glibc"]["arenas"][0]["address"], 16)
        core = self.patched("no-main-arena", {main_arena + 96:  # malloc_state.top
                                              struct.pack("<Q", 0x1234567)})
        for label, res, _data in self.run_checked(["types", core] + self.crun.args +
                                                  ["--limit", "0"], allowed=(1,)):
            what = "%s %s: %s" % (label, self.crun.label, res.describe())
            self.assertRegex(res.stderr_lines()[-1], r"^py-heap: error: results are partial: "
                             r".*main_arena not found", what)
            rows = C.rows_by_name(res.json())
            for name in sorted(set(C.WORKLOAD_CLASSES) | set(C.LEAKED_CLASSES)):
                in_pymalloc = sum(1 for _size, loc in C.objects_of(
                    [self.core] + self.crun.args, name)[0].values() if loc == "pymalloc")
                self.assertGreater(in_pymalloc, 0, name)
                self.assertEqual(rows.get(name, [0])[0], in_pymalloc, "%s: %s" % (name, what))


T.register_cases(globals(), GarbageBase, "TestGarbage_", RUNS, "crun", "garbage on %s")


if __name__ == "__main__":
    unittest.main()
