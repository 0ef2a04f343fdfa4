"""Is it growing? trend's verdicts on four real processes per interpreter, each doing one
thing a person asks that about (fixtures/workloads/memory_kinds.py), read live every
fraction of a second over eight ticks:

    kind     class                    verdict wanted
    leak     __main__.LeakRecord      growing     (+1,500 a tick, never freed)
    lru      __main__.CacheValue      plateau     (lru_cache(maxsize=400): 250, 400, 400, ...)
    spiky    __main__.BatchItem       transient   (3,000 held at tick 4 only)
    cycles   __main__.Node            gc_backlog  (reference cycles, the collector disabled)

and for the cycles: the GC backlog of the last snapshot -- its bytes and objects, and per
type -- equals what gc.collect() then frees in the process (measured there: DEBUG_SAVEALL
keeps what it would free in gc.garbage; sys.getsizeof summed); `summary` says it in one line,
`gc` shows the collector disabled and each generation's threshold as gc.get_threshold() has
them. The counts of each class in each snapshot equal the process's own.

Run from this folder:

    PYHEAP_BIN=../../build/py-heap python3 -m unittest -v test_verdicts
"""
import json
import os
import subprocess
import time
import unittest

import growth_testlib as G
import pyheap_testlib as T

MEMORY_KINDS = os.path.join(T.FIXTURES, "workloads", "memory_kinds.py")
KINDS = {  # kind -> (class, verdict)
    "leak": ("__main__.LeakRecord", "growing"),
    "lru": ("__main__.CacheValue", "plateau"),
    "spiky": ("__main__.BatchItem", "transient"),
    "cycles": ("__main__.Node", "gc_backlog"),
}
TICKS = 7  # snapshots after start-up and after ticks 1..7: eight


class KindService(G.GrowthService):
    """memory_kinds.py KIND, driven like the growth service (command, ground truth, idle)."""

    def __init__(self, interp, kind):
        super().__init__(interp)
        self.kind = kind

    def start(self, wait=True):
        # a chroot interpreter's process runs in its chroot (the temporary directory and the
        # source tree are visible there at their own paths)
        argv = self.interp.command([self.interp.path, MEMORY_KINDS, self.dir, self.kind])
        with open(self.log_path, "wb") as log:
            self.proc = T.start_process(argv, stdin=subprocess.PIPE, stdout=log,
                                        stderr=subprocess.STDOUT,
                                        **self.interp.popen_kw(cwd=self.dir))
        if wait:
            self.wait_truth(0)
        return self

    def collect(self):
        self.send("collect")
        return self.wait_truth("collect")


class VerdictBase(unittest.TestCase):
    grun = None
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        T.require_run(cls.grun)
        cls.args = cls.grun.args
        cls.services = {k: KindService(cls.grun.interp, k).start(wait=False) for k in KINDS}
        cls.truth = {k: [] for k in KINDS}
        cls.snaps = {k: [] for k in KINDS}
        try:
            for k, s in cls.services.items():
                cls.truth[k].append(s.wait_truth(0))
            for tick in range(TICKS + 1):
                if tick:
                    for k, s in cls.services.items():
                        cls.truth[k].append(s.tick())
                for k, s in cls.services.items():
                    path = os.path.join(s.dir, "s%d.json" % tick)
                    G.pyheap_ok(["snapshot", "--pid", str(s.pid), "-o", path] + cls.args)
                    cls.snaps[k].append(path)
                time.sleep(0.3)
            cls.trend = {k: G.pyheap_json(["trend"] + cls.snaps[k] + cls.args) for k in KINDS}
            cyc = cls.services["cycles"]
            cls.gc_report = G.pyheap_json(["gc", "--pid", str(cyc.pid)] + cls.args)
            cls.summary = G.pyheap_json(["summary", "--pid", str(cyc.pid)] + cls.args)
            cls.summary_text = G.pyheap_ok(["summary", "--pid", str(cyc.pid)] + cls.args).stdout
            cls.collected = cyc.collect()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for s in getattr(cls, "services", {}).values():
            s.stop()

    def row(self, kind, name):
        rows = G.rows_by_name(self.trend[kind]["types"])
        self.assertIn(name, rows, "%s: trend has no row for %s" % (kind, name))
        return rows[name]

    def test_verdicts(self):
        for kind, (name, verdict) in KINDS.items():
            with self.subTest(kind=kind):
                row = self.row(kind, name)
                self.assertEqual(row["class"], verdict, "%s: %s" % (kind, json.dumps(row)))
                self.assertTrue(row["reason"])

    def test_counts_are_the_process_own(self):
        for kind, (name, _verdict) in KINDS.items():
            if kind == "cycles":
                continue  # garbage: the process cannot count what it no longer reaches
            with self.subTest(kind=kind):
                want = [t["counts"][name] for t in self.truth[kind]]
                rows = G.rows_by_name(self.trend[kind]["types"])
                got = rows[name]["counts"] if name in rows else [0] * len(want)
                self.assertEqual(got, want)

    def test_backlog_equals_what_collect_frees(self):
        freed = self.collected
        last = self.trend["cycles"]["gc_backlog"][-1]
        self.assertEqual((last["objects"], last["bytes"]), (freed["objects"], freed["bytes"]),
                         "py-heap's backlog vs gc.collect()'s: %r" % freed["types"])
        self.assertFalse(last["enabled"])
        # per type, in the `gc` report taken just before the collection
        got = {t["name"]: [t["count"], t["bytes"]] for t in self.gc_report["gc"]["garbage"]["types"]}
        self.assertEqual(got, freed["types"])
        self.assertEqual(self.gc_report["gc"]["garbage"]["bytes"], freed["bytes"])
        # the Node row: its garbage is its size
        row = self.row("cycles", "__main__.Node")
        self.assertEqual(row["garbage_sizes"][-1], freed["types"]["__main__.Node"][1])

    def test_gc_state(self):
        gc_view = self.gc_report["gc"]
        self.assertTrue(gc_view["known"])
        truth = self.truth["cycles"][-1]
        self.assertFalse(truth["enabled"])
        self.assertEqual(gc_view["enabled"], truth["enabled"])
        self.assertEqual([g["threshold"] for g in gc_view["generations"]], truth["threshold"])
        for kind in ("leak", "lru", "spiky"):  # enabled there: each snapshot says so
            with self.subTest(kind=kind):
                self.assertEqual([b["enabled"] for b in self.trend[kind]["gc_backlog"]],
                                 [True] * (TICKS + 1))

    def test_summary_says_it(self):
        self.assertIsNotNone(self.summary["gc_backlog"])
        self.assertIn("of cyclic garbage", self.summary["gc_backlog"])
        self.assertIn("the collector is disabled", self.summary["gc_backlog"])
        self.assertIn("GC backlog: ", self.summary_text)
        self.assertEqual(self.summary["gc"]["garbage"]["bytes"], self.collected["bytes"])

    def test_no_backlog_elsewhere(self):
        for kind in ("leak", "lru", "spiky"):
            with self.subTest(kind=kind):
                classes = {r["class"] for r in self.trend[kind]["types"]}
                self.assertNotIn("gc_backlog", classes)


T.register_cases(globals(), VerdictBase, "TestVerdicts_", G.growth_runs(), "grun",
                 "trend verdicts and the GC backlog on %s")
