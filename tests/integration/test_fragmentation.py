"""`py-heap fragmentation --json` on every interpreter of the machine, live (--pid) and on a
gcore, against the ground truth that fixtures/workloads/alloc_workload.py measures inside
itself: sys._debugmallocstats(), sys.getallocatedblocks(), glibc's malloc_info() and
mallinfo2(), and copies of the live threads' tcaches.

The ground truth is exact (the workload measures until three consecutive measurements are
byte-identical, see its docstring), so the comparisons are exact too; the few places where
the oracles count differently from py-heap are accounted for by name in alloc_testlib
(MALLOC_INFO_FLAG_BITS: +PREV_INUSE per binned chunk in malloc_info's sizes; 3.8's
sys.getallocatedblocks() includes the fallbacks to malloc, which 3.8 does not count apart).

One workload per interpreter (all started in parallel in setUpModule) and one gcore of it
serve every test; py-heap runs once per (interpreter run, live/core) and the report is
reused by the tests that read it. The tests go one interpreter after the other (unittest
sorts them by name), and an interpreter's process and core are dropped when the next one's
tests start; everything left is killed and deleted in tearDownModule.
"""
import unittest

import alloc_testlib as A
import pyheap_testlib as T

RUNS = A.frag_runs()
_reports = {}  # (run label, "live"/"core") -> (Result, report, resident bytes or None)


def setUpModule():
    T.require_pyheap()
    A.start_alloc_workloads([r.interp for r in RUNS])


def tearDownModule():
    A.stop_alloc_workloads()
    T.cleanup_all()


def expected_pymalloc_found_by(run):
    if run.interp.minor >= (3, 12):
        return {"interpreter state"}
    if not run.interp.debian:
        return {"symbols", "debug info"}  # pyenv: .symtab and DWARF in libpython
    if run.default_debug_dirs and T.debian_dbg_file():
        return {"symbols", "debug info"}  # python3.11-dbg installed
    return {"disassembly"}  # stripped, LTO: _Py_GetAllocatedBlocks' code


class FragmentationTest(unittest.TestCase):
    maxDiff = None

    def report(self, run, live):
        """py-heap's report for this run, made once; skips an absent interpreter."""
        reason = run.interp.skip_reason()
        if reason:
            self.skipTest(reason)
        w = A.alloc_workload(run.interp, retire_others=True)
        key = (run.label, "live" if live else "core", w.pid)
        if key not in _reports:
            target = ["--pid", str(w.pid)] if live else [A.alloc_core(run.interp)]
            # The resident size as the test sees it: smaps_rollup's Rss around the run (used
            # only if it did not move: the process sleeps, but the kernel may still reclaim
            # or collapse pages), or the core's data by the documented rule.
            before = A.smaps_rollup_rss(w.pid) if live else None
            res = A.run_fragmentation(target, run.args)
            if live:
                after = A.smaps_rollup_rss(w.pid)
                resident = before if before == after else None
                self.assertEqual([], T.not_stopped_problems(w.pid),
                                 "the target was left stopped or traced after " + res.cmdline())
            else:
                resident = A.core_resident_bytes(target[0])
            self.assertIn(res.returncode, (0, 1), res.describe())
            _reports[key] = (res, res.json(), resident)
        res, rep, resident = _reports[key]
        self.assertEqual(0, res.returncode, res.describe())
        return w, res, rep, resident

    def check_numbers(self, run, live):
        w, res, rep, resident = self.report(run, live)
        bad = A.compare_fragmentation(rep, w.gt, run, live, resident)
        self.assertEqual([], bad, "\n  " + "\n  ".join(bad) + "\n  " + res.cmdline()
                         + "\n  ground truth: " + w.gt_path)
        self.assertEqual("live" if live else "core", T.get(rep, "target.kind"))

    def check_found_by(self, run, live):
        """How the allocators were found, and main_arena where libc6-dbg says it is."""
        w, res, rep, _resident = self.report(run, live)
        bad = []
        pm_found = T.get(rep, "pymalloc.found_by", None)
        want = expected_pymalloc_found_by(run)
        if pm_found not in want:
            bad.append("pymalloc.found_by: %r, expected one of %r" % (pm_found, sorted(want)))
        g = rep.get("glibc") or {}
        libc_dbg = A.libc_debug_file(run.interp)
        for key in ("main_arena_found_by", "mp_found_by"):
            got = g.get(key)
            if run.default_debug_dirs and libc_dbg:
                if got != "symbol":
                    bad.append("glibc.%s: %r, expected 'symbol' (libc6-dbg: %s)"
                               % (key, got, libc_dbg))
            elif got not in ("heuristic (code)", "heuristic (scan)"):
                bad.append("glibc.%s: %r, expected a heuristic (no debug files: %r)"
                           % (key, got, run.args))
        if libc_dbg:
            offset = A.symtab_value(libc_dbg, "main_arena")
            libc = [m for m in T.read_maps(w.pid) if m[4].endswith("/libc.so.6") and m[3] == 0]
            if offset is not None and libc:
                want_addr = "0x%x" % (min(m[0] for m in libc) + offset)
                if g.get("main_arena") != want_addr:
                    bad.append("glibc.main_arena: %r, libc6-dbg's main_arena is at %s"
                               % (g.get("main_arena"), want_addr))
        self.assertEqual([], bad, "\n  " + "\n  ".join(bad) + "\n  " + res.cmdline())


def _add_tests():
    for run in RUNS:
        name = run.label.replace(".", "").replace("-", "_")
        for live in (True, False):
            mode = "live" if live else "core"

            def numbers(self, run=run, live=live):
                self.check_numbers(run, live)

            def found_by(self, run=run, live=live):
                self.check_found_by(run, live)

            numbers.__doc__ = "%s %s: every number equals the ground truth" % (run.label, mode)
            found_by.__doc__ = "%s %s: how pymalloc and glibc were found" % (run.label, mode)
            # "__" sorts before any letter: one label's tests stay together ("3.11__live"
            # before "3.11_debian__core"), so each workload is used in one stretch.
            setattr(FragmentationTest, "test_%s__%s_numbers" % (name, mode), numbers)
            setattr(FragmentationTest, "test_%s__%s_found_by" % (name, mode), found_by)


_add_tests()

if __name__ == "__main__":
    unittest.main()
