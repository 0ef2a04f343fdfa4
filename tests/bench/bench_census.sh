#!/bin/bash
# Benchmark of the object census (`py-heap types`) on a big heap: >= 10 million objects, a
# core of >= 1.5 GiB. Reports, side by side, in one run (nothing is asserted):
#
#   * `py-heap types CORE`: wall time (hyperfine), peak RSS (/usr/bin/time -v), objects per
#     second;
#   * (a) the same census computed inside the process, before the dump: a Counter by type
#     over gc.get_objects() and the closure through gc.get_referents() (each object once),
#     timed by the workload itself; and the cheaper Counter over gc.get_objects() alone;
#   * (b) reading the core once: `cat CORE > /dev/null` with the page cache warm;
#   * live: `py-heap types --pid PID`, and how long the target stays stopped, measured from
#     outside: stopwatch.py reads /proc/PID/task/*/stat every BENCH_SAMPLE_MS (default 1 ms)
#     while py-heap runs and adds up the time any thread is in tracing stop ('t').
#
# Aims (reported as met or not): >= 20 million objects/s; `types` within 4x of reading the
# core once; peak RSS under 20% of the core size.
#
# Usage: tests/bench/bench_census.sh [PYTHON]
#   PYTHON           interpreter of the workload (default: pyenv 3.12, else python3.11)
#   PYHEAP_BIN       py-heap to measure (default: build/py-heap of this tree, built first)
#   BENCH_ENTRIES    records in the workload, 5 objects each (default 3000000: 15 million
#                    objects, a core of about 1.9 GiB)
#   BENCH_DIR        where the work directory (workload, core) is made (default /tmp); it is
#                    deleted at the end, whatever happens
#   BENCH_RUNS       timed runs of each command, after one warm-up (default 5)
# Installs what it needs first (scripts/setup.sh --bench); the shared pieces are in lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
bench_init census

ENTRIES=${BENCH_ENTRIES:-3000000}
RUNS=${BENCH_RUNS:-5}
PYTHON=$(bench_default_python "${1:-}")
bench_python "$PYTHON" || exit 2
CORE=$WORK/core.bench

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
report, entries = sys.argv[1], int(sys.argv[2])
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

# ---- run ---------------------------------------------------------------------------------
bench_log "bench_census: $PYTHON, $ENTRIES records, py-heap $PYHEAP_BIN, in $WORK"
bench_start workload 900 "$PYTHON" "$WORK/workload.py" "$ENTRIES"
WPID=$BENCH_PID

bench_log "bench_census: live run (py-heap types --pid) with the stop sampler"
"$SYSPY" "$HERE/stopwatch.py" "$WPID" "$WORK/live.out" -- \
    "$PYHEAP_BIN" types --pid "$WPID" "${BENCH_EXTRA[@]}" --json > "$WORK/live.json"
"$PYHEAP_BIN" types --pid "$WPID" "${BENCH_EXTRA[@]}" --json --limit 5 > "$WORK/live_types.json"

bench_log "bench_census: gcore"
bench_gcore "$WPID" "$CORE"
bench_stop "$WPID"

bench_log "bench_census: core runs"
"$PYHEAP_BIN" types "$CORE" "${BENCH_EXTRA[@]}" --json --limit 5 > "$WORK/core_types.json"
cat "$CORE" > /dev/null; cat "$CORE" > /dev/null  # page cache warm
bench_time cat cat "$CORE"
bench_time --rss types "$PYHEAP_BIN" types "$CORE" "${BENCH_EXTRA[@]}" --json

"$SYSPY" - "$WORK" "$BENCH_CORE_BYTES" "$BENCH_GCORE_SECONDS" <<'EOF'
import json
import sys

work, core_bytes, gcore_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
load = lambda name: json.load(open("%s/%s.json" % (work, name)))
wl, types, cat, live = load("workload"), load("types"), load("cat"), load("live")
core_types, live_types = load("core_types"), load("live_types")
objects = core_types["totals"]["objects"]
rate = objects / types["mean"]
rss = types["rss_kib"] * 1024
GiB, MiB = 1 << 30, 1 << 20
print("py-heap census benchmark: Python %s, %d records" % (wl["version"], wl["entries"]))
print("  core: %.2f GiB (gcore %.1f s); objects counted: %d (%d static), heap %.2f GiB"
      % (core_bytes / GiB, gcore_s, objects, core_types["static"]["count"],
         core_types["accounting"]["heap_total"] / GiB))
print("")
print("  %-52s %10s %12s" % ("", "time", "objects/s"))
print("  %-52s %9.2fs %12.3g" % ("py-heap types CORE (mean of %d, hyperfine)" % types["runs"],
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
print("  live target stopped: %.3f s in all, longest stretch %.3f s (sampled every %g ms from"
      % (live["stopped"], live["longest"], live["period"] * 1000))
print("    outside: /proc/PID/task/*/stat in state 't', %d samples; +- one period)"
      % live["samples"])
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
