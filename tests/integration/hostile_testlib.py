"""Helpers for test_hostile.py: a workload that lays out the objects the hostile cases damage
and writes where they are, a core image that can be read and patched by target address,
ELF header and note surgery, and py-heap runs against the normal and the ASan+UBSan build.

Standard library only; uses pyheap_testlib (read-only) for processes, gcore, core images,
truncated copies (T.truncated_copy) and py-heap's error-line convention.
"""
import json
import os
import re
import shutil
import struct

import pyheap_testlib as T

ASAN_BIN = os.environ.get("PYHEAP_ASAN_BIN") or os.path.join(T.SOURCE_DIR, "build-asan", "py-heap")

# ---- the workload ------------------------------------------------------------------------

# Runs under the interpreter being tested; writes a ground truth (JSON) with the addresses
# of what the tests damage, then blocks in f3() -> time.sleep() with no other thread.
WORKLOAD = r'''
import ctypes, json, os, sys, time

out = sys.argv[1]
depth = int(sys.argv[2])
try:  # a kernel core when the test sends SIGSEGV (core_pattern permitting)
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
except (ImportError, ValueError, OSError):
    pass
minor = sys.version_info[1]
POOL = 4096 if minor < 10 else 16384


def u64(addr):
    return ctypes.c_uint64.from_address(addr).value


class Node:
    __slots__ = ("next", "payload")


# A chain `depth` long: chain_head -> ... -> the tail, referenced by nothing else.
chain_head = None
for i in range(depth):
    n = Node()
    n.next = chain_head
    n.payload = i
    if i == 0:
        tail_id = id(n)
    chain_head = n
del n

# Cycles in the object graph.
self_list = []
self_list.append(self_list)
self_dict = {}
self_dict["me"] = self_dict


class Cyc:
    pass


c1, c2 = Cyc(), Cyc()
c1.other, c2.other = c2, c1

# Victims: objects whose headers or fields the tests overwrite.
victim_str = "".join(["v"] * 100)
victim_dict = {"key%d" % i: i for i in range(20)}
victim_list = [1, 2, 3]
victim_bytearray = bytearray(3000)

# Free blocks in pymalloc pools: 144-byte blocks, every other one of the last 100 freed.
keep = [bytes(range(100)) for _ in range(400)]
freed_blocks = [id(b) for b in keep[200::2]]
del keep[200::2]

# Chunks freed into the main thread's tcache: bytearray buffers of 1001 bytes (0x3f0 chunks).
tc = [bytearray(1000) for _ in range(7)]
tcache_chunks = [u64(id(b) + 32) - 16 for b in tc]
del tc

keys = u64(id(victim_dict) + 32)
gt = {
    "version": [3, minor],
    "pid": os.getpid(),
    "pool_size": POOL,
    "chain_head": id(chain_head),
    "chain_tail": tail_id,
    "depth": depth,
    "self_list": id(self_list),
    "self_dict": id(self_dict),
    "cycle": [id(c1), id(c2)],
    "victim_str": id(victim_str),
    "victim_dict": id(victim_dict),
    "victim_dict_keys": keys,
    "keys_nentries_at": keys + (24 if minor >= 11 else 32),
    "keys_log2_size_at": keys + 8 if minor >= 11 else None,
    "victim_list": id(victim_list),
    "victim_bytearray": id(victim_bytearray),
    "victim_bytearray_buffer": u64(id(victim_bytearray) + 32),
    "freed_blocks": freed_blocks,
    "tcache_chunks": tcache_chunks,
    "frames": {},
}


def record(k):
    f = sys._getframe(1)
    if minor >= 11:
        gt["frames"][k] = {"frame": u64(id(f) + 24), "previous_at": 48 if minor == 11 else 8}
    else:
        gt["frames"][k] = {"frame": id(f), "previous_at": 24}


def f1():
    record("f1")
    f2()


def f2():
    record("f2")
    f3()


def f3():
    record("f3")
    tmp = out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(gt, fh)
    os.rename(tmp, out)
    while True:
        time.sleep(1000)


f1()
'''


class HostileWorkload(T.Workload):
    """The hostile workload under an interpreter; its ground truth names every victim."""

    def __init__(self, interp, depth=1000000):
        workdir = T.make_temp_dir("pyheap-hostile-")
        script = os.path.join(workdir, "hostile_workload.py")
        with open(script, "w") as fh:
            fh.write(WORKLOAD)
        T.Workload.__init__(self, interp, script=script, args=[str(depth)], workdir=workdir)

    def start(self, timeout=180):
        return T.Workload.start(self, timeout=timeout)


# ---- core images ---------------------------------------------------------------------------

PT_LOAD, PT_NOTE, NT_FILE = T.PT_LOAD, T.PT_NOTE, T.NT_FILE


class CoreImage(T.CoreImage):
    """A core file read as the target's address space (pyheap_testlib.CoreImage), with its
    ELF header, every program header in file order (phdrs) and its notes, for surgery."""

    def __init__(self, path):
        T.CoreImage.__init__(self, path)
        self.phdrs = T.program_headers(path)
        self.ehdr = T.elf_header(path)

    def phdr_offset(self, index):
        _type, phoff, phentsize, _phnum = self.ehdr
        return phoff + index * phentsize

    def load_index(self, addr):
        """Index (in the program header table) of the PT_LOAD holding addr."""
        for i, ph in enumerate(self.phdrs):
            if ph.type == PT_LOAD and ph.vaddr <= addr < ph.vaddr + max(ph.memsz, 1):
                return i
        raise KeyError("0x%x is in no PT_LOAD" % addr)

    def nt_file(self):
        """(desc offset, desc size, count, [(start, end, pgoff, path, path_file_offset)])."""
        for ntype, name, off, size in self.notes():
            if ntype == NT_FILE and name == b"CORE":
                desc = self.map[off:off + size]
                count, _page = struct.unpack_from("<QQ", desc, 0)
                entries, names = [], 16 + 24 * count
                for i in range(count):
                    start, end, pgoff = struct.unpack_from("<QQQ", desc, 16 + 24 * i)
                    nul = desc.index(b"\0", names)
                    entries.append((start, end, pgoff, desc[names:nul].decode(), off + names))
                    names = nul + 1
                return off, size, count, entries
        raise KeyError("no NT_FILE note in %s" % self.path)


def copy_file(src, dst):
    shutil.copyfile(src, dst)
    return dst


def patched_copy(src, dst, edits):
    """A copy of src with edits [(file offset, bytes)] applied."""
    copy_file(src, dst)
    with open(dst, "r+b") as fh:
        for off, data in edits:
            fh.seek(off)
            fh.write(data)
    return dst


def address_edits(core, patches):
    """File edits for patches [(target address, bytes)] of a core."""
    with CoreImage(core) as c:
        return [(c.offset(addr, len(data)), data) for addr, data in patches]


def mangle(pos, ptr):
    """glibc 2.32+ safe-linking."""
    return (pos >> 12) ^ ptr


# ---- running py-heap -------------------------------------------------------------------------

SANITIZER = re.compile(r"(ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|"
                       r"SUMMARY: (Address|UndefinedBehavior|Leak)Sanitizer|AddressSanitizer:DEADLYSIGNAL)")


def binaries():
    """[(label, path)]: the normal build, and the ASan+UBSan build when it exists."""
    out = [("build", T.PYHEAP_BIN)]
    if os.path.isfile(ASAN_BIN) and os.access(ASAN_BIN, os.X_OK):
        out.append(("build-asan", ASAN_BIN))
    return out


def run(binary, args, timeout=T.PYHEAP_TIMEOUT, env=None):
    """Runs one py-heap binary; returns a pyheap_testlib.Result."""
    # Sanitizer reports must fail the run (UBSan is built with -fno-sanitize-recover); our
    # own ASAN_OPTIONS and UBSAN_OPTIONS, when set, are kept.
    full_env = {
        "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1:"
                                       "allocator_may_return_null=1"),
        "UBSAN_OPTIONS": os.environ.get("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"),
    }
    full_env.update(env or {})
    return T.run_pyheap(args, timeout, full_env, binary=binary)


def sanitizer_problems(result):
    hits = [ln for ln in result.stderr_lines() if SANITIZER.search(ln)]
    if hits or (result.returncode is not None and result.returncode < 0):
        return ["sanitizer report or signal (exit %s): %s" % (result.returncode, hits[:3]),
                result.describe()]
    return []


def warning_lines(result):
    return [ln for ln in result.stderr_lines() if ln.startswith("py-heap: warning: ")]


def save_json(path, obj):
    with open(path, "w") as fh:
        json.dump(obj, fh)
