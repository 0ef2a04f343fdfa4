#!/bin/bash
# Benchmark of a live census's pause, measured from the target's side: `py-heap types --pid`
# on a process whose heap is BENCH_GIB GiB (default 1.5), while a thread of the target reads
# CLOCK_MONOTONIC in a tight loop and records every gap (fixtures/workloads/pause_workload.py:
# a gap less the time the thread waited, runnable, for a CPU is time it was stopped). Reports,
# side by side, in one run (nothing is asserted):
#
#   * the longest stop the target lived through during each py-heap run, in seconds and per
#     GiB of the heap, against the pause py-heap itself reported (stderr line and --json);
#   * the default mode (a copy of the writable memory, analysed after the process is let go)
#     and --no-copy (stopped for the whole analysis), each BENCH_RUNS times.
#
# Aim (reported as met or not): the default pause <= 0.3 s per GiB.
#
# Usage: tests/bench/bench_pause.sh [PYTHON]
#   PYTHON        interpreter of the workload (default: pyenv 3.12, else python3.11)
#   PYHEAP_BIN    py-heap to measure (default: build/py-heap of this tree, built first)
#   BENCH_GIB     the heap to build, GiB (default 1.5: about 10 M objects)
#   BENCH_RUNS    runs of each mode (default 3)
#   BENCH_DIR     where the work directory is made (default /tmp); deleted at the end
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
bench_init pause

GIB=${BENCH_GIB:-1.5}
RUNS=${BENCH_RUNS:-3}
PYTHON=$(bench_default_python "${1:-}")
bench_python "$PYTHON" || exit 2
# A Cell with __slots__ (56 B), its tuple (56 B: 64 in pymalloc) and its int (32 B): about
# 150 bytes of heap per Cell, measured on 3.12.
CELLS=$(awk -v g="$GIB" 'BEGIN { printf "%d", g * 1073741824 / 150 }')

bench_log "bench_pause: $PYTHON, $CELLS cells (~$GIB GiB), py-heap $PYHEAP_BIN, in $WORK"
bench_start workload 900 "$PYTHON" "$ROOT/fixtures/workloads/pause_workload.py" "$CELLS"
WPID=$BENCH_PID
ARMED=$("$SYSPY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["armed"])' "$BENCH_READY")
GAPS=$("$SYSPY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["gaps"])' "$BENCH_READY")

# One py-heap run with the ticker armed: its JSON, stderr, the gaps and the run's own times.
run() {
    local name="$1"
    shift
    rm -f "$ARMED" "$GAPS"
    kill -USR2 "$WPID"
    local waited=0
    while [ ! -e "$ARMED" ]; do
        sleep 0.05; waited=$((waited + 1))
        [ "$waited" -lt 200 ] || { bench_log "the ticker did not arm"; return 1; }
    done
    sleep 0.2
    local t0 t1 rc=0
    t0=$("$SYSPY" -c 'import time; print(time.monotonic())')
    "$PYHEAP_BIN" types --pid "$WPID" "${BENCH_EXTRA[@]}" --json --limit 3 "$@" \
        > "$WORK/$name.json" 2> "$WORK/$name.err" || rc=$?
    t1=$("$SYSPY" -c 'import time; print(time.monotonic())')
    sleep 0.2
    kill -USR1 "$WPID"
    waited=0
    while [ ! -e "$GAPS" ]; do
        sleep 0.05; waited=$((waited + 1))
        [ "$waited" -lt 200 ] || { bench_log "the ticker wrote no gaps"; return 1; }
    done
    cp "$GAPS" "$WORK/$name.gaps"
    printf '{"t0": %s, "t1": %s, "rc": %d}\n' "$t0" "$t1" "$rc" > "$WORK/$name.run"
}

for i in $(seq "$RUNS"); do
    bench_log "bench_pause: run $i, default (copy)"
    run "copy$i"
    bench_log "bench_pause: run $i, --no-copy"
    run "nocopy$i" --no-copy
done
HEAP_BYTES=$(awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$WPID/status")
bench_stop "$WPID"

"$SYSPY" - "$WORK" "$RUNS" "$HEAP_BYTES" "$BENCH_LABEL" <<'EOF'
import json
import sys

work, runs, rss, label = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
GiB = float(1 << 30)
print("py-heap live pause benchmark: Python %s, target RSS %.2f GiB" % (label, rss / GiB))
print("")
print("  %-10s %10s %12s %12s %12s %10s" % ("mode", "wall", "stopped", "per GiB", "py-heap says",
                                           "objects"))
worst = {}
for mode in ("copy", "nocopy"):
    for i in range(1, runs + 1):
        name = "%s%d" % (mode, i)
        run = json.load(open("%s/%s.run" % (work, name)))
        gaps = json.load(open("%s/%s.gaps" % (work, name)))
        # The gaps inside the run, less the time the ticker waited for a CPU: stopped time.
        inside = [end - start - waited for start, end, waited in gaps
                  if end > run["t0"] and start < run["t1"]]
        stopped = max(inside) if inside else 0.0
        try:
            out = json.load(open("%s/%s.json" % (work, name)))
            said = out["target"].get("stopped_seconds")
            objects = out["totals"]["objects"]
        except (ValueError, KeyError):
            said, objects = None, 0
        worst[mode] = max(worst.get(mode, 0.0), stopped)
        print("  %-10s %9.2fs %11.3fs %11.3fs %12s %10d" % (
            mode, run["t1"] - run["t0"], stopped, stopped / (rss / GiB),
            "%.3f s" % said if said is not None else "-", objects))
print("")
per_gib = worst["copy"] / (rss / GiB)
print("  aim: default pause <= 0.3 s per GiB (longest of %d runs)    %.3f s/GiB  %s"
      % (runs, per_gib, "met" if per_gib <= 0.3 else "NOT met"))
EOF
