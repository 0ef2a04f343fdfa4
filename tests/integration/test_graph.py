"""The "why is it alive" verbs -- `referrers`, `path`, `retained`, `unreachable` -- on every
interpreter of the machine, live (--pid) and on a gcore, against the ground truth that
fixtures/workloads/graph_workload.py writes about itself (chains known by construction,
gc.get_referrers() measured, the retained size of a private container summed in-process,
objects leaked with Py_IncRef and garbage cycles with their reference counts).

One workload and one core per interpreter (a TestCase class per interpreter; the next
interpreter's workload starts while the current one is queried). Every query runs once,
in setUpClass, in three lanes side by side: the live process (one query after another:
only one tracer can stop it), the core, and the ASan build on the core with a 1 MiB stack
(`ulimit -s 1024`: no recursion may grow with a million-node linked list). The test
methods compare the cached results.

What runs where: a query reads the whole 1.1-million-object heap (about 1.2 s on a core,
1.5 s live, on this 2-core machine), so to stay within about four minutes the core gets
one query of each kind of reference (referrers and path of a list item, an instance
attribute, a dict value, a closure cell, a class attribute, a frame local, a __slots__
member, garbage; path --type of a class held in two places, of the linked list, of the
thread's rows; retained; unreachable) and the live process a subset covering every check
(an attribute, a frame local, the long list, retained, unreachable); the ASan build runs on
3.13. PYHEAP_GRAPH_FULL=1 runs every query on every target and ASan on every
interpreter. Queries that ran live and on the core must print the same JSON (apart from the
target's description). PYHEAP_GRAPH_TIMINGS=1 prints each interpreter's lane times.

Every difference found is py-heap's unless the workload's self-checks say otherwise (it
refuses to write a ground truth whose construction and in-process measurement disagree).
"""
import os
import sys
import unittest

import graph_testlib as G
import pyheap_testlib as T

OBJECTS = ["user", "user_session", "request", "request_session", "secret", "setting", "vault",
           "rows", "row", "middle", "tail", "garbage", "leaked", "arg"]
TYPES = ["graph_app.User", "graph_app.Request", "graph_app.Session", "__main__.Node",
         "__main__.Row", "graph_app.GarbageNode", "graph_app.LeakedByIncRef",
         "graph_app.Vault"]
THREAD_OBJECTS = ["rows", "row"]
MAIN_OBJECTS = ["arg"]  # held by frames of the main thread: referrers only, no single path
LIST_OBJECTS = ["middle", "tail"]
RETAINED_LIMIT = 40
FULL = os.environ.get("PYHEAP_GRAPH_FULL") == "1"

# What runs where (see the module's docstring). One of each kind of reference: a list item
# (row), an instance attribute (user_session: a __dict__ on 3.8-3.10, inline values on
# 3.11+), a dict value under a non-identifier key (request), a closure cell (secret), a
# class attribute (setting), a frame local (rows), a __slots__ member (tail), garbage. The
# objects left out are built like one that is in (user ~ row, request_session ~
# user_session, middle ~ tail, vault ~ request; leaked: `unreachable` and --type).
CORE_REFERRERS = ["user_session", "request", "secret", "rows", "row", "tail", "garbage", "arg"]
CORE_PATHS = ["user_session", "request_session", "secret", "setting", "row", "tail",
              "garbage"]
CORE_TYPES = ["graph_app.Session", "__main__.Node", "__main__.Row"]
LIVE_REFERRERS = ["user_session", "rows", "tail"]
LIVE_PATHS = ["request_session", "row", "tail"]
LIVE_TYPES = ["__main__.Node"]
# The ASan runs prove that nothing recurses with the data; the graph algorithms do not
# depend on the version, so one interpreter (the newest) suffices.
ASAN_INTERPRETERS = ["3.13"]
if FULL:
    CORE_REFERRERS = LIVE_REFERRERS = OBJECTS
    CORE_PATHS = LIVE_PATHS = [o for o in OBJECTS if o not in MAIN_OBJECTS]
    CORE_TYPES = LIVE_TYPES = TYPES
    ASAN_INTERPRETERS = [i.label for i in T.INTERPRETERS]


def setUpModule():
    T.require_pyheap()


def tearDownModule():
    T.cleanup_all()


def plan_for(interp, gt):
    """{lane: [(key, argv)]} for one interpreter."""
    def obj_queries(names, verb):
        return [((verb, n), [verb, G.addr(gt["objects"][n]["id"]), "--json"]) for n in names]

    def type_queries(names):
        return [(("type", n), ["path", "--type", n, "--json"]) for n in names]

    common = [(("retained",), ["retained", "--limit", str(RETAINED_LIMIT), "--json"]),
              (("unreachable",), ["unreachable", "--json"])]
    core = (obj_queries(CORE_REFERRERS, "referrers") + obj_queries(CORE_PATHS, "path") +
            type_queries(CORE_TYPES) + common)
    live = (obj_queries(LIVE_REFERRERS, "referrers") + obj_queries(LIVE_PATHS, "path") +
            type_queries(LIVE_TYPES) + common)
    tail = G.addr(gt["objects"]["tail"]["id"])
    asan = []
    if os.path.exists(G.ASAN_BIN) and interp.label in ASAN_INTERPRETERS:
        asan = [(("path", "tail"), ["path", tail, "--json"]),
                (("type", "__main__.Node"), ["path", "--type", "__main__.Node", "--json"]),
                (("retained",), ["retained", "--limit", str(RETAINED_LIMIT), "--json"])]
    return {"live": live, "core": core, "asan": asan}


_pending = {}  # interpreter label -> Prepared whose workload was started ahead of time


def available_interpreters():
    return [i for i in T.INTERPRETERS if i.available]


class GraphBase(unittest.TestCase):
    """Subclassed once per interpreter (INTERP)."""
    INTERP = None
    maxDiff = None
    prepared = None

    @classmethod
    def setUpClass(cls):
        interp = cls.INTERP
        T.require_interpreter(interp)
        prepared = _pending.pop(interp.label, None) or G.Prepared(interp)
        # Start the next interpreter's workload now: it builds its million nodes and
        # measures itself while this one is queried.
        avail = available_interpreters()
        k = [i.label for i in avail].index(interp.label)
        if k + 1 < len(avail) and avail[k + 1].label not in _pending:
            _pending[avail[k + 1].label] = G.Prepared(avail[k + 1])
        try:
            prepared.wait()
            prepared.run_lanes(plan_for(interp, prepared.gt))
        except Exception:
            prepared.close()
            raise
        cls.prepared = prepared
        if os.environ.get("PYHEAP_GRAPH_TIMINGS"):
            sys.stderr.write("\n%s: %s\n" % (interp.label, ", ".join(
                "%s %.1fs" % kv for kv in sorted(prepared.timings.items()))))

    @classmethod
    def tearDownClass(cls):
        if cls.prepared is not None:
            cls.prepared.close()

    # ---- helpers ------------------------------------------------------------------------

    @property
    def gt(self):
        return self.prepared.gt

    def lanes(self, key, lanes=("live", "core")):
        """(lane, parsed JSON) of each lane that ran the query (none: it is not planned);
        a failed run fails here."""
        out = []
        for lane in lanes:
            res = self.prepared.results.get((lane, key))
            if res is None:
                errors = [e for e in self.prepared.errors
                          if e.startswith("%s %s:" % (lane, key))]
                if errors:
                    self.fail("; ".join(errors))
                continue
            self.assertEqual(0, res.returncode, res.describe())
            out.append((lane, res.json()))
        return out

    def tracked_of(self, lane):
        """Whether py-heap's `show` says an object is GC-tracked (for referrers the ground
        truth does not know)."""
        def tracked(address):
            res = G.run_query(lane, ["show"] + self.prepared.target_args(lane) +
                              [G.addr(address), "--json"])
            self.assertEqual(0, res.returncode, res.describe())
            return res.json().get("gc_tracked")
        return tracked

    def check(self, problems, what):
        if problems:
            self.fail("%s (%s): %d difference(s):\n  %s" % (
                what, self.INTERP.label, len(problems), "\n  ".join(problems)))

    # ---- tests --------------------------------------------------------------------------

    def test_referrers_match_gc_get_referrers(self):
        """referrers ADDR: the GC-tracked referrers are exactly gc.get_referrers()'s; py-heap
        may list roots and referrers that are not GC-tracked in addition, and those must be
        the ones the construction made; every label ("how") as constructed."""
        ran = 0
        for name in OBJECTS:
            if name in THREAD_OBJECTS or name in MAIN_OBJECTS:
                continue  # test_thread_held_objects, test_main_thread_frame_locals
            obj = self.gt["objects"][name]
            for lane, got in self.lanes(("referrers", name)):
                ran += 1
                with self.subTest(object=name, target=lane):
                    self.check(G.referrer_problems(obj, got, self.tracked_of(lane)),
                               "referrers %s %s %s" % (lane, name, G.addr(obj["id"])))
        self.assertTrue(ran, "no referrers query ran")

    def test_paths_are_the_constructed_chains(self):
        """path ADDR prints the chain the object was built with, e.g.
        sys.modules['graph_app']._SEEN['req-17'].session; objects no root reaches have no
        path and count as unreachable."""
        ran = 0
        for name in OBJECTS:
            if name in THREAD_OBJECTS or name in LIST_OBJECTS or name in MAIN_OBJECTS:
                continue  # test_thread_held_objects, test_million_node_list
            obj = self.gt["objects"][name]
            for lane, got in self.lanes(("path", name)):
                ran += 1
                with self.subTest(object=name, target=lane):
                    self.check(G.path_problems(obj, got),
                               "path %s %s %s" % (lane, name, G.addr(obj["id"])))
        self.assertTrue(ran, "no path query ran")

    def test_thread_held_objects(self):
        """Objects held only by a local variable of a blocked thread: the path names the
        thread, the function, its file and line, and the variable; on 3.11+ the frame (not
        an object) is a root referrer, on 3.8-3.10 the frame object is the referrer."""
        th = self.gt["thread"]
        where = "thread '%s' frame %s() at %s:%d" % (th["name"], th["function"], th["file"],
                                                     th["line"])
        for name in THREAD_OBJECTS:
            obj = self.gt["objects"][name]
            self.assertTrue(obj["path"].startswith(where + ", local 'rows'"), obj["path"])
            for verb in ("path", "referrers"):
                for lane, got in self.lanes((verb, name)):
                    with self.subTest(object=name, verb=verb, target=lane):
                        if verb == "path":
                            problems = G.path_problems(obj, got)
                        else:
                            problems = G.referrer_problems(obj, got, self.tracked_of(lane))
                        self.check(problems, "%s %s %s %s (held by %s, local 'rows')" % (
                            verb, lane, name, G.addr(obj["id"]), where))

    def test_main_thread_frame_locals(self):
        """A str held by three locals of the main thread: one of main(), a frame calling a
        Python function, and two of measure_and_sleep(), a frame blocked in a C function
        (time.sleep). Every one is a root referrer on 3.11+ (frames are not objects there);
        on 3.8-3.10 the two frame objects are the referrers."""
        ran = 0
        for name in MAIN_OBJECTS:
            obj = self.gt["objects"][name]
            for lane, got in self.lanes(("referrers", name)):
                ran += 1
                with self.subTest(object=name, target=lane):
                    self.check(G.referrer_problems(obj, got, self.tracked_of(lane)),
                               "referrers %s %s %s (the main thread's ground_truth_path)"
                               % (lane, name, G.addr(obj["id"])))
        self.assertTrue(ran, "no referrers query ran")

    def test_type_paths_are_generalized(self):
        """path --type NAME: the chains of every instance grouped with [*], linked lists as
        (.next)*, counts exact; unreachable instances counted."""
        ran = 0
        for name in TYPES:
            want = self.gt["types"][name]
            for lane, got in self.lanes(("type", name)):
                ran += 1
                with self.subTest(type=name, target=lane):
                    self.check(G.type_path_problems(name, want, got),
                               "path --type %s %s" % (name, lane))
        self.assertTrue(ran, "no path --type query ran")

    def test_unreachable_leaked_and_garbage(self):
        """unreachable: the LeakedByIncRef objects (one Py_IncRef each) with native_refs ==
        their count and no garbage; the GarbageNode cycles as garbage with native_refs 0;
        counts and sizes exact."""
        for lane, got in self.lanes(("unreachable",)):
            with self.subTest(target=lane):
                self.check(G.unreachable_problems(self.gt["unreachable"], got),
                           "unreachable %s" % lane)

    def test_retained_size_of_private_container(self):
        """retained: the vault's retained size and count equal the in-process sum of
        sys.getsizeof over its private subtree, exactly; the linked list's head retains the
        million nodes; the per-type lists count each once."""
        for lane, got in self.lanes(("retained",)):
            with self.subTest(target=lane):
                self.check(G.retained_problems(self.gt, got, RETAINED_LIMIT),
                           "retained %s" % lane)

    def test_million_node_list(self):
        """The last node (and the middle one) of the 1,000,000-node list gets its path,
        shortened in the middle with the elided steps counted exactly; path --type
        __main__.Node is sys.modules['__main__'].head(.next)*; referrers name the previous
        node's slot."""
        for name in LIST_OBJECTS:
            obj = self.gt["objects"][name]
            for lane, got in self.lanes(("path", name)):
                with self.subTest(object=name, target=lane):
                    self.check(G.path_problems(obj, got), "path %s %s %s" % (
                        lane, name, G.addr(obj["id"])))
        want = self.gt["types"]["__main__.Node"]
        for lane, got in self.lanes(("type", "__main__.Node")):
            with self.subTest(type="__main__.Node", target=lane):
                self.check(G.type_path_problems("__main__.Node", want, got),
                           "path --type __main__.Node %s" % lane)

    def test_asan_small_stack(self):
        """The ASan build with a 1 MiB stack: path of the last node, path --type
        __main__.Node and retained on the core finish cleanly (no recursion grows with the
        data) and print what the normal build prints."""
        if not os.path.exists(G.ASAN_BIN):
            self.skipTest("no ASan build at %s" % G.ASAN_BIN)
        if self.INTERP.label not in ASAN_INTERPRETERS:
            self.skipTest("ASan runs on %s only (PYHEAP_GRAPH_FULL=1: every interpreter)"
                          % ", ".join(ASAN_INTERPRETERS))
        for key in (("path", "tail"), ("type", "__main__.Node"), ("retained",)):
            with self.subTest(query=key):
                res = self.prepared.results.get(("asan", key))
                if res is None:
                    self.fail("; ".join(e for e in self.prepared.errors if e.startswith("asan")))
                self.assertEqual(0, res.returncode, res.describe())
                self.assertNotIn("AddressSanitizer", res.stderr, res.describe())
                normal = self.prepared.results.get(("core", key))
                if normal is not None and normal.returncode == 0:
                    self.assertEqual([], T.json_diff(G.envelope_free(normal.json()),
                                                     G.envelope_free(res.json())),
                                     "ASan build and normal build differ: " + res.cmdline())

    def test_live_matches_core(self):
        """A query that ran live and on the core prints the same JSON (apart from the
        target's description): the process sleeps, nothing changes between the reads."""
        r = self.prepared.results
        both = sorted(k for lane, k in r if lane == "live" and ("core", k) in r)
        self.assertTrue(both)
        for key in both:
            live, core = r[("live", key)], r[("core", key)]
            if live.returncode or core.returncode:
                continue  # reported by the other tests
            with self.subTest(query=key):
                self.assertEqual([], T.json_diff(G.envelope_free(live.json()),
                                                 G.envelope_free(core.json())),
                                 "%s: live and core differ" % (key,))


# Graph_0_3_8 ...: unittest runs classes in name order, which must be the order of
# T.INTERPRETERS for the workload started ahead of time to be the next one used.
T.register_cases(globals(), GraphBase, "Graph_", T.INTERPRETERS, "INTERP", "graph verbs on %s",
                 numbered=True)
del GraphBase  # not a test itself

if __name__ == "__main__":
    unittest.main()
