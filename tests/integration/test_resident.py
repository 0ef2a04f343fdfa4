"""The resident split counts resident pages only, on every interpreter, live and on a gcore.

fixtures/workloads/residency_workload.py makes memory that its allocators hold but that is
not resident: a pymalloc arena whose pools were never carved (never touched), a free glibc
chunk whose pages were given back with MADV_DONTNEED, and one given back with MADV_FREE
(resident until the kernel reclaims it). `py-heap fragmentation --json` must then:
  * measure the resident total from the same evidence as the parts (live: the page tables of
    the stopped process; core: the pages it holds, zero pages of anonymous mappings left out)
    and make the parts add up to it exactly;
  * agree with the kernel (live: smaps_rollup's Rss of the sleeping process) and with the
    core read here on its own (alloc_testlib.core_resident_bytes);
  * leave out of the pymalloc part at least the never-carved pools, and out of the glibc
    parts at least the pages given back with MADV_DONTNEED (the test reads the process's
    pagemap itself to know they are not present).
"""
import os
import struct
import unittest

import alloc_testlib as A
import pyheap_testlib as T

WORKLOAD = os.path.join(T.FIXTURES, "workloads", "residency_workload.py")


class ResidencyWorkload(T.Workload):
    def __init__(self, interp):
        super().__init__(interp, script=WORKLOAD)

    settled_threads = 1


_workloads = {}
_cores = {}


def setUpModule():
    T.require_pyheap()
    T.start_workloads(ResidencyWorkload, T.INTERPRETERS, _workloads)


def tearDownModule():
    T.cleanup_all()


def present_pages(pid, start, end):
    """Bytes of [start, end) whose pages are present in the process (its pagemap)."""
    present = 0
    with open("/proc/%d/pagemap" % pid, "rb") as fh:
        fh.seek(start // A.PAGE * 8)
        data = fh.read((end - start) // A.PAGE * 8)
    for (entry,) in struct.iter_unpack("<Q", data):
        if entry >> 63:
            present += A.PAGE
    return present


class ResidentBase(unittest.TestCase):
    interp = None
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        T.require_run(T.InterpreterRun(cls.interp) if cls.interp else None)
        cls.w = T.wait_for_workload(_workloads[cls.interp.label], _workloads)
        # Before anything reads the process (py-heap, gcore): a read of a page that is not
        # present maps the shared zero page there (present in pagemap, though no memory and
        # not in Rss).
        dn = cls.w.gt["dontneed"]
        cls.dontneed_present = present_pages(cls.w.pid, dn[0], dn[1])

    def fragmentation(self, target):
        res = A.run_fragmentation(target, T.pyheap_args(self.interp))
        self.assertEqual(0, res.returncode, res.describe())
        return res, res.json()

    def check(self, rep, live, resident_bytes, not_resident_glibc):
        c = A.Checker(rep)
        A.compare_resident(c, live, resident_bytes)
        res, pm = rep["resident"], rep["pymalloc"]
        split, mapped = res["split"], res["mapped_split"]
        never = pm["pools_never_used"] * pm["pool_size"]
        c.true("the workload took a new arena with pools never carved: pools_never_used %d"
               % pm["pools_never_used"], pm["pools_never_used"] >= 32)
        c.true("pymalloc_free leaves out the %d never-carved pool bytes: resident %d, mapped %d"
               % (never, split["pymalloc_free"], mapped["pymalloc_free"]),
               mapped["pymalloc_free"] - split["pymalloc_free"] >= never)
        c.true("glibc's mp_ is found although mallopt set mmap_threshold to 64 MiB",
               rep["glibc"]["mp_found_by"] != "not found", "mp_found_by %r" % rep["glibc"]["mp_found_by"])
        glibc_res = split["glibc_used"] + split["glibc_free"]
        glibc_all = mapped["glibc_used"] + mapped["glibc_free"]
        c.true("glibc leaves out the %d bytes given back with MADV_DONTNEED: resident %d, "
               "mapped %d" % (not_resident_glibc, glibc_res, glibc_all),
               glibc_all - glibc_res >= not_resident_glibc)
        return c.bad

    def test_live(self):
        """Live: the split from the page tables of the stopped process."""
        dn = self.w.gt["dontneed"]
        self.assertEqual(0, self.dontneed_present, "MADV_DONTNEED left pages present")
        gone = dn[1] - dn[0]
        before = A.smaps_rollup_rss(self.w.pid)
        res, rep = self.fragmentation(["--pid", str(self.w.pid)])
        after = A.smaps_rollup_rss(self.w.pid)
        self.assertEqual([], T.not_stopped_problems(self.w.pid), res.cmdline())
        bad = self.check(rep, True, before if before == after else None, gone)
        self.assertEqual([], bad, "\n  " + "\n  ".join(bad) + "\n  " + res.cmdline())

    def test_copy(self):
        """Live with --copy: the split from the copy's own stop."""
        res, rep = self.fragmentation(["--pid", str(self.w.pid), "--copy"])
        dn = self.w.gt["dontneed"]
        bad = self.check(rep, True, None, dn[1] - dn[0])
        self.assertEqual([], bad, "\n  " + "\n  ".join(bad) + "\n  " + res.cmdline())

    def test_core(self):
        """A gcore: the pages it holds, zero pages of anonymous mappings left out."""
        core = T.workload_core(self.w, _cores)
        res, rep = self.fragmentation([core])
        dn = self.w.gt["dontneed"]
        bad = self.check(rep, False, A.core_resident_bytes(core), dn[1] - dn[0])
        self.assertEqual([], bad, "\n  " + "\n  ".join(bad) + "\n  " + res.cmdline())


T.register_cases(globals(), ResidentBase, "TestResident_", T.INTERPRETERS, "interp",
                 "The resident split of %s's residency workload.")

if __name__ == "__main__":
    unittest.main()
