"""`py-heap watch` on a growing service (fixtures/workloads/growth_service.py), on every
interpreter of the machine.

THE SCENARIO (one per interpreter, in setUpClass): the service starts idle at tick 0 with
VmRSS B; watch starts with --rss-limit L = B + 64 MiB, --interval 1 and --core; once watch
has logged "watching:", the service is told `grow L`: it ticks every 20 ms (each leaked record
with a 16 KiB payload: about 3 MiB a tick) and, THE CROSSING (see the service's docstring),
makes its counts final before its resident memory can cross L, crosses L inside one memset,
writes its ground truth (truth-grow.json, with the times fill_started_at and crossed_at
around that memset) and blocks. Meanwhile a sampler reads the service's thread states from
/proc about every millisecond (the longest gap between two samples, tens of ms on a loaded
machine, is part of every bound that uses it), to see for how long it is stopped.

WHAT IS CHECKED, and how:

  * breach within one polling interval. Watch's log lines are read through a pipe by a
    thread that stamps each with time.time() when it arrives (watch flushes every line; the
    log's own stamps are whole seconds). The line "...: taking a snapshot" is printed right
    after the poll that saw the breach, so its arrival time is the time of that poll to a
    millisecond or so. It must lie in [fill_started_at, fill_started_at + interval + slack]
    (slack: 100 ms for scheduling plus the memset's own duration crossed_at -
    fill_started_at, since the crossing happened somewhere inside the memset). The line's
    whole-second stamp must agree with its arrival, and its rss and limit with L.
  * the snapshot equals the ground truth: watch's snapshot file (named in the log) has,
    for the three classes, exactly the counts the service wrote. This is exact by
    construction, whenever watch reads the process after the crossing.
  * the pause is logged, and true: "target paused P ms (analysis A ms)"; the sampler's first
    stopped interval after the breach (py-heap's copy) must last at most P + 2 sampling
    gaps + 2 ms (the log does not understate the pause), and P < A (the target was resumed
    before the analysis, which ran on the copy).
  * --core: the core named in the log is read by py-heap (`types CORE`: the same counts)
    and by gdb (`info threads` on EXE CORE shows the service's LWP).
  * the target is never left stopped: no thread in state t/T and no TracerPid after the
    snapshot, after the core, at the end.
  * watch exits with status 0 when the target exits (within one interval), logging "the
    process exited; 1 dump taken".

TestWatchSignals (one interpreter): SIGTERM while watching (and the first line names the
limits given) and SIGINT right after "taking a snapshot" (while the target is being copied or
analysed): status 0, "stopped by a signal", the target running and untraced; --max-dumps 2
--cooldown 0 stops after two dumps, each equal to the idle service's ground truth;
--growth-limit alone triggers while the service grows, and its snapshot (taken at a random
point of the growth, so the target may be stopped inside malloc) holds between the start's
and the end's number of leaked records.

Run from this folder:

    PYHEAP_BIN=../../build/py-heap /usr/bin/python3 -m unittest -v test_watch
"""
import os
import signal
import subprocess
import time
import unittest

import growth_testlib as G
import pyheap_testlib as T

RUNS = G.growth_runs()
MiB = 1 << 20
INTERVAL = 1  # --interval: seconds between polls
SLACK = 0.1  # scheduling allowance on one polling interval, seconds
HEADROOM = 64 * MiB  # the limit above the idle service's VmRSS
SERVICE_PARAMS = {"grow_payload": 16384}  # 200 records x 16 KiB: ~3 MiB a growth tick
_services = {}
# The measured numbers of each interpreter, printed at the end when PYHEAP_TEST_REPORT is set.
NUMBERS = {}

BREACH = r"^rss ([\d.]+) (B|KiB|MiB|GiB) is over the limit ([\d.]+) (B|KiB|MiB|GiB): taking a snapshot$"
UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def setUpModule():
    T.require_pyheap()
    for run in RUNS:
        if run.interp.available:
            _services[run.label] = G.GrowthService(run.interp, SERVICE_PARAMS).start(wait=False)


def tearDownModule():
    for s in _services.values():
        s.stop()
    if os.environ.get("PYHEAP_TEST_REPORT") and NUMBERS:
        import sys
        sys.stderr.write("\nwatch: breach seen after the crossing began / memset / logged "
                         "pause / stop seen from outside / longest sampling gap / analysis\n")
        for label, n in sorted(NUMBERS.items()):
            sys.stderr.write("  %-12s %6.0f ms %5.0f ms %5d ms %7.1f ms %5.2f ms %6d ms\n" % (
                label, n["late"] * 1000, n["memset"] * 1000, n["pause_ms"],
                n["stopped_ms"], n["max_gap"] * 1000, n["analysis_ms"]))


def size_of(value, unit):
    return float(value) * UNITS[unit]


class WatchBase(unittest.TestCase):
    grun = None
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        T.require_run(cls.grun)
        cls.args = cls.grun.args
        s = cls.service = _services[cls.grun.label]
        gt0 = s.wait_truth(0)
        cls.limit = gt0["rss"] + HEADROOM
        cls.out = T.make_temp_dir("pyheap-watch-")
        cls.stopped_problems = []  # (when, problem)
        w = cls.watch = G.WatchRun(["--pid", str(s.pid), "--rss-limit", str(cls.limit),
                                    "--out", cls.out, "--interval", str(INTERVAL), "--core"]
                                   + cls.args)
        try:
            w.wait_line(r"^watching: ")
            with G.StopSampler(s.pid) as cls.sampler:
                s.grow(cls.limit)
                i, cls.breach_at, cls.breach_msg, cls.breach = w.wait_line(BREACH, timeout=60)
                i, cls.snap_at, cls.snap_msg, cls.snap = w.wait_line(
                    r"^snapshot (\S+): (\d+) objects, heap (.+); target paused (\d+) ms "
                    r"\(analysis (\d+) ms\)$", timeout=60, start=i)
                cls.check_running("after the snapshot")
                i, cls.core_at, cls.core_msg, cls.core_line = w.wait_line(
                    r"^core (\S+) written by gcore in ([\d.]+) s$", timeout=120, start=i)
                cls.gt = s.wait_truth("grow")
            cls.check_running("after the core")
            cls.breach_line = [t for _a, t in w.lines if t.endswith(cls.breach_msg)][0]
            stops = [b - a for a, b in cls.sampler.intervals if a >= cls.breach_at - 0.01]
            NUMBERS[cls.grun.label] = {
                "late": cls.breach_at - cls.gt["fill_started_at"],
                "memset": cls.gt["crossed_at"] - cls.gt["fill_started_at"],
                "pause_ms": int(cls.snap.group(4)), "analysis_ms": int(cls.snap.group(5)),
                "stopped_ms": stops[0] * 1000 if stops else -1,
                "max_gap": cls.sampler.max_gap}
            # The target exits: watch must notice and exit 0 within a polling interval.
            cls.exited_at = time.time()
            s.exit()
            cls.watch_rc = w.wait(timeout=INTERVAL + 10)
            cls.watch_exited_at = time.time()
        except BaseException:
            w.stop()
            raise

    @classmethod
    def check_running(cls, when):
        for p in T.not_stopped_problems(cls.service.pid):
            cls.stopped_problems.append("%s: %s" % (when, p))

    def describe(self):
        return "watch log:\n%s\nground truth: %r" % (self.watch.text(), getattr(self, "gt", None))

    # ---- the breach --------------------------------------------------------------------

    def test_breach_within_one_interval(self):
        fill, crossed = self.gt["fill_started_at"], self.gt["crossed_at"]
        late = self.breach_at - fill
        allowed = INTERVAL + SLACK + (crossed - fill)
        self.assertGreaterEqual(self.breach_at, fill,
                                "breach logged before the limit could be crossed\n" +
                                self.describe())
        self.assertLessEqual(late, allowed,
                             "breach logged %.3f s after the crossing began (memset %.3f s), "
                             "more than one interval (%d s) + %.2f s\n%s"
                             % (late, crossed - fill, INTERVAL, SLACK, self.describe()))
        stamp = G.log_stamp(G.LOG_LINE.match(self.breach_line).group(1))
        self.assertTrue(int(fill) <= stamp <= self.breach_at,
                        "log stamp %s vs crossing %.3f, arrival %.3f" % (stamp, fill,
                                                                         self.breach_at))

    def test_breach_line_numbers(self):
        rss = size_of(self.breach.group(1), self.breach.group(2))
        limit = size_of(self.breach.group(3), self.breach.group(4))
        self.assertAlmostEqual(limit / self.limit, 1.0, delta=0.005, msg=self.breach_msg)
        self.assertGreater(rss * 1.005, self.limit, self.breach_msg)

    # ---- the snapshot ------------------------------------------------------------------

    def test_snapshot_equals_ground_truth(self):
        path = self.snap.group(1)
        self.assertEqual(os.path.dirname(path), self.out.rstrip("/"))
        self.assertRegex(os.path.basename(path), r"^pyheap-%d-\d{8}T\d{6}Z\.json$"
                         % self.service.pid)
        snap = G.load_json(path)
        self.assertEqual(snap.get("format"), "py-heap-snapshot")
        self.assertEqual(snap.get("pid"), self.service.pid)
        self.assertEqual(snap["python"]["version"], self.gt["version"])
        self.assertEqual(G.class_counts(snap["types"]), self.gt["classes"], self.describe())
        self.assertEqual(int(self.snap.group(2)), snap["totals"]["objects"])
        self.assertGreater(self.gt["classes"][G.LEAK], self.service.truths[0]["classes"][G.LEAK])

    def test_pause_logged(self):
        pause_ms, analysis_ms = int(self.snap.group(4)), int(self.snap.group(5))
        self.assertLess(pause_ms, analysis_ms, self.snap_msg)
        stops = [(a, b) for a, b in self.sampler.intervals if a >= self.breach_at - 0.01]
        self.assertTrue(stops, "the sampler saw no stop after the breach (%d samples, "
                        "longest gap %.1f ms)" % (self.sampler.samples,
                                                  self.sampler.max_gap * 1000))
        first = (stops[0][1] - stops[0][0]) * 1000
        bound = pause_ms + 2 * self.sampler.max_gap * 1000 + 2
        self.assertLessEqual(first, bound,
                             "stopped %.1f ms as seen from outside, logged pause %d ms "
                             "(longest sampling gap %.2f ms)" % (first, pause_ms,
                                                                 self.sampler.max_gap * 1000))
        self.assertLess(stops[0][1], self.snap_at, "still stopped when the snapshot was logged")

    # ---- the core ----------------------------------------------------------------------

    def test_core_read_by_pyheap(self):
        core = self.core_line.group(1)
        self.assertRegex(os.path.basename(core), r"^core-%d-\d{8}T\d{6}Z$" % self.service.pid)
        rep = G.pyheap_json(["types", core, "--limit", "0"] + self.args)
        self.assertEqual(G.class_counts(rep["types"]), self.gt["classes"])

    def test_core_read_by_gdb(self):
        core = self.core_line.group(1)
        res = subprocess.run(T.GDB_BASE + T.gdb_chroot_args(self.grun.interp)
                             + ["-ex", "info threads", self.grun.interp.path, core],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True,
                             timeout=T.GDB_TIMEOUT)
        self.assertEqual(res.returncode, 0, res.stdout[-2000:])
        self.assertRegex(res.stdout, r"(?m)^\*\s+1\s+.*LWP %d" % self.service.pid,
                         res.stdout[-2000:])

    # ---- the target and the end ----------------------------------------------------------

    def test_target_never_left_stopped(self):
        self.assertEqual(self.stopped_problems, [])
        # Every stop the sampler saw ended (py-heap's copy, gdb's gcore): none is open.
        self.assertTrue(all(b > a for a, b in self.sampler.intervals))
        self.assertLessEqual(len(self.sampler.intervals), 2,
                             "more stops than the copy and the core: %r" % (
                                 self.sampler.intervals,))

    def test_exits_with_target(self):
        self.assertEqual(self.watch_rc, 0, self.describe())
        last = self.watch.lines[-1][1]
        self.assertRegex(last, r"pid %d: the process exited; 1 dump taken$" % self.service.pid)
        self.assertLessEqual(self.watch_exited_at - self.exited_at, INTERVAL + 1.0)
        self.assertEqual(self.watch.stderr, b"")
        files = sorted(os.listdir(self.out))
        self.assertEqual(len(files), 2, files)


T.register_cases(globals(), WatchBase, "TestWatch_", RUNS, "grun", "watch on %s")


class TestWatchSignals(unittest.TestCase):
    """Signals, --max-dumps and --growth-limit, on one interpreter."""

    @classmethod
    def setUpClass(cls):
        T.require_pyheap()
        cls.interp = T.require_first_available(("3.12", "3.11-debian"), "no interpreter")
        cls.args = T.pyheap_args(cls.interp)

    def start_service(self, **params):
        p = dict(SERVICE_PARAMS)
        p.update(params)
        s = G.GrowthService(self.interp, p).start()
        self.addCleanup(s.stop)
        return s

    def start_watch(self, pid, *args):
        out = T.make_temp_dir("pyheap-watch-")
        w = G.WatchRun(["--pid", str(pid), "--out", out, "--interval", str(INTERVAL)]
                       + list(args) + self.args)
        self.addCleanup(w.stop)
        return w, out

    def assert_running(self, pid):
        self.assertEqual(T.not_stopped_problems(pid), [])

    def test_sigterm_while_watching(self):
        """SIGTERM while idle-watching: status 0, "stopped by a signal", nothing written; and
        the first line names the limits it was given."""
        s = self.start_service()
        w, out = self.start_watch(s.pid, "--rss-limit", "64G", "--growth-limit", "100G/min")
        _i, _at, msg, _m = w.wait_line(r"^watching: ")
        time.sleep(INTERVAL * 1.5)
        w.signal(signal.SIGTERM)
        rc = w.wait(timeout=INTERVAL + 5)
        self.assertEqual(rc, 0, w.text())
        self.assertRegex(w.lines[-1][1], r"stopped by a signal; 0 dumps taken$")
        self.assert_running(s.pid)
        self.assertEqual(os.listdir(out), [])
        with self.subTest(check="the watching line names both limits"):
            self.assertRegex(msg, r"^watching: rss [\d.]+ \S+, limit 64\.0 GiB, growth limit "
                             r"per minute 100 GiB, every 1 s$")

    def test_sigint_during_snapshot(self):
        """SIGINT as soon as "taking a snapshot" arrives: the target is being copied or
        analysed. Watch stops cleanly; the target runs, untraced."""
        s = self.start_service()
        s.grow(s.truths[0]["rss"] + 96 * MiB)
        s.wait_truth("grow")
        w, out = self.start_watch(s.pid, "--rss-limit", str(s.truths[0]["rss"]))
        w.wait_line(r"taking a snapshot$")
        w.signal(signal.SIGINT)
        rc = w.wait(timeout=30)
        self.assertEqual(rc, 0, w.text())
        self.assertRegex(w.lines[-1][1], r"stopped by a signal; 1 dump taken$", w.text())
        self.assert_running(s.pid)
        for name in os.listdir(out):  # a snapshot written at all is whole
            if name.endswith(".json"):
                G.load_json(os.path.join(out, name))

    def test_max_dumps(self):
        s = self.start_service()
        w, out = self.start_watch(s.pid, "--rss-limit", str(s.truths[0]["rss"] // 2),
                                  "--max-dumps", "2", "--cooldown", "0")
        rc = w.wait(timeout=60)
        self.assertEqual(rc, 0, w.text())
        self.assertRegex(w.lines[-1][1], r"2 dumps taken: the limit of --max-dumps; stopping$")
        snaps = sorted(n for n in os.listdir(out) if n.endswith(".json"))
        self.assertEqual(len(snaps), 2, (snaps, w.text()))
        for name in snaps:
            snap = G.load_json(os.path.join(out, name))
            self.assertEqual(G.class_counts(snap["types"]), s.truths[0]["classes"])
        self.assert_running(s.pid)

    def test_growth_limit(self):
        """--growth-limit alone: a snapshot while the service grows (~100 MiB/s), counts
        between the start's and the end's."""
        s = self.start_service()
        w, out = self.start_watch(s.pid, "--growth-limit", "200M/min", "--max-dumps", "1")
        w.wait_line(r"^watching: ")
        s.grow(s.truths[0]["rss"] + 160 * MiB)
        _i, _at, msg, m = w.wait_line(r"^rss grows ([\d.]+) (\S+) per minute, over the limit "
                                      r"([\d.]+) (\S+): taking a snapshot$", timeout=60)
        self.assertGreater(size_of(m.group(1), m.group(2)), 200 * MiB, msg)
        _i, _at, msg, snap = w.wait_line(r"^snapshot (\S+): ", timeout=60)
        self.assertEqual(w.wait(timeout=30), 0, w.text())
        gt = s.wait_truth("grow")
        doc = G.load_json(snap.group(1))
        got = G.class_counts(doc["types"])[G.LEAK]
        self.assertTrue(s.truths[0]["classes"][G.LEAK] < got <= gt["classes"][G.LEAK],
                        "LeakedRecord in the snapshot: %d, at the start %d, at the end %d; "
                        "snapshot %s: totals %r, first types %r\n%s" % (
                            got, s.truths[0]["classes"][G.LEAK], gt["classes"][G.LEAK],
                            snap.group(1), doc["totals"], doc["types"][:8], w.text()))
        self.assert_running(s.pid)


if __name__ == "__main__":
    unittest.main()
