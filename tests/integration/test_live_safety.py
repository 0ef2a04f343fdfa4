"""A live target is never left stopped: not when py-heap finishes, and not when py-heap is
interrupted (SIGINT, SIGTERM) or killed (SIGKILL) while it holds the target's threads stopped.

The target (fixtures/workloads/heartbeat_workload.py) rewrites a counter every 50 ms, so the
test sees from outside whether it runs. PYHEAP_TEST_HOLD_MS makes py-heap wait, after it
has stopped every thread, before it reads: the test waits until every thread of the target is
in tracing stop ('t' in /proc/PID/task/TID/stat), checks that the counter stands still, sends
the signal to py-heap, and then requires that the target runs again: no thread stopped or
traced (TracerPid 0) and the counter moving.
"""
import os
import signal
import subprocess
import time
import unittest

import pyheap_testlib as T

HOLD_MS = 5000


def setUpModule():
    T.require_pyheap()


def tearDownModule():
    T.cleanup_all()


def read_beat(path):
    with open(path, "rb") as fh:
        text = fh.read(32).split(b"\n")[0].strip()
    return int(text) if text else 0


class LiveSafetyTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.interp = T.require_first_available()
        # Debian's python3.11 without debug files: the production case, and the fastest.
        self.args = T.pyheap_args(self.interp)

    def start_target(self):
        w = T.Workload(self.interp, script=T.HEARTBEAT_WORKLOAD).start()
        self.addCleanup(w.stop)
        return w, w.gt["heartbeat"]

    def assert_runs_freely(self, pid, beat, context):
        T.wait_until(lambda: not T.not_stopped_problems(pid), 5)
        problems = T.not_stopped_problems(pid)
        self.assertEqual([], problems, "target not resumed " + context)
        self.assertEqual(0, T.tracer_pid(pid), "target still traced " + context)
        first = read_beat(beat)
        moved = T.wait_until(lambda: read_beat(beat) > first, 3)
        self.assertTrue(moved, "the heartbeat does not move " + context)

    def start_held_pyheap(self, w):
        proc = T.start_process([T.PYHEAP_BIN, "info", "--pid", str(w.pid)] + self.args,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=dict(os.environ, PYHEAP_TEST_HOLD_MS=str(HOLD_MS)))
        self.addCleanup(T.kill_process, proc)

        def all_stopped():
            if proc.poll() is not None:
                return True
            states = T.thread_states(w.pid)
            return len(states) == 4 and all(s == "t" for s in states.values())

        T.wait_until(all_stopped, 15, interval=0.005)
        if proc.poll() is not None:
            out, err = proc.communicate()
            self.fail("py-heap ended (exit %s) before it held the target: %s"
                      % (proc.returncode, err.decode(errors="replace")))
        states = T.thread_states(w.pid)
        self.assertEqual({"t"}, set(states.values()),
                         "py-heap did not stop every thread of the target: %r" % states)
        return proc

    def interrupt_while_held(self, sig, expected_status):
        w, beat = self.start_target()
        proc = self.start_held_pyheap(w)
        # Held: the target does not run.
        before = read_beat(beat)
        time.sleep(0.3)
        self.assertEqual(before, read_beat(beat), "the target ran while py-heap held it")
        t0 = time.monotonic()
        os.kill(proc.pid, sig)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("py-heap did not exit within 20 s of signal %d" % sig)
        elapsed = time.monotonic() - t0
        res = T.Result(proc.args, proc.returncode, out.decode(errors="replace"),
                       err.decode(errors="replace"), elapsed)
        self.assertEqual(expected_status, res.returncode, res.describe())
        # It must react to the signal, not sit out its hold first.
        self.assertLess(elapsed, HOLD_MS / 1000.0 - 1.0,
                        "py-heap took %.1f s to react to signal %d" % (elapsed, sig))
        if sig != signal.SIGKILL:
            self.assertEqual([], T.error_line_problems(res, expected_status,
                                                       r"(?i)interrupt|signal"))
        self.assert_runs_freely(w.pid, beat, "after py-heap got signal %d" % sig)

    def test_sigterm_while_held(self):
        self.interrupt_while_held(signal.SIGTERM, 128 + signal.SIGTERM)

    def test_sigint_while_held(self):
        self.interrupt_while_held(signal.SIGINT, 128 + signal.SIGINT)

    def test_sigkill_while_held(self):
        # py-heap cannot clean up: the kernel must resume the target when its tracer dies,
        # which holds for threads stopped with PTRACE_SEIZE + PTRACE_INTERRUPT (and not for
        # PTRACE_ATTACH's SIGSTOP, which leaves the process stopped in state T).
        self.interrupt_while_held(signal.SIGKILL, -signal.SIGKILL)

    def test_finished_run_resumes_target(self):
        w, beat = self.start_target()
        res = T.run_pyheap(["info", "--pid", str(w.pid)] + self.args,
                           env={"PYHEAP_TEST_HOLD_MS": "300"})
        self.assertEqual(0, res.returncode, res.describe())
        self.assert_runs_freely(w.pid, beat, "after a complete py-heap run")

    def test_no_stop_never_stops_target(self):
        w, beat = self.start_target()
        res = T.run_pyheap(["info", "--json", "--no-stop", "--pid", str(w.pid)] + self.args)
        self.assertEqual(0, res.returncode, res.describe())
        self.assertIs(False, T.get(res.json(), "target.stopped"))
        self.assert_runs_freely(w.pid, beat, "after py-heap --no-stop")


if __name__ == "__main__":
    unittest.main()
