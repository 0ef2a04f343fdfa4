"""The ground truth of fixtures/workloads/info_workload.py is exact: an outside reader that is
not py-heap (gdb, reading memory only: tests/integration/gdb_oracle.py) sees the same GC
generation counts, permanent generation, sys.modules size and threads, live and in a gcore;
and, where CPython's own gdb helper can run (pyenv builds, DWARF), the same top frame with
the same line for every thread.

This tests the fixture, not py-heap: when it fails, test_info.py's verdicts are void. It does
not need py-heap to be built.
"""
import os
import shutil
import unittest

import pyheap_testlib as T


def tearDownModule():
    T.cleanup_all()


class WorkloadOracleTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not shutil.which("gdb"):
            raise unittest.SkipTest("gdb is not installed")

    def compare(self, interp, gt, oracle, where):
        bad = ["oracle error: %s" % e for e in oracle.get("errors", [])]

        def check(what, got, want):
            if got != want:
                bad.append("%s %s: gdb sees %r, the ground truth says %r" % (where, what, got,
                                                                             want))

        if not T.gc_lists_match(oracle.get("generations"), gt):  # lists, in memory order
            check("gc generations", oracle.get("generations"), gt["gc"]["generations"])
        check("gc permanent", oracle.get("permanent"), gt["gc"]["permanent"])
        check("gc collecting", oracle.get("collecting"), 0)
        check("sys.modules", oracle.get("modules"), gt["modules"])
        if not interp.debian or interp.chroot:  # the chroots have the -dbg packages
            check("DWARF cross-check of the offsets", oracle.get("dwarf_checked"), True)
        by_native = {t["native_id"]: t for t in gt["threads"]}
        seen = []
        for t in oracle.get("threads", []):
            native = t["native_id"]
            if native is None:  # 3.8-3.10 keep no native id in the thread state
                match = [g for g in gt["threads"] if g["thread_id"] == t["thread_id"]]
                native = match[0]["native_id"] if match else None
            seen.append((t["thread_id"], native, t["function"], t["file"]))
        want = [(g["thread_id"], g["native_id"], g["top_frame"]["function"],
                 g["top_frame"]["file"]) for g in gt["threads"]]
        check("threads (id, native id, top function, file)", sorted(seen), sorted(want))
        pybt = oracle.get("pybt")
        if interp.gdb_helper:
            if not pybt:
                bad.append("%s: CPython's gdb helper gave no frames" % where)
            else:
                for native, g in by_native.items():
                    check("py-bt top frame of %s" % g["name"], pybt.get(str(native)),
                          g["top_frame"])
        return bad

    def test_ground_truth_is_what_gdb_sees(self):
        for interp in T.INTERPRETERS:
            with self.subTest(interp=interp.label):
                reason = interp.skip_reason()
                if reason:
                    self.skipTest(reason)
                w = T.shared_workload(interp)
                live = T.run_gdb_oracle(interp, pid=w.pid)
                core = T.shared_core(interp)
                from_core = T.run_gdb_oracle(interp, core=core)
                # The workload has not moved since (it is still blocked everywhere).
                again = T.run_gdb_oracle(interp, pid=w.pid)
                bad = (self.compare(interp, w.gt, live, "live")
                       + self.compare(interp, w.gt, from_core, "core")
                       + self.compare(interp, w.gt, again, "live, read again"))
                self.assertEqual([], bad)
                self.assertEqual([], T.not_stopped_problems(w.pid))

    def test_workload_records_what_it_promises(self):
        # The shape the other tests rely on, on one interpreter.
        interp = T.require_first_available()
        gt = T.shared_workload(interp).gt
        self.assertEqual(gt["version"], gt["sys_version"].split()[0])
        names = sorted(t["name"] for t in gt["threads"])
        self.assertEqual(["MainThread", "idle-poller", "worker-1", "worker-2"], names)
        tops = {t["name"]: t["top_frame"]["function"] for t in gt["threads"]}
        self.assertEqual({"MainThread": "measure_and_sleep", "worker-1": "wait_for_work",
                          "worker-2": "wait", "idle-poller": "poll_forever"}, tops)
        self.assertEqual(os.path.basename(T.INFO_WORKLOAD),
                         os.path.basename([t for t in gt["threads"] if t["is_main"]][0]
                                          ["top_frame"]["file"]))
        self.assertFalse(gt["gc"]["enabled"])


if __name__ == "__main__":
    unittest.main()
