"""`py-heap fragmentation --json` on cores whose heap was damaged on purpose.

A gcore of fixtures/workloads/alloc_workload.py is patched in place (and restored after each
test) at target addresses found by reading the core as an address space (ELF program
headers, NT_FILE; alloc_testlib.CoreFile):

  * glibc_chunk_size   the size field of one chunk of the main heap ([heap]), a few hundred
                       chunks from its start (the walk starts at the 0x290 tcache chunk),
                       overwritten with 0x4141414141414141;
  * pool_header        the 48-byte header of one pymalloc pool in use, in the middle of an
                       arena (found by its signature: maxnextoffset == POOL_SIZE -
                       16 * (szidx + 1), neighbours of the same arenaindex), filled with 0xa5;
  * tcache_cycle       the main thread's tcache list with the most entries made cyclic
                       (second entry's safe-linked next -> the first);
  * fastbin_cycle      a main_arena fastbin made cyclic the same way (the bins the workload
                       filled; main_arena from libc6-dbg's symbol, else from py-heap's report
                       of the undamaged core, checked against the chunk sizes);
  * pool_freelist_cycle  a pool's free-block list made cyclic.

py-heap must not crash (exit 0 or 1, never a signal); for the first four it must print JSON
with partial: true, a warning naming the damaged address (in hex) and what was wrong, exit
with status 1 with `py-heap: error: results are partial: ...` as the last line of stderr,
and still report everything the damage does not touch exactly as the ground truth says (e.g.
every pymalloc size class but the damaged pool's). A pool's free list is not needed for the
statistics (a pool header has the counts), so for that one py-heap may either not notice
(then all numbers stay exact) or report it like the others.
"""
import re
import struct
import unittest

import alloc_testlib as A
import pyheap_testlib as T

LABELS = ("3.12", "3.9", "3.11-debian")  # 16 KiB pools, 4 KiB pools, stripped production
RUNS = [r for r in A.frag_runs() if r.label in LABELS]
GARBAGE_SIZE = 0x4141414141414141
_clean = {}  # (run label, pid) -> report of the undamaged core


def setUpModule():
    T.require_pyheap()
    A.start_alloc_workloads([r.interp for r in RUNS])


def tearDownModule():
    A.stop_alloc_workloads()
    T.cleanup_all()


def fastbin_index(chunk_size):
    return (chunk_size >> 4) - 2


class CorruptHeapTest(unittest.TestCase):
    maxDiff = None

    # -- helpers ---------------------------------------------------------------------------

    def setup_run(self, run):
        reason = run.interp.skip_reason()
        if reason:
            self.skipTest(reason)
        w = A.alloc_workload(run.interp, retire_others=True)
        core = A.alloc_core(run.interp)
        key = (run.label, w.pid)
        if key not in _clean:
            res = A.run_fragmentation([core], run.args)
            self.assertEqual(0, res.returncode, "precondition: the undamaged core reads "
                             "cleanly\n" + res.describe())
            rep = res.json()
            self.assertIs(False, rep.get("partial"), "precondition: undamaged core partial")
            _clean[key] = rep
        return w, core, _clean[key]

    def run_damaged(self, run, core, patches):
        """Applies the patches, runs py-heap, restores the core; returns (Result, report)."""
        applied = []
        try:
            for p in patches:
                applied.append(p.apply())
            res = A.run_fragmentation([core], run.args)
        finally:
            for p in reversed(applied):
                p.undo()
        self.assertIn(res.returncode, (0, 1), "py-heap died or failed: " + res.describe())
        return res, res.json()

    def partial_problems(self, res, rep, addresses, what, label):
        """The convention for damaged data: partial, a warning naming one of `addresses`
        and matching `what`, exit 1, last stderr line 'py-heap: error: results are
        partial: ...'."""
        bad = []
        if res.returncode != 1:
            bad.append("exit status %s, expected 1" % res.returncode)
        lines = res.stderr_lines()
        if not lines or not lines[-1].startswith("py-heap: error: results are partial: "):
            bad.append("last stderr line is %r, expected 'py-heap: error: results are partial: "
                       "...'" % (lines[-1] if lines else None))
        if rep.get("partial") is not True:
            bad.append("partial is %r, expected true" % (rep.get("partial"),))
        named = A.warning_addresses(rep.get("warnings"))
        if isinstance(addresses, range):
            hits = [w for a, ws in named.items() if a in addresses for w in ws]
            wanted = "an address in [0x%x, 0x%x)" % (addresses.start, addresses.stop)
        else:
            hits = [w for a in addresses for w in named.get(a, ())]
            wanted = "any of " + ", ".join("0x%x" % a for a in sorted(addresses))
        if not hits:
            bad.append("no warning names the damaged %s (%s); warnings: %r" % (
                label, wanted, rep.get("warnings")))
        elif not any(re.search(what, w, re.I) for w in hits):
            bad.append("the warnings naming the damaged %s do not say what was wrong "
                       "(/%s/): %r" % (label, what, hits))
        return bad

    def finish(self, bad, res):
        self.assertEqual([], bad, "\n  " + "\n  ".join(bad) + "\n  " + res.cmdline()
                         + "\n  stderr: " + res.stderr[-1500:])

    def pool_size(self, w):
        return w.gt["debugmallocstats"]["pool_size"]

    # -- (a) a glibc chunk's size field ------------------------------------------------------

    def check_glibc_chunk_size(self, run):
        w, core, _clean_rep = self.setup_run(run)
        heap_start = int(w.gt["workload"]["heap_start"], 16)
        with A.CoreFile(core) as c:
            chunks = A.walk_heap_chunks(c, heap_start, limit=400)
            self.assertGreater(len(chunks), 350, "the [heap] walk in the test stopped early")
            self.assertEqual(0x290, chunks[0][1] & ~A.SIZE_BITS,
                             "the first chunk of [heap] is the tcache (0x290)")
            # A chunk in use (its successor has PREV_INUSE) 300 chunks in.
            for i in range(300, len(chunks) - 1):
                if chunks[i + 1][1] & A.PREV_INUSE:
                    victim = chunks[i][0]
                    break
            else:
                self.fail("no chunk in use after chunk 300 of [heap]")
            patch = A.Patch(c, victim + 8, struct.pack("<Q", GARBAGE_SIZE))
        res, rep = self.run_damaged(run, core, [patch])
        bad = self.partial_problems(res, rep, {victim, victim + 8, victim + 16}, r"size",
                                    "chunk 0x%x" % victim)
        c = A.Checker(rep)
        A.compare_pymalloc(c, w.gt, run)  # untouched: exact
        # main_arena's own heap is damaged: its system bytes (from malloc_state) stay exact;
        # the thread arenas, mmapped chunks and tcache struct copies are untouched.
        A.compare_glibc(c, w.gt, run, arena_skip={0: {"fast", "rest", "split", "complete"}},
                        skip_totals=("mallinfo", "tcache", "trim"))
        arenas = T.get(rep, "glibc.arenas", [])
        if arenas and arenas[0].get("complete") is not False:
            c.bad.append("glibc.arenas[0].complete: %r, expected false (its heap walk stopped)"
                         % (arenas[0].get("complete"),))
        self.finish(bad + c.bad, res)

    # -- (b) a pymalloc pool header ----------------------------------------------------------

    def check_pool_header(self, run):
        w, core, _clean_rep = self.setup_run(run)
        ps = self.pool_size(w)
        classes = A.gt_classes(w.gt)
        with A.CoreFile(core) as c:
            candidates = [p for p in A.middle_pools(c, ps)
                          if p.count >= 2 and classes.get(p.szidx, {}).get("pools", 0) >= 3]
            self.assertTrue(candidates, "no pool in use in the middle of an arena")
            pool = candidates[len(candidates) // 2]
            patch = A.Patch(c, pool.addr, b"\xa5" * A.POOL_HEADER.size)
        res, rep = self.run_damaged(run, core, [patch])
        bad = self.partial_problems(
            res, rep, range(pool.addr, pool.addr + ps),
            r"pool|header|szidx|size class|arena ?index|corrupt|invalid|bad",
            "pool 0x%x (class %d, %d blocks in use)" % (pool.addr, pool.szidx, pool.count))
        c = A.Checker(rep)
        A.compare_pymalloc(c, w.gt, run, skip_classes={pool.szidx})
        # The damaged pool's class: the ground truth minus that pool (its header is gone, so
        # neither its class nor its counts can be known).
        want = classes[pool.szidx]
        per_pool = A.blocks_per_pool(w.gt, pool.szidx)
        got = {r.get("size_class"): r for r in T.get(rep, "pymalloc.size_classes", [])}
        g = got.get(pool.szidx, {})
        c.eq("damaged class %d pools" % pool.szidx, g.get("pools"), want["pools"] - 1,
             "ground truth minus the damaged pool")
        c.eq("damaged class %d blocks_used" % pool.szidx, g.get("blocks_used"),
             want["blocks_used"] - pool.count, "ground truth minus the pool's ref.count")
        c.eq("damaged class %d blocks_free" % pool.szidx, g.get("blocks_free"),
             want["blocks_free"] - (per_pool - pool.count),
             "ground truth minus the pool's free blocks")
        total = sum(r["blocks_used"] for r in classes.values())
        c.eq("pymalloc.blocks_used", T.get(rep, "pymalloc.blocks_used", None),
             total - pool.count, "the ground truth's minus the damaged pool's")
        A.compare_glibc(c, w.gt, run)  # untouched: exact
        self.finish(bad + c.bad, res)

    # -- (c) cyclic lists --------------------------------------------------------------------

    def check_tcache_cycle(self, run):
        w, core, _clean_rep = self.setup_run(run)
        heap_start = int(w.gt["workload"]["heap_start"], 16)
        tc = heap_start + 16
        with A.CoreFile(core) as c:
            self.assertEqual(0x290, c.u64(heap_start + 8) & ~A.SIZE_BITS)
            counts = struct.unpack("<64H", c.read(tc, 128))
            entries = struct.unpack("<64Q", c.read(tc + 128, 512))
            i = max(range(64), key=lambda k: counts[k])
            self.assertGreaterEqual(counts[i], 2, "no tcache list of 2 entries or more")
            e1 = entries[i]
            e2 = A.demangle(e1, c.u64(e1))
            self.assertEqual(32 + 16 * i, c.u64(e2 - 8) & ~A.SIZE_BITS,
                             "the second tcache entry is not a chunk of bin %d" % i)
            patch = A.Patch(c, e2, struct.pack("<Q", A.mangle(e2, e1)))  # e2 -> e1: a cycle
        res, rep = self.run_damaged(run, core, [patch])
        bad = self.partial_problems(
            res, rep, {tc, tc + 128 + 8 * i, e1, e2, e1 - 16, e2 - 16},
            r"cycl|loop|circular|revisit|repeat|twice|chain",
            "tcache list %d (entries 0x%x -> 0x%x -> 0x%x)" % (i, e1, e2, e1))
        c = A.Checker(rep)
        A.compare_pymalloc(c, w.gt, run)
        # Only the tcache is damaged: every bin, top and system size stays exact.
        A.compare_glibc(c, w.gt, run, arena_skip={a: {"split", "complete"} for a in range(64)},
                        skip_totals=("tcache",))
        self.finish(bad + c.bad, res)

    def main_arena_address(self, core_file, clean_rep):
        libc_dbg = A.libc_debug_file()
        if libc_dbg:
            offset = A.symtab_value(libc_dbg, "main_arena")
            bases = [s for s, _e, off, path in core_file.files
                     if path.endswith("/libc.so.6") and off == 0]
            if offset is not None and bases:
                return min(bases) + offset, "libc6-dbg"
        addr = T.get(clean_rep, "glibc.main_arena", None)
        self.assertTrue(addr, "main_arena is not known (no libc6-dbg, and py-heap found none)")
        return int(addr, 16), "py-heap's report of the undamaged core"

    def check_fastbin_cycle(self, run):
        w, core, clean_rep = self.setup_run(run)
        with A.CoreFile(core) as c:
            arena, source = self.main_arena_address(c, clean_rep)
            freed = set()
            for entry in w.gt["workload"]["fastbin_frees"]:
                freed.update(int(a, 16) for a in entry["freed"])
            best = None
            for size in range(32, 0x90, 16):  # fastbins of 0x20 .. 0x80
                slot = arena + 16 + 8 * fastbin_index(size)
                head = c.u64(slot)
                if not head:
                    continue
                second = A.demangle(head + 16, c.u64(head + 16))
                if not second or c.u64(second + 8) & ~A.SIZE_BITS != size:
                    continue
                if c.u64(head + 8) & ~A.SIZE_BITS != size:
                    self.fail("main_arena at 0x%x (%s): fastbin %d head 0x%x has size 0x%x"
                              % (arena, source, fastbin_index(size), head, c.u64(head + 8)))
                ours = (head + 16 in freed) + (second + 16 in freed)
                if best is None or ours > best[0]:
                    best = (ours, size, slot, head, second)
            self.assertIsNotNone(best, "no main_arena fastbin with two chunks")
            _ours, size, slot, head, second = best
            # second -> head: head -> second -> head -> ...
            patch = A.Patch(c, second + 16, struct.pack("<Q", A.mangle(second + 16, head)))
        res, rep = self.run_damaged(run, core, [patch])
        bad = self.partial_problems(
            res, rep, {slot, head, second, head + 16, second + 16},
            r"cycl|loop|circular|revisit|repeat|twice|chain",
            "fastbin of 0x%x-byte chunks (0x%x -> 0x%x -> 0x%x)" % (size, head, second, head))
        c = A.Checker(rep)
        A.compare_pymalloc(c, w.gt, run)
        A.compare_glibc(c, w.gt, run, arena_skip={0: {"fast", "split", "complete"}},
                        skip_totals=("mallinfo", "trim"))
        self.finish(bad + c.bad, res)

    def check_pool_freelist_cycle(self, run):
        w, core, _clean_rep = self.setup_run(run)
        ps = self.pool_size(w)
        with A.CoreFile(core) as c:
            found = None
            for p in A.middle_pools(c, ps):
                b1 = p.freeblock
                if not b1 or b1 & ~(ps - 1) != p.addr:
                    continue
                b2 = c.u64(b1)
                if b2 and b2 & ~(ps - 1) == p.addr:
                    found = (p, b1, b2)
                    break
            self.assertIsNotNone(found, "no pool with two blocks on its free list")
            pool, b1, b2 = found
            patch = A.Patch(c, b2, struct.pack("<Q", b1))  # b1 -> b2 -> b1 -> ...
        res, rep = self.run_damaged(run, core, [patch])
        c = A.Checker(rep)
        if rep.get("partial"):
            bad = self.partial_problems(
                res, rep, range(pool.addr, pool.addr + ps),
                r"cycl|loop|circular|revisit|repeat|twice|chain|free",
                "free list of pool 0x%x (0x%x -> 0x%x -> 0x%x)" % (pool.addr, b1, b2, b1))
            A.compare_pymalloc(c, w.gt, run, skip_classes={pool.szidx})
        else:
            bad = [] if res.returncode == 0 else ["exit status %s with partial false"
                                                  % res.returncode]
            A.compare_pymalloc(c, w.gt, run)  # not noticed: the header counts are intact
        A.compare_glibc(c, w.gt, run)
        self.finish(bad + c.bad, res)


def _add_tests():
    for run in RUNS:
        name = run.label.replace(".", "").replace("-", "_")
        for kind in ("glibc_chunk_size", "pool_header", "tcache_cycle", "fastbin_cycle",
                     "pool_freelist_cycle"):
            def test(self, run=run, kind=kind):
                getattr(self, "check_" + kind)(run)
            test.__doc__ = "%s: %s damaged" % (run.label, kind)
            setattr(CorruptHeapTest, "test_%s_%s" % (name, kind), test)


_add_tests()

if __name__ == "__main__":
    unittest.main()
