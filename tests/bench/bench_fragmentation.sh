#!/usr/bin/env bash
# Benchmark of `py-heap fragmentation` on a big heap: reports numbers, asserts nothing.
#
#   tests/bench/bench_fragmentation.sh            (env: PYHEAP_BIN, BENCH_HEAP_MIB=1200,
#                                                  BENCH_SMALL_MIB=100, BENCH_RUNS=5,
#                                                  BENCH_PYTHONS="/usr/bin/python3.11 ...",
#                                                  BENCH_NO_HYPERFINE=1: use `time`)
#
# For each interpreter (Debian's python3.11, read as in production with --debug-dir '', and
# pyenv's 3.12 with the default debug directories), tests/bench/big_heap.py builds a heap of
# about BENCH_HEAP_MIB (half small Python objects, half malloc'd blocks), gdb's gcore dumps
# it, and py-heap reads the core and the live PID:
#   * wall time: hyperfine (1 warm-up, BENCH_RUNS runs) if installed, else repeated `time`;
#   * peak RSS: /usr/bin/time -v ("Maximum resident set size");
#   * instructions: valgrind --tool=callgrind, on a smaller heap of about BENCH_SMALL_MIB
#     (callgrind is ~50x slower), core and live.
# "heap" below is what py-heap walked: pymalloc arenas + glibc arenas' system bytes + mmapped
# chunks, from its own JSON. The project's aims: >= 1 GiB of heap walked per second, peak
# RSS under 10 % of the core size. Processes started here are killed (by PID) and the cores
# deleted at the end, also on error or Ctrl-C.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE_DIR="$(cd "$HERE/../.." && pwd)"
PYHEAP_BIN="${PYHEAP_BIN:-$SOURCE_DIR/build/py-heap}"
[ -x "$PYHEAP_BIN" ] || PYHEAP_BIN=/work/main/build/py-heap
HEAP_MIB="${BENCH_HEAP_MIB:-1200}"
SMALL_MIB="${BENCH_SMALL_MIB:-100}"
RUNS="${BENCH_RUNS:-5}"
PYTHONS="${BENCH_PYTHONS:-/usr/bin/python3.11 /root/.pyenv/versions/3.12.1/bin/python3.12}"
SYSPY=/usr/bin/python3

WORK="$(mktemp -d /tmp/pyheap-bench.XXXXXX)"
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '%s\n' "$*" >&2; }

# start_heap PY MIB NAME -> prints the PID once READY exists
start_heap() {
    local py="$1" mib="$2" name="$3" ready="$WORK/$3.ready"
    "$py" "$HERE/big_heap.py" "$ready" "$mib" >"$WORK/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local waited=0
    while [ ! -e "$ready" ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "big_heap.py under $py died:"; cat "$WORK/$name.log" >&2; return 1
        fi
        sleep 0.2; waited=$((waited + 1))
        [ "$waited" -lt 3000 ] || { log "big_heap.py under $py: no ready file"; return 1; }
    done
    sleep 0.5  # let it reach its sleep
    echo "$pid"
}

stop_heap() {
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

make_core() {  # make_core PID PATH
    gdb -nx -batch -iex 'set debuginfod enabled off' -p "$1" -ex "gcore $2" >"$2.log" 2>&1 \
        || { log "gcore failed:"; tail -5 "$2.log" >&2; return 1; }
    [ -s "$2" ] || { log "gcore wrote nothing"; return 1; }
}

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

# wall_time TARGET_ARGS... -> "mean stddev" in seconds
wall_time() {
    local cmd
    cmd="$(printf '%q ' "$PYHEAP_BIN" fragmentation --json "$@") >/dev/null"
    if [ -z "${BENCH_NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null; then
        hyperfine --style none --warmup 1 --runs "$RUNS" --export-json "$WORK/hf.json" \
            "$cmd" >/dev/null 2>&1 || { echo "nan nan"; return; }
        "$SYSPY" -c 'import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("%.4f %.4f" % (r["mean"], r["stddev"] or 0))' "$WORK/hf.json"
    else
        local i t times=()
        bash -c "$cmd" || true  # warm-up
        for i in $(seq "$RUNS"); do
            t=$( { /usr/bin/time -f '%e' bash -c "$cmd" ; } 2>&1 | tail -1 )
            times+=("$t")
        done
        "$SYSPY" -c 'import statistics, sys
v = [float(x) for x in sys.argv[1:]]
print("%.4f %.4f" % (statistics.mean(v), statistics.pstdev(v)))' "${times[@]}"
    fi
}

peak_rss_kib() {  # peak_rss_kib TARGET_ARGS...
    /usr/bin/time -v "$PYHEAP_BIN" fragmentation --json "$@" >/dev/null 2>"$WORK/time.txt" || true
    awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$WORK/time.txt"
}

instructions() {  # instructions TARGET_ARGS...
    if ! command -v valgrind >/dev/null; then echo "n/a"; return; fi
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$PYHEAP_BIN" fragmentation --json "$@" >/dev/null 2>"$WORK/cg.txt" || true
    awk '/Collected :/ {print $NF}' "$WORK/cg.txt" | tail -1
}

mib() { "$SYSPY" -c "print('%.0f' % ($1 / 1048576))"; }

ROWS=()
for PY in $PYTHONS; do
    if [ ! -x "$PY" ]; then log "skipping $PY (not installed)"; continue; fi
    label="$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
    extra=()
    case "$PY" in /usr/bin/*) extra=(--debug-dir ""); label="$label-debian";; esac
    log "== $label: building a ${HEAP_MIB} MiB heap"
    pid="$(start_heap "$PY" "$HEAP_MIB" "big-$label")"
    core="$WORK/core.big.$label"
    t0=$(date +%s.%N)
    make_core "$pid" "$core"
    t1=$(date +%s.%N)
    core_bytes=$(stat -c %s "$core")
    log "   gcore: $(mib "$core_bytes") MiB in $("$SYSPY" -c "print('%.1f' % ($t1 - $t0))") s"
    "$PYHEAP_BIN" fragmentation --json "$core" "${extra[@]}" >"$WORK/rep.json" 2>"$WORK/rep.err" \
        || log "   (py-heap exit $?: $(tail -1 "$WORK/rep.err"))"
    heap=$(heap_bytes "$WORK/rep.json")
    for mode in core live; do
        if [ "$mode" = core ]; then target=("$core"); else target=(--pid "$pid"); fi
        read -r mean sd < <(wall_time "${target[@]}" "${extra[@]}")
        rss=$(peak_rss_kib "${target[@]}" "${extra[@]}")
        ROWS+=("$label|$mode|$heap|$core_bytes|$mean|$sd|$rss")
        log "   $mode: ${mean}s ± ${sd}s, peak RSS ${rss} KiB"
    done
    stop_heap "$pid"
    rm -f "$core" "$core.log"

    log "== $label: ${SMALL_MIB} MiB heap under callgrind"
    spid="$(start_heap "$PY" "$SMALL_MIB" "small-$label")"
    score="$WORK/core.small.$label"
    make_core "$spid" "$score"
    "$PYHEAP_BIN" fragmentation --json "$score" "${extra[@]}" >"$WORK/srep.json" 2>/dev/null || true
    sheap=$(heap_bytes "$WORK/srep.json")
    icore=$(instructions "$score" "${extra[@]}")
    ilive=$(instructions --pid "$spid" "${extra[@]}")
    ROWS+=("$label|callgrind|$sheap|$(stat -c %s "$score")|$icore|$ilive|")
    stop_heap "$spid"
    rm -f "$score" "$score.log"
done

"$SYSPY" - "$PYHEAP_BIN" "${ROWS[@]}" <<'EOF'
import sys
binary, rows = sys.argv[1], [r.split("|") for r in sys.argv[2:]]
MiB, GiB = 1 << 20, 1 << 30
print("py-heap fragmentation benchmark (%s)" % binary)
print("%-14s %-5s %9s %9s %14s %8s %10s %8s" % ("python", "target", "heap MiB", "core MiB",
                                               "wall s (sd)", "GiB/s", "peak RSS", "RSS/core"))
for label, mode, heap, core, a, b, rss in rows:
    if mode == "callgrind":
        continue
    heap, core = int(heap or 0), int(core or 0)
    try:
        mean, sd = float(a), float(b)
        rate = "%.2f" % (heap / GiB / mean) if mean > 0 else "n/a"
    except ValueError:
        mean, sd, rate = float("nan"), float("nan"), "n/a"
    rss_b = int(rss) * 1024 if rss else 0
    print("%-14s %-5s %9.0f %9.0f %8.3f (%.3f) %8s %7.1fM %7.2f%%" % (
        label, mode, heap / MiB, core / MiB, mean, sd, rate, rss_b / MiB,
        100.0 * rss_b / core if core else float("nan")))
print()
print("%-14s %9s %9s %16s %16s %12s" % ("python", "heap MiB", "core MiB", "instr (core)",
                                        "instr (live)", "instr/heap B"))
for label, mode, heap, core, icore, ilive, _ in rows:
    if mode != "callgrind":
        continue
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
