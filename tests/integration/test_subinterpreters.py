"""Subinterpreters (issue 11 item 6): their objects are counted, and `info` lists them.

On every interpreter (fixtures/workloads/subinterp_workload.py: a subinterpreter holding
20,000 SubLeak instances, the main one 3,000 MainLeak), live and on a gcore:

  * `types`: exactly 20,000 SubLeak and 3,000 MainLeak, and no GC-tracked object outside the
    allocators' blocks — from 3.12 an isolated subinterpreter's objects live in arenas of its
    own pymalloc, which py-heap walks with the main one's;
  * `info --json`: two interpreters, the subinterpreter's id as the interpreter gave it, an
    allocator of its own from 3.12 (never before), and its GC lists as its collector counted
    them, to within what the subinterpreter's own machinery allocates after it measured
    (SUB_GC_SLACK: the measuring code writes its file and returns; 3.8 has one GC state for
    every interpreter and is not compared).
"""
import os
import unittest

import pyheap_testlib as T

WORKLOAD = os.path.join(T.FIXTURES, "workloads", "subinterp_workload.py")
SUB_GC_SLACK = 16


class SubinterpWorkload(T.Workload):
    settled_threads = 1

    def __init__(self, interp):
        super().__init__(interp, WORKLOAD)


class SubinterpreterCase(unittest.TestCase):
    interp = None

    @classmethod
    def setUpClass(cls):
        if cls.interp is None:
            raise unittest.SkipTest("base class")
        T.require_interpreter(cls.interp)
        T.require_pyheap()
        cls.w = SubinterpWorkload(cls.interp).start()
        cls.core = T.workload_core(cls.w, {})
        cls.args = T.pyheap_args(cls.interp)

    @classmethod
    def tearDownClass(cls):
        cls.w.stop()

    def targets(self):
        return [("live", ["--pid", str(self.w.pid)]), ("core", [self.core])]

    def test_objects_counted(self):
        for where, target in self.targets():
            res = T.run_pyheap(["types", "--limit", "0", "--json"] + target + self.args)
            self.assertEqual(0, res.returncode, res.describe())
            doc = res.json()
            counts = {t["name"]: t["count"] for t in doc["types"]}
            got = (counts.get("__main__.SubLeak"), counts.get("__main__.MainLeak"))
            self.assertEqual((self.w.gt["sub"], self.w.gt["main"]), got,
                             "%s: %s" % (where, res.describe()))
            lost = [w for w in doc["warnings"] if "not in any allocator block" in w]
            self.assertEqual([], lost, where)

    def test_objects_by_interpreter(self):
        """types --json: each type's objects by interpreter (analysis/interpreters.h). From
        3.9 a GC object belongs to the interpreter whose GC lists hold it: every SubLeak to the
        subinterpreter, every MainLeak to the main one; 3.8 shares one GC state (and one
        allocator), so they are not attributed. The interpreters' counts add up to the
        objects."""
        shared = self.interp.minor == (3, 8)
        for where, target in self.targets():
            res = T.run_pyheap(["types", "--limit", "0", "--json"] + target + self.args)
            self.assertEqual(0, res.returncode, res.describe())
            doc = res.json()
            by = {t["name"]: t["interpreters"] for t in doc["types"]}
            self.assertEqual([{"id": None if shared else self.w.gt["sub_id"], "count": self.w.gt["sub"]}],
                             by.get("__main__.SubLeak"), where)
            self.assertEqual([{"id": None if shared else 0, "count": self.w.gt["main"]}],
                             by.get("__main__.MainLeak"), where)
            interps = doc["interpreters"]
            self.assertEqual([0, self.w.gt["sub_id"], None], [i["id"] for i in interps], where)
            self.assertEqual(doc["totals"]["objects"], sum(i["count"] for i in interps), where)
            self.assertEqual(doc["totals"]["size"], sum(i["size"] for i in interps), where)

    def test_info_lists_them(self):
        for where, target in self.targets():
            res = T.run_pyheap(["info", "--json"] + target + self.args)
            self.assertEqual(0, res.returncode, res.describe())
            interps = res.json()["interpreters"]
            self.assertEqual(2, len(interps), "%s: %r" % (where, interps))
            main, sub = interps
            self.assertEqual((0, True, False), (main["id"], main["main"], sub["main"]), where)
            self.assertEqual(self.w.gt["sub_id"], sub["id"], where)
            self.assertTrue(main["own_allocator"], where)
            self.assertEqual(self.interp.minor >= (3, 12), sub["own_allocator"], where)
            if self.interp.minor > (3, 8):
                want, got = sum(self.w.gt["sub_gc"]), sum(sub["gc"]["generations"])
                self.assertTrue(abs(got - want) <= SUB_GC_SLACK,
                                "%s: the subinterpreter's GC lists hold %d objects, its "
                                "collector counted %d" % (where, got, want))


T.register_cases(globals(), SubinterpreterCase, "Subinterpreters_", T.INTERPRETERS, "interp",
                 "%s: subinterpreter objects counted and listed, live and core")
