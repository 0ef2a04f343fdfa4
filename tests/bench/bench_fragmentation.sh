#!/usr/bin/env bash
# Benchmark of `py-heap fragmentation` on a big heap: reports numbers, asserts nothing.
#
#   tests/bench/bench_fragmentation.sh            (env: PYHEAP_BIN, BENCH_HEAP_MIB=1200,
#                                                  BENCH_SMALL_MIB=100, BENCH_RUNS=5,
#                                                  BENCH_PYTHONS="/usr/bin/python3.11 ...",
#                                                  BENCH_DIR=/tmp)
#
# For each interpreter (Debian's python3.11, read as in production with --debug-dir '', and
# pyenv's 3.12 with the default debug directories), tests/bench/big_heap.py builds a heap of
# about BENCH_HEAP_MIB (half small Python objects, half malloc'd blocks), gdb's gcore dumps
# it, and py-heap reads the core and the live PID:
#   * wall time: hyperfine (1 warm-up, BENCH_RUNS runs);
#   * peak RSS: /usr/bin/time -v ("Maximum resident set size", the largest of those runs);
#   * instructions: valgrind --tool=callgrind, on a smaller heap of about BENCH_SMALL_MIB
#     (callgrind is ~50x slower), core and live.
# "heap" below is what py-heap walked: pymalloc arenas + glibc arenas' system bytes + mmapped
# chunks, from its own JSON. The project's aims: >= 1 GiB of heap walked per second, peak
# RSS under 10 % of the core size. Installs what it needs first (scripts/setup.sh --bench);
# processes started here are killed (by PID) and the cores deleted at the end, also on error
# or Ctrl-C (lib.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
bench_init fragmentation

HEAP_MIB="${BENCH_HEAP_MIB:-1200}"
SMALL_MIB="${BENCH_SMALL_MIB:-100}"
RUNS="${BENCH_RUNS:-5}"
PYTHONS="${BENCH_PYTHONS:-/usr/bin/python3.11 /root/.pyenv/versions/3.12.1/bin/python3.12}"

# heap_bytes JSON_FILE: bytes py-heap walked (arenas + glibc system + mmapped)
heap_bytes() {
    "$SYSPY" - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
pm, g = r.get("pymalloc") or {}, r.get("glibc") or {}
n = (pm.get("arenas_current") or 0) * (pm.get("arena_size") or 0)
n += sum(a.get("system_bytes") or 0 for a in g.get("arenas") or [])
n += g.get("mmapped_bytes") or 0
print(n)
EOF
}

ROWS=()
for PY in $PYTHONS; do
    bench_python "$PY" "building a $HEAP_MIB MiB heap" || continue
    label="$BENCH_LABEL"
    bench_start "big-$label" 600 "$PY" "$HERE/big_heap.py" "$HEAP_MIB"
    pid="$BENCH_PID" core="$WORK/core.big.$label"
    bench_gcore "$pid" "$core"
    core_bytes="$BENCH_CORE_BYTES"
    bench_log "   gcore: $(bench_human "$core_bytes") in $BENCH_GCORE_SECONDS s"
    "$PYHEAP_BIN" fragmentation --json "$core" "${BENCH_EXTRA[@]}" >"$WORK/rep.json" \
        2>"$WORK/rep.err" || bench_log "   (py-heap exit $?: $(tail -1 "$WORK/rep.err"))"
    heap=$(heap_bytes "$WORK/rep.json")
    for mode in core live; do
        if [ "$mode" = core ]; then target=("$core"); else target=(--pid "$pid"); fi
        bench_time --rss "$mode-$label" "$PYHEAP_BIN" fragmentation --json "${target[@]}" \
            "${BENCH_EXTRA[@]}"
        ROWS+=("$label|$mode|$heap|$core_bytes|$WORK/$mode-$label.json")
        bench_log "   $mode: $(bench_summary "$mode-$label")"
    done
    bench_stop "$pid"
    rm -f "$core"

    bench_log "== $label: ${SMALL_MIB} MiB heap under callgrind"
    bench_start "small-$label" 600 "$PY" "$HERE/big_heap.py" "$SMALL_MIB"
    spid="$BENCH_PID" score="$WORK/core.small.$label"
    bench_gcore "$spid" "$score"
    "$PYHEAP_BIN" fragmentation --json "$score" "${BENCH_EXTRA[@]}" >"$WORK/srep.json" \
        2>/dev/null || true
    sheap=$(heap_bytes "$WORK/srep.json")
    icore=$(bench_instructions "$PYHEAP_BIN" fragmentation --json "$score" "${BENCH_EXTRA[@]}")
    ilive=$(bench_instructions "$PYHEAP_BIN" fragmentation --json --pid "$spid" "${BENCH_EXTRA[@]}")
    ROWS+=("$label|callgrind|$sheap|$BENCH_CORE_BYTES|$icore|$ilive")
    bench_stop "$spid"
    rm -f "$score"
done

"$SYSPY" - "$PYHEAP_BIN" "${ROWS[@]}" <<'EOF'
import json
import sys
binary, rows = sys.argv[1], [r.split("|") for r in sys.argv[2:]]
MiB, GiB = 1 << 20, 1 << 30
print("py-heap fragmentation benchmark (%s)" % binary)
print("%-14s %-5s %9s %9s %14s %8s %10s %8s" % ("python", "target", "heap MiB", "core MiB",
                                               "wall s (sd)", "GiB/s", "peak RSS", "RSS/core"))
for label, mode, heap, core, *timing in rows:
    if mode == "callgrind":
        continue
    heap, core = int(heap or 0), int(core or 0)
    t = json.load(open(timing[0]))
    mean, sd = t["mean"], t["stddev"]
    rate = "%.2f" % (heap / GiB / mean) if mean > 0 else "n/a"
    rss_b = t["rss_kib"] * 1024
    print("%-14s %-5s %9.0f %9.0f %8.3f (%.3f) %8s %7.1fM %7.2f%%" % (
        label, mode, heap / MiB, core / MiB, mean, sd, rate, rss_b / MiB,
        100.0 * rss_b / core if core else float("nan")))
print()
print("%-14s %9s %9s %16s %16s %12s" % ("python", "heap MiB", "core MiB", "instr (core)",
                                        "instr (live)", "instr/heap B"))
for label, mode, heap, core, *instr in rows:
    if mode != "callgrind":
        continue
    icore, ilive = instr
    heap, core = int(heap or 0), int(core or 0)
    per = ("%.2f" % (int(icore) / heap)) if icore.isdigit() and heap else "n/a"
    def fmt(n):
        return "{:,}".format(int(n)) if n.isdigit() else (n or "n/a")
    print("%-14s %9.0f %9.0f %16s %16s %12s" % (label, heap / MiB, core / MiB, fmt(icore),
                                                 fmt(ilive), per))
print()
print("aims: >= 1 GiB of heap walked per second; peak RSS < 10% of the core size "
      "(reported, not asserted)")
EOF
