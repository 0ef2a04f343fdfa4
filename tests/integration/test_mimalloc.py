"""mimalloc (issue 18): `py-heap fragmentation --json`'s "mimalloc" section on GIL builds run
with PYTHONMALLOC=mimalloc — pyenv's 3.13.0 (mimalloc 2.1.2) and Debian sid's 3.14.10 and
3.15.2 (mimalloc 2.5.2) — live and on a gcore, against the
interpreter's own count: sys.getallocatedblocks(), which on mimalloc sums `used` over the
pages of the thread's heap (Objects/obmalloc.c get_mimalloc_allocated_blocks). The workload
is single-threaded, so no block waits in an xthread_free list and the live blocks py-heap
counts from the three free lists equal that sum.

The workload measures in a loop until the count holds still and writes it with a raw file
descriptor, so that nothing allocated before the count is freed after it; the one block that
can differ is the int holding the count (allocated after counting: a new block on 3.13, a
block from the int freelist on 3.14+), so py-heap's count is the count or one more.

Free-threaded builds (PYHEAP_EXTRA_PYTHONS, e.g. a locally built 3.14t), live and on a core:
`info` says free-threaded and which mimalloc; the live blocks are checked here against the
interpreter's sys.getallocatedblocks(), the gc_pre heap must hold the workload's 50,000
instances and `types` count them (test_free_threaded.py checks the census whole).
"""
import json
import os
import re
import unittest

import pyheap_testlib as T

WORKLOAD = r'''
import os, signal, sys
class C:
    def __init__(self, i): self.i = i
keep = [C(i) for i in range(50000)]
blobs = [b"x" * 100 for _ in range(5000)]
tmp, final = sys.argv[1] + ".tmp", sys.argv[1]
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o644)  # no buffer object to free afterwards
box = [0]
prev = -1
while box[0] != prev:
    prev = box[0]
    box[0] = sys.getallocatedblocks()
os.write(fd, b"%d" % box[0])
os.close(fd)
os.rename(tmp, final)
signal.pause()
'''

# The mimalloc each interpreter bundles (Include/internal/mimalloc/mimalloc.h).
EXPECTED_VERSION = {(3, 13): "2.1.2", (3, 14): "2.5.2", (3, 15): "2.5.2"}


def interpreters():
    # Debian's 3.13 (trixie, sid) would be 2.1.2 too; pyenv's 3.13.0 stands for it.
    return [i for i in T.INTERPRETERS if i.minor in EXPECTED_VERSION and
            i.label in ("3.13", "3.14-sid", "3.15-sid")]


def segments_rss(pid, segments):
    """Rss (bytes, /proc/PID/smaps) of the mappings that hold the segments."""
    starts = [int(seg["address"], 16) for seg in segments]
    total, inside = 0, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            first = line.split()[0]
            if "-" in first and not first.endswith(":"):
                lo, hi = (int(x, 16) for x in first.split("-"))
                inside = any(lo <= a < hi for a in starts)
            elif first == "Rss:" and inside:
                total += int(line.split()[1]) * 1024
    return total


class MimallocGil(unittest.TestCase):
    pass


def make_case(interp):
    def test(self):
        T.require_pyheap()
        why = interp.skip_reason()
        if why:
            self.skipTest(why)
        tmp = T.make_temp_dir("pyheap-mimalloc-")
        script = os.path.join(tmp, "workload.py")
        with open(script, "w") as f:
            f.write(WORKLOAD)
        gt_path = os.path.join(tmp, "gt.json")
        env = dict(os.environ, PYTHONMALLOC="mimalloc")
        proc = T.start_process(interp.command([interp.path, script, gt_path]), env=env,
                               **interp.popen_kw(cwd=tmp))
        try:
            T.wait_until(lambda: os.path.exists(gt_path) or proc.poll() is not None,
                         T.WORKLOAD_TIMEOUT)
            self.assertTrue(os.path.exists(gt_path), "the workload wrote no ground truth")
            with open(gt_path) as f:
                gt = {"allocated_blocks": int(f.read())}
            core = T.gcore(proc.pid, os.path.join(tmp, "core"))
            targets = [("live", ["-p", str(proc.pid)]), ("core", [core])]
            for what, target in targets:
                with self.subTest(what=what):
                    res = T.run_pyheap(["fragmentation", "--json"] + target +
                                       T.pyheap_args(interp))
                    self.assertIn(res.returncode, (0,), res.stderr)
                    m = json.loads(res.stdout)["mimalloc"]
                    self.assertIsNotNone(m, "no mimalloc section: " + res.stderr)
                    self.assertEqual(m["version"], EXPECTED_VERSION[interp.minor])
                    self.assertFalse(m["free_threaded"])
                    self.assertEqual(m["pages_rejected"], 0, res.stderr)
                    # The count's own int comes after the count: a new block (3.13), or one
                    # from 3.14's int freelist (none).
                    self.assertIn(m["blocks_live"] - gt["allocated_blocks"], (0, 1))
                    # A GIL build allocates everything from the default heap (tag 0).
                    self.assertEqual(m["heaps"]["mem"]["blocks_live"], m["blocks_live"])
                    self.assertEqual(sum(c["blocks_live"] for c in m["block_sizes"]),
                                     m["blocks_live"])
                    self.assertGreaterEqual(m["heaps"]["mem"]["blocks_live"], 55000)
                    # Resident: the live blocks within the segments, the segments within
                    # what the kernel counts for the mappings that hold them.
                    self.assertLessEqual(m["resident_live"], m["bytes_live"])
                    self.assertLessEqual(m["resident_live"], m["resident_segments"])
                    if what == "live":
                        self.assertLessEqual(m["resident_segments"],
                                             segments_rss(proc.pid, m["segments"]))
        finally:
            T.kill_process(proc)
    test.__doc__ = "%s with PYTHONMALLOC=mimalloc: live blocks = sys.getallocatedblocks()" % (
        interp.label)
    return test


for _interp in interpreters():
    setattr(MimallocGil, "test_" + _interp.label.replace(".", "_").replace("-", "_"),
            make_case(_interp))


class FreeThreaded(unittest.TestCase):
    def test_read_as_free_threaded(self):
        """A free-threaded target, live and as a core: `info` names the build and its mimalloc,
        `fragmentation` counts the live blocks sys.getallocatedblocks() counts, and `types`
        finds the workload's 50,000 instances (test_free_threaded checks the census whole)."""
        T.require_pyheap()
        if not T.FREE_THREADED:
            self.skipTest("PYHEAP_EXTRA_PYTHONS names no free-threaded interpreter")
        for interp in T.FREE_THREADED:
            path = interp.path
            tmp = T.make_temp_dir("pyheap-ft-")
            script = os.path.join(tmp, "workload.py")
            with open(script, "w") as f:
                f.write(WORKLOAD)
            gt_path = os.path.join(tmp, "gt")
            proc = T.start_process([path, script, gt_path], cwd=tmp)
            try:
                T.wait_until(lambda: os.path.exists(gt_path) or proc.poll() is not None,
                             T.WORKLOAD_TIMEOUT)
                self.assertTrue(os.path.exists(gt_path), "the workload wrote no ground truth")
                core = T.gcore(proc.pid, os.path.join(tmp, "core"))
                with open(gt_path) as f:
                    counted = int(f.read())
                for what, target in (("live", ["-p", str(proc.pid)]), ("core", [core])):
                    with self.subTest(python=path, what=what):
                        res = T.run_pyheap(["info"] + target)
                        self.assertTrue(T.ok_or_prerelease(res), res.stderr)
                        m = re.search(r"^Build +free-threaded \(no GIL\), mimalloc (\S+) "
                                      r"\(\d+ segments?\)$", res.stdout, re.M)
                        self.assertIsNotNone(m, res.stdout)
                        self.assertIn(m.group(1), ("2.1.2", "2.5.2"))
                        res = T.run_pyheap(["fragmentation", "--json"] + target)
                        self.assertTrue(T.ok_or_prerelease(res), res.stderr)
                        mi = json.loads(res.stdout)["mimalloc"]
                        self.assertTrue(mi["free_threaded"])
                        self.assertEqual(mi["version"], m.group(1))
                        self.assertEqual(mi["pages_rejected"], 0, res.stderr)
                        # sys.getallocatedblocks() sums `used` over every thread's heaps and
                        # the abandoned pool; the int holding the count may add one, and a
                        # free the build delays to a quiescent state (QSBR: list and dict
                        # storage) may land after the count and take one away (measured).
                        # From 3.15 the raw domain is mimalloc's default heap too
                        # (Objects/obmalloc.c PYRAW_ALLOC), which the count leaves out.
                        if interp.minor >= (3, 15):
                            self.assertGreaterEqual(mi["blocks_live"] - counted, -1)
                        else:
                            self.assertIn(mi["blocks_live"] - counted, (-1, 0, 1))
                        # 50,000 instances of a class with a managed dict: GC_PRE blocks
                        self.assertGreaterEqual(mi["heaps"]["gc_pre"]["blocks_live"], 50000)
                        res = T.run_pyheap(["types", "--json", "--limit", "0"] + target)
                        self.assertTrue(T.ok_or_prerelease(res), res.stderr)
                        rows = {r["name"]: r["count"] for r in json.loads(res.stdout)["types"]}
                        self.assertEqual(rows.get("__main__.C"), 50000)
            finally:
                T.kill_process(proc)


if __name__ == "__main__":
    unittest.main()
