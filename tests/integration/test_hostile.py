"""A catalogue of hostile inputs: files that are not cores, cores that are cut, overlapping or
absurd, notes that lie, missing and mismatched files, processes py-heap does not support, and
heaps whose allocator headers, free lists, GC lists, frame chains and objects were damaged on
purpose. Each case names what py-heap must answer: the exit status and, when it fails, the
exact cause on its one `py-heap: error:` line (a regex over the whole line); when it
succeeds, what the output must show. Every case runs against build/py-heap and, when it
exists, build-asan/py-heap (ASan+UBSan): no sanitizer report, no signal, ever.

Then the live process, which py-heap must leave as it found it:
  * a target killed while py-heap holds it stopped (PYHEAP_TEST_HOLD_MS) makes py-heap exit
    at once after its hold with one error line naming the process that exited (py-heap
    itself killed with SIGKILL mid-read: test_live_safety.test_sigkill_while_held);
  * py-heap never writes to the target: every writable mapping of a target blocked in a
    read(2) (one thread, nothing runs) has the same bytes before and after `types`,
    `retained`, `fragmentation`, `info` and `types --copy` on it, read from /proc/PID/mem.
    The only bytes that may change are the thread's rseq area (cpu_id_start, cpu_id...),
    which the kernel rewrites whenever the thread is scheduled on another CPU; they are
    excluded by address.

Targets: a workload (hostile_testlib.WORKLOAD) under pyenv's 3.12 that lays out the victims
and writes their addresses; its gcore (small: a 1,000-node chain), its kernel core (notes
first, so that a cut can fall inside a PT_LOAD with the notes intact; skipped when the
kernel writes no core here), a gcore with a 1,000,000-node chain, and gcores of 3.7, 3.6 and
2.7 processes.
"""
import json
import os
import re
import signal
import struct
import subprocess
import time
import unittest

import hostile_testlib as H
import pyheap_testlib as T

OK, FAIL, USAGE = 0, 1, 2
HEX = r"0x[0-9a-f]+"
PYENV = T.PYENV
PYHEAP_ERROR = "py-heap: error: "
CENSUS = r"(?m)^type +count +size"  # the header of the `types` table


def setUpModule():
    T.require_pyheap()


def tearDownModule():
    T.cleanup_all()


def q(v):
    return struct.pack("<Q", v)


class Targets:
    """The cores every test class shares, made once per test process."""

    _kernel = None
    _gcores = {}  # depth -> (gdb core, ground truth)
    _old = {}

    @classmethod
    def interp(cls):
        interp = T.interpreter("3.12")
        T.require_interpreter(interp)
        return interp

    @classmethod
    def gdb_core(cls, depth):
        """(gdb core, ground truth) of the workload with a chain of depth nodes; the workload
        is stopped once its core is made."""
        if depth not in cls._gcores:
            w = H.HostileWorkload(cls.interp(), depth=depth).start()
            core = T.gcore(w.pid, os.path.join(w.workdir, "core"))
            w.stop()
            cls._gcores[depth] = (core, w.gt)
        return cls._gcores[depth]

    @classmethod
    def small(cls):
        """(gdb core, ground truth) of the workload with a 1,000-node chain."""
        return cls.gdb_core(1000)

    @classmethod
    def kernel(cls):
        """(kernel core, ground truth), or SkipTest when the kernel writes no core file."""
        if cls._kernel is None:
            with open("/proc/sys/kernel/core_pattern") as fh:
                pattern = fh.read().strip()
            if pattern.startswith("|"):
                raise unittest.SkipTest("core_pattern pipes cores to %s" % pattern)
            w = H.HostileWorkload(cls.interp(), depth=1000).start()
            os.kill(w.pid, signal.SIGSEGV)
            w.proc.wait(timeout=60)
            core = T.wait_until(lambda: [os.path.join(w.workdir, f) for f in os.listdir(w.workdir)
                                         if f.startswith("core")], 30)
            if not core:
                raise unittest.SkipTest("the kernel wrote no core (core_pattern %r)" % pattern)
            T.wait_until(lambda: os.path.getsize(core[0]) > 0, 10)
            time.sleep(0.5)  # the kernel finishes writing before the parent can reap it
            cls._kernel = (core[0], w.gt)
        return cls._kernel

    @classmethod
    def big(cls):
        """(gdb core, ground truth) of the workload with a 1,000,000-node chain."""
        return cls.gdb_core(1000000)

    @classmethod
    def old(cls, version, exe):
        """A gcore of a sleeping process of an unsupported interpreter (pyenv)."""
        if version not in cls._old:
            path = os.path.join(PYENV, version, "bin", exe)
            if not os.path.exists(path):
                raise unittest.SkipTest("%s is not installed" % path)
            d = T.make_temp_dir("pyheap-old-")
            ready = os.path.join(d, "ready")
            p = T.start_process([path, "-c", "import time; open(%r, 'w').write('x'); "
                                 "time.sleep(1000)" % ready])
            try:
                if not T.wait_until(lambda: os.path.exists(ready), 60):
                    raise RuntimeError("%s did not start" % path)
                cls._old[version] = T.gcore(p.pid, os.path.join(d, "core"))
            finally:
                T.kill_process(p)
        return cls._old[version]


class HostileCase(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = T.make_temp_dir("pyheap-hostile-cases-")

    def path(self, name):
        return os.path.join(self.tmp, name)

    def expect(self, args, status, error=None, stdout=None, warning=None, one_line=False,
               timeout=600):
        """Runs every build on args. error: a regex matching the whole error line (after
        'py-heap: error: '), which must be the last line of stderr; None: no error line.
        stdout, warning: regexes that the output, and some warning line, must match."""
        for label, binary in H.binaries():
            with self.subTest(build=label):
                res = H.run(binary, args, timeout=timeout)
                bad = H.sanitizer_problems(res)
                lines = res.stderr_lines()
                errors = [ln for ln in lines if ln.startswith(PYHEAP_ERROR)]
                if res.returncode != status:
                    bad.append("exit status %s, expected %s" % (res.returncode, status))
                if error is not None:
                    bad += T.error_line_problems(res, status, "^(?:%s)$" % error, one_line)
                    if lines and not lines[-1].startswith(PYHEAP_ERROR):
                        bad.append("the error line is not the last line of stderr")
                elif errors:
                    bad.append("unexpected error line: %r" % errors)
                if stdout is not None and not re.search(stdout, res.stdout):
                    bad.append("stdout does not match /%s/: %r" % (stdout, res.stdout[:1500]))
                if warning is not None and not any(re.search(warning, w)
                                                    for w in H.warning_lines(res)):
                    bad.append("no warning matches /%s/: %r" % (warning, H.warning_lines(res)))
                if bad:
                    bad.append(res.describe())
                self.assertEqual([], bad)

    def patched(self, core, name, patches):
        """A copy of core with patches [(target address, bytes)]."""
        return H.patched_copy(core, self.path(name), H.address_edits(core, patches))

    def edited(self, core, name, edits):
        """A copy of core with edits [(file offset, bytes)]."""
        return H.patched_copy(core, self.path(name), edits)


# ---- files that are not what they claim ------------------------------------------------------


class FormatTest(HostileCase):
    """Files and headers: refused before anything is read, with the cause."""

    def test_not_elf(self):
        path = self.path("notes.txt")
        with open(path, "w") as fh:
            fh.write("not a core\n" * 100)
        self.expect(["info", path], FAIL, r"\S+/notes\.txt is not an ELF file", one_line=True)

    def test_too_short_for_an_elf_header(self):
        path = self.path("short")
        with open(path, "wb") as fh:
            fh.write(b"\x7fELF\x02\x01\x01")
        self.expect(["info", path], FAIL, r"\S+/short is not an ELF file \(7 bytes\)",
                    one_line=True)

    def test_elf_that_is_not_a_core(self):
        self.expect(["info", "/bin/true"], FAIL,
                    r"/bin/true is not a core file: it is (a shared object or PIE executable|"
                    r"an executable)", one_line=True)

    def test_32_bit_core(self):
        core, _gt = Targets.small()
        path = self.edited(core, "class32.core", [(4, b"\x01")])
        self.expect(["info", path], FAIL, r"\S+ is an ELF file for another machine \(class 1, "
                    r"machine 62\); py-heap reads x86-64 cores", one_line=True)

    def test_big_endian_core(self):
        core, _gt = Targets.small()
        path = self.edited(core, "msb.core", [(5, b"\x02")])
        self.expect(["info", path], FAIL, r"\S+ is an ELF file for another machine \(class 2, "
                    r"machine 62\); py-heap reads x86-64 cores", one_line=True)

    def test_core_of_another_machine(self):
        core, _gt = Targets.small()
        path = self.edited(core, "aarch64.core", [(18, struct.pack("<H", 183))])
        self.expect(["info", path], FAIL, r"\S+ is an ELF file for another machine \(class 2, "
                    r"machine 183\); py-heap reads x86-64 cores", one_line=True)


class TruncatedTest(HostileCase):
    """Cores cut short: in the program headers, in the notes, inside a PT_LOAD."""

    def test_cut_in_the_program_headers(self):
        core, _gt = Targets.small()
        path = T.truncated_copy(core, self.path("cut-phdrs.core"), 64 + 56 * 3)
        self.expect(["info", path], FAIL, r"core file \S+ is truncated or corrupt: its program "
                    r"headers cannot be read", one_line=True)

    def test_cut_in_the_notes(self):
        # gdb writes its notes after the segments: a cut anywhere loses them.
        core, _gt = Targets.small()
        notes = [p for p in T.program_headers(core) if p.type == H.PT_NOTE][0]
        path = T.truncated_copy(core, self.path("cut-notes.core"), notes.offset + 100)
        self.expect(["info", path], FAIL,
                    r"core file \S+ is truncated: it has %d bytes but its notes \(mapped files, "
                    r"threads; gdb writes them last\) end at byte %d"
                    % (notes.offset + 100, notes.offset + notes.filesz), one_line=True)

    def test_cut_inside_the_heap_segment(self):
        # The kernel writes its notes first: the cut loses half of a PT_LOAD and all after.
        core, gt = Targets.kernel()
        with H.CoreImage(core) as c:
            seg = c.phdrs[c.load_index(gt["victim_bytearray_buffer"])]
        path = T.truncated_copy(core, self.path("cut-heap.core"), seg.offset + seg.filesz // 2)
        self.expect(["types", path], FAIL,
                    r"core file \S+ is truncated: \d+ bytes of \d+ segments are missing \(the "
                    r"file has %d bytes\): the Python 3\.12 runtime at %s in \S+ does not check "
                    r"out: .*" % (seg.offset + seg.filesz // 2, HEX), one_line=True)

    def test_cut_inside_the_last_segment(self):
        # Only the last segment (no Python data) loses bytes: complete answers, but partial.
        core, _gt = Targets.kernel()
        last = max((p for p in T.program_headers(core) if p.type == H.PT_LOAD and p.filesz),
                   key=lambda p: p.offset)
        path = T.truncated_copy(core, self.path("cut-last.core"), last.offset + last.filesz // 2)
        self.expect(["types", path], FAIL,
                    r"results are partial: core file \S+ is truncated: %d bytes of 1 segments "
                    r"are missing \(the file has %d bytes\)"
                    % (last.filesz - last.filesz // 2, last.offset + last.filesz // 2),
                    stdout=CENSUS)


class SegmentTest(HostileCase):
    """Program headers that lie: segments overlapping, absurdly large, beyond the file. The
    victim is the kernel core's last PT_LOAD ([vsyscall]: no Python data), so that the rest
    of the answer is complete and the damage is what makes it partial."""

    def last_load(self):
        core, _gt = Targets.kernel()
        with H.CoreImage(core) as c:
            loads = [i for i, p in enumerate(c.phdrs) if p.type == H.PT_LOAD]
            return core, c.phdr_offset(loads[-1]), c.phdrs[loads[-2]], loads[-1]

    def test_overlapping_segments(self):
        core, at, prev, _index = self.last_load()
        path = self.edited(core, "overlap.core", [(at + 16, q(prev.vaddr))])
        self.expect(["types", path], FAIL, r"results are partial: core file \S+: PT_LOAD at "
                    r"0x%x overlaps another; ignored" % prev.vaddr, stdout=CENSUS)

    def test_segment_wrapping_the_address_space(self):
        core, at, _prev, index = self.last_load()
        path = self.edited(core, "huge-memsz.core", [(at + 40, q(1 << 63))])
        self.expect(["types", path], FAIL, r"results are partial: core file \S+: PT_LOAD %d has "
                    r"impossible sizes; ignored" % index, stdout=CENSUS)

    def test_segment_larger_in_the_file_than_in_memory(self):
        core, at, _prev, index = self.last_load()
        path = self.edited(core, "huge-filesz.core", [(at + 32, q(1 << 62))])
        self.expect(["types", path], FAIL, r"results are partial: core file \S+: PT_LOAD %d has "
                    r"impossible sizes; ignored" % index, stdout=CENSUS)

    def test_segment_data_beyond_the_file(self):
        core, at, _prev, _index = self.last_load()
        path = self.edited(core, "far-offset.core", [(at + 8, q(1 << 40))])
        self.expect(["types", path], FAIL, r"results are partial: core file \S+ is truncated: "
                    r"4096 bytes of 1 segments are missing \(the file has %d bytes\)"
                    % os.path.getsize(core), stdout=CENSUS)


class NoteTest(HostileCase):
    """NT_FILE notes whose counts lie, and the files they name."""

    def nt_file(self):
        core, gt = Targets.small()
        with H.CoreImage(core) as c:
            return core, gt, c.nt_file()

    def test_nt_file_count_absurd(self):
        core, _gt, (desc, size, _count, _entries) = self.nt_file()
        path = self.edited(core, "ntfile-huge.core", [(desc, q(1 << 40))])
        self.expect(["info", path], FAIL, r"core file \S+: NT_FILE claims 1099511627776 entries "
                    r"in %d bytes" % size, one_line=True)

    def test_nt_file_count_one_too_many(self):
        core, _gt, (desc, _size, count, _entries) = self.nt_file()
        path = self.edited(core, "ntfile-plus-one.core", [(desc, q(count + 1))])
        self.expect(["info", path], FAIL, r"core file \S+: NT_FILE names end before entry %d"
                    % count, one_line=True)

    def test_nt_file_count_zero(self):
        core, _gt, (desc, _size, _count, _entries) = self.nt_file()
        path = self.edited(core, "ntfile-zero.core", [(desc, q(0))])
        self.expect(["info", path], FAIL, r"core file \S+ is not a Python process: no loaded "
                    r"module defines _PyRuntime \(executable: unknown\)", one_line=True)

    def moved_libpython(self, name):
        """A copy whose NT_FILE names libpython under a directory that does not exist (every
        entry of it: the core holds the library's bytes, but symbols come from the file)."""
        core, gt, (_desc, _size, _count, entries) = self.nt_file()
        libs = [e for e in entries if "/libpython3.12.so" in e[3]]
        self.assertTrue(libs, "the core maps no libpython3.12")
        moved = libs[0][3].replace("/versions/", "/versionX/")
        edits = [(e[4], moved.encode()) for e in libs]
        return self.edited(core, name, edits), moved, gt

    def test_missing_mapped_file(self):
        path, moved, _gt = self.moved_libpython("moved-lib.core")
        self.expect(["info", path], FAIL,
                    r"cannot find %s, mapped by core file \S+: use --exe PATH or --lib-path DIR "
                    r"to point at it" % re.escape(moved), one_line=True)
        # ... and --lib-path finds it by name (its build-id matches: no warning).
        res = H.run(T.PYHEAP_BIN, ["info", path, "--lib-path", os.path.join(PYENV, "3.12.1", "lib")])
        self.assertEqual(0, res.returncode, res.describe())
        self.assertNotIn("build-id", res.stderr)

    def test_build_id_mismatch(self):
        # The library found by name is another build (3.11's, under 3.12's name): its
        # symbols do not fit the memory, and the error says why (the warning names both
        # build-ids).
        path, moved, _gt = self.moved_libpython("mismatch.core")
        wrong = os.path.join(self.tmp, "wrong-lib")
        os.makedirs(wrong, exist_ok=True)
        other = os.path.join(PYENV, "3.11.7", "lib", "libpython3.11.so.1.0")
        if not os.path.exists(other):
            self.skipTest("%s is not installed" % other)
        link = os.path.join(wrong, "libpython3.12.so.1.0")
        if not os.path.lexists(link):
            os.symlink(other, link)
        self.expect(["info", path, "--lib-path", wrong], FAIL,
                    r"the Python 3\.\d+ runtime at %s in \S+ does not check out: .* \(warning: "
                    r"build-id mismatch for %s: the core recorded [0-9a-f]{40} but %s has "
                    r"[0-9a-f]{40}; results may be wrong .*\)"
                    % (HEX, re.escape(moved), re.escape(link)), one_line=True)

    def fifo_of_length(self, length):
        """A FIFO (with no writer, ever) whose path has exactly length characters."""
        d = T.make_temp_dir("pyheap-fifo-")
        name = "f" * (length - len(d) - 1)
        self.assertGreater(len(name), 0, "the temporary directory's path is too long")
        path = os.path.join(d, name)
        os.mkfifo(path)
        return path

    def test_fifo_in_nt_file(self):
        # open() of a FIFO with no writer blocks forever: py-heap must look before it opens
        # (issue 13, finding 3). libpython's entries name a FIFO of the same length.
        core, _gt, (_desc, _size, _count, entries) = self.nt_file()
        libs = [e for e in entries if "/libpython3.12.so" in e[3]]
        self.assertTrue(libs, "the core maps no libpython3.12")
        fifo = self.fifo_of_length(len(libs[0][3]))
        path = self.edited(core, "fifo-lib.core", [(e[4], fifo.encode()) for e in libs])
        started = time.monotonic()
        self.expect(["info", path], FAIL,
                    r"cannot find %s, mapped by core file \S+: use --exe PATH or --lib-path DIR "
                    r"to point at it \(no module found defines _PyRuntime\) \(warning: %s is not a "
                    r"regular file \(a FIFO\)\)"
                    % (re.escape(fifo), re.escape(fifo)), one_line=True, timeout=60)
        self.assertLess(time.monotonic() - started, 60)

    def test_fifo_as_exe(self):
        core, _gt = Targets.small()
        fifo = self.fifo_of_length(40)
        self.expect(["info", core, "--exe", fifo], FAIL,
                    r"--exe: %s is not a regular file \(a FIFO\)" % re.escape(fifo),
                    one_line=True, timeout=60)

    def test_exe_of_another_program(self):
        # A mismatching --exe is not dropped in silence for the file the core recorded
        # (issue 13, finding 6): the warning names it and the file used instead.
        core, _gt = Targets.small()
        self.expect(["info", core, "--exe", "/bin/true"], OK,
                    warning=r"^py-heap: warning: --exe /bin/true is not the executable of this "
                    r"target \(its build-id is not [0-9a-f]+\): using \S+/python3\.12 instead$")


class SilentChangeTest(HostileCase):
    """One corrupted field must never change an answer in silence (issue 13, finding 2):
    a read that fails while references are followed is counted, and every analysis on the
    graph says so (partial, the first object named); a size larger than the allocator
    blocks holding the object is bounded by them, and said."""

    UNMAPPED = 0x10  # below every mapping

    def said(self, args, cause):
        """Partial (exit 1, 'results are partial: ...'), and cause on stderr, as a warning
        or as the error line's reason."""
        self.expect(args, FAIL, r"results are partial: .*")
        res = H.run(T.PYHEAP_BIN, args)
        self.assertRegex(res.stderr, r"(?m)^py-heap: (warning|error: results are partial): "
                         + cause)

    def test_dict_keys_unmapped(self):
        core, gt = Targets.small()
        d = gt["victim_dict"]
        path = self.patched(core, "dict-keys.core", [(d + 32, q(self.UNMAPPED))])
        for verb in ("retained", "unreachable"):
            with self.subTest(verb=verb):
                self.said([verb, path], r"\d+ reads? failed while following references: .*; "
                          r"the first, in the dict at 0x%x: .*" % d)

    def test_list_items_unmapped(self):
        core, gt = Targets.small()
        lst = gt["victim_list"]
        path = self.patched(core, "list-items.core", [(lst + 24, q(self.UNMAPPED))])
        refs = (r"\d+ reads? failed while following references: .*; the first, in the list at "
                r"0x%x: .*0x10.*" % lst)
        self.said(["retained", path], refs)
        self.said(["path", "0x%x" % gt["chain_head"], path], refs)

    def test_dict_keys_size_bounded(self):
        # One byte: the keys' log2 size 4 -> 30 made a 10.7 GiB dict of a 75 MiB heap.
        core, gt = Targets.small()
        if gt["keys_log2_size_at"] is None:
            self.skipTest("no dk_log2_size before 3.11")
        d = gt["victim_dict"]
        path = self.patched(core, "dict-log2.core", [(gt["keys_log2_size_at"], bytes([30]))])
        self.expect(["types", path], FAIL, r"results are partial: 1 objects claim sizes their "
                    r"allocator blocks cannot hold \(counted at the blocks' size\); the first, "
                    r"the dict at 0x%x: it claims \d+ bytes, more than the \d+ bytes of the "
                    r"blocks holding it and its buffers" % d, stdout=CENSUS)
        res = H.run(T.PYHEAP_BIN, ["types", "--json", path])
        doc = json.loads(res.stdout)
        dicts = [t for t in doc["types"] if t["name"] == "dict"]
        self.assertLess(dicts[0]["size"], 1 << 30, "the dict type still holds the claimed size")


class NotSupportedTest(HostileCase):
    """Processes py-heap does not read: not Python, or a Python older than 3.8."""

    def test_not_a_python_process(self):
        d = T.make_temp_dir("pyheap-sleep-")
        p = T.start_process(["sleep", "1000"])
        try:
            T.wait_until(lambda: T.syscall_of(p.pid, p.pid) in T.SLEEP_SYSCALLS, 10)
            core = T.gcore(p.pid, os.path.join(d, "core"))
        finally:
            T.kill_process(p)
        self.expect(["info", core], FAIL, r"core file \S+ is not a Python process: no loaded "
                    r"module defines _PyRuntime \(executable: \S*/sleep\)", one_line=True)

    def unsupported(self, version, exe, minor, lib):
        core = Targets.old(version, exe)
        self.expect(["info", core], FAIL, r"unsupported Python version %s in \S+/%s "
                    r"\(py-heap supports 3\.8 to 3\.15\)" % (re.escape(minor), re.escape(lib)),
                    one_line=True)

    def test_python_3_7(self):
        self.unsupported("3.7.16", "python3.7", "3.7", "libpython3.7m.so.1.0")

    def test_python_3_6(self):
        self.unsupported("3.6.15", "python3.6", "3.6", "libpython3.6m.so.1.0")

    def test_python_2_7(self):
        self.unsupported("2.7.18", "python2.7", "2.7", "libpython2.7.so.1.0")


# ---- damaged heaps -------------------------------------------------------------------------


class DamagedHeapTest(HostileCase):
    """Allocator headers, free lists, GC lists and frame chains overwritten in a copy of the
    core at the addresses the workload wrote: partial results naming the damaged address."""

    def test_corrupt_pool_header(self):
        core, gt = Targets.small()
        pool = gt["victim_str"] & ~(gt["pool_size"] - 1)
        path = self.patched(core, "pool.core", [(pool + 36, struct.pack("<I", 0xdeadbeef))])
        self.expect(["types", path], FAIL, r"results are partial: pymalloc pool 0x%x of arena "
                    r"\d+ has a corrupt header \(its size class is out of range\): its blocks "
                    r"are not counted" % pool, stdout=CENSUS)

    def test_corrupt_chunk_size(self):
        core, gt = Targets.small()
        chunk = gt["victim_bytearray_buffer"] - 16
        path = self.patched(core, "chunk.core", [(chunk + 8, q(0x4141414141414141))])
        self.expect(["types", path], FAIL, r"results are partial: glibc malloc: arena %s, heap "
                    r"%s: chunk 0x%x has a bad size field \(0x4141414141414141\); %s bytes up to "
                    r"%s not walked" % (HEX, HEX, chunk, HEX, HEX), stdout=CENSUS)

    def test_path_type_after_partial_census(self):
        # A type the census did not find is a usage error (2) only when the census is whole;
        # after a partial one it is exit 1 with the cause (issue 13, finding 6).
        core, gt = Targets.small()
        chunk = gt["victim_bytearray_buffer"] - 16
        path = self.patched(core, "chunk-path.core", [(chunk + 8, q(0x4141414141414141))])
        self.expect(["path", "--type", "NoSuchType", path], FAIL,
                    r"no object of type 'NoSuchType' was found, but results are partial: glibc "
                    r"malloc: .*chunk 0x%x has a bad size field.*" % chunk)
        self.expect(["path", "--type", "NoSuchType", core], USAGE,
                    r"no type named 'NoSuchType' \(see `types` for the names\)", one_line=True)

    def test_cycle_in_a_pool_free_list(self):
        core, gt = Targets.small()
        ps = gt["pool_size"]
        found = None
        with H.CoreImage(core) as c:
            for b in gt["freed_blocks"]:
                pool = b & ~(ps - 1)
                head = c.u64(pool + 8)
                second = c.u64(head) if head and head & ~(ps - 1) == pool else 0
                if second and second & ~(ps - 1) == pool:
                    found = (pool, head, second)
                    break
        self.assertIsNotNone(found, "no pool with two free blocks among the freed ones")
        pool, head, second = found
        path = self.patched(core, "pool-cycle.core", [(second, q(head))])  # head -> second -> head
        self.expect(["types", path], FAIL, r"results are partial: pymalloc pool 0x%x has a "
                    r"corrupt free list; skipped" % pool, stdout=CENSUS)

    def test_cycle_in_a_tcache_list(self):
        core, gt = Targets.small()
        with H.CoreImage(core) as c:
            seg = c.phdrs[c.load_index(gt["victim_bytearray_buffer"])]  # [heap]
            tcache = seg.vaddr + 16
            self.assertEqual(0x290, c.u64(seg.vaddr + 8) & ~7, "[heap] starts with the tcache")
            counts = struct.unpack("<64H", c.read(tcache, 128))
            entries = struct.unpack("<64Q", c.read(tcache + 128, 512))
            i = max(range(64), key=lambda k: counts[k])
            self.assertGreaterEqual(counts[i], 2)
            e1 = entries[i]
            e2 = H.mangle(e1, c.u64(e1))
        path = self.patched(core, "tcache-cycle.core", [(e2, q(H.mangle(e2, e1)))])
        self.expect(["types", path], FAIL, r"results are partial: glibc malloc: tcache 0x%x list "
                    r"%d \(%d chunks from 0x%x\) is not a valid chain; its chunks are counted as "
                    r"in use" % (tcache, i, counts[i], e1), stdout=CENSUS)

    def gc_loop(self):
        core, gt = Targets.small()
        head = gt["victim_list"] - 16  # its PyGC_Head: _gc_next points to itself
        return self.patched(core, "gc-loop.core", [(head, q(head))])

    def test_cycle_in_a_gc_list_info(self):
        # The GC line is left out; the rest of `info` is complete.
        self.expect(["info", self.gc_loop()], FAIL, r"results are partial: cannot count the GC "
                    r"generations: GC list of generation \d loops without returning to its head "
                    r"after \d+ objects", stdout=r"(?m)^Threads \(1\)")

    def test_cycle_in_a_gc_list_types(self):
        # The census finds objects in the allocators: a GC list is only a cross-check, whose
        # walk stops at the cycle.
        self.expect(["types", self.gc_loop()], OK, stdout=CENSUS)

    def frame_loop(self):
        core, gt = Targets.small()
        f = gt["frames"]
        f1, f3 = f["f1"], f["f3"]
        # f3 -> f2 -> f1 -> f3 ...: f1's previous (the module's frame) becomes f3.
        return self.patched(core, "frame-loop.core", [(f1["frame"] + f1["previous_at"], q(f3["frame"]))]), gt

    def test_cycle_in_a_frame_chain_path(self):
        path, gt = self.frame_loop()
        self.expect(["path", path, hex(gt["victim_str"])], FAIL,
                    r"results are partial: the frames of thread \d+ are partly unreadable: frame "
                    r"chain of thread state %s has a cycle" % HEX, stdout=r"victim_str")

    def test_cycle_in_a_frame_chain_info(self):
        # info shows the top frame only: the loop below it is not walked.
        path, _gt = self.frame_loop()
        self.expect(["info", path], OK, stdout=r"(?m)^\s+\d+\s+\d+\s+\S+\s+f3 \(")

    def test_dict_keys_claiming_2_to_the_40_entries(self):
        core, gt = Targets.small()
        path = self.patched(core, "dict-2-40.core", [(gt["keys_nentries_at"], q(1 << 40))])
        d = gt["victim_dict"]
        self.expect(["show", path, hex(d)], OK, stdout=r"value: <unreadable dict at 0x%x>" % d)
        self.expect(["types", path], OK, stdout=CENSUS)
        # Its entries cannot be followed: said, with the dict, never a silent answer.
        self.expect(["referrers", path, hex(d)], FAIL, r"results are partial: 1 reads failed "
                    r"while following references: .*; the first, in the dict at 0x%x: reading "
                    r"dict at 0x%x: dict keys at %s claim 1099511627776 entries in \d+ slots"
                    % (d, d, HEX), stdout=r"victim_dict")

    def test_dict_keys_of_2_to_the_40_slots(self):
        core, gt = Targets.small()
        path = self.patched(core, "dict-log2-40.core", [(gt["keys_log2_size_at"], bytes([40]))])
        d = gt["victim_dict"]
        # Its size cannot be read: counted at the basic size, and said.
        self.expect(["show", path, hex(d)], FAIL, r"results are partial: the sizes of 1 objects "
                    r"could not be read \(counted at their basic size\); the first, the dict at "
                    r"0x%x: .*" % d, stdout=r"value: <unreadable dict at 0x%x>" % d)

    def test_str_of_length_2_to_the_60(self):
        core, gt = Targets.small()
        s = gt["victim_str"]
        path = self.patched(core, "str-2-60.core", [(s + 16, q(1 << 60))])
        # Its length is impossible, so it is no live object: `show` says what its block is
        # (not a static object read from the heap: it was, only when mmap had put the arena
        # right after a library's data), it is not counted, and it has no path.
        self.expect(["show", path, hex(s)], FAIL,
                    r"no object at 0x%x: it is 0 bytes into a native allocation of \d+ bytes "
                    r"at 0x%x \(no Python object\)" % (s, s), one_line=True)
        self.expect(["types", path], OK, stdout=CENSUS)
        self.expect(["path", path, hex(s)], FAIL, r"0x%x is not the address of a live object "
                    r"\(see `show` for what is there\)" % s, one_line=True)


class ObjectGraphTest(HostileCase):
    """Cycles in the object graph, and a chain a million objects deep."""

    def test_self_referencing_containers(self):
        core, gt = Targets.small()
        self.expect(["path", core, hex(gt["self_list"])], OK, stdout=r"\.self_list")
        self.expect(["path", core, hex(gt["self_dict"])], OK, stdout=r"\.self_dict")
        self.expect(["referrers", core, hex(gt["cycle"][0])], OK, stdout=r"\.other")

    def test_list_whose_items_are_itself(self):
        # ob_item points at the list's own ob_item field: the list refers to itself.
        core, gt = Targets.small()
        a = gt["victim_list"]
        path = self.patched(core, "list-self.core", [(a + 24, q(a + 24))])
        self.expect(["retained", path], OK, stdout=r"Largest retainers")

    def test_million_deep_chain(self):
        core, gt = Targets.big()
        self.assertEqual(1000000, gt["depth"])
        # --wide: the whole expression on one line (in 80 columns it is folded at its spaces).
        self.expect(["path", core, hex(gt["chain_tail"]), "--wide"], OK,
                    stdout=r"\.chain_head(\.next)+ \.\.\.\(\d+ steps\)\.\.\. (\.next)+")
        self.expect(["retained", core], OK,
                    stdout=r"sys\.modules\['__main__'\]\.chain_head retains")


# ---- live processes ---------------------------------------------------------------------------


class LiveTargetTest(unittest.TestCase):
    """What py-heap does to a live process: nothing it can see, and a clean exit when the
    process dies under it."""

    maxDiff = None

    def setUp(self):
        self.interp = T.require_first_available()
        self.args = T.pyheap_args(self.interp)

    def test_target_that_exits_while_held(self):
        hold_ms = 4000
        for label, binary in H.binaries():
            with self.subTest(build=label):
                w = T.Workload(self.interp, script=T.HEARTBEAT_WORKLOAD).start()
                self.addCleanup(w.stop)
                proc = T.start_process([binary, "info", "--pid", str(w.pid)] + self.args,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       env=dict(os.environ, PYHEAP_TEST_HOLD_MS=str(hold_ms)))
                self.addCleanup(T.kill_process, proc)
                held = T.wait_until(lambda: proc.poll() is not None or (
                    T.thread_states(w.pid) and
                    all(s == "t" for s in T.thread_states(w.pid).values())), 30, 0.005)
                self.assertTrue(held and proc.poll() is None, "py-heap did not hold the target")
                t0 = time.monotonic()
                os.kill(w.pid, signal.SIGKILL)
                try:
                    out, err = proc.communicate(timeout=hold_ms / 1000.0 + 60)
                except subprocess.TimeoutExpired:
                    self.fail("py-heap hangs after its target was killed")
                res = T.Result(proc.args, proc.returncode, out.decode(errors="replace"),
                               err.decode(errors="replace"), time.monotonic() - t0)
                bad = H.sanitizer_problems(res)
                bad += T.error_line_problems(res, FAIL, r"^process %d exited while it was being "
                                             r"read(: |$)" % w.pid)
                self.assertEqual([], bad)
                w.stop()

    def test_never_writes_to_the_target(self):
        d = T.make_temp_dir("pyheap-nowrite-")
        ready = os.path.join(d, "ready.json")
        target = T.start_process(self.interp.command([self.interp.path, "-c", NO_WRITE_TARGET,
                                                      ready]), **self.interp.popen_kw())
        self.addCleanup(T.kill_process, target)
        blocked = T.wait_until(lambda: os.path.exists(ready) and
                               T.syscall_of(target.pid, target.pid) == 0, 60)  # read(2)
        self.assertTrue(blocked, "the target did not block in read(2)")
        self.assertEqual(1, len(T.thread_states(target.pid)), "the target must have one thread")
        with open(ready) as fh:
            rseq = json.load(fh)
        skip = (rseq["rseq"], rseq["rseq"] + max(rseq["rseq_size"], 32)) if rseq["rseq"] else None
        before = writable_memory(target.pid)
        self.assertEqual(before, writable_memory(target.pid), "the target changes by itself")
        for label, binary in H.binaries():
            for verb in (["types"], ["retained"], ["fragmentation"], ["info"], ["types", "--copy"]):
                res = H.run(binary, [verb[0], "--pid", str(target.pid)] + verb[1:] + self.args)
                self.assertEqual(0, res.returncode, res.describe())
                self.assertEqual([], H.sanitizer_problems(res))
                after = writable_memory(target.pid)
                changed = changed_ranges(before, after, skip)
                self.assertEqual([], changed, "%s %s wrote to the target" % (label, verb))
                self.assertEqual([], T.not_stopped_problems(target.pid))


# A target that runs no code while it is read: one thread, blocked in read(2) on a pipe that
# never gets data (no timeout written back, as select/nanosleep would). It writes where its
# rseq area is: the kernel updates cpu_id there whenever the thread moves to another CPU.
NO_WRITE_TARGET = r'''
import ctypes, json, os, sys
libc = ctypes.CDLL(None)
libc.pthread_self.restype = ctypes.c_void_p
tp = libc.pthread_self()  # the thread pointer on x86-64
try:
    off = ctypes.c_long.in_dll(libc, "__rseq_offset").value
    size = ctypes.c_uint.in_dll(libc, "__rseq_size").value
except ValueError:
    off = size = 0
r, w = os.pipe()
data = {"k%d" % i: [str(i)] * 3 for i in range(20000)}
with open(sys.argv[1] + ".tmp", "w") as fh:
    json.dump({"rseq": tp + off if size else 0, "rseq_size": size}, fh)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
os.read(r, 1)
'''


def writable_memory(pid):
    """{(start, end, path): bytes} of every readable, writable mapping, from /proc/PID/mem."""
    out = {}
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for start, end, perms, _off, path in T.read_maps(pid):
            if perms[:2] != "rw" or path in ("[vvar]", "[vvar_vclock]", "[vsyscall]"):
                continue
            mem.seek(start)
            out[(start, end, path)] = mem.read(end - start)
    return out


def changed_ranges(before, after, skip):
    """Addresses whose bytes differ (outside skip, a (start, end) range), as strings."""
    out = []
    for key, old in before.items():
        new = after.get(key)
        if new is None:
            out.append("mapping %x-%x %s disappeared" % key)
            continue
        if new == old:
            continue
        start = key[0]
        diff = [start + i for i in range(len(old)) if old[i] != new[i]
                and not (skip and skip[0] <= start + i < skip[1])]
        if diff:
            out.append("%d bytes of %x-%x %s, first at 0x%x" % (len(diff), key[0], key[1],
                                                                key[2], diff[0]))
    return out


if __name__ == "__main__":
    unittest.main()
