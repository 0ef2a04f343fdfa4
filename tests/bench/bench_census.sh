#!/bin/bash
# Benchmark of the object census (`py-heap types`) on a big heap: >= 10 million objects, a
# core of >= 1.5 GiB. Reports, side by side, in one run (nothing is asserted):
#
#   * `py-heap types CORE`: wall time (hyperfine when installed, else repeated runs timed
#     here), peak RSS (/usr/bin/time -v), objects per second;
#   * (a) the same census computed inside the process, before the dump: a Counter by type
#     over gc.get_objects() and the closure through gc.get_referents() (each object once),
#     timed by the workload itself; and the cheaper Counter over gc.get_objects() alone;
#   * (b) reading the core once: `cat CORE > /dev/null` with the page cache warm;
#   * live: `py-heap types --pid PID`, and how long the target stays stopped, measured from
#     outside: a sampler reads /proc/PID/task/*/stat every millisecond while py-heap runs
#     and adds up the time any thread is in tracing stop ('t').
#
# Aims (reported as met or not): >= 20 million objects/s; `types` within 4x of reading the
# core once; peak RSS under 20% of the core size.
#
# Usage: tests/bench/bench_census.sh [PYTHON]
#   PYTHON           interpreter of the workload (default: pyenv 3.12, else python3.11)
#   PYHEAP_BIN       py-heap to measure (default: build/py-heap of this tree)
#   BENCH_ENTRIES    records in the workload, 5 objects each (default 3000000: 15 million
#                    objects, a core of about 1.9 GiB)
#   BENCH_DIR        where the workload and its core go (default: a new directory in /tmp);
#                    the core is deleted at the end, whatever happens
#   BENCH_RUNS       timed runs of each command (default 5)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PYHEAP_BIN=${PYHEAP_BIN:-$ROOT/build/py-heap}
ENTRIES=${BENCH_ENTRIES:-3000000}
RUNS=${BENCH_RUNS:-5}
PYTHON=${1:-}
if [ -z "$PYTHON" ]; then
    for p in /root/.pyenv/versions/3.12.1/bin/python3.12 /usr/bin/python3.11 python3; do
        if command -v "$p" >/dev/null 2>&1; then PYTHON=$p; break; fi
    done
fi
[ -x "$PYHEAP_BIN" ] || { echo "bench_census: $PYHEAP_BIN is not built" >&2; exit 2; }
command -v gdb >/dev/null || { echo "bench_census: gdb is needed (gcore)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench_census: /usr/bin/time is needed (peak RSS)" >&2; exit 2; }
EXTRA_ARGS=()
case "$(readlink -f "$(command -v "$PYTHON")")" in
    /usr/bin/*) EXTRA_ARGS=(--debug-dir "") ;;  # Debian's stripped build: production case
esac

WORK=${BENCH_DIR:-$(mktemp -d /tmp/pyheap-bench-census.XXXXXX)}
mkdir -p "$WORK"
CORE=$WORK/core.bench
WPID=
cleanup() {
    if [ -n "$WPID" ]; then kill "$WPID" 2>/dev/null || true; wait "$WPID" 2>/dev/null || true; fi
    rm -f "$CORE"
    [ -n "${BENCH_DIR:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# ---- the workload ------------------------------------------------------------------------
cat > "$WORK/workload.py" <<'EOF'
"""A big heap: ENTRIES records (tuple, int, str of 100 characters, float, bytes of 200),
kept in one list; measures its own census, writes REPORT, sleeps."""
import gc
import json
import os
import sys
import time
from collections import Counter

gc.disable()
entries, report = int(sys.argv[1]), sys.argv[2]
t0 = time.perf_counter()
PAD = "x" * 92
RECORDS = [(100000 + i, "%08d%s" % (i, PAD), i * 0.5, (b"%08d" % i) * 25) for i in range(entries)]
built = time.perf_counter() - t0


def census_gc_only():
    """Counter by type name over gc.get_objects(): the GC objects only."""
    return Counter(type(o).__name__ for o in gc.get_objects())


def census_closure():
    """Counter by type name over gc.get_objects() and everything reachable through
    gc.get_referents(), each object once (what `types` counts, without the accounting)."""
    objs = gc.get_objects()
    seen = set()
    counts = Counter()
    stack = objs
    get_referents = gc.get_referents
    while stack:
        o = stack.pop()
        k = id(o)
        if k in seen:
            continue
        seen.add(k)
        counts[type(o).__name__] += 1
        stack.extend(get_referents(o))
    return counts


t0 = time.perf_counter()
gc_only = census_gc_only()
t_gc_only = time.perf_counter() - t0
t0 = time.perf_counter()
closure = census_closure()
t_closure = time.perf_counter() - t0
result = {"pid": os.getpid(), "version": sys.version.split()[0], "entries": entries,
          "build_seconds": built, "gc_only_seconds": t_gc_only,
          "gc_only_objects": sum(gc_only.values()), "closure_seconds": t_closure,
          "closure_objects": sum(closure.values())}
del gc_only, closure
with open(report + ".tmp", "w") as fh:
    json.dump(result, fh)
os.replace(report + ".tmp", report)
while True:
    time.sleep(86400)
EOF

# ---- helpers ----------------------------------------------------------------------------
cat > "$WORK/measure.py" <<'EOF'
"""measure.py runs N CMD...: wall times of N runs (after one warm-up run), as JSON
{"mean", "min", "max", "runs"}; stdout of CMD discarded. Used when hyperfine is missing."""
import json
import subprocess
import sys
import time

n, cmd = int(sys.argv[1]), sys.argv[2:]
subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
times = []
for _ in range(n):
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    times.append(time.perf_counter() - t0)
print(json.dumps({"mean": sum(times) / n, "min": min(times), "max": max(times), "runs": n}))
EOF

cat > "$WORK/stopwatch.py" <<'EOF'
"""stopwatch.py PID CMD...: runs CMD (py-heap on the live PID) and samples every thread of PID
every millisecond (/proc/PID/task/*/stat, field 3): prints JSON with the wall time of CMD,
the time during which at least one thread was in tracing stop ('t'), the longest such
stretch, and the number of samples. A stop shorter than the sampling period can be missed;
the time is counted in whole sampling intervals, so it is accurate to about +-1 ms."""
import json
import os
import subprocess
import sys
import time

pid, cmd = int(sys.argv[1]), sys.argv[2:]
task_dir = "/proc/%d/task" % pid


def any_stopped():
    for tid in os.listdir(task_dir):
        try:
            with open("%s/%s/stat" % (task_dir, tid), "rb") as fh:
                if fh.read().rsplit(b")", 1)[1].split()[0] in (b"t", b"T"):
                    return True
        except (FileNotFoundError, ProcessLookupError):
            pass
    return False


t0 = time.perf_counter()
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
stopped = longest = 0.0
stretch_start = None
samples = 0
last = time.perf_counter()
while proc.poll() is None:
    now = time.perf_counter()
    s = any_stopped()
    samples += 1
    if s:
        stopped += now - last
        if stretch_start is None:
            stretch_start = last
        longest = max(longest, now - stretch_start)
    else:
        stretch_start = None
    last = now
    time.sleep(0.001)
wall = time.perf_counter() - t0
print(json.dumps({"wall": wall, "stopped": stopped, "longest_stop": longest,
                  "samples": samples, "exit": proc.returncode}))
EOF

timed() {  # timed NAME CMD...: JSON of the wall times of CMD in $WORK/NAME.json
    local name=$1; shift
    if command -v hyperfine >/dev/null; then
        hyperfine --style none --warmup 1 --runs "$RUNS" --export-json "$WORK/$name.hf.json" \
            -- "$(printf '%q ' "$@")" >/dev/null
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(json.dumps({"mean": r["mean"], "min": r["min"], "max": r["max"], "runs": len(r["times"])}))' \
            "$WORK/$name.hf.json" > "$WORK/$name.json"
    else
        python3 "$WORK/measure.py" "$RUNS" "$@" > "$WORK/$name.json"
    fi
}

peak_rss_kib() {  # peak_rss_kib CMD...: "Maximum resident set size" of CMD, in KiB
    /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}'
}

# ---- run ---------------------------------------------------------------------------------
echo "bench_census: $PYTHON, $ENTRIES records, py-heap $PYHEAP_BIN, in $WORK" >&2
"$PYTHON" "$WORK/workload.py" "$ENTRIES" "$WORK/workload.json" > "$WORK/workload.log" 2>&1 &
WPID=$!
for _ in $(seq 1 1800); do
    [ -f "$WORK/workload.json" ] && break
    kill -0 "$WPID" 2>/dev/null || { cat "$WORK/workload.log" >&2; exit 1; }
    sleep 0.5
done
[ -f "$WORK/workload.json" ] || { echo "bench_census: the workload did not finish" >&2; exit 1; }
sleep 1  # in its sleep by now

echo "bench_census: live run (py-heap types --pid) with the stop sampler" >&2
python3 "$WORK/stopwatch.py" "$WPID" "$PYHEAP_BIN" types --pid "$WPID" "${EXTRA_ARGS[@]}" \
    --json > "$WORK/live.json"
"$PYHEAP_BIN" types --pid "$WPID" "${EXTRA_ARGS[@]}" --json --limit 5 > "$WORK/live_types.json"

echo "bench_census: gcore" >&2
t0=$(date +%s.%N)
gdb -nx -batch -iex "set debuginfod enabled off" -p "$WPID" -ex "gcore $CORE" >/dev/null 2>&1
t1=$(date +%s.%N)
kill "$WPID"; wait "$WPID" 2>/dev/null || true; WPID=

echo "bench_census: core runs" >&2
"$PYHEAP_BIN" types "$CORE" "${EXTRA_ARGS[@]}" --json --limit 5 > "$WORK/core_types.json"
cat "$CORE" > /dev/null; cat "$CORE" > /dev/null  # page cache warm
timed cat sh -c "cat '$CORE' > /dev/null"
timed types "$PYHEAP_BIN" types "$CORE" "${EXTRA_ARGS[@]}" --json
RSS_KIB=$(peak_rss_kib "$PYHEAP_BIN" types "$CORE" "${EXTRA_ARGS[@]}" --json)
CORE_BYTES=$(stat -c %s "$CORE")

python3 - "$WORK" "$CORE_BYTES" "$RSS_KIB" "$(python3 -c "print($t1 - $t0)")" \
    "$(command -v hyperfine >/dev/null && echo hyperfine || echo measure.py)" <<'EOF'
import json
import sys

work, core_bytes, rss_kib, gcore_s, timer = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    float(sys.argv[4]), sys.argv[5]
load = lambda name: json.load(open("%s/%s.json" % (work, name)))
wl, types, cat, live = load("workload"), load("types"), load("cat"), load("live")
core_types, live_types = load("core_types"), load("live_types")
objects = core_types["totals"]["objects"]
rate = objects / types["mean"]
rss = rss_kib * 1024
GiB, MiB = 1 << 30, 1 << 20
print("py-heap census benchmark: Python %s, %d records" % (wl["version"], wl["entries"]))
print("  core: %.2f GiB (gcore %.1f s); objects counted: %d (%d static), heap %.2f GiB"
      % (core_bytes / GiB, gcore_s, objects, core_types["static"]["count"],
         core_types["accounting"]["heap_total"] / GiB))
print("")
print("  %-52s %10s %12s" % ("", "time", "objects/s"))
print("  %-52s %9.2fs %12.3g" % ("py-heap types CORE (mean of %d, %s)" % (types["runs"], timer),
                                 types["mean"], rate))
print("  %-52s %9.2fs %12s" % ("(b) cat CORE > /dev/null, page cache warm", cat["mean"], ""))
print("  %-52s %9.2fs %12.3g" % ("(a) in-process closure (gc.get_objects + referents)",
                                 wl["closure_seconds"],
                                 wl["closure_objects"] / wl["closure_seconds"]))
print("  %-52s %9.2fs %12.3g" % ("    in-process Counter over gc.get_objects() only",
                                 wl["gc_only_seconds"],
                                 wl["gc_only_objects"] / wl["gc_only_seconds"]))
print("  %-52s %9.2fs %12.3g" % ("py-heap types --pid PID (one run)", live["wall"],
                                 live_types["totals"]["objects"] / live["wall"]))
print("")
print("  live target stopped: %.3f s in all, longest stretch %.3f s (sampled every 1 ms from"
      % (live["stopped"], live["longest_stop"]))
print("    outside: /proc/PID/task/*/stat in state 't', %d samples; +-1 ms)" % live["samples"])
print("  in-process census counted %d objects (the GC closure); py-heap %d (+ %d static)"
      % (wl["closure_objects"], objects, core_types["static"]["count"]))
print("  peak RSS of py-heap types CORE: %.0f MiB = %.1f%% of the core" % (rss / MiB,
                                                                        100.0 * rss / core_bytes))
print("")
aims = [("objects/s >= 20 million", rate >= 20e6, "%.3g" % rate),
        ("types within 4x of reading the core once", types["mean"] <= 4 * cat["mean"],
         "%.2fx" % (types["mean"] / cat["mean"])),
        ("peak RSS < 20% of the core", rss < 0.2 * core_bytes, "%.1f%%" % (100.0 * rss / core_bytes))]
for what, met, value in aims:
    print("  aim: %-44s %-8s %s" % (what, value, "met" if met else "NOT met"))
EOF
