"""Helpers for the `fragmentation` integration tests (standard library only).

Builds on pyheap_testlib (imported as T, never modified here). What is here:

  * AllocWorkload: fixtures/workloads/alloc_workload.py under one interpreter, with its
    ground truth (the allocators' statistics measured from inside, exactly), and a wait
    until the process is in its final state (main thread in its sleep, threads blocked);
  * start_alloc_workloads() / alloc_workload() / alloc_core() / retire(): one workload
    process and one gcore of it per interpreter per test process, started in parallel,
    reused by every test that only reads them, dropped when the tests move on to the next
    interpreter (retire_others=True);
  * frag_runs(): every interpreter and how py-heap is to be run on it (Debian's python3.11
    twice: `--debug-dir ''` and the default debug directories);
  * compare_fragmentation(): every difference between `py-heap fragmentation --json` and the
    ground truth, as readable strings, each naming the rule it checks;
  * CoreFile: a gcore as address space (ELF program headers, NT_FILE), to read and patch
    target memory in the file; pool and chunk finders for the corruption tests.
"""
import os
import re
import struct
import subprocess

import pyheap_testlib as T

ALLOC_WORKLOAD = os.path.join(T.FIXTURES, "workloads", "alloc_workload.py")

# glibc (malloc/malloc.c) size field bits
PREV_INUSE, IS_MMAPPED, NON_MAIN_ARENA, SIZE_BITS = 1, 2, 4, 7

# ---- the workload ------------------------------------------------------------------------


class AllocWorkload(T.Workload):
    """alloc_workload.py and its ground truth."""

    def __init__(self, interp):
        super().__init__(interp, script=ALLOC_WORKLOAD)

    def threads_when_settled(self, gt):
        # The main thread and the staying threads (blocked on a lock).
        return 1 + len(gt["workload"]["threads_alive"])


_workloads = {}  # interp label -> AllocWorkload
_cores = {}  # interp label -> core path
_used = set()  # labels whose workload a test has used


def start_alloc_workloads(interps):
    """Starts the workload of every available interpreter at once (they build their heaps
    in parallel); alloc_workload() then waits for each."""
    T.start_workloads(AllocWorkload, interps, _workloads)


def alloc_workload(interp, retire_others=False):
    """The alloc workload of this interpreter, started once per test process (reading it
    does not change it: it sleeps forever, and its threads are blocked).

    retire_others: kill the workloads of the other interpreters that were already used and
    delete their cores (tests that go one interpreter after the other keep one process and
    one core of about 0.7 GB at a time; a retired one is started again if asked for)."""
    if retire_others:
        for label in list(_used):
            if label != interp.label:
                retire(label)
    _used.add(interp.label)
    w = _workloads.get(interp.label)
    if w is None or (w.gt is None and w.proc is None) or (w.proc and not w.alive()):
        w = AllocWorkload(interp).start(wait_for_ground_truth=False)
        _workloads[interp.label] = w
        _cores.pop(interp.label, None)
    return T.wait_for_workload(w, _workloads)


def retire(label):
    """Kills one interpreter's workload and deletes its core."""
    w = _workloads.pop(label, None)
    if w is not None:
        w.stop()
    core = _cores.pop(label, None)
    if core:
        try:
            os.unlink(core)
        except OSError:
            pass
    _used.discard(label)


def alloc_core(interp, retire_others=False):
    """A gcore of alloc_workload(interp), made once per test process. (gdb's gcore also
    dumps the reserved PROT_NONE part of each glibc thread heap, 64 MiB per arena, as zeros:
    the core is about 0.7 GB, and reading those pages makes them count in the live
    process's RSS afterwards.)"""
    return T.workload_core(alloc_workload(interp, retire_others), _cores)


def stop_alloc_workloads():
    """Kills every workload and deletes every core made here."""
    for label in set(_workloads) | set(_cores):
        retire(label)


# ---- how py-heap is run ------------------------------------------------------------------


class FragRun:
    """One way of running `py-heap fragmentation` on an interpreter's workload."""

    def __init__(self, label, interp, args, counters_required, default_debug_dirs):
        self.label = label
        self.interp = interp
        self.args = args
        # pymalloc.arenas_allocated_total/reclaimed/highwater must be non-null: 3.12+
        # (interpreter state), the pyenv builds (.symtab), a debug file for Debian, or
        # without one _PyObject_DebugMallocStats' code (issue 12 item 9).
        self.counters_required = counters_required
        self.default_debug_dirs = default_debug_dirs

    def __repr__(self):
        return "FragRun(%s)" % self.label


def frag_runs():
    runs = [FragRun(i.label, i, [], True, True) for i in T.INTERPRETERS if not i.debian]
    runs.append(FragRun("3.11-debian", T.DEBIAN, ["--debug-dir", ""], True, False))
    runs.append(FragRun("3.11-debian-default-debug-dirs", T.DEBIAN, [], True, True))
    # The chroots' Pythons with their own (newer) glibc, without debug files.
    runs += [FragRun(i.label, i, T.pyheap_args(i), True, False) for i in T.INTERPRETERS if i.chroot]
    return runs


def run_fragmentation(target_args, run_args=(), timeout=T.PYHEAP_TIMEOUT):
    """`py-heap fragmentation --json TARGET...`; returns the Result."""
    return T.run_pyheap(["fragmentation", "--json"] + list(target_args) + list(run_args),
                        timeout=timeout)


# ---- what the ground truth implies -------------------------------------------------------


def gt_classes(gt):
    """{size_class: row} of _debugmallocstats' table."""
    return {c["size_class"]: c for c in gt["debugmallocstats"]["size_classes"]}


POOL_OVERHEAD = 48  # sizeof(struct pool_header), already a multiple of ALIGNMENT (16)


def blocks_per_pool(gt, size_class):
    """NUMBLOCKS(szidx) of obmalloc.c: (POOL_SIZE - POOL_OVERHEAD) / block size."""
    return (gt["debugmallocstats"]["pool_size"] - POOL_OVERHEAD) // (16 * (size_class + 1))


_chroot_glibc = {}


def glibc_version(interp=None):
    """'2.36' from the libc the workloads of interp use: the runner's own, or (a chroot's
    interpreter) the chroot's, as the interpreter itself says."""
    try:
        if interp is not None and interp.chroot:
            if interp.chroot not in _chroot_glibc:
                out = subprocess.run(interp.command([interp.path, "-c",
                                                     "import os; print(os.confstr("
                                                     "'CS_GNU_LIBC_VERSION'))"]),
                                     stdout=subprocess.PIPE, universal_newlines=True,
                                     **interp.popen_kw()).stdout
                _chroot_glibc[interp.chroot] = out.split()[1]
            return _chroot_glibc[interp.chroot]
        return os.confstr("CS_GNU_LIBC_VERSION").split()[1]
    except (ValueError, OSError, IndexError, AttributeError):
        return None


def libc_debug_file(interp=None):
    """The separate debug file of the system libc (libc6-dbg), or None; None for a chroot's
    interpreter (the chroots have no libc6-dbg)."""
    if interp is not None and interp.chroot:
        return None
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    if not os.path.exists(libc):
        return None
    bid = T.build_id(libc)
    if not bid:
        return None
    p = "/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:])
    return p if os.path.exists(p) else None


def symtab_value(path, name):
    """Value of a (possibly local) .symtab symbol (nm), or None."""
    res = subprocess.run(["nm", "--defined-only", path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True)
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    return None


# ---- comparing `fragmentation` with the ground truth -------------------------------------

_MISSING = object()


class Checker:
    """Collects every difference instead of stopping at the first."""

    def __init__(self, report):
        self.report = report
        self.bad = []

    def field(self, dotted, obj=None):
        v = T.get(self.report if obj is None else obj, dotted, _MISSING)
        if v is _MISSING:
            self.bad.append("%s: missing from py-heap's JSON" % dotted)
            return None
        return v

    def eq(self, what, got, want, why=""):
        if got != want:
            self.bad.append("%s: py-heap says %r, the target says %r%s" % (
                what, got, want, (" (" + why + ")") if why else ""))

    def true(self, what, cond, detail=""):
        if not cond:
            self.bad.append("%s%s" % (what, (": " + detail) if detail else ""))


def compare_pymalloc(c, gt, run, skip_classes=()):
    """pymalloc against sys._debugmallocstats() and sys.getallocatedblocks()."""
    pm = c.field("pymalloc")
    if not isinstance(pm, dict):
        c.bad.append("pymalloc: null or not an object: %r" % (pm,))
        return
    st = gt["debugmallocstats"]
    minor = run.interp.minor
    c.eq("pymalloc.arena_size", pm.get("arena_size"), st["arena_size"])
    c.eq("pymalloc.pool_size", pm.get("pool_size"), st["pool_size"])
    c.eq("pymalloc.arenas_current", pm.get("arenas_current"), st["arenas_allocated_current"],
         "_debugmallocstats' '# arenas allocated current'")
    for key, gkey in (("arenas_allocated_total", "arenas_allocated_total"),
                      ("arenas_reclaimed", "arenas_reclaimed"),
                      ("arenas_highwater", "arenas_highwater")):
        got = pm.get(key, _MISSING)
        if got is _MISSING:
            c.bad.append("pymalloc.%s: missing from py-heap's JSON" % key)
        elif got is None:
            if run.counters_required:
                c.bad.append("pymalloc.%s: null, but %s has the counters (%s)" % (
                    key, run.label, "interpreter state" if minor >= (3, 12) else
                    "symbols or debug info"))
        else:
            c.eq("pymalloc." + key, got, st[gkey])

    # Size classes: exactly _debugmallocstats' table (classes with pools in use).
    got_rows = pm.get("size_classes")
    if not isinstance(got_rows, list):
        c.bad.append("pymalloc.size_classes: not a list: %r" % (got_rows,))
        return
    got = {}
    for row in got_rows:
        got[row.get("size_class")] = row
    want = gt_classes(gt)
    for sc in sorted(set(got) | set(want)):
        if sc in skip_classes:
            continue
        g, w = got.get(sc), want.get(sc)
        if g is None:
            c.bad.append("pymalloc.size_classes: class %s missing (the target has %r)" % (sc, w))
            continue
        if w is None:
            c.bad.append("pymalloc.size_classes: class %s reported (%r), the target has no "
                         "pool in use in it" % (sc, g))
            continue
        for key in ("block_size", "pools", "blocks_used", "blocks_free"):
            c.eq("pymalloc.size_classes[class %d].%s" % (sc, key), g.get(key), w[key])
    if skip_classes:
        return  # the totals below include the damaged class

    sum_blocks = sum(w["blocks_used"] for w in want.values())
    sum_bytes = sum(w["blocks_used"] * w["block_size"] for w in want.values())
    sum_free_bytes = sum(w["blocks_free"] * w["block_size"] for w in want.values())
    c.eq("pymalloc.blocks_used", pm.get("blocks_used"), sum_blocks, "sum of the table")
    c.eq("pymalloc.bytes_used", pm.get("bytes_used"), sum_bytes,
         "sum of blocks in use * size")
    c.eq("pymalloc.bytes_free_in_used_pools", pm.get("bytes_free_in_used_pools"),
         sum_free_bytes, "sum of avail blocks * size")
    # "N unused pools * P bytes": obmalloc's nfreepools, i.e. freed pools and pools never
    # carved from their arena.
    empty, never = pm.get("pools_empty"), pm.get("pools_never_used")
    if isinstance(empty, int) and isinstance(never, int):
        c.eq("pymalloc.pools_empty + pools_never_used", empty + never, st["unused_pools"],
             "_debugmallocstats' unused pools")
        c.eq("pymalloc.bytes_in_empty_pools", pm.get("bytes_in_empty_pools"),
             st["unused_pools"] * st["pool_size"], "unused pools * pool size")
    else:
        c.bad.append("pymalloc.pools_empty/pools_never_used: not ints: %r %r" % (empty, never))
    if "pools_used" in pm:  # not in the schema, but if present it must agree
        c.eq("pymalloc.pools_used", pm.get("pools_used"), sum(w["pools"] for w in want.values()))
    overhead = (st.get("bytes_lost_to_pool_headers", 0) + st.get("bytes_lost_to_quantization", 0)
                + st.get("bytes_lost_to_arena_alignment", 0))
    c.eq("pymalloc.bytes_overhead", pm.get("bytes_overhead"), overhead,
         "_debugmallocstats' bytes lost to pool headers + quantization + arena alignment")
    pinned = pm.get("arenas_pinned")
    c.true("pymalloc.arenas_pinned: between 1 and arenas_current (the workload keeps 0.05 %% "
           "of the objects of some regions: arenas held by a handful of blocks)",
           isinstance(pinned, int) and 1 <= pinned <= st["arenas_allocated_current"],
           "got %r" % (pinned,))

    # sys.getallocatedblocks(): pymalloc's blocks in use + blocks that fell back to malloc.
    raw = pm.get("raw_allocated_blocks", _MISSING)
    known_raw = gt["workload"]["known_raw_objects"]
    allocated = gt["allocated_blocks"]
    if minor >= (3, 9):
        if not isinstance(raw, int):
            c.bad.append("pymalloc.raw_allocated_blocks: %r, must be an int on %d.%d"
                         % (raw, minor[0], minor[1]))
        else:
            c.eq("pymalloc.blocks_used + raw_allocated_blocks", sum_blocks + raw, allocated,
                 "sys.getallocatedblocks()")
            c.eq("pymalloc.blocks_used + raw_allocated_blocks (py-heap's own blocks_used)",
                 (pm.get("blocks_used") or 0) + raw, allocated, "sys.getallocatedblocks()")
            c.true("pymalloc.raw_allocated_blocks >= the workload's own live bytes objects "
                   "> 512 B (%d)" % known_raw, raw >= known_raw, "got %d" % raw)
    else:
        # 3.8 has no raw_allocated_blocks: sys.getallocatedblocks() is _Py_AllocatedBlocks,
        # which counts every live PyObject_Malloc/PyMem_Malloc block, pymalloc's and those
        # that fell back to malloc (> 512 B) alike. What holds: pymalloc's blocks in use
        # (the table, exact above) plus the live fallbacks, of which the workload knows a
        # lower bound (its own big bytes objects).
        c.true("pymalloc.raw_allocated_blocks: null on 3.8 (no such counter)",
               raw is None, "got %r" % (raw,))
        fallbacks = allocated - (pm.get("blocks_used") or 0)
        c.true("3.8: sys.getallocatedblocks() - pymalloc.blocks_used (live fallbacks to "
               "malloc) >= the workload's own live bytes objects > 512 B (%d)" % known_raw,
               fallbacks >= known_raw, "got %d" % fallbacks)


def compare_glibc(c, gt, run, arena_skip=None, skip_totals=()):
    """glibc against malloc_info(), mallinfo2() and the tcache copies.

    arena_skip: {arena index: set of checks not to make for that arena} (for a damaged
    arena), checks being "fast", "rest", "system", "split", "complete", or "all";
    skip_totals: totals not to check: "mmap", "mallinfo", "tcache", "trim"."""
    arena_skip = arena_skip or {}
    g = c.field("glibc")
    if not isinstance(g, dict):
        c.bad.append("glibc: null or not an object (warnings: %r)" % (c.report.get("warnings"),))
        return
    want_version = glibc_version(run.interp)
    if want_version:
        c.eq("glibc.version", g.get("version"), want_version, "os.confstr of the same libc")
    arenas = g.get("arenas")
    heaps = gt["malloc_info"]["heaps"]
    if not isinstance(arenas, list):
        c.bad.append("glibc.arenas: not a list: %r" % (arenas,))
        return
    c.eq("len(glibc.arenas)", len(arenas), len(heaps), "malloc_info's <heap> elements")
    for i, (a, h) in enumerate(zip(arenas, heaps)):
        skip = arena_skip.get(i, ())
        if "all" in skip:
            continue
        name = "glibc.arenas[%d]" % i
        c.eq(name + ".main", a.get("main"), i == 0, "main_arena first, then the ring")
        if "fast" not in skip:
            c.eq(name + ".fastbin_chunks", a.get("fastbin_chunks"), h["fast_count"],
                 "malloc_info <total type=fast> count")
            c.eq(name + ".fastbin_bytes", a.get("fastbin_bytes"), h["fast_size"],
                 "malloc_info <total type=fast> size")
        if "rest" not in skip:
            bins, bin_bytes, top = a.get("bin_chunks"), a.get("bin_bytes"), a.get("top_bytes")
            if all(isinstance(x, int) for x in (bins, bin_bytes, top)):
                c.eq(name + ".bin_chunks + 1", bins + 1, h["rest_count"],
                     "malloc_info <total type=rest> count: binned chunks + the top chunk")
                # MALLOC_INFO_FLAG_BITS: malloc_info sums chunksize_nomask() of binned chunks,
                # i.e. their size WITH the flag bits; a binned chunk's size field is always
                # size | PREV_INUSE (_int_free and malloc_consolidate store it so, split
                # remainders too; NON_MAIN_ARENA is not kept on free chunks, also in thread
                # arenas): + PREV_INUSE per binned chunk. The top chunk is summed with
                # chunksize() (no bits). mallinfo2 (below) uses chunksize() throughout.
                c.eq(name + ".bin_bytes + top_bytes + PREV_INUSE * bin_chunks",
                     bin_bytes + top + PREV_INUSE * bins, h["rest_size"],
                     "malloc_info <total type=rest> size")
                for kind in ("chunks", "bytes"):
                    parts = [a.get("%s_%s" % (k, kind)) for k in ("unsorted", "smallbin",
                                                                    "largebin")]
                    if all(isinstance(x, int) for x in parts):
                        c.eq(name + ".unsorted+smallbin+largebin _" + kind, sum(parts),
                             a.get("bin_" + kind), "bin_%s is their sum" % kind)
            else:
                c.bad.append(name + ": bin_chunks/bin_bytes/top_bytes not ints: %r %r %r"
                             % (bins, bin_bytes, top))
        if "system" not in skip:
            c.eq(name + ".system_bytes", a.get("system_bytes"), h["system_current"],
                 "malloc_info <system type=current>")
        if "split" not in skip:
            parts = [a.get(k) for k in ("in_use_bytes", "internal_bytes", "tcache_bytes",
                                        "fastbin_bytes", "bin_bytes", "top_bytes")]
            if all(isinstance(x, int) for x in parts):
                c.eq(name + ": in_use + internal + tcache + fastbin + bin + top bytes",
                     sum(parts), a.get("system_bytes"), "every byte of the arena's heaps")
            else:
                c.bad.append(name + ": byte counts not ints: %r" % (parts,))
        if "complete" not in skip:
            c.eq(name + ".complete", a.get("complete"), True)
    total = gt["malloc_info"]["total"]
    mi = gt["mallinfo2"]
    if "mmap" not in skip_totals:
        c.eq("glibc.mmapped_chunks", g.get("mmapped_chunks"), total["mmap_count"],
             "malloc_info <total type=mmap> count (mp_.n_mmaps)")
        c.eq("glibc.mmapped_bytes", g.get("mmapped_bytes"), total["mmap_size"],
             "malloc_info <total type=mmap> size (mp_.mmapped_mem)")
        c.eq("glibc.mmapped_chunks (mallinfo2)", g.get("mmapped_chunks"), mi["hblks"],
             "mallinfo2().hblks")
        c.eq("glibc.mmapped_bytes (mallinfo2)", g.get("mmapped_bytes"), mi["hblkhd"],
             "mallinfo2().hblkhd")
    # mallinfo2(): the same arenas summed, with chunksize() (no flag bits) for the bins.
    ints = all(all(isinstance(a.get(k), int) for k in (
        "system_bytes", "fastbin_chunks", "fastbin_bytes", "bin_chunks", "bin_bytes",
        "top_bytes")) for a in arenas)
    if "mallinfo" not in skip_totals and ints:
        c.eq("sum of system_bytes", sum(a["system_bytes"] for a in arenas), mi["arena"],
             "mallinfo2().arena")
        c.eq("sum of fastbin_chunks", sum(a["fastbin_chunks"] for a in arenas), mi["smblks"],
             "mallinfo2().smblks")
        c.eq("sum of fastbin_bytes", sum(a["fastbin_bytes"] for a in arenas), mi["fsmblks"],
             "mallinfo2().fsmblks")
        c.eq("sum of (bin_chunks + 1)", sum(a["bin_chunks"] + 1 for a in arenas),
             mi["ordblks"], "mallinfo2().ordblks: binned chunks and one top per arena")
        c.eq("sum of (fastbin_bytes + bin_bytes + top_bytes)",
             sum(a["fastbin_bytes"] + a["bin_bytes"] + a["top_bytes"] for a in arenas),
             mi["fordblks"], "mallinfo2().fordblks: chunksize() without flag bits")
        c.eq("main arena top_bytes", arenas[0]["top_bytes"] if arenas else None,
             mi["keepcost"], "mallinfo2().keepcost")
    elif "mallinfo" not in skip_totals:
        c.bad.append("glibc.arenas: counts not ints, mallinfo2 sums not checked")
    # tcache: chunks sitting in the live threads' tcaches, which malloc_info and mallinfo2
    # count as in use. py-heap attributes them to arenas; the sum does not depend on that.
    tc = [a.get("tcache_chunks") for a in arenas]
    tb = [a.get("tcache_bytes") for a in arenas]
    if "tcache" not in skip_totals:
        if all(isinstance(x, int) for x in tc + tb):
            c.eq("sum of tcache_chunks", sum(tc), sum(t["chunks"] for t in gt["tcaches"]),
                 "the tcache_perthread_struct counts of the %d live threads"
                 % len(gt["tcaches"]))
            c.eq("sum of tcache_bytes", sum(tb), sum(t["bytes"] for t in gt["tcaches"]),
                 "counts[i] * (32 + 16 i) over the live threads' tcaches")
        else:
            c.bad.append("glibc.arenas: tcache counts not ints: %r %r" % (tc, tb))
    if "trim" not in skip_totals:
        trim = g.get("trim_releasable_bytes")
        free_total = sum((a.get("fastbin_bytes") or 0) + (a.get("bin_bytes") or 0)
                         + (a.get("top_bytes") or 0) for a in arenas)
        c.true("glibc.trim_releasable_bytes: an int between 0 and the free bytes (%d)"
               % free_total, isinstance(trim, int) and 0 <= trim <= free_total,
               "got %r" % (trim,))


def smaps_rollup_rss(pid):
    """Rss of /proc/PID/smaps_rollup in bytes, or None."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


PAGE = 4096
_ZERO_PAGE = bytes(PAGE)


def core_resident_bytes(core):
    """The resident bytes of a core by py-heap's documented rule (docs/json-schema.md,
    `resident.bytes`), computed here on its own: the bytes of every PT_LOAD that the core
    holds data for, where a page of an anonymous mapping (not in NT_FILE) counts only if it
    is not all zeros (gcore writes pages never touched as zeros; a hole it leaves reads as
    zeros). A kernel's sparse core (holes where it skipped pages) is not handled here."""
    total = 0
    with CoreFile(core) as c:
        for ph in c.segments:
            if ph.filesz == 0:
                continue
            if c.file_backed(ph):
                total += ph.filesz
                continue
            data = c.map[ph.offset:ph.offset + ph.filesz]
            for off in range(0, len(data), PAGE):
                page = data[off:off + PAGE]
                if page != _ZERO_PAGE[:len(page)]:
                    total += len(page)
    return total


SPLIT_KEYS = ("pymalloc_used", "pymalloc_free", "glibc_used", "glibc_free", "stacks", "other")


def compare_resident(c, live, resident_bytes=None):
    """resident: the source of the evidence, the split adding up exactly to the total (both
    measured from the one residency of the target), no part resident beyond what it holds,
    and resident.bytes against resident_bytes (the test's own reading: smaps_rollup's Rss of
    the sleeping process, or core_resident_bytes) when given."""
    res = c.field("resident")
    if not isinstance(res, dict):
        return
    total, split, mapped = res.get("bytes"), res.get("split"), res.get("mapped_split")
    want_source = "pagemap" if live else "core"
    if res.get("source") != want_source:
        c.bad.append("resident.source: py-heap says %r, docs/json-schema.md says %r"
                     % (res.get("source"), want_source))
    c.eq("resident.exact", res.get("exact"), True, "page-level evidence for %s"
         % ("a process" if live else "a core"))
    if resident_bytes is not None:
        c.eq("resident.bytes", total, resident_bytes,
             "Rss of /proc/PID/smaps_rollup" if live else
             "core_resident_bytes: the core's data, zero pages of anonymous mappings left out")
    if not isinstance(split, dict) or not isinstance(total, int) or not isinstance(mapped, dict):
        c.bad.append("resident: bytes %r, split %r, mapped_split %r" % (total, split, mapped))
        return
    vals = [split.get(k) for k in SPLIT_KEYS]
    if not all(isinstance(v, int) and v >= 0 for v in vals):
        c.bad.append("resident.split: every member an int >= 0: %r" % (split,))
        return
    c.eq("resident.split adds up to resident.bytes", sum(vals), total, "split %r" % (split,))
    for k in SPLIT_KEYS:
        if not isinstance(mapped.get(k), int) or split[k] > mapped[k]:
            c.bad.append("resident.split.%s %r is more than resident.mapped_split.%s %r"
                         % (k, split[k], k, mapped.get(k)))
    if isinstance(res.get("mapped"), int):
        c.eq("resident.mapped_split adds up to resident.mapped", sum(mapped.values()),
             res["mapped"], "mapped_split %r" % (mapped,))


def compare_fragmentation(report, gt, run, live, resident_bytes=None):
    """Every difference between `py-heap fragmentation --json` and the ground truth."""
    c = Checker(report)
    c.eq("command", c.field("command"), "fragmentation")
    c.eq("partial", c.field("partial"), False)
    compare_resident(c, live, resident_bytes)
    compare_pymalloc(c, gt, run)
    compare_glibc(c, gt, run)
    verdict = report.get("verdict")
    c.true("verdict: a non-empty sentence", isinstance(verdict, str)
           and len(verdict.split()) >= 3 and verdict.strip().endswith("."),
           "got %r" % (verdict,))
    if c.bad and report.get("warnings"):
        c.bad.append("(py-heap's warnings: %r)" % (report.get("warnings"),))
    return c.bad


# ---- cores as address spaces -------------------------------------------------------------

class CoreFile(T.CoreImage):
    """A core file opened for reading target memory (pyheap_testlib.CoreImage; Patch writes
    into it), with the file mappings of its NT_FILE note."""

    def __init__(self, path):
        T.CoreImage.__init__(self, path)
        self.files = self._nt_file()  # [(start, end, file offset, path)]

    def _nt_file(self):
        out = []
        for ntype, _name, pos, size in self.notes():
            desc = self.map[pos:pos + size]
            if ntype != T.NT_FILE or len(desc) < 16:
                continue
            count, _page = struct.unpack_from("<QQ", desc, 0)
            names = desc[16 + 24 * count:].split(b"\0")
            for i in range(count):
                start, end, off = struct.unpack_from("<QQQ", desc, 16 + 24 * i)
                out.append((start, end, off, names[i].decode(errors="replace")))
        return out

    def file_backed(self, ph):
        return any(s < ph.vaddr + ph.memsz and ph.vaddr < e for s, e, _o, _p in self.files)

    def anonymous_writable(self):
        """PT_LOAD segments of anonymous writable memory ([heap], arenas, mmaps, stacks)."""
        return [ph for ph in self.segments if ph.flags & 2 and not self.file_backed(ph)]


class Patch:
    """Writes bytes into a core file at a target address; undo() puts the originals back."""

    def __init__(self, core, addr, data):
        self.path = core.path
        self.addr = addr
        self.offset = core.offset(addr, len(data))
        self.original = core.read(addr, len(data))
        self.data = data

    def apply(self):
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, self.data, self.offset)
        finally:
            os.close(fd)
        return self

    def undo(self):
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, self.original, self.offset)
        finally:
            os.close(fd)


# ---- finding pymalloc pools and glibc chunks in a core ------------------------------------

POOL_HEADER = struct.Struct("<IIQQQIIII")  # count, pad, freeblock, nextpool, prevpool,
# arenaindex, szidx, nextoffset, maxnextoffset (48 bytes, all versions)


class Pool:
    def __init__(self, addr, fields):
        (self.count, _pad, self.freeblock, self.nextpool, self.prevpool, self.arenaindex,
         self.szidx, self.nextoffset, self.maxnextoffset) = fields
        self.addr = addr

    def __repr__(self):
        return "Pool(0x%x class %d count %d arena %d)" % (self.addr, self.szidx, self.count,
                                                          self.arenaindex)


def pool_at(core, addr, pool_size):
    try:
        fields = POOL_HEADER.unpack(core.read(addr, POOL_HEADER.size))
    except KeyError:
        return None
    p = Pool(addr, fields)
    if p.szidx >= 64 or p.maxnextoffset != pool_size - 16 * (p.szidx + 1):
        return None
    if p.nextoffset > p.maxnextoffset + 16 * (p.szidx + 1) or p.arenaindex > 1 << 20:
        return None
    return p


def scan_pools(core, pool_size):
    """Every pool header (the signature of cpython-internals.md section 4) at POOL_SIZE
    alignment in the anonymous writable segments, in address order."""
    out = []
    for ph in core.anonymous_writable():
        start = (ph.vaddr + pool_size - 1) & ~(pool_size - 1)
        for addr in range(start, ph.vaddr + ph.filesz - POOL_HEADER.size + 1, pool_size):
            p = pool_at(core, addr, pool_size)
            if p is not None:
                out.append(p)
    return out


def middle_pools(core, pool_size, used_only=True):
    """Pools whose neighbours on both sides are pools of the same arena (in the middle of an
    arena, not its first or last pool)."""
    pools = scan_pools(core, pool_size)
    by_addr = {p.addr: p for p in pools}
    out = []
    for p in pools:
        before, after = by_addr.get(p.addr - pool_size), by_addr.get(p.addr + pool_size)
        if before is None or after is None:
            continue
        if before.arenaindex != p.arenaindex or after.arenaindex != p.arenaindex:
            continue
        if used_only and p.count == 0:
            continue
        out.append(p)
    return out


def heap_segment(core, heap_start):
    ph = core.segment(heap_start)
    if ph is None:
        raise KeyError("[heap] start 0x%x is not in the core" % heap_start)
    return ph


def walk_heap_chunks(core, heap_start, limit=100000):
    """[(chunk address, size field)] of the brk heap from its start, following sizes, up to
    limit chunks or the end of the segment."""
    ph = heap_segment(core, heap_start)
    end = ph.vaddr + ph.filesz
    out = []
    addr = heap_start
    while addr + 16 <= end and len(out) < limit:
        size_field = core.u64(addr + 8)
        size = size_field & ~SIZE_BITS
        out.append((addr, size_field))
        if size < 32 or addr + size > end:
            break
        addr += size
    return out


def demangle(pos, stored):
    """glibc safe-linking: the pointer stored at address pos."""
    return (pos >> 12) ^ stored


def mangle(pos, ptr):
    return (pos >> 12) ^ ptr


HEX = re.compile(r"0x[0-9a-fA-F]+")


def warning_addresses(warnings):
    """{int address: [warnings naming it]}."""
    out = {}
    for w in warnings or ():
        for m in HEX.findall(w):
            out.setdefault(int(m, 16), []).append(w)
    return out

