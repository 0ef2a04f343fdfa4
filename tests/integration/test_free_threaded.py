"""Free-threaded CPython (issue 18): the census of a process whose objects live in mimalloc's
pages and on no GC list, live and on a gcore, against what the process measured of itself
(fixtures/workloads/ft_census_workload.py), and the other verbs over it.

No package ships a free-threaded CPython and none may be committed: the interpreters come from
PYHEAP_EXTRA_PYTHONS (paths, comma-separated; the free-threaded ones among them, e.g. a 3.14t
built locally with --disable-gil). Without one, every test skips, saying so.

What is asserted, for each such interpreter, live and on the core:
  * `info` says free-threaded and the mimalloc version;
  * `types`: not partial; the GC-tracked objects py-heap finds (ob_gc_bits) are exactly
    len(gc.get_objects()) + gc.get_freeze_count(), none missing; the workload's classes
    exactly; every type the collector tracks counted as the in-process closure of
    gc.get_objects() through gc.get_referents() counts it — but for tuple (untracked tuples
    the closure does not reach: py-heap's count is at least the tracked ones), and type, whose
    static objects (the builtin types) are on py-heap's `static` line: there the heap count
    is the collector's;
  * `show`, `referrers`, `path` of an instance: its attributes, the list holding it, the
    path through the module; `path --type` of the worker's items: through the main
    module's list and through the frame of the worker thread still running;
  * `retained`: the main module's list of instances retains them; `unreachable`: no garbage
    (the workload collected); `snapshot` counts the objects `types` counts;
  * the gdb commands (the same library): `py-heap types /json` in gdb on the core gives the
    CLI's rows.
"""
import json
import os
import re
import unittest

import gdb_testlib as G
import pyheap_testlib as T

WORKLOAD = os.path.join(T.FIXTURES, "workloads", "ft_census_workload.py")
# Static objects of these types (the builtin types) are on the `static` line, which the
# closure counts with the heap's; the heap ones are all tracked.
STATIC_TOO = ("type",)


class FreeThreadedBase(unittest.TestCase):
    interp = None
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        T.require_pyheap()
        why = cls.interp.skip_reason()
        if why:
            raise unittest.SkipTest(why)
        # A pre-release (3.15.0rc1t) is read, and every result is partial, saying so.
        res = T.run_process([cls.interp.path, "-c", "import sys; "
                             "print(sys.version_info.releaselevel)"], 60, what=cls.interp.path)
        cls.prerelease = res.stdout.strip() != "final"
        cls.tmp = T.make_temp_dir("pyheap-ft-")
        gt_path = os.path.join(cls.tmp, "gt.json")
        cls.log = open(os.path.join(cls.tmp, "workload.log"), "w")
        cls.proc = T.start_process([cls.interp.path, WORKLOAD, gt_path], cwd=cls.tmp,
                                   stdout=cls.log, stderr=cls.log)
        T.wait_until(lambda: os.path.exists(gt_path) or cls.proc.poll() is not None,
                     T.WORKLOAD_TIMEOUT * 3)
        if not os.path.exists(gt_path):
            raise AssertionError("the workload wrote no ground truth: %s"
                                 % T.log_tail(cls.log.name))
        with open(gt_path) as f:
            cls.gt = json.load(f)
        if "error" in cls.gt:
            raise AssertionError("the workload: %s" % cls.gt["error"])
        cls.core = T.gcore(cls.proc.pid, os.path.join(cls.tmp, "core"))
        cls.targets = (("live", ["--pid", str(cls.proc.pid)]), ("core", [cls.core]))
        cls.types = {what: cls.pyheap(["types", "--limit", "0"] + target)
                     for what, target in cls.targets}

    @classmethod
    def tearDownClass(cls):
        proc = getattr(cls, "proc", None)
        if proc:
            T.kill_process(proc)
        log = getattr(cls, "log", None)
        if log:
            log.close()

    @classmethod
    def pyheap(cls, args):
        res = T.run_pyheap(list(args) + ["--json"])
        if not (res.returncode == 0 or (cls.prerelease and T.ok_or_prerelease(res))):
            raise AssertionError("py-heap failed: %s" % res.describe())
        return res.json()

    def assert_not_partial(self, rep):
        """Complete, but for a pre-release's one warning."""
        warnings = [w for w in rep.get("warnings", [])
                    if not (self.prerelease and T.PRERELEASE_NOTE in w)]
        self.assertEqual(warnings, [])
        self.assertIs(rep["partial"], self.prerelease)

    def rows(self, what):
        out = {}
        for row in self.types[what]["types"]:
            out[row["name"]] = out.get(row["name"], 0) + row["count"]
        return out

    def an_instance(self, target, name):
        rep = self.pyheap(["objects", "--type", name, "--limit", "1"] + target)
        self.assertTrue(rep["objects"], "no %s" % name)
        return rep["objects"][0]["address"]

    # ---- the checks --------------------------------------------------------------------

    def test_info(self):
        for what, target in self.targets:
            with self.subTest(target=what):
                res = T.run_pyheap(["info"] + target)
                self.assertEqual(res.returncode, 1 if self.prerelease else 0, res.stderr)
                self.assertRegex(res.stdout, r"(?m)^Build +free-threaded \(no GIL\), mimalloc "
                                 r"2\.(1\.2|5\.2) \(\d+ segments?\)$")
                info = self.pyheap(["info"] + target)
                self.assertIs(info["python"]["free_threaded"], True)
                self.assertIn(info["python"]["mimalloc"], ("2.1.2", "2.5.2"))
                self.assertIsNone(info["gc"])  # no generations

    def test_census_against_the_collector(self):
        for what, _target in self.targets:
            with self.subTest(target=what):
                rep, rows = self.types[what], self.rows(what)
                self.assert_not_partial(rep)
                self.assertEqual(rep["gc_check"], {"tracked": self.gt["tracked"],
                                                   "not_found": 0})
                for name, count in self.gt["classes"].items():
                    self.assertEqual(rows.get(name, 0), count, name)
                bad = []
                for name, tracked in sorted(self.gt["gc"].items()):
                    got = rows.get(name, 0)
                    if name == "tuple":
                        ok = got >= tracked
                    elif name in STATIC_TOO:
                        ok = got == tracked
                    else:
                        ok = got == self.gt["census"][name]
                    if not ok:
                        bad.append("%s: py-heap %d, tracked %d, closure %d"
                                   % (name, got, tracked, self.gt["census"][name]))
                self.assertEqual(bad, [], what)

    def test_census_live_equals_core(self):
        self.assertEqual(self.rows("live"), self.rows("core"))

    def test_show_referrers_path(self):
        for what, target in self.targets:
            with self.subTest(target=what):
                addr = self.an_instance(target, "__main__.Plain")
                show = self.pyheap(["show", addr] + target)
                self.assertEqual(show["type"], "__main__.Plain")
                self.assertEqual(show["location"], "mimalloc")
                self.assertIs(show["gc_tracked"], True)
                self.assertIsNone(show["gc_generation"])
                self.assertEqual(show["size"], 48)  # 32-byte header + 16-byte pre-header
                attrs = {a["name"]: a["value"] for a in show["attributes"]}
                self.assertRegex(attrs.get("label", ""), r"^'plain-\d+'$")
                self.assertEqual(attrs["label"], "'plain-%s'" % attrs["i"])
                refs = self.pyheap(["referrers", addr] + target)["referrers"]
                self.assertEqual([(r["type"], r["root"]) for r in refs], [("list", False)])
                paths = self.pyheap(["path", addr] + target)["paths"]
                self.assertRegex(paths[0]["expression"],
                                 r"^sys\.modules\['__main__'\]\.plain\[\d+\]$")

    def test_paths_through_a_thread(self):
        """Half the running worker's items are held by its frame alone (FT frames: deferred
        references, thread-local bytecode for its line)."""
        for what, target in self.targets:
            with self.subTest(target=what):
                rep = self.pyheap(["path", "--type", "__main__.WorkerItem"] + target)
                self.assertEqual(rep["unreachable"], 0)
                got = {p["expression"]: p["count"] for p in rep["paths"]}
                self.assertEqual(sum(got.values()), self.gt["classes"]["__main__.WorkerItem"])
                self.assertEqual(got.get("sys.modules['__main__'].kept[*]"), 1875, got)
                frame = [e for e in got if re.match(
                    r"^thread 'Thread-3 \(worker\)' frame worker\(\) at .*ft_census_workload"
                    r"\.py:\d+, local 'items'\[\*\]$", e)]
                self.assertEqual([got[e] for e in frame], [750], got)

    def test_retained_unreachable_snapshot(self):
        for what, target in self.targets:
            with self.subTest(target=what):
                ret = self.pyheap(["retained"] + target)
                plain = [r for r in ret["retainers"]
                         if r.get("path") == "sys.modules['__main__'].plain"]
                self.assertTrue(plain, [r.get("path") for r in ret["retainers"]])
                self.assertGreaterEqual(plain[0]["retained_count"], 3000)
                unr = self.pyheap(["unreachable"] + target)
                self.assertEqual(unr["totals"]["garbage"], 0)
                snap = self.pyheap(["snapshot"] + target)
                self.assertEqual(snap["objects"], self.types[what]["totals"]["objects"])

    def test_gdb_types(self):
        why = G.gdb_skip_reason()
        if why:
            self.skipTest(why)
        run = G.run_gdb_commands([self.interp.path, self.core], ["py-heap types /json"])
        out = run["py-heap types /json"].json()
        rows = {}
        for row in out["types"]:
            rows[row["name"]] = rows.get(row["name"], 0) + row["count"]
        for name, count in self.gt["classes"].items():
            self.assertEqual(rows.get(name, 0), count, name)
        self.assertEqual(out["gc_check"]["tracked"], self.gt["tracked"])


def load_tests(loader, tests, pattern):
    suite = unittest.TestSuite()
    for interp in T.FREE_THREADED:
        cls = type("FreeThreaded_" + re.sub(r"\W", "_", interp.label), (FreeThreadedBase,),
                   {"interp": interp})
        suite.addTests(loader.loadTestsFromTestCase(cls))
    if not T.FREE_THREADED:
        class NoFreeThreaded(unittest.TestCase):
            def test_skipped(self):
                self.skipTest("PYHEAP_EXTRA_PYTHONS names no free-threaded interpreter "
                              "(a CPython built with --disable-gil; none ships in a package)")
        suite.addTests(loader.loadTestsFromTestCase(NoFreeThreaded))
    return suite


if __name__ == "__main__":
    unittest.main()
