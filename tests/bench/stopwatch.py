"""How long a live target stays stopped while a command reads it, seen from outside.

    python3 stopwatch.py PID OUT -- CMD...

Runs CMD (its stdout and stderr to OUT) and, until it exits, reads the state of every thread
of PID (/proc/PID/task/*/stat, field 3) every BENCH_SAMPLE_MS milliseconds (default 1; it
sleeps in between: a sampler spinning on one of few CPUs would slow what it measures). Prints
JSON: wall (seconds CMD ran), stopped (seconds during which at least one thread was in
tracing stop, 't' or 'T'), intervals (how many such stretches), longest (the longest
stretch), max_gap (the longest time between two samples), samples, period, rc (CMD's exit
status) and still_stopped (whether a thread was left stopped). A stop shorter than the
sampling period can be missed; times are accurate to about one period.
Used by bench_census.sh and bench_watch.sh.
"""
import json
import os
import subprocess
import sys
import time

pid, out = int(sys.argv[1]), sys.argv[2]
cmd = sys.argv[sys.argv.index("--") + 1:]
period = float(os.environ.get("BENCH_SAMPLE_MS", "1")) / 1000.0
task = "/proc/%d/task" % pid


def stopped():
    for tid in os.listdir(task):
        try:
            with open("%s/%s/stat" % (task, tid), "rb") as fh:
                if fh.read().rsplit(b")", 1)[1].split()[0] in (b"t", b"T"):
                    return True
        except (OSError, IndexError):
            pass
    return False


with open(out, "wb") as fh:
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
    intervals, began, samples, max_gap, last = [], None, 0, 0.0, time.monotonic()
    while proc.poll() is None:
        s = stopped()
        now = time.monotonic()
        max_gap, last, samples = max(max_gap, now - last), now, samples + 1
        if s and began is None:
            began = now
        elif not s and began is not None:
            intervals.append(now - began)
            began = None
        time.sleep(period)
    wall = time.monotonic() - t0
    if began is not None:
        intervals.append(time.monotonic() - began)
print(json.dumps({"wall": wall, "stopped": sum(intervals), "intervals": len(intervals),
                  "longest": max(intervals or [0]), "max_gap": max_gap, "samples": samples,
                  "period": period, "rc": proc.returncode, "still_stopped": stopped()}))
