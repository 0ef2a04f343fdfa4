#!/usr/bin/env bash
# Benchmark of the "why is it alive" verbs on a big heap: reports numbers, asserts nothing.
#
#   tests/bench/bench_graph.sh      (env: PYHEAP_BIN, BENCH_OBJECTS=10000000,
#                                    BENCH_SMALL_OBJECTS=1000000, BENCH_PAYLOAD=600,
#                                    BENCH_PYTHONS="/usr/bin/python3.11 ...", BENCH_RUNS=1,
#                                    BENCH_NO_CALLGRIND=1, BENCH_LIVE=1: also --pid,
#                                    BENCH_DIR=/tmp)
#
# For each interpreter (default: Debian's python3.11, read as in production with
# --debug-dir ''), a generator (written below into the work directory) builds a heap of
# about BENCH_OBJECTS Python objects: 90 % in "items" (an instance with a name, a bytes
# payload of 1-2 x BENCH_PAYLOAD bytes, a float, a list of two tags, a dict holding an int,
# and a reference to a random earlier item, so that the dominator tree is not a plain
# tree), grouped in lists of 1000 in a module dict, and 10 % in a linked list of __slots__
# nodes (a path a million steps long). gdb's gcore dumps it (about 1.5 GiB with the
# defaults) and py-heap runs each step on the core, timed by hyperfine (BENCH_RUNS runs, no
# warm-up: the mean) with its peak RSS from /usr/bin/time -v (the largest of the runs):
#
#   heap        `types`            the objects table (allocators walked, objects classified)
#   graph       `referrers TAIL`   + the reference graph (CSR) and one scan of its edges
#   path        `path TAIL`        + reachability from the roots and the path of the last
#                                    node of the linked list
#   dominators  `retained`         + reachability, Lengauer-Tarjan dominators, retained sizes
#
# Each command builds what it needs from the core, so a step's own cost is the difference
# from the one before ("+" column). Then the same generator with BENCH_SMALL_OBJECTS
# (about a million) is dumped and `types`, `path TAIL` and `retained` run under valgrind
# --tool=callgrind: total instructions (Ir). The project's aims (reported, not asserted):
# graph + dominators <= 10 s, peak RSS under 30 % of the core's size. Installs what it needs
# first (scripts/setup.sh --bench); processes started here are killed (by PID) and the cores
# deleted at the end, also on error or Ctrl-C (lib.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
bench_init graph

OBJECTS="${BENCH_OBJECTS:-10000000}"
SMALL_OBJECTS="${BENCH_SMALL_OBJECTS:-1000000}"
PAYLOAD="${BENCH_PAYLOAD:-600}"
RUNS="${BENCH_RUNS:-1}"
WARMUP=0
PYTHONS="${BENCH_PYTHONS:-/usr/bin/python3.11}"

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

ROWS=()
for PY in $PYTHONS; do
    bench_python "$PY" "building $OBJECTS objects" || continue
    label="$BENCH_LABEL"
    bench_start "big-$label" 1200 "$PY" "$WORK/graph_heap.py" "$OBJECTS" "$PAYLOAD"
    pid="$BENCH_PID" ready="$BENCH_READY" built="$BENCH_BUILT_SECONDS"
    tail_addr="$(printf '0x%x' "$(bench_json "$ready" tail)")"
    core="$WORK/core.big.$label"
    bench_gcore "$pid" "$core"
    core_bytes="$BENCH_CORE_BYTES"
    bench_log "   $(bench_json "$ready" objects) GC objects ($(bench_json "$ready" items) items," \
        "$(bench_json "$ready" nodes) nodes) built in $built s;" \
        "core $(bench_human "$core_bytes") in $BENCH_GCORE_SECONDS s"
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
            name="$step-$mode-$label"
            bench_time --rss --out "$name" \
                "$PYHEAP_BIN" "${cmd[0]}" "${target[@]}" "${BENCH_EXTRA[@]}" "${cmd[@]:1}"
            bench_log "   $mode $step (${cmd[0]}): $(bench_summary "$name")"
            if [ "$step" = heap ]; then
                nobj="$(bench_json "$WORK/$name.out" totals objects 2>/dev/null || echo "?")"
            fi
            if [ "$step" = path ]; then
                plen="$("$SYSPY" -c 'import json, sys
p = json.load(open(sys.argv[1]))["paths"]
print(len(p[0]["expression"]) if p else 0)' "$WORK/$name.out" 2>/dev/null || echo "?")"
                bench_log "   path: ${plen} characters"
            fi
            ROWS+=("$label|$mode|$step|${cmd[0]}|$core_bytes|$nobj|$WORK/$name.json")
        done
    done
    bench_stop "$pid"
    rm -f "$core"

    if [ -z "${BENCH_NO_CALLGRIND:-}" ]; then
        bench_log "== $label: $SMALL_OBJECTS objects under callgrind"
        bench_start "small-$label" 1200 "$PY" "$WORK/graph_heap.py" "$SMALL_OBJECTS" "$PAYLOAD"
        spid="$BENCH_PID"
        stail="$(printf '0x%x' "$(bench_json "$BENCH_READY" tail)")"
        score="$WORK/core.small.$label"
        bench_gcore "$spid" "$score"
        bench_stop "$spid"
        for step in heap path dominators; do
            case $step in
                heap) cmd=(types --json) ;;
                path) cmd=(path "$stail" --json) ;;
                dominators) cmd=(retained --json) ;;
            esac
            ir="$(bench_instructions \
                "$PYHEAP_BIN" "${cmd[0]}" "$score" "${BENCH_EXTRA[@]}" "${cmd[@]:1}")"
            bench_log "   callgrind $step (${cmd[0]}): Ir $ir"
            ROWS+=("$label|callgrind|$step|${cmd[0]}|$BENCH_CORE_BYTES|$SMALL_OBJECTS|$ir")
        done
        rm -f "$score"
    fi
done

"$SYSPY" - "$PYHEAP_BIN" "${ROWS[@]}" <<'EOF'
import json
import sys
binary, rows = sys.argv[1], [r.split("|") for r in sys.argv[2:]]
MiB = 1 << 20
print("py-heap graph benchmark (%s)" % binary)
print("%-13s %-5s %-10s %-10s %9s %8s %7s %7s %7s %7s %8s %8s %4s" % (
    "python", "target", "step", "command", "objects", "core MiB", "wall s", "+wall", "cpu s",
    "+cpu", "peak MiB", "RSS/core", "exit"))
prev = {}
summary = {}
for label, mode, step, cmd, core, nobj, timing in rows:
    if mode == "callgrind":
        continue
    t = json.load(open(timing))
    wall, cpu, rss, rc = t["mean"], t["user"] + t["system"], t["rss_kib"], t["exit"]
    core = int(core)
    key = (label, mode)
    pw, pc = prev.get(key, (0.0, 0.0)) if step != "heap" else (0.0, 0.0)
    prev[key] = (wall, cpu)
    summary.setdefault(key, {})[step] = (wall, wall - pw, cpu, cpu - pc, rss * 1024, core)
    print("%-13s %-5s %-10s %-10s %9s %8.0f %7.2f %7.2f %7.2f %7.2f %8.0f %7.1f%% %4s" % (
        label, mode, step, cmd, nobj, core / MiB, wall, wall - pw, cpu, cpu - pc,
        rss / 1024.0, 100.0 * rss * 1024 / core if core else 0, rc))
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
