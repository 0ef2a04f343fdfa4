"""Helpers for test_graph.py (the "why is it alive" verbs: referrers, path, retained,
unreachable) on top of pyheap_testlib (standard library only).

What is here:
  * GraphWorkload: fixtures/workloads/graph_workload.py under an interpreter, with the wait
    for its final sleep (the ground truth is written just before it);
  * Prepared: one workload, one gcore of it, and every py-heap query of the test run at
    once in lanes (live queries one after another, as only one tracer may stop the process;
    core queries and ASan queries beside them), results cached for the test methods;
  * run_asan(): the ASan build with a 1 MiB stack (RLIMIT_STACK set before exec);
  * *_problems(): comparisons of py-heap's JSON with the ground truth that return every
    difference as a readable string (empty list: all agree).
"""
import os
import re
import resource
import shutil
import threading
import time

import pyheap_testlib as T

GRAPH_WORKLOAD = os.path.join(T.FIXTURES, "workloads", "graph_workload.py")
ASAN_BIN = os.environ.get("PYHEAP_ASAN_BIN") or os.path.join(T.SOURCE_DIR, "build-asan",
                                                             "py-heap")
SMALL_STACK = 1024 * 1024  # bytes: `ulimit -s 1024`
WORKLOAD_TIMEOUT = 180  # seconds: 3.8 builds a million nodes and measures in rounds
ASAN_TIMEOUT = 300


def addr(i):
    return "0x%x" % i


class GraphWorkload(T.Workload):
    def __init__(self, interp):
        T.Workload.__init__(self, interp, script=GRAPH_WORKLOAD)

    settled_threads = 2  # main and graph-worker


def _small_stack_child():
    T._die_with_parent()
    resource.setrlimit(resource.RLIMIT_STACK, (SMALL_STACK, SMALL_STACK))


def run_asan(args, timeout=ASAN_TIMEOUT):
    """The ASan build of py-heap with a 1 MiB stack; a Result (never raises on exit status).
    ASan reports go to stderr with exit status 1 (leaks: 23)."""
    env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")}
    return T.run_process([ASAN_BIN] + list(args), timeout, env, "ASan py-heap",
                         preexec_fn=_small_stack_child)


def run_query(lane, args, attempts=4):
    """One py-heap run (the ASan build for lane "asan"). A binary that cannot be loaded
    (exit 127: the shared library is being relinked by a concurrent build of the tree) is
    run again a few seconds later; any other outcome is returned as it is."""
    for attempt in range(attempts):
        res = run_asan(args) if lane == "asan" else T.run_pyheap(args, timeout=300)
        if res.returncode != 127 or "error while loading shared libraries" not in res.stderr:
            break
        time.sleep(3)
    return res


class Prepared:
    """One interpreter's workload, its core and the results of every query.

    queries: {key: [verb, args...]} (the target is added); lanes: which targets run each
    query: "live" (--pid, one after another), "core" (the gcore) and "asan" (the ASan build
    on the core, 1 MiB stack). Results: self.results[(lane, key)] = Result."""

    def __init__(self, interp, workload=None):
        self.interp = interp
        self.workload = workload or GraphWorkload(interp).start(wait_for_ground_truth=False)
        self.core = None
        self.results = {}
        self.errors = []
        self.timings = {}

    @property
    def gt(self):
        return self.workload.gt

    def wait(self):
        t0 = time.monotonic()
        if self.workload.gt is None:
            self.workload.gt = self.workload.wait_for_ground_truth()
        self.timings["workload"] = time.monotonic() - t0
        t0 = time.monotonic()
        self.core = os.path.join(self.workload.workdir, "core.%d" % self.workload.pid)
        T.gcore(self.workload.pid, self.core)
        self.timings["gcore"] = time.monotonic() - t0
        return self

    def target_args(self, lane):
        if lane == "live":
            return ["--pid", str(self.workload.pid)] + T.pyheap_args(self.interp)
        return [self.core] + T.pyheap_args(self.interp)

    def run_lanes(self, plan):
        """plan: {lane: [(key, argv)]}: each lane runs its queries in order, in its own
        thread."""
        def lane_body(lane, jobs):
            t0 = time.monotonic()
            for key, argv in jobs:
                args = [argv[0]] + self.target_args(lane) + list(argv[1:])
                try:
                    res = run_query(lane, args)
                except Exception as e:  # a timeout: kept for the test that needs it
                    self.errors.append("%s %s: %s" % (lane, key, e))
                    continue
                self.results[(lane, key)] = res
            self.timings[lane] = time.monotonic() - t0

        threads = [threading.Thread(target=lane_body, args=(lane, jobs))
                   for lane, jobs in plan.items() if jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def close(self):
        self.workload.stop()
        if self.core and os.path.exists(self.core):
            os.unlink(self.core)
        shutil.rmtree(self.workload.workdir, ignore_errors=True)


# ---- comparisons -------------------------------------------------------------------------


def referrer_problems(obj, got, tracked_of):
    """Every difference between py-heap's `referrers --json` (got) and the ground truth of
    one object. Two views:
      * gc.get_referrers(): the GC-tracked referrers py-heap lists must be exactly the ones
        gc.get_referrers() returned (py-heap also lists roots and referrers that are not
        GC-tracked -- e.g. a 3.8-3.10 running frame --, which gc.get_referrers() cannot see);
      * the construction: every referrer, tracked or not, with its type and label, and the
        roots that refer to the object directly.
    tracked_of(address) says whether py-heap's `show` finds an unknown referrer GC-tracked."""
    bad = []
    if got.get("address") != addr(obj["id"]):
        bad.append("address %r, expected %s" % (got.get("address"), addr(obj["id"])))
    if got.get("type") != obj["type"]:
        bad.append("type %r, expected %r" % (got.get("type"), obj["type"]))
    refs = got.get("referrers") or []
    objs = {}
    roots = []
    for r in refs:
        if r.get("root"):
            roots.append(r.get("how"))
        else:
            objs[int(r["address"], 16)] = r
    # View 1: gc.get_referrers().
    want_gc = {i: t for i, t in obj["gc_referrers"]}
    construction = {int(k): v for k, v in obj["referrers"].items()}
    for i, t in sorted(want_gc.items()):
        if i not in objs:
            bad.append("gc.get_referrers() returns %s %s, py-heap does not list it"
                       % (t, addr(i)))
        elif objs[i].get("type") != t:
            bad.append("referrer %s: py-heap says type %r, gc.get_referrers() %r"
                       % (addr(i), objs[i].get("type"), t))
    for i, r in sorted(objs.items()):
        if i in want_gc:
            continue
        if i in construction and not construction[i][2]:
            continue  # not GC-tracked (in-process gc.is_tracked): gc cannot see it
        if tracked_of(i):
            bad.append("py-heap lists the GC-tracked referrer %s %s (via %r), which "
                       "gc.get_referrers() did not return" % (r.get("type"), addr(i),
                                                              r.get("how")))
    # View 2: the construction, with labels.
    for i, (t, how, _tracked) in sorted(construction.items()):
        r = objs.get(i)
        if r is None:
            if i not in want_gc:  # else already reported
                bad.append("referrer %s %s (via %r) missing" % (t, addr(i), how))
            continue
        if r.get("type") != t:
            bad.append("referrer %s: type %r, expected %r" % (addr(i), r.get("type"), t))
        if r.get("how") != how:
            bad.append("referrer %s %s: how %r, expected %r" % (t, addr(i), r.get("how"), how))
        if r.get("conservative"):
            bad.append("referrer %s %s: marked conservative" % (t, addr(i)))
    for i in sorted(set(objs) - set(construction) - set(want_gc)):
        r = objs[i]
        bad.append("unexpected referrer %s %s via %r (nothing else refers to the object by "
                   "construction)" % (r.get("type"), addr(i), r.get("how")))
    if sorted(roots) != sorted(obj["roots"]):
        bad.append("root referrers %r, expected %r" % (sorted(roots), sorted(obj["roots"])))
    return bad


LONG_PATH = re.compile(r"^(?P<head>.*?) \.\.\.\((?P<n>\d+) steps\)\.\.\. (?P<tail>.*)$")


def long_path_problems(expression, long_path):
    """A path of prefix + step * steps, shortened in the middle by py-heap as
    "HEAD ...(N steps)... TAIL": HEAD must be prefix followed by steps, TAIL steps only,
    and the steps shown plus N must be the steps that are there."""
    prefix, step, steps = long_path["prefix"], long_path["step"], long_path["steps"]
    full = prefix + step * steps
    if expression == full:
        return []
    m = LONG_PATH.match(expression or "")
    if not m:
        return ["path %r... is neither %r... nor shortened as 'HEAD ...(N steps)... TAIL'"
                % ((expression or "")[:200], full[:200])]
    head, tail, n = m.group("head"), m.group("tail"), int(m.group("n"))
    bad = []
    if not head.startswith(prefix):
        bad.append("shortened path starts with %r, expected %r" % (head[:120], prefix))
        return bad
    head_steps = head[len(prefix):]
    for part, name in ((head_steps, "head"), (tail, "tail")):
        if part.replace(step, ""):
            bad.append("the %s of the shortened path is not made of %r steps: %r..."
                       % (name, step, part[:120]))
    if bad:
        return bad
    shown = len(head_steps) // len(step) + len(tail) // len(step)
    if shown + n != steps:
        bad.append("shortened path: %d steps shown + %d elided = %d, but the object is %d "
                   "%r steps from %s" % (shown, n, shown + n, steps, step, prefix))
    return bad


def path_problems(obj, got):
    """`path ADDR --json` against an object's ground truth (exact path, long path, or no
    root at all)."""
    bad = []
    paths = got.get("paths") or []
    if got.get("objects") != 1:
        bad.append("objects %r, expected 1" % got.get("objects"))
    if obj.get("long_path"):
        if len(paths) != 1:
            return bad + ["%d paths, expected 1 (one referrer): %r" % (
                len(paths), [p.get("expression", "")[:200] for p in paths])]
        bad += long_path_problems(paths[0].get("expression"), obj["long_path"])
    elif obj["path"] is None:
        if got.get("unreachable") != 1:
            bad.append("unreachable %r, expected 1 (no root reaches it)"
                       % got.get("unreachable"))
        if paths:
            bad.append("paths %r, expected none" % [p.get("expression") for p in paths])
        return bad
    else:
        exprs = [p.get("expression") for p in paths]
        if exprs != [obj["path"]]:
            bad.append("paths %r, expected [%r]" % (exprs, obj["path"]))
    if got.get("unreachable") != 0:
        bad.append("unreachable %r, expected 0" % got.get("unreachable"))
    for p in paths:
        if p.get("count") != 1 or p.get("example") != addr(obj["id"]):
            bad.append("path count/example %r/%r, expected 1/%s" % (
                p.get("count"), p.get("example"), addr(obj["id"])))
    return bad


def type_path_problems(name, want, got):
    """`path --type NAME --json` against the ground truth's types[NAME]."""
    bad = []
    if got.get("objects") != want["objects"]:
        bad.append("objects %r, expected %r" % (got.get("objects"), want["objects"]))
    if got.get("unreachable") != want["unreachable"]:
        bad.append("unreachable %r, expected %r" % (got.get("unreachable"), want["unreachable"]))
    paths = [[p.get("expression"), p.get("count")] for p in got.get("paths") or []]
    if paths != want["paths"]:
        bad.append("paths %r, expected %r" % (paths, want["paths"]))
    return bad


def unreachable_problems(want, got):
    """`unreachable --json`: the entries of the ground truth's types, exactly."""
    bad = []
    by_name = {t.get("name"): t for t in got.get("types") or []}
    for name, w in sorted(want.items()):
        t = by_name.get(name)
        if t is None:
            bad.append("%s: not listed (expected %d objects)" % (name, w["count"]))
            continue
        for key in ("count", "size", "native_refs", "garbage", "immortal"):
            if t.get(key) != w[key]:
                bad.append("%s.%s: py-heap says %r, the workload %r" % (name, key, t.get(key),
                                                                         w[key]))
    return bad


def retained_problems(gt, got, limit):
    """`retained --json`: the vault's retained size and count equal the in-process sum over
    its private subtree; the linked list's head retains every node; per-type entries."""
    bad = []
    by_addr = {r.get("address"): r for r in got.get("retainers") or []}
    types = {t.get("name"): t for t in got.get("types") or []}
    vault = gt["vault"]
    lst = gt["linked_list"]
    for what, a, size, count, path in (
            ("vault", addr(vault["id"]), vault["retained_size"], vault["retained_count"],
             "sys.modules['graph_app'].VAULT"),
            ("linked list head", addr(lst["head_id"]), lst["retained_size"],
             lst["retained_count"], "sys.modules['__main__'].head")):
        r = by_addr.get(a)
        if r is None:
            bad.append("%s %s: not among the %d largest retainers" % (what, a, limit))
            continue
        if r.get("retained_size") != size:
            bad.append("%s retained_size: py-heap says %r, in-process sum %r (difference %+d)"
                       % (what, r.get("retained_size"), size,
                          (r.get("retained_size") or 0) - size))
        if r.get("retained_count") != count:
            bad.append("%s retained_count: py-heap says %r, in-process %r (difference %+d)"
                       % (what, r.get("retained_count"), count,
                          (r.get("retained_count") or 0) - count))
        if r.get("path") != path:
            bad.append("%s path %r, expected %r" % (what, r.get("path"), path))
    for name, size, count, instances in (
            ("graph_app.Vault", vault["retained_size"], vault["retained_count"], 1),
            ("__main__.Node", lst["retained_size"], lst["retained_count"], lst["length"])):
        t = types.get(name)
        if t is None:
            bad.append("type %s: not among the %d types listed" % (name, limit))
            continue
        want = {"retained_size": size, "retained_count": count, "instances": instances}
        for key, value in sorted(want.items()):
            if t.get(key) != value:
                bad.append("type %s %s: py-heap says %r, expected %r" % (name, key, t.get(key),
                                                                        value))
    return bad


def envelope_free(doc):
    """A py-heap JSON document without what names the target (live/core differ there)."""
    doc = dict(doc)
    for key in ("target", "partial", "warnings", "pyheap_version"):
        doc.pop(key, None)
    return doc
