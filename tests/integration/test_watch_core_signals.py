"""`watch --core` never kills or freezes what it watches (issue 13, finding 1).

gdb (for gcore) used to run in watch's own process group: a Ctrl-C at the wrong moment killed
the target with SIGINT, and a SIGTERM to the group (`timeout`, a systemd stop) killed gdb
while it held the target stopped, which stayed in state T with no tracer for ever.

Each trial starts watch in a session of its own on a sleeping Python process with a limit it
is always over (--rss-limit 1 --cooldown 0 --core) and waits until gdb is attached to the
target (the target's TracerPid is watch's gdb child: a core is being dumped). Then:

  * test_signals_during_core_dump: gdb must be in a session of its own (not in watch's
    process group, where the signals of a terminal or a service manager reach it), and
    SIGINT or SIGTERM goes to watch's whole process group: watch exits (status 0, "stopped
    by a signal"), and the target is alive, untraced and not stopped (/proc/PID/stat state
    R, S or D);
  * test_gdb_killed_during_core_dump: gdb itself is killed (SIGKILL: the OOM killer, a
    cgroup-wide kill), right as it attached or a little later: the target must not be left
    stopped with no tracer (state T, which nothing ever resumes: before, 1 trial in 2) —
    watch resumes it and logs `resumed`.

TRIALS trials each (20 by default, half of each signal; PYHEAP_WATCH_TRIALS=N for more).
"""
import os
import shutil
import signal
import subprocess
import time
import unittest

import pyheap_testlib as T

TRIALS = int(os.environ.get("PYHEAP_WATCH_TRIALS", "20"))


def setUpModule():
    T.require_pyheap()


def tearDownModule():
    T.cleanup_all()


def children(pid):
    """[(pid, comm)] of the processes whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as fh:
                stat = fh.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid:
            out.append((int(d), comm))
    return out


def state(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2]


class WatchCoreSignalsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        interp = T.interpreter("3.12")
        T.require_interpreter(interp)
        if not shutil.which("gdb"):
            raise unittest.SkipTest("gdb is not installed")
        cls.tmp = T.make_temp_dir("pyheap-watch-signals-")
        cls.interp = interp

    def start_target(self):
        p = T.start_process([self.interp.path, "-c",
                             "import time\nx = [str(i) for i in range(20000)]\n"
                             "while True: time.sleep(1000)"])
        self.addCleanup(T.kill_process, p)
        T.wait_until(lambda: T.syscall_of(p.pid, p.pid) in T.SLEEP_SYSCALLS, 30)
        return p

    def attached_watch(self, target, max_dumps):
        """(watch process, gdb pid) once watch's gdb is attached to the target."""
        out = os.path.join(self.tmp, "out-%d" % time.monotonic_ns())
        os.makedirs(out)
        env = dict(os.environ)
        env.pop("PYHEAP_TEST_HOLD_MS", None)
        watch = subprocess.Popen(
            [T.PYHEAP_BIN, "watch", "--pid", str(target.pid), "--rss-limit", "1", "--cooldown",
             "0", "--interval", "1", "--max-dumps", str(max_dumps), "--out", out, "--core"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env)
        self.addCleanup(self.end, watch)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and watch.poll() is None:
            gdbs = [c for c, comm in children(watch.pid) if comm == "gdb"]
            if gdbs and T.tracer_pid(target.pid) == gdbs[0]:
                return watch, gdbs[0]
            time.sleep(0.002)
        self.fail("gdb never attached to the target: %s"
                  % (watch.stderr.read() if watch.poll() is not None else "(watch still runs)"))

    @staticmethod
    def end(watch):
        if watch.poll() is None:
            os.killpg(watch.pid, signal.SIGKILL)
            watch.wait()

    def target_problems(self, target, what):
        ok = T.wait_until(lambda: state(target.pid) in ("R", "S", "D") and
                          T.tracer_pid(target.pid) == 0, 60)
        problems = []
        if not ok:
            problems.append("target state %r, tracer %r after %s" % (
                state(target.pid), T.tracer_pid(target.pid), what))
        if target.poll() is not None:
            problems.append("the target died (%s) after %s" % (target.returncode, what))
        return problems

    def restart_if_needed(self, target):
        if target.poll() is None and state(target.pid) not in ("R", "S", "D"):
            os.kill(target.pid, signal.SIGCONT)  # the next trial starts from a running target
            T.wait_until(lambda: state(target.pid) in ("R", "S", "D"), 10)

    def test_signals_during_core_dump(self):
        target = self.start_target()
        bad = []
        for i in range(TRIALS):
            sig = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
            watch, gdb = self.attached_watch(target, 1000)
            problems = []
            if os.getsid(gdb) == os.getsid(watch.pid):
                problems.append("gdb runs in watch's session and process group")
            os.killpg(watch.pid, sig)
            out_text, err_text = watch.communicate(timeout=120)
            if watch.returncode != 0:
                problems.append("watch exited %s: %s" % (watch.returncode, err_text[-500:]))
            if b"stopped by a signal" not in out_text:
                problems.append("watch did not log 'stopped by a signal': %r" % out_text[-500:])
            problems += self.target_problems(target, signal.Signals(sig).name)
            if problems:
                bad.append((i, signal.Signals(sig).name, problems))
                if target.poll() is not None:
                    break
                self.restart_if_needed(target)
        self.assertEqual([], bad, "%d of %d trials went wrong" % (len(bad), TRIALS))

    def test_gdb_killed_during_core_dump(self):
        target = self.start_target()
        bad = []
        killed = 0
        for i in range(TRIALS):
            watch, gdb = self.attached_watch(target, 1)
            time.sleep(0.02 * (i % 3))  # as it attached, or while it reads
            try:
                os.kill(gdb, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass  # a quiet machine's gcore of this small target can end first
            out_text, err_text = watch.communicate(timeout=120)
            problems = self.target_problems(target, "gdb's SIGKILL")
            if problems:
                bad.append((i, problems, out_text[-300:]))
                if target.poll() is not None:
                    break
                self.restart_if_needed(target)
        self.assertEqual([], bad, "%d of %d trials left the target stopped or dead" % (
            len(bad), TRIALS))
        self.assertGreaterEqual(killed, TRIALS // 2, "gdb was killed in only %d of %d trials: "
                                "it ended its gcore first" % (killed, TRIALS))


if __name__ == "__main__":
    unittest.main()
