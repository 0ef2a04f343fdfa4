#!/usr/bin/env bash
# Benchmark of the "why is it alive" verbs on a big heap: reports numbers, asserts nothing.
#
#   tests/bench/bench_graph.sh      (env: PYHEAP_BIN, BENCH_OBJECTS=10000000,
#                                    BENCH_SMALL_OBJECTS=1000000, BENCH_PAYLOAD=600,
#                                    BENCH_PYTHONS="/usr/bin/python3.11 ...", BENCH_RUNS=1,
#                                    BENCH_NO_CALLGRIND=1, BENCH_LIVE=1: also --pid)
#
# For each interpreter (default: Debian's python3.11, read as in production with
# --debug-dir ''), a generator (written below into the work directory) builds a heap of
# about BENCH_OBJECTS Python objects: 90 % in "items" (an instance with a name, a bytes
# payload of 1-2 x BENCH_PAYLOAD bytes, a float, a list of two tags, a dict holding an int,
# and a reference to a random earlier item, so that the dominator tree is not a plain
# tree), grouped in lists of 1000 in a module dict, and 10 % in a linked list of __slots__
# nodes (a path a million steps long). gdb's gcore dumps it (about 1.5 GiB with the
# defaults) and py-heap runs each step on the core under /usr/bin/time -v:
#
#   heap        `types`            the objects table (allocators walked, objects classified)
#   graph       `referrers TAIL`   + the reference graph (CSR) and one scan of its edges
#   path        `path TAIL`        + reachability from the roots and the path of the last
#                                    node of the linked list
#   dominators  `retained`         + reachability, Lengauer-Tarjan dominators, retained sizes
#
# Each command builds what it needs from the core, so a step's own cost is the difference
# from the one before ("+" column). Then the same generator with BENCH_SMALL_OBJECTS
# (about a million) is dumped and `path TAIL` and `retained` run under valgrind
# --tool=callgrind: total instructions (Ir). The project's aims (reported, not asserted):
# graph + dominators <= 10 s, peak RSS under 30 % of the core's size. Processes started
# here are killed (by PID) and the cores deleted at the end, also on error or Ctrl-C.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE_DIR="$(cd "$HERE/../.." && pwd)"
PYHEAP_BIN="${PYHEAP_BIN:-$SOURCE_DIR/build/py-heap}"
[ -x "$PYHEAP_BIN" ] || PYHEAP_BIN=/work/main/build/py-heap
OBJECTS="${BENCH_OBJECTS:-10000000}"
SMALL_OBJECTS="${BENCH_SMALL_OBJECTS:-1000000}"
PAYLOAD="${BENCH_PAYLOAD:-600}"
RUNS="${BENCH_RUNS:-1}"
PYTHONS="${BENCH_PYTHONS:-/usr/bin/python3.11}"
SYSPY=/usr/bin/python3

WORK="$(mktemp -d /tmp/pyheap-bench-graph.XXXXXX)"
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"  # the cores are in here
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '%s\n' "$*" >&2; }

cat >"$WORK/graph_heap.py" <<'EOF'
"""A big reference graph: python graph_heap.py READY_PATH OBJECTS PAYLOAD (3.8-3.13)."""
import gc
gc.disable()
import json, os, random, sys, time


class Item:
    def __init__(self, i, payload, peer):
        self.name = "item-%d" % i
        self.payload = payload
        self.value = i + 0.5
        self.tags = ["tag-%d" % (i % 1000), "t%d" % i]
        self.meta = {"n": i + 1000}
        self.peer = peer


class Node:
    __slots__ = ("next",)

    def __init__(self, nxt):
        self.next = nxt


GROUPS = {}
head = None


def main():
    global head
    ready, total, payload = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(1)
    nodes = total // 10
    per_item = 9 if sys.version_info >= (3, 11) else 10  # + the instance __dict__
    items = (total - nodes) // per_item
    blob = os.urandom(2 * payload + 64)
    group, last = None, []
    for i in range(items):
        if i % 1000 == 0:
            group = GROUPS["g%d" % (i // 1000)] = []
        peer = last[rng.randrange(len(last))] if last else None
        n = payload + rng.randrange(payload)
        it = Item(i, blob[i % 64:i % 64 + n], peer)
        group.append(it)
        if i % 97 == 0:
            last.append(it)
    tail = node = Node(None)
    for _ in range(nodes - 1):
        node = Node(node)
    head = node
    node = None
    out = {"pid": os.getpid(), "objects": len(gc.get_objects()), "items": items,
           "nodes": nodes, "tail": id(tail)}
    del tail
    with open(ready + ".tmp", "w") as fh:
        json.dump(out, fh)
    os.replace(ready + ".tmp", ready)
    while True:
        time.sleep(86400)


main()
EOF

# start_heap PY OBJECTS NAME -> prints the PID once the ready file exists
start_heap() {
    local py="$1" n="$2" name="$3" ready="$WORK/$3.ready"
    "$py" "$WORK/graph_heap.py" "$ready" "$n" "$PAYLOAD" >"$WORK/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local waited=0
    while [ ! -e "$ready" ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "graph_heap.py under $py died:"; cat "$WORK/$name.log" >&2; return 1
        fi
        sleep 0.2; waited=$((waited + 1))
        [ "$waited" -lt 6000 ] || { log "graph_heap.py under $py: no ready file"; return 1; }
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

field() {  # field JSON_FILE KEY
    "$SYSPY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

less_wall() {  # less_wall "WALL ..." "WALL ..." -> True when the first is shorter
    "$SYSPY" -c 'import sys; print(float(sys.argv[1].split()[0]) < float(sys.argv[2].split()[0]))' \
        "$1" "$2"
}

secs() { "$SYSPY" -c "print('%.1f' % ($2 - $1))"; }  # secs START END

# measure NAME ARGS... -> "wall user sys rss_kib exit" of the best (least wall) of RUNS runs
measure() {
    local name="$1" best="" i line
    shift
    for i in $(seq "$RUNS"); do
        /usr/bin/time -v "$PYHEAP_BIN" "$@" >"$WORK/$name.out" 2>"$WORK/$name.time" \
            && rc=0 || rc=$?
        line="$(awk -F': ' '
            /Elapsed \(wall clock\)/ { n = split($2, p, ":"); w = 0
                                       for (k = 1; k <= n; k++) w = w * 60 + p[k] }
            /User time/ { u = $2 } /System time/ { s = $2 }
            /Maximum resident set size/ { r = $2 }
            END { printf "%.2f %.2f %.2f %d", w, u, s, r }' "$WORK/$name.time") $rc"
        if [ -z "$best" ] || [ "$(less_wall "$line" "$best")" = True ]; then
            best="$line"
        fi
    done
    echo "$best"
}

instructions() {  # instructions NAME ARGS... -> total Ir
    local name="$1"
    shift
    valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.cg" \
        "$PYHEAP_BIN" "$@" >/dev/null 2>"$WORK/$name.cgerr" || true
    awk '/Collected :/ {print $NF}' "$WORK/$name.cgerr" | tail -1
    rm -f "$WORK/$name.cg"
}

ROWS=()
for PY in $PYTHONS; do
    if [ ! -x "$PY" ]; then log "skipping $PY (not installed)"; continue; fi
    label="$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
    extra=()
    case "$PY" in /usr/bin/*) extra=(--debug-dir ""); label="$label-debian";; esac
    log "== $label: building $OBJECTS objects"
    t0=$(date +%s.%N)
    pid="$(start_heap "$PY" "$OBJECTS" "big-$label")"
    t1=$(date +%s.%N)
    ready="$WORK/big-$label.ready"
    tail_addr="$(printf '0x%x' "$(field "$ready" tail)")"
    core="$WORK/core.big.$label"
    make_core "$pid" "$core"
    t2=$(date +%s.%N)
    core_bytes=$(stat -c %s "$core")
    log "   $(field "$ready" objects) GC objects ($(field "$ready" items) items," \
        "$(field "$ready" nodes) nodes) built in $(secs "$t0" "$t1") s;" \
        "core $((core_bytes >> 20)) MiB in $(secs "$t1" "$t2") s"
    targets=(core)
    [ -n "${BENCH_LIVE:-}" ] && targets+=(live)
    for mode in "${targets[@]}"; do
        if [ "$mode" = core ]; then target=("$core"); else target=(--pid "$pid"); fi
        for step in heap graph path dominators; do
            case $step in
                heap) cmd=(types --json) ;;
                graph) cmd=(referrers "$tail_addr" --json) ;;
                path) cmd=(path "$tail_addr" --json) ;;
                dominators) cmd=(retained --json) ;;
            esac
            r="$(measure "$step" "${cmd[0]}" "${target[@]}" "${extra[@]}" "${cmd[@]:1}")"
            log "   $mode $step (${cmd[0]}): wall user sys rss_kib exit = $r"
            if [ "$step" = heap ]; then
                nobj="$("$SYSPY" -c 'import json, sys
print(json.load(open(sys.argv[1]))["totals"]["objects"])' "$WORK/heap.out" 2>/dev/null \
                       || echo "?")"
            fi
            if [ "$step" = path ]; then
                plen="$("$SYSPY" -c 'import json, sys
p = json.load(open(sys.argv[1]))["paths"]
print(len(p[0]["expression"]) if p else 0)' "$WORK/path.out" 2>/dev/null || echo "?")"
                log "   path: ${plen} characters"
            fi
            ROWS+=("$label|$mode|$step|${cmd[0]}|$core_bytes|$nobj|$r")
        done
    done
    stop_heap "$pid"
    rm -f "$core" "$core.log"

    if [ -z "${BENCH_NO_CALLGRIND:-}" ] && command -v valgrind >/dev/null; then
        log "== $label: $SMALL_OBJECTS objects under callgrind"
        spid="$(start_heap "$PY" "$SMALL_OBJECTS" "small-$label")"
        stail="$(printf '0x%x' "$(field "$WORK/small-$label.ready" tail)")"
        score="$WORK/core.small.$label"
        make_core "$spid" "$score"
        stop_heap "$spid"
        for step in heap path dominators; do
            case $step in
                heap) cmd=(types --json) ;;
                path) cmd=(path "$stail" --json) ;;
                dominators) cmd=(retained --json) ;;
            esac
            ir="$(instructions "cg-$step" "${cmd[0]}" "$score" "${extra[@]}" "${cmd[@]:1}")"
            log "   callgrind $step (${cmd[0]}): Ir $ir"
            ROWS+=("$label|callgrind|$step|${cmd[0]}|$(stat -c %s "$score")|$SMALL_OBJECTS|$ir")
        done
        rm -f "$score" "$score.log"
    fi
done

"$SYSPY" - "$PYHEAP_BIN" "${ROWS[@]}" <<'EOF'
import sys
binary, rows = sys.argv[1], [r.split("|") for r in sys.argv[2:]]
MiB = 1 << 20
print("py-heap graph benchmark (%s)" % binary)
print("%-13s %-5s %-10s %-10s %9s %8s %7s %7s %7s %7s %8s %8s %4s" % (
    "python", "target", "step", "command", "objects", "core MiB", "wall s", "+wall", "cpu s",
    "+cpu", "peak MiB", "RSS/core", "exit"))
prev = {}
summary = {}
for label, mode, step, cmd, core, nobj, r in rows:
    if mode == "callgrind":
        continue
    wall, user, sys_, rss, rc = r.split()
    wall, cpu, core = float(wall), float(user) + float(sys_), int(core)
    key = (label, mode)
    pw, pc = prev.get(key, (0.0, 0.0)) if step != "heap" else (0.0, 0.0)
    prev[key] = (wall, cpu)
    summary.setdefault(key, {})[step] = (wall, wall - pw, cpu, cpu - pc, int(rss) * 1024, core)
    print("%-13s %-5s %-10s %-10s %9s %8.0f %7.2f %7.2f %7.2f %7.2f %8.0f %7.1f%% %4s" % (
        label, mode, step, cmd, nobj, core / MiB, wall, wall - pw, cpu, cpu - pc,
        int(rss) / 1024.0, 100.0 * int(rss) * 1024 / core if core else 0, rc))
print("(each command rebuilds what it needs: +wall/+cpu is the step's own cost, the "
      "difference from the line above; cpu = user + system)")
print()
for (label, mode), s in summary.items():
    if not all(k in s for k in ("heap", "graph", "path", "dominators")):
        continue
    core = s["heap"][5]
    graph_dom_wall = s["graph"][1] + s["dominators"][1]
    graph_dom_cpu = s["graph"][3] + s["dominators"][3]
    peak = max(v[4] for v in s.values())
    print("%s %s: graph + dominators %.2f s wall, %.2f s cpu (aim <= 10 s: %s); whole "
          "`retained` (heap, graph, reachability, dominators) %.2f s wall; peak RSS %.0f MiB "
          "= %.1f%% of the %.0f MiB core (aim < 30%%: %s)" % (
              label, mode, graph_dom_wall, graph_dom_cpu,
              "met" if graph_dom_wall <= 10 else "NOT met", s["dominators"][0], peak / MiB,
              100.0 * peak / core, core / MiB, "met" if peak < 0.3 * core else "NOT met"))
cg = [r for r in rows if r[1] == "callgrind"]
if cg:
    print()
    print("%-13s %-10s %-10s %9s %8s %18s" % ("python", "step", "command", "objects",
                                             "core MiB", "instructions (Ir)"))
    for label, _mode, step, cmd, core, nobj, ir in cg:
        fmt = "{:,}".format(int(ir.replace(",", ""))) if ir.replace(",", "").isdigit() else "n/a"
        print("%-13s %-10s %-10s %9s %8.0f %18s" % (label, step, cmd, nobj,
                                                    int(core) / MiB, fmt))
print()
EOF
