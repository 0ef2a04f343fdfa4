"""The object census -- `py-heap types`, `objects`, `show` -- against a workload that measured
itself exactly (fixtures/workloads/census_workload.py), on every interpreter of the machine,
live (--pid) and on a gcore of the same process.

The accounting asserted for every type (census_testlib's module docstring has the details):

    py-heap types(T) == extended(T) + leaked(T) + native_roots(T) + residual(T)

with residual(T) listed by py-heap (`objects --type T --limit 0`) and every residual object
proven to be held by C code only (RESIDUAL RULE), and residual(T) == 0 for the workload's own
classes and the types the gc closure sees whole. The plain in-process census (the closure
of gc.get_objects() through gc.get_referents()) differs from extended(T) only by what non-GC
references reach, and the objects of the binaries' data are on py-heap's `static` line.

Run from this folder:

    PYHEAP_BIN=../../build/py-heap /usr/bin/python3 -m unittest -v test_census
"""
import unittest

import census_testlib as C
import pyheap_testlib as T

RUNS = C.census_runs()


def setUpModule():
    T.require_pyheap()
    C.start_census_workloads([r.interp for r in RUNS if r.interp.available])


def tearDownModule():
    C.stop_census_workloads()


class CensusBase(C.CensusRunCase):
    """The checks, for one interpreter (subclasses below set `crun`). What every check reads
    is fetched once per class: the workload, its core, `types` and `fragmentation` of both."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.core_args = [cls.core] + cls.crun.args
        cls.live_args = ["--pid", str(cls.w.pid)] + cls.crun.args
        cls.types_core = C.pyheap_json(["types"] + cls.core_args + ["--limit", "0"])
        cls.types_live = C.pyheap_json(["types"] + cls.live_args + ["--limit", "0"])
        cls.rows = C.rows_by_name(cls.types_core)
        cls.expected = C.expected_rows(cls.gt)
        cls.known = C.known_addresses(cls.w)
        cls._objects = {}
        cls._residual = None

    # ---- helpers -------------------------------------------------------------------------

    def objects(self, name):
        """{address: (size, location)} of py-heap's objects of type `name` in the core."""
        if name not in self._objects:
            self._objects[name] = C.objects_of(self.core_args, name)[0]
        return self._objects[name]

    def residual(self):
        """{name: [Residual]} for every type whose count is not the expected one, plus the
        checked types (whose objects are compared one by one anyway)."""
        if self._residual is None:
            names = set(C.WORKLOAD_CLASSES) | set(C.LEAKED_CLASSES) | set(C.BUILTIN_TYPES)
            names |= {n for n, row in self.rows.items()
                      if row[0] != self.expected.get(n, [0])[0]}
            items = []
            for name in sorted(names):
                if name not in self.rows:
                    continue
                for addr, (size, loc) in self.objects(name).items():
                    if addr not in self.known:
                        items.append((addr, name, size, loc))
            judged = C.judge_residual(self.core, items, self.crun.interp.minor)
            out = {}
            for r in judged:
                out.setdefault(r.name, []).append(r)
            type(self)._residual = out
        return self._residual

    def where(self):
        return "%s (pid %d, core %s)" % (self.crun.label, self.w.pid, self.core)

    # ---- the census table ------------------------------------------------------------------

    def test_report_is_complete(self):
        """Not partial, no GC object missed, every GC-tracked object counted once."""
        for label, rep in (("core", self.types_core), ("live", self.types_live)):
            with self.subTest(target=label):
                self.assertEqual(rep.get("command"), "types")
                self.assertIs(rep.get("partial"), False, rep.get("warnings"))
                self.assertEqual(rep["gc_check"]["not_found"], 0, rep["gc_check"])
                # The GC lists of every generation, the permanent one included (3.12 starts
                # with objects in it): len(gc.get_objects()) + gc.get_freeze_count() at the
                # count (gc.get_objects() leaves out the list it builds).
                self.assertEqual(rep["gc_check"]["tracked"], self.gt["gc_tracked"],
                                 "GC-tracked objects, %s" % self.where())
                self.assertEqual(rep["types_total"], len(rep["types"]))
                self.assertEqual(rep["totals"]["objects"], sum(r["count"] for r in rep["types"]))
                self.assertEqual(rep["totals"]["size"], sum(r["size"] for r in rep["types"]))

    def test_every_type_accounted_for(self):
        """py-heap(T) == extended + leaked + native roots + residual, for every type, and
        every residual object explained (held by C code: RESIDUAL RULE)."""
        residual = self.residual()
        bad = []
        for name in sorted(set(self.rows) | set(self.expected)):
            got = self.rows.get(name, [0, 0])[0]
            want = self.expected.get(name, [0, 0])[0]
            extra = len(residual.get(name, []))
            if got != want + extra:
                bad.append("%s: py-heap counts %d, ground truth %d + %d residual"
                           % (name, got, want, extra))
        unexplained = [r.describe() for rs in residual.values() for r in rs if r.why_not]
        self.assertEqual(bad + unexplained, [],
                         "%s: %d count mismatches, %d residual objects not explained (a "
                         "false positive is an object py-heap counts that no one holds)"
                         % (self.where(), len(bad), len(unexplained)))

    def test_checked_types_object_by_object(self):
        """The workload's classes and str/bytes/int/float/tuple/list/dict/set/frozenset: the
        same objects (addresses) as the ground truth plus the residual, each with its
        sys.getsizeof; counts exact, sizes exact."""
        residual = self.residual()
        for name in sorted(set(C.WORKLOAD_CLASSES) | set(C.LEAKED_CLASSES) |
                           set(C.BUILTIN_TYPES)):
            with self.subTest(type=name):
                objs = self.objects(name) if name in self.rows else {}
                want = {a: s for a, (n, s) in self.known.items() if n == name}
                missing = sorted(set(want) - set(objs))
                self.assertEqual(missing, [], "%s: %d objects of %s the workload has are not "
                                 "listed, first %s" % (self.where(), len(missing), name,
                                                       [hex(a) for a in missing[:5]]))
                wrong = [(hex(a), objs[a][0], s) for a, s in want.items() if objs[a][0] != s]
                self.assertEqual(wrong, [], "%s: (address, py-heap size, sys.getsizeof) of "
                                 "%s objects whose size differs" % (self.where(), name))
                extra = {r.addr: r.size for r in residual.get(name, [])}
                self.assertEqual([r.describe() for r in residual.get(name, []) if r.why_not],
                                 [], "%s: %s objects py-heap counts that nothing holds"
                                 % (self.where(), name))
                self.assertEqual(set(objs), set(want) | set(extra))
                count, size, _ = self.rows[name] if name in self.rows else (0, 0, [])
                self.assertEqual(count, len(want) + len(extra))
                self.assertEqual(size, sum(want.values()) + sum(extra.values()),
                                 "%s: total size of %s" % (self.where(), name))

    def test_sizes_of_every_type(self):
        """Every row's size is the sum of sys.getsizeof of its objects (ground truth sizes
        plus the residual objects' own), for every type whose objects py-heap can size from
        the object alone. Left out: extension types whose __sizeof__ adds private C state
        (ctypes' StgDict and metatypes, _struct.Struct, _io's buffered files)."""
        residual = self.residual()
        bad = []
        for name, (count, size, _addrs) in sorted(self.rows.items()):
            if C.extension_sizeof(name):
                continue
            want = self.expected.get(name, [0, 0])[1] + sum(r.size for r in
                                                            residual.get(name, []))
            if size != want:
                bad.append("%s: %d objects of %d bytes, sys.getsizeof says %d (%+d)"
                           % (name, count, size, want, size - want))
        self.assertEqual(bad, [], "%s: rows whose size is not the sum of sys.getsizeof"
                         % self.where())

    def test_no_residual_where_gc_sees_all(self):
        """The workload's classes, the leaked ones, ValueError, generator, function, cell,
        method, list, set, frozenset: py-heap == the gc closure (+ the leaked objects)
        exactly, and so does float except on 3.11 (co_consts floats), residual 0."""
        residual = self.residual()
        for name in C.GC_VISIBLE + ("float",):
            with self.subTest(type=name):
                self.assertEqual([r.describe() for r in residual.get(name, [])], [])
                got = self.rows.get(name, [0, 0])
                leaked = self.gt["leaked"].get(name, {"count": 0, "size": 0})
                if name != "float":
                    census = self.gt["census"].get(name, [0, 0])
                    self.assertEqual(got[:2], [census[0] + leaked["count"],
                                               census[1] + leaked["size"]],
                                     "%s: %s: py-heap [count, size] vs the gc closure + leaked"
                                     % (self.where(), name))

    def test_gc_closure_is_part_of_extended(self):
        """The explained difference (b): the plain gc closure reaches a subset of the
        extended one (what non-GC references hold is invisible to gc.get_referents)."""
        census, extended = self.gt["census"], self.gt["extended"]
        for name, (count, size) in census.items():
            ext = extended.get(name, [0, 0])
            self.assertLessEqual(count, ext[0], name)
        for name in ("str", "bytes", "tuple", "code"):
            # Non-GC references do hold objects of these types on every version: str keys
            # of dicts, code objects' constants, names and line tables.
            self.assertLess(census.get(name, [0])[0], extended.get(name, [0])[0], name)

    def test_static_line(self):
        """The explained difference (a): objects in the binaries' data (static types, None,
        True, small ints on 3.8 and 3.11+, 3.11+ deep-frozen code and static strings) are on
        the `static` line, not in `types`: every one the workload reaches is there, and all of
        them fit in the binaries' writable segments."""
        for label, rep in (("core", self.types_core), ("live", self.types_live)):
            with self.subTest(target=label):
                st = rep["static"]
                reached = sum(c for c, _s in self.gt["extended_static"].values())
                self.assertGreaterEqual(st["count"], reached, "%s: static objects" % self.where())
                self.assertLessEqual(st["size"], self.gt["static_bytes"],
                                     "%s: %d static objects of %d bytes in all, more than the "
                                     "%d bytes of the binaries' writable segments"
                                     % (self.where(), st["count"], st["size"],
                                        self.gt["static_bytes"]))
        for name in ("int", "type", "code"):
            # None of the reachable static ones is in the row: the row is exactly the heap.
            self.assertEqual(self.rows.get(name, [0])[0] - len(self.residual().get(name, [])),
                             self.expected.get(name, [0])[0], name)

    def test_accounting_adds_up(self):
        """objects_size + native_bytes + rounding_bytes + free_bytes == heap_total == the
        heap total of `fragmentation` on the same target."""
        for label, args, rep in (("core", self.core_args, self.types_core),
                                 ("live", self.live_args, self.types_live)):
            with self.subTest(target=label):
                a = rep["accounting"]
                self.assertEqual(a["objects_size"], rep["totals"]["size"])
                self.assertEqual(a["objects_size"] + a["native_bytes"] + a["rounding_bytes"]
                                 + a["free_bytes"], a["heap_total"], a)
                self.assertGreaterEqual(a["free_bytes"], 0)
                self.assertGreaterEqual(a["native_bytes"], 0)
                frag = C.pyheap_json(["fragmentation"] + args)
                self.assertEqual(a["heap_total"], C.fragmentation_heap_total(frag),
                                 "%s: heap_total of types vs fragmentation" % self.where())

    def test_live_equals_core(self):
        """The target sleeps and does not change: the live census is the core's."""
        for key in ("types", "types_total", "totals", "static", "accounting", "gc_check"):
            with self.subTest(member=key):
                self.assertEqual(self.types_live[key], self.types_core[key],
                                 T.json_diff(self.types_live[key], self.types_core[key])[:10])

    def test_counted_equals_listed(self):
        """`types` counts most objects by type without listing them (heap.h PYH_LIST_CENSUS);
        `snapshot` takes the census over the table that lists every object: the same rows
        and totals, type by type."""
        snap = C.pyheap_json(["snapshot", "--no-retainers", "-o", "-"] + self.core_args)
        listed = {r["name"]: (r["count"], r["size"]) for r in snap["types"]}
        counted = {r["name"]: (r["count"], r["size"]) for r in self.types_core["types"]}
        self.assertEqual(counted, listed, T.json_diff(counted, listed)[:10])
        self.assertEqual(snap["totals"], self.types_core["totals"])
        self.assertEqual(snap["partial"], self.types_core["partial"])

    def test_type_names_and_addresses(self):
        """Heap types are named module.QualName, static types by tp_name; the row's
        type_address is id() of the type."""
        for name in sorted(set(C.WORKLOAD_CLASSES) | set(C.LEAKED_CLASSES) |
                           set(C.BUILTIN_TYPES)):
            with self.subTest(type=name):
                self.assertIn(name, self.rows)
                self.assertEqual(self.rows[name][2], [self.gt["names"][name]])

    def test_leaked_objects(self):
        """Objects held only by a leaked reference count (no Python reference, untracked):
        py-heap counts exactly the ones leaked, at their addresses."""
        for name, count in C.LEAKED_CLASSES.items():
            with self.subTest(type=name):
                leaked = self.gt["leaked"][name]
                self.assertEqual(leaked["count"], count)
                self.assertEqual(self.gt["extended"].get(name, [0])[0], 0,
                                 "the workload's own walk must not see them")
                self.assertEqual(self.rows[name][:2], [leaked["count"], leaked["size"]])
                self.assertEqual(sorted(self.objects(name)), [a for a, _s in leaked["objects"]])
        for name in ("list", "str"):
            with self.subTest(type=name):
                objs = self.objects(name)
                for addr, size in self.gt["leaked"][name]["objects"]:
                    self.assertIn(addr, objs, "leaked %s at 0x%x" % (name, addr))
                    self.assertEqual(objs[addr][0], size)

    # ---- objects -------------------------------------------------------------------------------

    def test_objects_of_workload_classes(self):
        """`objects --type __main__.X`: that many, at the instances' addresses, largest first;
        the default limit lists 20."""
        for name, count in sorted(C.WORKLOAD_CLASSES.items()):
            with self.subTest(type=name):
                cls = self.gt["classes"][name]
                self.assertEqual(cls["count"], count)
                objs, rep = C.objects_of(self.core_args, name)
                self.assertEqual(rep["type"], name)
                self.assertEqual((rep["count"], rep["size"]), (cls["count"], cls["size"]))
                self.assertEqual(sorted(objs), cls["ids"])
                sizes = [o["size"] for o in rep["objects"]]
                self.assertEqual(sizes, sorted(sizes, reverse=True))
                self.assertTrue(all(o["type"] == name for o in rep["objects"]))
        default = C.pyheap_json(["objects"] + self.core_args + ["--type", "__main__.Plain"])
        self.assertEqual((default["count"], len(default["objects"])), (301, 20))
        live = C.pyheap_json(["objects"] + self.live_args + ["--type", "__main__.Slotted",
                                                             "--limit", "0"])
        self.assertEqual(sorted(int(o["address"], 16) for o in live["objects"]),
                         self.gt["classes"]["__main__.Slotted"]["ids"])

    def test_objects_min_size(self):
        """--min-size keeps the objects at least that big (the count stays the type's)."""
        big = self.gt["show"]["big_str"]
        rep = C.pyheap_json(["objects"] + self.core_args + ["--type", "str", "--min-size",
                                                            str(big["size"])])
        self.assertEqual(rep["count"], self.rows["str"][0])
        self.assertEqual([int(o["address"], 16) for o in rep["objects"]], [big["id"]])
        self.assertEqual(rep["objects"][0]["location"], big["location"])

    # ---- show ------------------------------------------------------------------------------------

    def check_show(self, args, key):
        """`show ADDR` of a chosen object against what the workload says of it (a value too
        long to be shown whole is compared by its first 100 characters)."""
        want = self.gt["show"][key]
        got = C.pyheap_json(["show"] + args + ["0x%x" % want["id"]])
        self.assertEqual(got["address"], "0x%x" % want["id"])
        for field in ("type", "type_address", "size", "location", "refcount", "gc_tracked",
                      "gc_generation", "value", "length"):
            if field not in want or (field == "value" and want["value"] is None):
                continue
            self.assertEqual(got.get(field), want[field], "%s: show %s: %s"
                             % (self.where(), key, field))
        if want.get("value") is None and "value_prefix" in want:
            self.assertTrue(got["value"].startswith(want["value_prefix"]), got["value"][:120])
        if "attributes" in want:
            self.assertEqual([[a.get("name"), a.get("value"), int(a["address"], 16)]
                              for a in got.get("attributes", [])], want["attributes"],
                             "%s: show %s: attributes" % (self.where(), key))
        if "items" in want:
            self.assertEqual([[i.get("key"), i.get("value"), int(i["address"], 16)]
                              for i in got.get("items", [])], want["items"],
                             "%s: show %s: items" % (self.where(), key))

    def test_show_core(self):
        for key in sorted(self.gt["show"]):
            with self.subTest(object=key):
                self.check_show(self.core_args, key)

    def test_show_live(self):
        for key in ("instance", "dict", "big_int", "str", "leaked_with_slot"):
            with self.subTest(object=key):
                self.check_show(self.live_args, key)


T.register_cases(globals(), CensusBase, "TestCensus_", RUNS, "crun", "census on %s")


class TestTypesOptions(unittest.TestCase):
    """--limit, --sort, --min-count on one interpreter (the report's rows, not the census)."""

    @classmethod
    def setUpClass(cls):
        T.require_pyheap()
        interp = T.require_first_available(("3.12", "3.11-debian"), "no interpreter")
        run = [r for r in RUNS if r.interp is interp][0]
        cls.args = [C.census_core(interp)] + run.args
        cls.all = C.pyheap_json(["types"] + cls.args + ["--limit", "0"])

    def test_default_limit_and_order(self):
        rep = C.pyheap_json(["types"] + self.args)
        self.assertEqual(len(rep["types"]), 30)
        self.assertEqual(rep["types"], self.all["types"][:30])
        sizes = [r["size"] for r in self.all["types"]]
        self.assertEqual(sizes, sorted(sizes, reverse=True))
        self.assertEqual(rep["types_total"], self.all["types_total"])
        self.assertEqual(rep["totals"], self.all["totals"])

    def test_sort_count_and_min_count(self):
        rep = C.pyheap_json(["types"] + self.args + ["--sort", "count", "--min-count", "100",
                                                     "--limit", "0"])
        counts = [r["count"] for r in rep["types"]]
        self.assertEqual(counts, sorted(counts, reverse=True))
        want = sorted((r["name"], r["count"]) for r in self.all["types"] if r["count"] >= 100)
        self.assertEqual(sorted((r["name"], r["count"]) for r in rep["types"]), want)


if __name__ == "__main__":
    unittest.main()
