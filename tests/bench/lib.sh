# shellcheck shell=bash disable=SC2034  # the BENCH_* globals are for the scripts
# What the bench_*.sh scripts share. Sourced, after `set -euo pipefail`:
#
#   . "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
#   bench_init NAME
#
# bench_init installs what is missing (scripts/setup.sh --bench: hyperfine, time, valgrind,
# gdb; it also builds build/ unless PYHEAP_BIN is given), then sets
#   HERE        tests/bench
#   ROOT        the source tree
#   PYHEAP_BIN  the py-heap measured (default: ROOT/build/py-heap)
#   SYSPY       the Python that runs the helpers (/usr/bin/python3)
#   WORK        a new directory under BENCH_DIR (default /tmp): workloads, cores, outputs
# and traps EXIT, INT and TERM: bench_cleanup kills (SIGKILL, by PID) every process that
# bench_start started and removes WORK with the cores in it, also on error or Ctrl-C.
#
# The other functions:
#   bench_log MSG...                  a line on stderr (stdout is the report)
#   bench_python PY [WHAT]            BENCH_LABEL ("3.11.2-debian") and BENCH_EXTRA (py-heap
#                                     options: --debug-dir '' for Debian's stripped build, the
#                                     production case), logs "== LABEL: WHAT"; when PY is not
#                                     installed logs "skipping PY" and returns 1
#   bench_start NAME CAP PY SCRIPT ARGS...
#                                     starts the workload `PY SCRIPT READY ARGS...` (output in
#                                     WORK/NAME.log) and waits at most CAP seconds for it to
#                                     write its JSON report to READY = WORK/NAME.json (it does so
#                                     atomically when built, then sleeps); sets BENCH_PID,
#                                     BENCH_READY and BENCH_BUILT_SECONDS. Not in $(...): the PID
#                                     must reach bench_cleanup
#   bench_stop PID                    kills it (SIGKILL) and reaps it
#   bench_gcore PID PATH              a core of PID with gdb's gcore; sets BENCH_GCORE_SECONDS
#                                     and BENCH_CORE_BYTES
#   bench_time [--rss] [--out] NAME CMD...
#                                     hyperfine: WARMUP (default 1) warm-up runs and RUNS runs
#                                     of CMD; writes WORK/NAME.json {mean, stddev, min, max,
#                                     user, system, runs, exit, rss_kib}, the last run's stderr
#                                     in WORK/NAME.err, and with --out its stdout in
#                                     WORK/NAME.out (else /dev/null). With --rss each run is
#                                     under /usr/bin/time -v and rss_kib is the largest
#                                     "Maximum resident set size" of the runs (else 0)
#   bench_summary NAME                one line of WORK/NAME.json: mean ± stddev, cpu, peak RSS
#   bench_instructions CMD...         instructions CMD executes (callgrind's Ir), or "n/a"
#   bench_json FILE KEY...            a value from a JSON file, by keys (or list indexes)
#   bench_now / bench_secs T0 T1      a timestamp / seconds between two, "%.1f"
#   bench_human BYTES                 "1.52 GiB", "100 MiB", "12 KiB", "512 B"

bench_log() { printf '%s\n' "$*" >&2; }

bench_init() {
    local name="$1" setup_args=(--bench)
    HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    ROOT="$(cd "$HERE/../.." && pwd)"
    SYSPY=/usr/bin/python3
    [ -n "${PYHEAP_BIN:-}" ] && setup_args+=(--no-build)
    PYHEAP_BIN="${PYHEAP_BIN:-$ROOT/build/py-heap}"
    BENCH_PIDS=()
    mkdir -p "${BENCH_DIR:-/tmp}"
    WORK="$(mktemp -d "${BENCH_DIR:-/tmp}/pyheap-bench-$name.XXXXXX")"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if ! "$ROOT/scripts/setup.sh" "${setup_args[@]}" >"$WORK/setup.log" 2>&1; then
        bench_log "$name: scripts/setup.sh ${setup_args[*]} failed:"
        tail -20 "$WORK/setup.log" >&2
        exit 2
    fi
    [ -x "$PYHEAP_BIN" ] || { bench_log "$name: $PYHEAP_BIN is not built"; exit 2; }
}

bench_cleanup() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    BENCH_PIDS=()
    [ -z "${WORK:-}" ] || rm -rf "$WORK"
}

# The interpreter given (bench_python then says if it is missing), else the one the
# single-interpreter benchmarks default to: pyenv's 3.12, else Debian's python3.11, else python3.
bench_default_python() {
    local p
    [ -z "$1" ] || { echo "$1"; return; }
    for p in /root/.pyenv/versions/3.12.1/bin/python3.12 /usr/bin/python3.11; do
        if command -v "$p" >/dev/null 2>&1; then echo "$p"; return; fi
    done
    echo python3
}

bench_python() {
    local py="$1"
    command -v "$py" >/dev/null 2>&1 || { bench_log "skipping $py (not installed)"; return 1; }
    BENCH_LABEL="$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
    BENCH_EXTRA=()
    case "$(readlink -f "$(command -v "$py")")" in
        /usr/bin/*) BENCH_EXTRA=(--debug-dir ""); BENCH_LABEL="$BENCH_LABEL-debian" ;;
    esac
    [ -z "${2:-}" ] || bench_log "== $BENCH_LABEL: $2"
}

bench_start() {
    local name="$1" cap="$2" py="$3" script="$4" ready="$WORK/$1.json" waited=0 t0
    shift 4
    t0="$(bench_now)"
    "$py" "$script" "$ready" "$@" >"$WORK/$name.log" 2>&1 &
    BENCH_PID=$!
    BENCH_READY="$ready"
    BENCH_PIDS+=("$BENCH_PID")
    while [ ! -e "$ready" ]; do
        if ! kill -0 "$BENCH_PID" 2>/dev/null; then
            bench_log "$name: the workload died:"; cat "$WORK/$name.log" >&2; return 1
        fi
        sleep 0.2; waited=$((waited + 1))
        [ "$waited" -lt $((cap * 5)) ] || { bench_log "$name: not ready after $cap s"; return 1; }
    done
    BENCH_BUILT_SECONDS="$(bench_secs "$t0" "$(bench_now)")"
    sleep 0.5  # let it reach its sleep
}

bench_stop() {
    local pid="$1" p keep=()
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${BENCH_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    BENCH_PIDS=("${keep[@]}")
}

bench_gcore() {
    local pid="$1" core="$2" t0
    t0="$(bench_now)"
    gdb -nx -batch -iex 'set debuginfod enabled off' -p "$pid" -ex "gcore $core" \
        >"$core.log" 2>&1 || { bench_log "gcore failed:"; tail -5 "$core.log" >&2; return 1; }
    [ -s "$core" ] || { bench_log "gcore wrote nothing"; return 1; }
    BENCH_GCORE_SECONDS="$(bench_secs "$t0" "$(bench_now)")"
    BENCH_CORE_BYTES="$(stat -c %s "$core")"
    rm -f "$core.log"
}

bench_time() {
    local rss=0 out=/dev/null name cmd
    while :; do
        case "$1" in
            --rss) rss=1 ;;
            --out) out=out ;;
            *) break ;;
        esac
        shift
    done
    name="$1"
    shift
    [ "$out" = /dev/null ] || out="$WORK/$name.out"
    rm -f "$WORK/$name.time"
    cmd="$(printf '%q ' "$@")"
    [ "$rss" = 1 ] && cmd="/usr/bin/time -v -a -o $(printf '%q' "$WORK/$name.time") $cmd"
    cmd="$cmd>$(printf '%q' "$out") 2>$(printf '%q' "$WORK/$name.err")"
    hyperfine --shell bash --style none --ignore-failure --warmup "${WARMUP:-1}" \
        --runs "${RUNS:-1}" --export-json "$WORK/$name.hf.json" -- "$cmd" \
        >/dev/null 2>"$WORK/$name.hf.log" ||
        { bench_log "$name: hyperfine failed:"; cat "$WORK/$name.hf.log" >&2; return 1; }
    "$SYSPY" - "$WORK/$name" <<'EOF'
import json, os, re, sys
base = sys.argv[1]
r = json.load(open(base + ".hf.json"))["results"][0]
rss = 0
if os.path.exists(base + ".time"):
    rss = max([int(v) for v in re.findall(r"Maximum resident set size \(kbytes\): (\d+)",
                                           open(base + ".time").read())] or [0])
# the first failure's exit status (-1: killed by a signal), else 0
rc = next((c for c in r.get("exit_codes") or [] if c != 0), 0)
json.dump({"mean": r["mean"], "stddev": r["stddev"] or 0.0, "min": r["min"], "max": r["max"],
           "user": r["user"], "system": r["system"], "runs": len(r["times"]),
           "exit": -1 if rc is None else rc, "rss_kib": rss}, open(base + ".json", "w"))
EOF
    local rc
    rc="$(bench_json "$WORK/$name.json" exit)"
    [ "$rc" = 0 ] || bench_log "$name: exit $rc: $(tail -1 "$WORK/$name.err")"
}

bench_summary() {
    "$SYSPY" -c 'import json, sys
t = json.load(open(sys.argv[1]))
print("%.4f s ± %.4f s (%d runs; user %.2f s, sys %.2f s), peak RSS %d KiB, exit %d" % (
    t["mean"], t["stddev"], t["runs"], t["user"], t["system"], t["rss_kib"], t["exit"]))' \
        "$WORK/$1.json"
}

bench_instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" >/dev/null \
        2>"$WORK/callgrind.log" || true
    awk '/Collected :/ { n = $NF } END { print (n == "" ? "n/a" : n) }' "$WORK/callgrind.log"
}

bench_json() {
    "$SYSPY" -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$@"
}

bench_now() { date +%s.%N; }

bench_secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f\n", b - a }'; }

bench_human() {
    awk -v n="$1" 'BEGIN {
        if (n >= 2^30) printf "%.2f GiB\n", n / 2^30
        else if (n >= 2^20) printf "%.0f MiB\n", n / 2^20
        else if (n >= 2^10) printf "%.0f KiB\n", n / 2^10
        else printf "%d B\n", n }'
}
