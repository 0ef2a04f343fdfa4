#!/usr/bin/env bash
# Benchmark of how long py-heap stops a live process: `watch` (snapshot from a copy) and
# `types --pid` with and without --copy. Reports numbers, asserts nothing.
#
#   tests/bench/bench_watch.sh      (env: PYHEAP_BIN, BENCH_HEAP_MIB=1200, BENCH_RUNS=3,
#                                    BENCH_PYTHONS="/usr/bin/python3.11 ...",
#                                    BENCH_SAMPLE_MS=1, BENCH_DIR=/tmp)
#
# For each interpreter (default: Debian's python3.11, read as in production with
# --debug-dir ''), a generator (written below into the work directory) builds a heap of
# about BENCH_HEAP_MIB: 3/4 in ~1 KiB bytes objects (glibc malloc), 1/4 in small tuples of
# two ints (pymalloc), all kept in lists, then sleeps. Then:
#
#   watch        `py-heap watch --pid PID --rss-limit RSS/2 --max-dumps 1 --interval 1`:
#                the pause it logs ("target paused N ms"), per GiB of heap (the snapshot's
#                heap_total: pymalloc arenas + glibc arenas + mmapped chunks) and per GiB of
#                writable memory (what --copy copies: the readable+writable mappings of
#                /proc/PID/maps, [vvar] aside);
#   types        `py-heap types --pid PID --copy` and `py-heap types --pid PID`, BENCH_RUNS
#                times each: how long the target is stopped, measured from OUTSIDE by
#                stopwatch.py, which reads /proc/PID/task/*/stat every BENCH_SAMPLE_MS (it
#                sleeps in between: a sampler spinning on one of few CPUs slows the copy it
#                measures) and adds up the time any thread is in state 't' (tracing stop),
#                next to py-heap's wall time. Without --copy the target is stopped for the
#                whole analysis; with --copy only while its writable memory is copied (the
#                buffers for the copy are faulted in before, while it runs: in the wall
#                time, not in the pause).
#
# Also reported: the target's VmRSS before and after the first read (on some kernels
# reading never-touched anonymous pages of another process makes them resident; --copy
# reads only the pages present or swapped out), and this machine's cost of faulting in
# fresh anonymous memory (writing 256 MiB of a new mapping), which a copy into freshly
# mapped buffers would pay inside the pause. The project's aim (reported, not
# asserted): a pause under 1 s per GiB of heap. Installs what it needs first
# (scripts/setup.sh --bench); processes started here are killed (by PID) and the snapshots
# deleted at the end, also on error or Ctrl-C (lib.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
bench_init watch

HEAP_MIB="${BENCH_HEAP_MIB:-1200}"
RUNS="${BENCH_RUNS:-3}"
PYTHONS="${BENCH_PYTHONS:-/usr/bin/python3.11}"

cat >"$WORK/watch_heap.py" <<'EOF'
"""A big heap: python watch_heap.py READY_PATH HEAP_MIB (3.8-3.13). Sleeps when built."""
import gc
gc.disable()
import json, os, sys, time

ready, mib = sys.argv[1], int(sys.argv[2])
blob = os.urandom(4096)
big = []  # 3/4: bytes of 960-1087 bytes (glibc malloc: over pymalloc's 512-byte limit)
n_big = (mib << 20) * 3 // 4 // 1080
for i in range(n_big):
    k = i % 2048
    big.append(blob[k:k + 960 + (i % 128)])
small = []  # 1/4: (int, int) tuples (pymalloc: a 56-byte tuple and two 32-byte ints)
n_small = (mib << 20) // 4 // 120
for i in range(n_small):
    small.append((i + 1000, -i - 1000))
with open(ready + ".tmp", "w") as fh:
    json.dump({"pid": os.getpid(), "big": n_big, "small": n_small}, fh)
os.replace(ready + ".tmp", ready)
while True:
    time.sleep(86400)
EOF

vm_rss() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }

writable_bytes() {  # the readable+writable mappings of a process ([vvar] aside)
    "$SYSPY" -c '
import sys
total = 0
for line in open("/proc/%s/maps" % sys.argv[1]):
    f = line.split()
    if f[1].startswith("rw") and (len(f) < 6 or f[5] != "[vvar]"):
        a, b = f[0].split("-")
        total += int(b, 16) - int(a, 16)
print(total)' "$1"
}

# stopwatch NAME PID CMD...: CMD's output in WORK/NAME.log, the stopwatch's JSON in WORK/NAME.sw
stopwatch() {
    local name="$1" pid="$2"
    shift 2
    "$SYSPY" "$HERE/stopwatch.py" "$pid" "$WORK/$name.log" -- "$@" >"$WORK/$name.sw"
}

sw() { bench_json "$WORK/$1.sw" "$2"; }  # sw NAME KEY: a field of the stopwatch's JSON

# This machine's cost of page faults: write 256 MiB into a fresh private anonymous mapping.
FAULT_S_PER_GIB="$("$SYSPY" -c '
import mmap, time
n = 256 << 20
data = b"\1" * n
m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
t = time.monotonic(); m.write(data); first = time.monotonic() - t
m.seek(0); t = time.monotonic(); m.write(data); again = time.monotonic() - t
print("%.2f %.2f" % (first * 4, again * 4))')"
bench_log "this machine: writing fresh anonymous memory ${FAULT_S_PER_GIB%% *} s/GiB, the same memory again ${FAULT_S_PER_GIB##* } s/GiB"

ROWS=()
for PY in $PYTHONS; do
    bench_python "$PY" "building about $HEAP_MIB MiB of heap" || continue
    label="$BENCH_LABEL"
    bench_start "heap-$label" 1200 "$PY" "$WORK/watch_heap.py" "$HEAP_MIB"
    pid="$BENCH_PID"
    rss0=$(vm_rss "$pid")
    wbytes=$(writable_bytes "$pid")
    bench_log "   built in $BENCH_BUILT_SECONDS s: VmRSS $(bench_human "$rss0")," \
        "writable mappings $(bench_human "$wbytes")"

    # watch: one dump, the limit at half the resident memory (breached at the first poll).
    out="$WORK/watch-$label"
    mkdir -p "$out"
    stopwatch "watch-$label" "$pid" "$PYHEAP_BIN" watch --pid "$pid" --rss-limit $((rss0 / 2)) \
        --out "$out" --max-dumps 1 --interval 1 "${BENCH_EXTRA[@]}"
    rss1=$(vm_rss "$pid")
    line="$(grep -m1 'target paused' "$WORK/watch-$label.log" || true)"
    if [ -z "$line" ]; then bench_log "watch logged no snapshot:"; cat "$WORK/watch-$label.log" >&2; exit 1; fi
    bench_log "   watch: $line"
    pause_ms="$(sed -E 's/.*target paused ([0-9]+) ms.*/\1/' <<<"$line")"
    analysis_ms="$(sed -E 's/.*\(analysis ([0-9]+) ms\).*/\1/' <<<"$line")"
    snap="$(ls "$out"/pyheap-*.json | head -1)"
    heap_total="$(bench_json "$snap" fragmentation heap_total)"
    ROWS+=("$label|watch|1|$pause_ms|$(sw "watch-$label" stopped)|$(sw "watch-$label" wall)|$analysis_ms|$heap_total|$wbytes|$rss0|$rss1|$(sw "watch-$label" max_gap)")
    bench_log "   VmRSS $(bench_human "$rss0") before the first read, $(bench_human "$rss1") after"

    for mode in copy stop; do
        flag=()
        [ "$mode" = copy ] && flag=(--copy)
        for i in $(seq "$RUNS"); do
            name="types-$mode-$i-$label"
            stopwatch "$name" "$pid" \
                "$PYHEAP_BIN" types --pid "$pid" "${flag[@]}" --json "${BENCH_EXTRA[@]}"
            bench_log "   types --pid ${flag[*]}: $(cat "$WORK/$name.sw")"
            if [ "$(sw "$name" rc)" != 0 ]; then tail -3 "$WORK/$name.log" >&2; fi
            ROWS+=("$label|types ${flag[*]:-(stopped)}|$i|-|$(sw "$name" stopped)|$(sw "$name" wall)|-|$heap_total|$wbytes|$rss0|$(vm_rss "$pid")|$(sw "$name" max_gap)")
        done
    done
    bench_stop "$pid"
done

"$SYSPY" - "$PYHEAP_BIN" "$FAULT_S_PER_GIB" "${ROWS[@]}" <<'EOF'
import sys
binary, fault, rows = sys.argv[1], sys.argv[2].split(), [r.split("|") for r in sys.argv[3:]]
GiB, MiB = float(1 << 30), float(1 << 20)
print("py-heap watch/--copy pause benchmark (%s)" % binary)
print("machine: writing fresh anonymous memory %s s/GiB (page faults), again %s s/GiB"
      % (fault[0], fault[1]))
print("%-13s %-18s %3s %9s %10s %8s %9s %9s %9s %9s %9s %8s" % (
    "python", "command", "run", "logged ms", "stopped ms", "wall s", "heap MiB", "rw MiB",
    "s/GiB heap", "s/GiB rw", "RSS MiB", "gap ms"))
best = {}
for label, cmd, run, logged, stopped, wall, _analysis, heap, rw, rss0, rss1, gap in rows:
    stopped, heap, rw = float(stopped), int(heap), int(rw)
    print("%-13s %-18s %3s %9s %10.0f %8.2f %9.0f %9.0f %9.2f %9.2f %4.0f>%-4.0f %8.2f" % (
        label, cmd, run, logged, stopped * 1000, float(wall), heap / MiB, rw / MiB,
        stopped / (heap / GiB), stopped / (rw / GiB), int(rss0) / MiB, int(rss1) / MiB,
        float(gap) * 1000))
    key = (label, cmd)
    best[key] = min(best.get(key, 1e9), stopped)
print()
for label, cmd, _run, logged, stopped, _wall, analysis, heap, rw, rss0, rss1, _gap in rows:
    if cmd != "watch":
        continue
    per_gib = int(logged) / 1000.0 / (int(heap) / GiB)
    print("%s watch: target paused %s ms (logged; %.0f ms seen from outside) for %.0f MiB of heap "
          "= %.2f s per GiB of heap (aim < 1 s: %s), %.2f s per GiB of writable memory; "
          "analysis %s ms on the copy; VmRSS %.0f -> %.0f MiB across the read" % (
              label, logged, float(stopped) * 1000, int(heap) / MiB, per_gib,
              "met" if per_gib < 1 else "NOT met", int(logged) / 1000.0 / (int(rw) / GiB),
              analysis, int(rss0) / MiB, int(rss1) / MiB))
    c, s = best.get((label, "types --copy")), best.get((label, "types (stopped)"))
    if c is not None and s is not None:
        print("%s types --pid: stopped %.0f ms with --copy, %.0f ms without (best of runs)"
              % (label, c * 1000, s * 1000))
print()
EOF
