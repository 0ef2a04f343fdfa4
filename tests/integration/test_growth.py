"""Growth over time -- `py-heap snapshot`, `diff`, `trend` -- against a service that knows its
own instance counts exactly (fixtures/workloads/growth_service.py), on every interpreter of
the machine.

The service has a LEAK (LeakedRecord: +200 a tick, never freed), a BOUNDED CACHE (CacheEntry:
150 new entries a tick in a dict capped at 300: 150, 300, 300, ...) and a PERIODIC SPIKE
(SpikeBuffer: 400 made on ticks 3, 6, ... and dropped at the next tick). The test advances it
one tick at a time and reads it at five points, one after each of ticks 1..5, each point in
a different way, so that `trend` and `diff` get every kind of input in one series:

    point  tick  how                                         input to trend
    P1     1     `snapshot --pid PID -o s1.json`               s1.json
    P2     2     gdb's gcore -> core2                          core2 (a core as such)
    P3     3     gcore -> core3, `snapshot core3 -o s3.json`   s3.json (the spike: 400)
    P4     4     `snapshot --pid PID --copy -o s4.json`        s4.json
    P5     5     `snapshot --pid PID -o s5.json` (for diff)    pid:PID (read live by trend)

Then: trend classes LeakedRecord *growing*, CacheEntry *plateau*, SpikeBuffer *transient*,
types the service does not touch *stable*, and the counts of each point equal to the ground
truth of its tick; `diff` of P1 vs P5, of a core vs a snapshot (core2 vs s3.json: the spike
appears; core3 vs s4.json: it goes) and of a snapshot vs a live PID (s3.json vs pid:PID)
gives count deltas equal to the ground truth's, exactly (and the counts themselves too).

Snapshot files that cannot be used (truncated, even to nothing; foreign JSON; a newer format
version) fail with exit status 1 and one `py-heap: error:` line naming the file and the
problem. A snapshot of a heap read only in part (a core with glibc's main_arena zeroed) must
say so in the file ("partial": true) if it is written at all.

TIME ORDER. diff and trend put their inputs in time order: a snapshot's "time", a core's
modification time, now for a PID. A core's time must keep its fraction of a second, or a core
made in the same second as the snapshot before it sorts before it:
test_core_time_keeps_order checks exactly that. The series above waits for the next whole
second before each core (wait_next_second), so that its own checks do not depend on it.

Run from this folder:

    PYHEAP_BIN=../../build/py-heap /usr/bin/python3 -m unittest -v test_growth
"""
import json
import os
import shutil
import subprocess
import time
import unittest

import growth_testlib as G
import pyheap_testlib as T

RUNS = G.growth_runs()
_services = {}  # label -> GrowthService, started together in setUpModule

# Types the service never creates or frees once it has started (its warm-up ran every code
# path once): their counts must be flat, so trend must call them stable.
UNRELATED = ("type", "module", "code", "function")


def setUpModule():
    T.require_pyheap()
    for run in RUNS:  # start-up (imports, warm-up) of every interpreter in parallel
        if run.interp.available:
            _services[run.label] = G.GrowthService(run.interp).start(wait=False)


def tearDownModule():
    for s in _services.values():
        s.stop()


class GrowthBase(unittest.TestCase):
    """The series of five points on one interpreter (subclasses set `grun`). Everything is
    taken once in setUpClass; the service then stays idle at tick 5, so that `pid:PID`
    always means the state of P5."""

    grun = None
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        T.require_run(cls.grun)
        cls.args = cls.grun.args
        s = cls.service = _services[cls.grun.label]
        s.wait_truth(0)
        d = s.dir
        cls.files = f = {k: os.path.join(d, k) for k in (
            "s1.json", "core2", "core3", "s3.json", "s4.json", "s5.json")}
        cls.gt = {}
        cls.rss_around = {}
        pid = str(s.pid)

        def live_snapshot(name, extra=()):
            before = _vm_rss(s.pid)
            G.pyheap_ok(["snapshot", "--pid", pid, "-o", f[name]] + list(extra) + cls.args)
            cls.rss_around[name] = (before, _vm_rss(s.pid))

        cls.gt[1] = s.tick()
        live_snapshot("s1.json")
        G.wait_next_second(G.load_json(f["s1.json"])["time"])
        cls.gt[2] = s.tick()
        T.gcore(s.pid, f["core2"])
        G.wait_next_second(os.path.getmtime(f["core2"]))
        cls.gt[3] = s.tick()
        T.gcore(s.pid, f["core3"])
        G.pyheap_ok(["snapshot", f["core3"], "-o", f["s3.json"]] + cls.args)
        cls.gt[4] = s.tick()
        live_snapshot("s4.json", ["--copy"])
        cls.gt[5] = s.tick()
        live_snapshot("s5.json")
        cls.pid_input = "pid:%d" % s.pid
        cls.trend_inputs = [f["s1.json"], f["core2"], f["s3.json"], f["s4.json"], cls.pid_input]
        cls.trend = G.pyheap_json(["trend"] + cls.trend_inputs + cls.args)

    # ---- helpers ---------------------------------------------------------------------

    def gt_counts(self, point):
        return self.gt[point]["classes"]

    def trend_row(self, name):
        rows = G.rows_by_name(self.trend["types"])
        self.assertIn(name, rows, "trend has no row for %s" % name)
        return rows[name]

    def check_diff(self, a, b, point_a, point_b):
        """diff A B: the right inputs in the right order, and for each class count_before,
        count_after and their difference equal to the ground truth of the two points."""
        rep = G.pyheap_json(["diff", a, b] + self.args)
        self.assertEqual(rep.get("command"), "diff")
        self.assertEqual([x["source"] for x in rep["snapshots"]], [a, b],
                         "diff put its inputs in another order: %r" % rep["snapshots"])
        before = G.class_counts(rep["types"], "count_before")
        after = G.class_counts(rep["types"], "count_after")
        want_before, want_after = self.gt_counts(point_a), self.gt_counts(point_b)
        for name in G.CLASSES:
            with self.subTest(diff="%s -> %s" % (os.path.basename(a), os.path.basename(b)),
                              cls=name):
                self.assertEqual(after[name] - before[name],
                                 want_after[name] - want_before[name],
                                 "count delta (py-heap %d -> %d, ground truth %d -> %d)" % (
                                     before[name], after[name], want_before[name],
                                     want_after[name]))
                self.assertEqual((before[name], after[name]),
                                 (want_before[name], want_after[name]), "counts")
        return rep

    # ---- the snapshots ---------------------------------------------------------------

    def test_snapshot_files(self):
        """Each snapshot file: format and version, pid, Python version, the census of the
        three classes equal to the ground truth of its tick; live ones: `resident` is the
        process's VmRSS as seen just before and just after the snapshot."""
        s = self.service
        for name, point, live in (("s1.json", 1, True), ("s3.json", 3, False),
                                  ("s4.json", 4, True), ("s5.json", 5, True)):
            with self.subTest(snapshot=name):
                snap = G.load_json(self.files[name])
                self.assertEqual(snap.get("format"), "py-heap-snapshot")
                self.assertEqual(snap.get("version"), 1)
                self.assertEqual(snap.get("pid"), s.pid)
                self.assertEqual(snap.get("python", {}).get("version"), self.gt[point]["version"])
                self.assertEqual(G.class_counts(snap["types"]), self.gt_counts(point))
                self.assertEqual(snap["totals"]["objects"], sum(t["count"] for t in snap["types"]))
                self.assertEqual(snap["totals"]["size"], sum(t["size"] for t in snap["types"]))
                self.assertTrue(snap["retainers"], "no retainers")
                if live:
                    lo, hi = self.rss_around[name]
                    self.assertTrue(lo <= snap["resident"] <= hi,
                                    "resident %r not within VmRSS before/after %r..%r"
                                    % (snap["resident"], lo, hi))

    def test_core_census(self):
        """`types` of each core equals the ground truth of its tick (the cores themselves
        are inputs of trend and diff)."""
        for core, point in (("core2", 2), ("core3", 3)):
            with self.subTest(core=core):
                rep = G.pyheap_json(["types", self.files[core], "--limit", "0"] + self.args)
                self.assertEqual(G.class_counts(rep["types"]), self.gt_counts(point))

    # ---- trend -----------------------------------------------------------------------

    def test_trend_inputs_in_order(self):
        self.assertEqual(self.trend.get("command"), "trend")
        got = [x["source"] for x in self.trend["snapshots"]]
        self.assertEqual(got, self.trend_inputs)
        times = [x["time"] for x in self.trend["snapshots"]]
        self.assertEqual(times, sorted(times))
        self.assertEqual([x["pid"] for x in self.trend["snapshots"]], [self.service.pid] * 5)

    def test_trend_counts_equal_ground_truth(self):
        for name in G.CLASSES:
            with self.subTest(cls=name):
                want = [self.gt_counts(p)[name] for p in range(1, 6)]
                rows = G.rows_by_name(self.trend["types"])
                got = rows[name]["counts"] if name in rows else [0] * 5
                self.assertEqual(got, want)

    def test_trend_classes(self):
        for name, cls in ((G.LEAK, "growing"), (G.CACHE, "plateau"), (G.SPIKE, "transient")):
            with self.subTest(cls=name):
                row = self.trend_row(name)
                self.assertEqual(row["class"], cls, "%s: counts %r sizes %r" % (
                    name, row["counts"], row["sizes"]))
        for name in UNRELATED:
            with self.subTest(cls=name):
                row = self.trend_row(name)
                self.assertEqual(row["class"], "stable", "%s: counts %r sizes %r" % (
                    name, row["counts"], row["sizes"]))

    def test_trend_growth_rates(self):
        """growth_per_snapshot of the leak is its first-to-last growth over the steps;
        growth_per_hour is the Theil-Sen slope of its sizes over the snapshots' times (the
        median of the slopes of every pair), worked out here; its error bar holds it, and
        the verdict's reason is one line."""
        row = self.trend_row(G.LEAK)
        times = [x["time"] for x in self.trend["snapshots"]]
        sizes = row["sizes"]
        growth = sizes[-1] - sizes[0]
        self.assertGreater(growth, 0)
        self.assertAlmostEqual(row["growth_per_snapshot"], growth / 4.0, places=3)
        slopes = sorted((sizes[j] - sizes[i]) / (times[j] - times[i])
                        for i in range(5) for j in range(i + 1, 5) if times[j] > times[i])
        mid = len(slopes) // 2
        median = slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2
        self.assertAlmostEqual(row["growth_per_hour"] / (median * 3600), 1.0, places=6)
        self.assertGreaterEqual(row["growth_per_hour_error"], 0)
        self.assertLessEqual(slopes[0] * 3600, row["growth_per_hour"])
        self.assertEqual(row["peak"], max(sizes))
        self.assertNotIn("\n", row["reason"])
        self.assertTrue(row["reason"])
        cache = self.trend_row(G.CACHE)
        self.assertEqual(cache["plateau_level"], cache["sizes"][-1])

    def test_trend_retainers(self):
        """The leak's list is a growing retainer; the spike's list rose and fell."""
        rets = {r["path"]: r for r in self.trend["retainers"]}
        for name, cls in ((".LEAK", "growing"), (".SPIKE", "transient")):
            with self.subTest(retainer=name):
                found = [p for p in rets if p.endswith(name)]
                self.assertEqual(len(found), 1, "retainers: %r" % sorted(rets))
                self.assertEqual(rets[found[0]]["class"], cls, rets[found[0]])

    # ---- diff ------------------------------------------------------------------------

    def test_diff_first_last(self):
        self.check_diff(self.files["s1.json"], self.files["s5.json"], 1, 5)

    def test_diff_core_vs_snapshot(self):
        self.check_diff(self.files["core2"], self.files["s3.json"], 2, 3)  # spike appears
        self.check_diff(self.files["core3"], self.files["s4.json"], 3, 4)  # and goes

    def test_diff_snapshot_vs_pid(self):
        self.check_diff(self.files["s3.json"], self.pid_input, 3, 5)
        self.assertFalse(T.not_stopped_problems(self.service.pid))

    def test_diff_retainer_not_listed(self):
        """The spike's list is among the top retainers at P3 only: diff P2 -> P3 says it was
        not listed before (not that it grew from 0 bytes)."""
        a, b = self.files["core2"], self.files["s3.json"]
        rep = G.pyheap_json(["diff", a, b] + self.args)
        found = [r for r in rep["retainers"] if r["path"].endswith(".SPIKE")]
        self.assertEqual(len(found), 1, rep["retainers"])
        self.assertEqual((found[0]["listed_before"], found[0]["listed_after"]), (False, True))
        text = G.pyheap_ok(["diff", a, b, "--wide"] + self.args).stdout
        line = [l for l in text.splitlines() if l.rstrip().endswith(".SPIKE")]
        self.assertEqual(len(line), 1, text)
        self.assertIn("(not listed) ->", line[0])

    def test_diff_fragmentation_delta(self):
        rep = G.pyheap_json(["diff", self.files["s1.json"], self.files["s5.json"]] + self.args)
        a, b = (G.load_json(self.files[k]) for k in ("s1.json", "s5.json"))
        fd = rep["fragmentation_delta"]
        for key in ("heap_total", "pymalloc_used", "pymalloc_free", "glibc_used", "glibc_free"):
            with self.subTest(key=key):
                self.assertEqual(fd[key], b["fragmentation"][key] - a["fragmentation"][key])


def _vm_rss(pid):
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


T.register_cases(globals(), GrowthBase, "TestGrowth_", RUNS, "grun",
                 "snapshot/diff/trend on %s")


class TestSnapshotFiles(unittest.TestCase):
    """Snapshot files that cannot be used, and the time order of inputs, on one interpreter
    (what is checked here does not depend on the interpreter)."""

    @classmethod
    def setUpClass(cls):
        T.require_pyheap()
        interp = T.require_first_available(("3.12", "3.11-debian"), "no interpreter")
        cls.args = T.pyheap_args(interp)
        cls.service = s = G.GrowthService(interp).start()
        cls.dir = s.dir
        cls.good = os.path.join(cls.dir, "good.json")
        cls.gt1 = s.tick()
        G.pyheap_ok(["snapshot", "--pid", str(s.pid), "-o", cls.good, "--no-retainers"] + cls.args)
        cls.gt2 = s.tick()
        cls.core = os.path.join(cls.dir, "core.tick2")
        T.gcore(s.pid, cls.core)
        with open(cls.good, "rb") as fh:
            cls.good_bytes = fh.read()

    @classmethod
    def tearDownClass(cls):
        cls.service.stop()

    def bad_file(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as fh:
            fh.write(data)
        return path

    def check_refused(self, path, cause):
        """diff and trend with the bad file first, in the middle, last: exit status 1 and
        one `py-heap: error:` line naming the file and the cause (the cause is looked for in
        the line with the file's path taken out, so that a file name cannot supply it)."""
        for argv in (["diff", path, self.good], ["diff", self.good, path],
                     ["trend", self.good, path, self.good], ["trend", path, self.good,
                                                           self.good, "--json"]):
            with self.subTest(argv=" ".join(os.path.basename(a) for a in argv)):
                res = T.run_pyheap(argv + self.args)
                problems = []
                if path not in res.stderr:
                    problems.append("the error line does not name %s" % path)
                res.stderr = res.stderr.replace(path, "FILE")
                problems += T.error_line_problems(res, 1, cause)
                self.assertFalse(problems, "\n".join(problems))
                self.assertEqual(res.stdout, "", "output printed before the error")

    def test_truncated(self):
        half = self.good_bytes[:len(self.good_bytes) // 2]
        self.check_refused(self.bad_file("s-half.json", half),
                           r"truncated|not valid JSON")

    def test_truncated_to_one_byte(self):
        self.check_refused(self.bad_file("s-brace.json", b"{"), r"truncated|not valid JSON")

    def test_truncated_to_nothing(self):
        """A snapshot file cut to 0 bytes (a full disk, a killed writer) exists: the error
        must say it is empty or truncated, not that there is no such file."""
        self.check_refused(self.bad_file("s-zero.json", b""),
                           r"^(?!.*No such file).*(empty|truncated|not valid JSON|0 bytes)")

    def test_foreign_json(self):
        self.check_refused(self.bad_file("s-foreign.json", b'{"name": "not a snapshot"}\n'),
                           r"not a py-heap snapshot")
        self.check_refused(self.bad_file("s-list.json", b'[1, 2, 3]\n'),
                           r"not a py-heap snapshot")

    def test_newer_version(self):
        snap = json.loads(self.good_bytes)
        snap["version"] = 2
        self.check_refused(self.bad_file("s-v2.json", json.dumps(snap).encode()),
                           r"newer py-heap")

    def test_partial_snapshot_is_marked(self):
        """A snapshot whose heap could be read only in part is not passed off as whole.

        A copy of the tick-2 core with glibc's main_arena zeroed (its first 2 KiB: mutex,
        flags, fastbins, top, bins; the address from `fragmentation --json`) cannot have its
        malloc heap walked: the census misses every object in a malloc chunk, the heap types
        (classes) among them, hence all their instances. py-heap says so (exit status 1,
        "results are partial"); by the documented convention (docs/user-guide.md, "Output
        and exit status": status 1 = partial, JSON has "partial": true) a snapshot file it
        writes anyway must carry "partial": true, or diff and trend later take its missing
        objects for freed ones (`watch`, which only logs, is fooled the same way)."""
        frag = G.pyheap_json(["fragmentation", self.core] + self.args)
        arena = int(frag["glibc"]["main_arena"], 16)
        seg = T.segment_containing(self.core, arena)
        self.assertIsNotNone(seg, "no PT_LOAD holds main_arena 0x%x" % arena)
        bad = os.path.join(self.dir, "core.no-main-arena")
        shutil.copyfile(self.core, bad)
        with open(bad, "r+b") as fh:
            fh.seek(seg.offset + (arena - seg.vaddr))
            fh.write(b"\0" * 2048)
        out = os.path.join(self.dir, "partial.json")
        res = T.run_pyheap(["snapshot", bad, "-o", out] + self.args)
        self.assertEqual(res.returncode, 1, res.describe())
        self.assertRegex(res.stderr_lines()[-1], r"^py-heap: error: .*partial")
        if os.path.exists(out):
            snap = G.load_json(out)
            self.assertIs(snap.get("partial"), True,
                          "a partial snapshot was written without \"partial\": true (its %s "
                          "counts: %r; the core holds %r)" % (
                              ", ".join(G.CLASSES), G.class_counts(snap["types"]),
                              self.gt2["classes"]))

    def test_good_file_is_accepted(self):
        rep = G.pyheap_json(["diff", self.good, self.core] + self.args)
        self.assertEqual([x["source"] for x in rep["snapshots"]], [self.good, self.core])

    def test_core_time_keeps_order(self):
        """A core made in the same second as, but after, a snapshot must sort after it.

        A copy of the tick-2 core gets a modification time 1/2 of the remaining second
        after the tick-1 snapshot's time (os.utime with nanoseconds). Its time in diff must
        be that mtime (to the millisecond), so that diff compares tick 1 -> tick 2, as the
        arguments say. A core's time truncated to whole seconds puts the core first and
        turns every delta around."""
        snap_time = G.load_json(self.good)["time"]
        mtime = snap_time + (1.0 - (snap_time % 1.0)) / 2.0
        self.assertEqual(int(mtime), int(snap_time))
        core = os.path.join(self.dir, "core.same-second")
        shutil.copyfile(self.core, core)
        os.utime(core, ns=(int(mtime * 1e9), int(mtime * 1e9)))
        rep = G.pyheap_json(["diff", self.good, core] + self.args)
        by_source = {x["source"]: x["time"] for x in rep["snapshots"]}
        with self.subTest(check="order"):
            self.assertEqual([x["source"] for x in rep["snapshots"]], [self.good, core])
        with self.subTest(check="deltas"):
            after = G.class_counts(rep["types"], "count_after")
            before = G.class_counts(rep["types"], "count_before")
            delta = {n: after[n] - before[n] for n in G.CLASSES}
            want = {n: self.gt2["classes"][n] - self.gt1["classes"][n] for n in G.CLASSES}
            self.assertEqual(delta, want)
        with self.subTest(check="time"):
            self.assertAlmostEqual(by_source[core], mtime, places=3,
                                   msg="the core's time is not its modification time")

if __name__ == "__main__":
    unittest.main()


class TestMixedInputs(unittest.TestCase):
    """diff and trend refuse inputs of different processes, executables or Python versions
    (exit status 2, every input named with what it is) unless --allow-mixed, which says so in
    the report; each input's executable and build ID are the process's own (/proc/PID/exe,
    readelf); inputs of one process compare as before, and snapshot files written before
    these members existed are accepted."""

    @classmethod
    def setUpClass(cls):
        cls.interp = T.require_first_available()
        cls.extra = T.pyheap_args(cls.interp)
        cls.tmp = T.make_temp_dir("pyheap-mixed-")
        argv = cls.interp.command([cls.interp.path, "-c", "import sys; sys.stdin.read()"])
        cls.procs = [T.start_process(argv, stdin=subprocess.PIPE, **cls.interp.popen_kw())
                     for _ in range(2)]
        time.sleep(1.0)  # started and idle in read(2)
        cls.snap = {}
        for name, proc in (("a1", 0), ("b", 1), ("a2", 0)):
            path = os.path.join(cls.tmp, name + ".json")
            G.pyheap_ok(["snapshot", "--pid", str(cls.procs[proc].pid), "-o", path] + cls.extra)
            cls.snap[name] = path
        cls.other = None  # another interpreter of another Python version, when there is one
        for i in T.INTERPRETERS:
            if i.available and i.minor != cls.interp.minor:
                proc = T.start_process(i.command([i.path, "-c", "import sys; sys.stdin.read()"]),
                                       stdin=subprocess.PIPE, **i.popen_kw())
                time.sleep(1.0)
                path = os.path.join(cls.tmp, "other.json")
                G.pyheap_ok(["snapshot", "--pid", str(proc.pid), "-o", path] + T.pyheap_args(i))
                cls.other = (i, proc, path)
                break

    @classmethod
    def tearDownClass(cls):
        for p in getattr(cls, "procs", []):
            T.kill_process(p)
        if getattr(cls, "other", None):
            T.kill_process(cls.other[1])

    def run_ok(self, args):
        res = T.run_pyheap(args + self.extra)
        self.assertEqual(0, res.returncode, res.describe())
        return res

    def refused(self, args, what):
        res = T.run_pyheap(args + self.extra)
        self.assertEqual(2, res.returncode, res.describe())
        last = res.stderr_lines()[-1]
        self.assertIn("different " + what, last)
        self.assertIn("--allow-mixed", last)
        for path in args[1:]:
            if path.endswith(".json"):
                self.assertIn(path, last)
        return last

    def test_identity_is_the_process(self):
        doc = G.load_json(self.snap["a1"])
        exe = os.readlink("/proc/%d/exe" % self.procs[0].pid)
        self.assertEqual(doc["executable"], exe)
        # The file itself, through the link (a chroot's is not at exe here).
        self.assertEqual(doc["build_id"], T.build_id("/proc/%d/exe" % self.procs[0].pid))

    def test_different_processes(self):
        a1, b, a2 = self.snap["a1"], self.snap["b"], self.snap["a2"]
        last = self.refused(["diff", a1, b], "processes")
        self.assertNotIn("executables", last)
        self.assertNotIn("Python versions", last)
        for pid in (self.procs[0].pid, self.procs[1].pid):
            self.assertIn("process %d" % pid, last)
        self.refused(["trend", a1, b, a2], "processes")
        rep = self.run_ok(["diff", a1, b, "--allow-mixed", "--json"]).json()
        self.assertIn("different processes", rep["mixed"])
        self.assertIn(rep["mixed"], rep["warnings"])
        self.assertEqual([s["pid"] for s in rep["snapshots"]], [p.pid for p in self.procs])
        text = self.run_ok(["trend", a1, b, a2, "--allow-mixed"]).stdout
        self.assertIn("WARNING (--allow-mixed): the inputs come from different processes", text)

    def test_same_process(self):
        rep = self.run_ok(["diff", self.snap["a1"], self.snap["a2"], "--json"]).json()
        self.assertIsNone(rep["mixed"])
        exe = os.readlink("/proc/%d/exe" % self.procs[0].pid)
        self.assertEqual([s["executable"] for s in rep["snapshots"]], [exe, exe])
        text = self.run_ok(["diff", self.snap["a1"], self.snap["a2"], "--wide"]).stdout
        self.assertIn("process %d, %s" % (self.procs[0].pid, exe), text)

    def test_different_python(self):
        if not self.other:
            self.skipTest("only one Python version is installed")
        last = self.refused(["diff", self.snap["a1"], self.other[2]],
                            "executables, Python versions and processes")
        self.assertIn("Python %d.%d." % self.other[0].minor, last)

    def test_old_files_without_identity(self):
        """A file from before "executable" existed: unknown agrees with anything, so only
        the pid decides."""
        doc = G.load_json(self.snap["a1"])
        del doc["executable"], doc["build_id"]
        old = os.path.join(self.tmp, "old.json")
        with open(old, "w") as fh:
            json.dump(doc, fh)
        rep = self.run_ok(["diff", old, self.snap["a2"], "--json"]).json()
        self.assertIsNone(rep["mixed"])
        self.assertIsNone(rep["snapshots"][0]["executable"])
        self.refused(["diff", old, self.snap["b"]], "processes")
