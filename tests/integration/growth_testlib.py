"""Helpers for the growth-over-time integration tests (`snapshot`, `diff`, `trend`, `watch`);
standard library only. Builds on pyheap_testlib (imported as T, never modified here).

What is here:

  * GrowthService: fixtures/workloads/growth_service.py under one interpreter, driven one
    command at a time through its standard input (`tick`, `grow LIMIT`, `exit`); after each
    command it waits for the ground truth the service writes and for the service to be idle
    again (its main thread blocked in read(2) on the pipe, seen twice 20 ms apart);
  * growth_runs(): every interpreter and the py-heap arguments it needs (Debian's stripped
    python3.11 always with `--debug-dir ''`);
  * pyheap_json() / pyheap_ok(): one py-heap run that must succeed;
  * class_counts(): the service's three classes' counts in a snapshot, a `types` report or a
    trend/diff row list (a class absent from a census has 0 instances);
  * wait_next_second(): for inputs whose time is whole seconds (cores: see test_growth's
    test_core_time_keeps_order);
  * WatchRun: `py-heap watch` with its log read line by line by a thread that stamps every
    line with time.time() when it arrives (the log's own stamps are whole seconds);
  * StopSampler: the target's threads' states sampled from outside (/proc/PID/task/*/stat,
    every ~0.5 ms) to measure for how long py-heap (or gdb) held them stopped ('t').
"""
import json
import os
import re
import signal
import subprocess
import threading
import time

import pyheap_testlib as T

GROWTH_SERVICE = os.path.join(T.FIXTURES, "workloads", "growth_service.py")
LEAK = "__main__.LeakedRecord"
CACHE = "__main__.CacheEntry"
SPIKE = "__main__.SpikeBuffer"
CLASSES = (LEAK, CACHE, SPIKE)
READ_SYSCALL = 0  # x86-64 read(2): where the service is idle between commands


def growth_runs():
    """Every interpreter of the machine (T.InterpreterRun: Debian's stripped python3.11 with
    `--debug-dir ''`)."""
    return [T.InterpreterRun(i) for i in T.INTERPRETERS]


# ---- the service ------------------------------------------------------------------------


class GrowthService:
    """growth_service.py under one interpreter; see that file for the protocol."""

    def __init__(self, interp, params=None):
        self.interp = interp
        self.dir = T.make_temp_dir("pyheap-growth-")
        self.log_path = os.path.join(self.dir, "service.log")
        self.params = dict(params or {})
        self.proc = None
        self.truths = {}  # tick (or "grow") -> ground truth

    @property
    def pid(self):
        return self.proc.pid

    def start(self, wait=True):
        argv = [self.interp.path, GROWTH_SERVICE, self.dir]
        for key, value in sorted(self.params.items()):
            argv += ["--" + key.replace("_", "-"), str(value)]
        with open(self.log_path, "wb") as log:
            self.proc = T.start_process(self.interp.command(argv), stdin=subprocess.PIPE,
                                        stdout=log, stderr=subprocess.STDOUT,
                                        **self.interp.popen_kw(self.dir))
        if wait:
            self.wait_truth(0)
        return self

    def log(self):
        return T.log_tail(self.log_path)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def idle(self):
        """The main thread is blocked in read(2) on the pipe (the only read after a ground
        truth is written), and every thread sleeps."""
        states = T.thread_states(self.pid)
        return (states and all(s == "S" for s in states.values())
                and T.syscall_of(self.pid, self.pid) == READ_SYSCALL)

    def wait_idle(self, timeout=T.WORKLOAD_TIMEOUT):
        deadline = time.monotonic() + timeout
        seen = 0
        while seen < 2:  # twice, 20 ms apart
            if not self.alive():
                raise T.WorkloadError("%s growth service exited (%s); log:\n%s" % (
                    self.interp.label, self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                raise T.WorkloadError("%s growth service not idle in %ss; log:\n%s" % (
                    self.interp.label, timeout, self.log()))
            seen = seen + 1 if self.idle() else 0
            time.sleep(0.02)

    def wait_truth(self, key, timeout=T.WORKLOAD_TIMEOUT):
        path = os.path.join(self.dir, "truth-%s.json" % key)
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if not self.alive():
                raise T.WorkloadError("%s growth service exited (%s) before %s; log:\n%s" % (
                    self.interp.label, self.proc.returncode, path, self.log()))
            if time.monotonic() > deadline:
                raise T.WorkloadError("%s growth service wrote no %s in %ss; log:\n%s" % (
                    self.interp.label, path, timeout, self.log()))
            time.sleep(0.01)
        with open(path) as fh:
            gt = json.load(fh)  # written atomically
        self.wait_idle(timeout)
        self.truths[key] = gt
        return gt

    def tick(self):
        """One tick; returns its ground truth once the service is idle again."""
        self.send("tick")
        return self.wait_truth(max(k for k in self.truths if isinstance(k, int)) + 1)

    def grow(self, limit):
        """Starts `grow LIMIT` (returns at once: the caller watches the growth)."""
        self.send("grow %d" % limit)

    def exit(self, timeout=10):
        self.send("exit")
        self.proc.wait(timeout=timeout)
        self._close()

    def stop(self):
        T.kill_process(self.proc)
        self._close()

    def _close(self):
        if self.proc is not None and self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:  # the pipe is broken: the service is gone
                pass


# ---- py-heap ------------------------------------------------------------------------------


def pyheap_ok(args, timeout=T.PYHEAP_TIMEOUT):
    res = T.run_pyheap(args, timeout=timeout)
    if res.returncode != 0:
        raise AssertionError("py-heap failed: %s" % res.describe())
    return res


def pyheap_json(args, timeout=T.PYHEAP_TIMEOUT):
    return pyheap_ok(list(args) + ["--json"], timeout).json()


def load_json(path):
    with open(path) as fh:
        return json.load(fh)


def class_counts(rows, key="count", names=CLASSES):
    """{class: count} from a list of {name, <key>} rows (a snapshot's or a `types` report's
    "types"); a class without a row has no instance: 0."""
    by_name = {r["name"]: r for r in rows}
    return {n: by_name[n][key] if n in by_name else 0 for n in names}


def rows_by_name(rows):
    return {r["name"]: r for r in rows}


def wait_next_second(after):
    """Sleeps until the wall clock's whole second is past `after` (a time.time() value)."""
    while int(time.time()) <= int(after):
        time.sleep(0.01)


# ---- watch --------------------------------------------------------------------------------

LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) pid (\d+): (.*)$")
SNAPSHOT_LINE = re.compile(r"^snapshot (\S+): (\d+) objects, heap (.+); target paused (\d+) ms "
                           r"\(analysis (\d+) ms\)$")


def log_stamp(stamp):
    """The log's UTC stamp "2026-11-24T09:20:59Z" as a POSIX time (whole seconds)."""
    import calendar
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))


class WatchRun:
    """`py-heap watch ...` whose stdout lines are collected as (arrival time.time(), line)."""

    def __init__(self, args):
        self.argv = [T.PYHEAP_BIN, "watch"] + list(args)
        env = dict(os.environ)
        env.pop("PYHEAP_TEST_HOLD_MS", None)
        self.proc = T.start_process(self.argv, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env)
        self.lines = []  # (arrival, text)
        self.cond = threading.Condition()
        self.stderr = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    @property
    def pid(self):
        return self.proc.pid

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            arrived = time.time()
            with self.cond:
                self.lines.append((arrived, raw.decode(errors="replace").rstrip("\n")))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def _read_err(self):
        self.stderr = self.proc.stderr.read()

    def wait_line(self, pattern, timeout=30, start=0):
        """(index, arrival, message, match) of the first log line from `start` on whose
        message (after "STAMP pid N: ") matches `pattern`; raises AssertionError on timeout
        or when watch exits first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    arrived, text = self.lines[i]
                    m = LOG_LINE.match(text)
                    msg = m.group(3) if m else text
                    found = rx.search(msg)
                    if found:
                        return i, arrived, msg, found
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError("watch exited (%s) before a line matching /%s/:\n%s"
                                         % (self.proc.returncode, pattern, self.text()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no watch line matching /%s/ in %ss:\n%s"
                                         % (pattern, timeout, self.text()))
                self.cond.wait(min(left, 0.1))

    def text(self):
        with self.cond:
            return "\n".join(t for _a, t in self.lines) + (
                "\nstderr: " + self.stderr.decode(errors="replace") if self.stderr else "")

    def wait(self, timeout=30):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            T.kill_process(self.proc)
            raise AssertionError("watch did not exit in %ss:\n%s" % (timeout, self.text()))
        self._close()
        return rc

    def _close(self):
        self._reader.join(5)
        self._err_reader.join(5)
        for f in (self.proc.stdout, self.proc.stderr):
            if f and not f.closed and not (self._reader.is_alive() or self._err_reader.is_alive()):
                f.close()
        T._live_processes.pop(self.proc.pid, None)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self):
        if self.proc.poll() is None:
            T.kill_process(self.proc, signal.SIGKILL)
        self._close()


class StopSampler:
    """Samples the states of a process's threads from outside (a read of
    /proc/PID/task/TID/stat per thread, then a 0.2 ms sleep: a sampler spinning on one of
    two CPUs would slow down what it measures), and keeps the intervals
    in which any thread was in tracing stop ('t') or stopped ('T'): (first time seen
    stopped, first time seen running again), from time.time(). The true stop is
    longer than a measured interval by at most one sampling period at each end."""

    def __init__(self, pid):
        self.pid = pid
        self.intervals = []
        self.samples = 0
        self.max_gap = 0.0  # the longest time between two samples
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._stop.set()
        self._thread.join(5)

    def _stopped(self):
        try:
            tids = os.listdir("/proc/%d/task" % self.pid)
        except OSError:
            return None
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/stat" % (self.pid, tid), "rb") as fh:
                    state = fh.read().rsplit(b")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state in (b"t", b"T"):
                return True
        return False

    def _run(self):
        began = None
        last = time.time()
        while not self._stop.is_set():
            stopped = self._stopped()
            now = time.time()
            self.max_gap = max(self.max_gap, now - last)
            last = now
            self.samples += 1
            if stopped is None:
                break
            if stopped and began is None:
                began = now
            elif not stopped and began is not None:
                self.intervals.append((began, now))
                began = None
            time.sleep(0.0002)
        if began is not None:
            self.intervals.append((began, time.time()))

    def total(self):
        return sum(b - a for a, b in self.intervals)
