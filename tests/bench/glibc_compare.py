#!/usr/bin/env python3
"""Compares the glibc malloc walker with what a Python process says about its own heap.

For each interpreter, starts a workload that allocates from several threads (so there are
several arenas, tcaches, fastbins, unsorted/small/large bins and mmapped chunks; one thread
arena grows past 64 MiB into a second heap; three threads exit first, so their arenas are
reused from the free list and their tcaches are gone), then, just
before sleeping, records mallinfo2() and malloc_info() (through ctypes) in a loop until two
readings in a row are identical (the first ctypes calls allocate: function objects, the FILE
and its buffer; once the loop body is malloc-neutral the last reading is the state the process
sleeps in). gc is disabled first so that no collection frees malloc'd objects in between.

Then runs tests/bench/glibc_check (built here from glibc_check.c and the static library) on
the live PID and on a gcore core, each with libc's debug symbols (default debug dirs), with
none (--debug-dirs ""), and with none and no code decoding (main_arena from the scan of libc's
data), and compares EXACTLY, per arena (malloc_info's <heap nr> order is the
arena ring order): system bytes (current, max), fastbin, unsorted, small-bin and large-bin
chunk counts and bytes, top size, number of heaps and their address space; process-wide:
every mallinfo2 field (mallinfo2 counts tcache chunks as in use: uordblks must equal the
walker's in-use + internal + tcache + heap-header bytes) and the mmapped chunk count/bytes.
With libc6-dbg, gdb also reads each thread's `tcache` TLS variable: the walker must find the
same tcache structs with the same number of chunks.

Usage: glibc_compare.py [--build DIR] [--python PY ...] [--threads N] [--big GB] [--keep]
Exit status 0 when every comparison matched.
"""
import argparse
import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

PYTHONS = ["/usr/bin/python3.11"] + [
    "/root/.pyenv/versions/%s/bin/python%s" % (v, v.rsplit(".", 1)[0])
    for v in ("3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0")
]

WORKLOAD = r'''
import ctypes, gc, os, random, sys, threading, time
outdir, nthreads, big_gb = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.restype = None
libc.free.argtypes = [ctypes.c_void_p]
FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
class MI2(ctypes.Structure):
    _fields_ = [(f, ctypes.c_size_t) for f in FIELDS]
libc.mallinfo2.restype = MI2
libc.fdopen.restype = ctypes.c_void_p
libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fflush.argtypes = [ctypes.c_void_p]
keep = []
SIZES = [24, 40, 56, 72, 100, 120, 200, 400, 700, 1000, 1500, 3000, 9000, 40000]

def work(seed, barrier):
    rnd = random.Random(seed)
    if seed == 1:
        # More than HEAP_MAX_SIZE (64 MiB) below the mmap threshold: a second heap, chained
        # by heap_info.prev, the old one ending in fenceposts.
        keep.append([bytes(60000) for _ in range(1300)])
    ptrs = [libc.malloc(rnd.choice(SIZES)) for _ in range(3000)]
    objs = [bytes(rnd.randrange(513, 8000)) for _ in range(800)]
    big = [bytearray(rnd.randrange(140000, 400000)) for _ in range(2)]
    rnd.shuffle(ptrs)
    for p in ptrs[:2000]:
        libc.free(p)
    del objs[::3]
    # Requests that sort the unsorted bin into small and large bins.
    later = [libc.malloc(n) for n in (2048, 5000, 60000)]
    kept = (ptrs[2000:], objs, big, later)
    # Last, small frees beyond what the tcache holds (7 a size): fastbins. Nothing after them
    # may make a large-bin request (a list of more than 127 items would), which consolidates
    # the fastbins away.
    small = [libc.malloc(rnd.choice((24, 40, 56, 100))) for _ in range(200)]
    for p in small[::2]:
        libc.free(p)
    keep.append((kept, small))
    if barrier is not None:
        barrier.wait()
        time.sleep(10**6)

gc.collect()
gc.disable()
if big_gb:
    # About big_gb GiB in 1 KiB malloc'd blocks (bytes objects above pymalloc's 512 bytes).
    n = int(big_gb * (1 << 30) / 1040)
    blocks = [bytes(1000) for _ in range(n)]
    del blocks[::10]
    keep.append(blocks)
# Threads that allocate, free and exit: their arenas go to the free list and are taken again
# by the workers below, their tcaches are emptied and freed.
def short_lived(seed):
    rnd = random.Random(seed)
    ptrs = [libc.malloc(rnd.choice(SIZES)) for _ in range(500)]
    for p in ptrs[::2]:
        libc.free(p)
    keep.append(ptrs[1::2])
gone = [threading.Thread(target=short_lived, args=(100 + i,)) for i in range(3)]
for t in gone:
    t.start()
for t in gone:
    t.join()
barrier = threading.Barrier(nthreads + 1)
threads = [threading.Thread(target=work, args=(i + 1, barrier), daemon=True)
           for i in range(nthreads)]
for t in threads:
    t.start()
work(0, None)
barrier.wait()
time.sleep(0.2)
fp = libc.fdopen(os.open(os.path.join(outdir, "malloc_info.xml"),
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC), b"w")
rec = os.open(os.path.join(outdir, "mallinfo2.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
for i in range(6):
    libc.malloc_info(0, fp)
    libc.fflush(fp)
    m = libc.mallinfo2()
    os.write(rec, (" ".join(str(getattr(m, f)) for f in FIELDS) + "\n").encode())
os.write(rec, b"READY\n")
time.sleep(10**6)
'''

GDB_TCACHE = r'''
import gdb
out = []
for th in sorted(gdb.selected_inferior().threads(), key=lambda t: t.num):
    th.switch()
    try:
        t = gdb.parse_and_eval("tcache")
        addr = int(t)
        count = size = 0
        if addr:
            counts = t.dereference()["counts"]
            for i in range(64):
                c = int(counts[i])
                count += c
                size += c * (32 + 16 * i)
        out.append([th.ptid[1], addr, count, size])
    except gdb.error as e:
        out.append([th.ptid[1], -1, str(e), 0])
print("TCACHE " + repr(out))
'''

FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()


def build_check(build_dir, sanitize):
    lib = os.path.join(build_dir, "libpyheap_static.a")
    exe = os.path.join(build_dir, "glibc_check")
    cmd = ["gcc", "-std=gnu11", "-O2", "-g", "-Wall", "-Wextra", "-Werror",
           "-I" + os.path.join(ROOT, "src"), os.path.join(HERE, "glibc_check.c"), lib,
           "-lelf", "-ldwarf", "-ljansson", "-o", exe]
    if sanitize:
        cmd[1:1] = ["-fsanitize=address,undefined"]
    subprocess.run(cmd, check=True)
    return exe


# NOMASK: malloc_info sums chunksize_nomask() over the unsorted, small and large bins, so its
# totals include each chunk's flag bits, while mallinfo2 and fastbin totals use chunksize().
# A binned chunk always has exactly PREV_INUSE set (glibc bins it with size | PREV_INUSE, and
# NON_MAIN_ARENA only matters for chunks in use), so the size is total - count. If a binned
# chunk had another flag, the per-kind comparison would show it.


def parse_xml(text):
    """Per <heap nr>: fast, unsorted, small, large (count, bytes), rest, system, aspace."""
    heaps = []
    for m in re.finditer(r'<heap nr="(\d+)">(.*?)</heap>', text, re.S):
        body = m.group(2)
        h = {"fast": [0, 0], "unsorted": [0, 0], "small": [0, 0], "large": [0, 0]}
        for s in re.finditer(r'<size from="(\d+)" to="(\d+)" total="(\d+)" count="(\d+)"/>',
                             body):
            fr, to, total, count = map(int, s.groups())
            kind = "fast" if fr != to and to - fr == 15 else "small" if to < 1024 else "large"
            if kind != "fast":
                h[kind][0] += count
                h[kind][1] += total - count  # see NOMASK
        u = re.search(r'<unsorted from="\d+" to="\d+" total="(\d+)" count="(\d+)"/>', body)
        if u:
            h["unsorted"] = [int(u.group(2)), int(u.group(1)) - int(u.group(2))]
        for typ in ("fast", "rest"):
            t = re.search(r'<total type="%s" count="(\d+)" size="(\d+)"/>' % typ, body)
            h[typ + "_total"] = [int(t.group(1)), int(t.group(2))]
        h["fast"] = h["fast_total"]
        for typ in ("current", "max"):
            h["system_" + typ] = int(re.search(r'<system type="%s" size="(\d+)"/>' % typ,
                                               body).group(1))
        h["aspace"] = int(re.search(r'<aspace type="total" size="(\d+)"/>', body).group(1))
        sub = re.search(r'<aspace type="subheaps" size="(\d+)"/>', body)
        h["subheaps"] = int(sub.group(1)) if sub else 1
        heaps.append(h)
    mm = re.search(r'<total type="mmap" count="(\d+)" size="(\d+)"/>\s*<system type="current"',
                   text)
    return heaps, [int(mm.group(1)), int(mm.group(2))]


def read_oracle(outdir):
    lines = open(os.path.join(outdir, "mallinfo2.txt")).read().split("\n")
    readings = [list(map(int, l.split())) for l in lines if l and l != "READY"]
    xml = open(os.path.join(outdir, "malloc_info.xml")).read()
    docs = [d for d in xml.split('<malloc version="1">') if d.strip()]
    stable = len(readings) >= 2 and readings[-1] == readings[-2] and docs[-1] == docs[-2]
    heaps, mmap = parse_xml(docs[-1])
    return {"mallinfo2": dict(zip(FIELDS, readings[-1])), "heaps": heaps, "mmap": mmap,
            "stable": stable, "nreadings": len(readings)}


def compare(walk, oracle, tcache_oracle):
    """Returns a list of (what, expected, got) mismatches and the number of checks."""
    bad, n = [], 0

    def check(what, exp, got):
        nonlocal n
        n += 1
        if exp != got:
            bad.append((what, exp, got))

    arenas = walk["arenas"]
    check("number of arenas", len(oracle["heaps"]), len(arenas))
    kinds = {"fast": "fastbin", "unsorted": "unsorted", "small": "small bin",
             "large": "large bin"}
    for i, (h, a) in enumerate(zip(oracle["heaps"], arenas)):
        k = a["kinds"]
        check("arena %d system_mem" % i, h["system_current"], a["system_mem"])
        check("arena %d max_system_mem" % i, h["system_max"], a["max_system_mem"])
        for x, y in kinds.items():
            check("arena %d %s chunks" % (i, x), h[x], k[y])
        bins_bytes = h["unsorted"][1] + h["small"][1] + h["large"][1]
        bins_count = h["unsorted"][0] + h["small"][0] + h["large"][0]
        # "rest" = top + the bins, the bins with their flag bits (NOMASK).
        check("arena %d top size" % i, h["rest_total"][1] - bins_bytes - bins_count,
              a["top_size"])
        check("arena %d rest count (bins + top)" % i, h["rest_total"][0], bins_count + 1)
        check("arena %d heaps" % i, h["subheaps"], a["nheaps"])
        check("arena %d address space" % i, h["aspace"], a["aspace"])
    mi = oracle["mallinfo2"]
    tot = lambda kind: sum(a["kinds"][kind][1] for a in arenas)
    cnt = lambda kind: sum(a["kinds"][kind][0] for a in arenas)
    system = sum(a["system_mem"] for a in arenas)
    free_bytes = tot("fastbin") + tot("unsorted") + tot("small bin") + tot("large bin") + tot("top")
    check("mallinfo2.arena", mi["arena"], system)
    check("mallinfo2.ordblks", mi["ordblks"],
          cnt("unsorted") + cnt("small bin") + cnt("large bin") + len(arenas))
    check("mallinfo2.smblks", mi["smblks"], cnt("fastbin"))
    check("mallinfo2.fsmblks", mi["fsmblks"], tot("fastbin"))
    check("mallinfo2.fordblks", mi["fordblks"], free_bytes)
    check("mallinfo2.uordblks (in use + internal + tcache + headers)", mi["uordblks"],
          tot("in use") + tot("internal") + tot("tcache") + tot("free, in no list") +
          sum(a["overhead"] for a in arenas))
    check("mallinfo2.hblks", mi["hblks"], walk["mmapped"][0])
    check("mallinfo2.hblkhd", mi["hblkhd"], walk["mmapped"][1])
    check("mallinfo2.keepcost", mi["keepcost"], arenas[0]["top_size"])
    check("malloc_info mmap", oracle["mmap"], walk["mmapped"])
    check("visit == stats", True, walk["visit_matches_stats"])
    check("complete", True, walk["complete"])
    if tcache_oracle is not None:
        exp = sorted((a, c, s) for _, a, c, s in tcache_oracle if isinstance(a, int) and a > 0)
        got = sorted((int(t["address"], 16), t["count"], t["bytes"]) for t in walk["tcaches"])
        check("tcaches (address, chunks, bytes) from gdb", exp, got)
    return bad, n


def run_check(exe, target, debug_dirs, extra=()):
    cmd = [exe] + target + (["--debug-dirs", debug_dirs] if debug_dirs is not None else [])
    cmd += list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), p.stderr))
    return json.loads(p.stdout)


def gdb_tcaches(target, tmp):
    script = os.path.join(tmp, "tcache.py")
    with open(script, "w") as f:
        f.write(GDB_TCACHE)
    p = subprocess.run(["gdb", "-nx", "-batch"] + target + ["-x", script],
                       capture_output=True, text=True, timeout=300)
    m = re.search(r"^TCACHE (.*)$", p.stdout, re.M)
    return ast.literal_eval(m.group(1)) if m else None


def print_oracle(oracle):
    mi = oracle["mallinfo2"]
    print("  mallinfo2: " + " ".join("%s=%d" % (f, mi[f]) for f in FIELDS if f != "usmblks"))
    print("  %-3s %10s %12s %14s %14s %16s %10s %5s" % (
        "nr", "system", "fast", "unsorted", "small", "large", "top", "heaps"))
    for i, h in enumerate(oracle["heaps"]):
        bins = h["unsorted"][1] + h["small"][1] + h["large"][1]
        nbins = h["unsorted"][0] + h["small"][0] + h["large"][0]
        print("  %-3d %10d %12s %14s %14s %16s %10d %5d" % (
            i, h["system_current"], "%d/%d" % tuple(h["fast"]), "%d/%d" % tuple(h["unsorted"]),
            "%d/%d" % tuple(h["small"]), "%d/%d" % tuple(h["large"]),
            h["rest_total"][1] - bins - nbins, h["subheaps"]))


def summary(walk):
    a0 = walk["arenas"]
    return ("main_arena %s (%s), mp_ %s (%s), glibc %s, %d arenas, %d heaps, %d tcaches, "
            "%d mmapped, open %.3fs visit %.3fs, %d chunks" % (
                walk["main_arena"], walk["main_arena_how"], walk["mp"], walk["mp_how"],
                walk["version"], len(a0), sum(a["nheaps"] for a in a0), len(walk["tcaches"]),
                walk["mmapped"][0], walk["open_seconds"], walk["visit_seconds"],
                walk["visited_chunks"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--python", action="append")
    ap.add_argument("--threads", type=int, default=6)
    ap.add_argument("--big", type=float, default=0.0, help="GiB held in 1 KiB blocks")
    ap.add_argument("--no-sanitize", action="store_true")
    ap.add_argument("--no-core", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print the process's own numbers (mallinfo2, per arena)")
    args = ap.parse_args()
    exe = build_check(args.build, not args.no_sanitize)
    failures = 0
    for py in args.python or PYTHONS:
        if not os.path.exists(py):
            print("skip %s (missing)" % py)
            continue
        tmp = tempfile.mkdtemp(prefix="glibc_compare.")
        wl = os.path.join(tmp, "workload.py")
        with open(wl, "w") as f:
            f.write(WORKLOAD)
        proc = subprocess.Popen([py, wl, tmp, str(args.threads), str(args.big)])
        try:
            deadline = time.time() + 600
            rec = os.path.join(tmp, "mallinfo2.txt")
            while not (os.path.exists(rec) and "READY" in open(rec).read()):
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("workload did not get ready")
                time.sleep(0.1)
            oracle = read_oracle(tmp)
            print("== %s (pid %d): %d arenas, oracle %s after %d readings" % (
                py, proc.pid, len(oracle["heaps"]), "stable" if oracle["stable"] else "UNSTABLE",
                oracle["nreadings"]))
            if not oracle["stable"]:
                failures += 1
            if args.verbose:
                print_oracle(oracle)
            tc = gdb_tcaches(["-p", str(proc.pid)], tmp)
            targets = [("live", ["--pid", str(proc.pid)])]
            if not args.no_core:
                core = os.path.join(tmp, "core")
                subprocess.run(["gdb", "-nx", "-batch", "-p", str(proc.pid), "-ex",
                                "gcore " + core], capture_output=True, check=True, timeout=600)
                targets.append(("core", ["--core", core]))
            for name, target in targets:
                for dd, label, extra in ((None, "symbols", ()), ("", "no symbols", ()),
                                         ("", "scan only", ("--no-code",))):
                    walk = run_check(exe, target, dd, extra)
                    bad, n = compare(walk, oracle, tc)
                    status = "OK" if not bad else "MISMATCH"
                    print("  %-4s %-10s %s: %d checks, %s" % (name, label, status, n, summary(walk)))
                    for what, exp, got in bad:
                        print("      %s: expected %r, got %r" % (what, exp, got))
                    for w in walk["warnings"]:
                        print("      warning: %s" % w)
                    failures += bool(bad)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
    print("FAILED: %d" % failures if failures else "ALL MATCHED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
