"""Bad targets and bad command lines: py-heap fails with the documented exit status and ONE
line on stderr, `py-heap: error: ...`, that names the cause.

The regular expressions are loose on wording and strict on the cause: each must find the
word(s) that say what is wrong (not ELF, not a core, truncated, not Python, no such process,
cannot trace, missing file with its path, the unknown verb or option).
"""
import os
import shutil
import signal
import subprocess
import unittest

import pyheap_testlib as T

TARGET_ERROR, USAGE_ERROR = 1, 2


def setUpModule():
    T.require_pyheap()


def tearDownModule():
    T.cleanup_all()


class BadInputTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = T.make_temp_dir("pyheap-bad-input-")

    def assert_error(self, args, status, cause_regex):
        res = T.run_pyheap(args)
        self.assertEqual([], T.error_line_problems(res, status, cause_regex))
        return res

    # -- files that are not what they should be -------------------------------------------

    def test_file_that_is_not_elf(self):
        path = os.path.join(self.tmp, "notes.txt")
        with open(path, "w") as fh:
            fh.write("this is not a core file\n" * 100)
        self.assert_error(["info", path], TARGET_ERROR, r"(?i)not an? (valid )?ELF|invalid ELF|"
                                                        r"bad ELF|no ELF|ELF (magic|header)")

    def test_empty_file(self):
        path = os.path.join(self.tmp, "empty")
        open(path, "w").close()
        self.assert_error(["info", path], TARGET_ERROR,
                          r"(?i)empty|too (small|short)|truncat|not an? (valid )?ELF")

    def test_missing_core_file(self):
        path = os.path.join(self.tmp, "no-such-core")
        res = self.assert_error(["info", path], TARGET_ERROR,
                                r"(?i)(no such file|not found|does not exist|cannot open)")
        self.assertIn(path, res.stderr)

    def test_elf_that_is_not_a_core(self):
        self.assert_error(["info", "/bin/true"], TARGET_ERROR,
                          r"(?i)not an? (ELF )?core|ET_(EXEC|DYN)|(executable|shared object)"
                          r".*(not|instead of) .*core")

    def test_core_of_a_process_that_is_not_python(self):
        proc = T.start_process(["sleep", "1000"])
        self.addCleanup(T.kill_process, proc)
        T.wait_until(lambda: T.syscall_of(proc.pid, proc.pid) in T.SLEEP_SYSCALLS, 10)
        core = T.gcore(proc.pid, os.path.join(self.tmp, "sleep.core"))
        T.kill_process(proc)
        self.assert_error(["info", core, "--debug-dir", ""], TARGET_ERROR,
                          r"(?i)not a python|no python|_PyRuntime|libpython|python .*not found")

    # -- truncated cores -----------------------------------------------------------------

    def truncated_copy(self, src, cut, name):
        dst = T.truncated_copy(src, os.path.join(self.tmp, name), cut)
        self.assertEqual(cut, os.path.getsize(dst))
        return dst

    def test_core_truncated_inside_pyruntime(self):
        # Cut 32 bytes into _PyRuntime, inside the PT_LOAD that holds it: the runtime root
        # (and every segment after it, the heap included) is gone.
        interp = T.require_first_available()
        w = T.shared_workload(interp)
        core = T.shared_core(interp)
        rt = T.runtime_address(w.pid, interp)
        seg = T.segment_containing(core, rt)
        self.assertIsNotNone(seg, "no PT_LOAD holds _PyRuntime 0x%x" % rt)
        cut = seg.offset + (rt - seg.vaddr) + 32
        self.assertTrue(seg.offset < cut < seg.offset + seg.filesz)
        path = self.truncated_copy(core, cut, "truncated-runtime.core")
        self.assert_error(["info", path] + T.pyheap_args(interp), TARGET_ERROR,
                          r"(?i)truncat")

    def test_core_truncated_inside_heap(self):
        # Cut in the middle of the [heap] segment: _PyRuntime is intact, but the objects
        # that hang from it (the interpreter's dicts, the threading module, ...) are cut off.
        interp = T.require_first_available()
        w = T.shared_workload(interp)
        core = T.shared_core(interp)
        heap = [m for m in T.read_maps(w.pid) if m[4] == "[heap]"]
        self.assertTrue(heap, "the workload has no [heap] mapping")
        seg = T.segment_containing(core, heap[0][0])
        self.assertIsNotNone(seg, "no PT_LOAD holds [heap]")
        cut = seg.offset + seg.filesz // 2
        path = self.truncated_copy(core, cut, "truncated-heap.core")
        self.assert_error(["info", path] + T.pyheap_args(interp), TARGET_ERROR,
                          r"(?i)truncat")

    # -- a core whose executable is gone ---------------------------------------------------

    def test_core_whose_executable_is_missing(self):
        if not T.DEBIAN.available:
            self.skipTest(T.DEBIAN.skip_reason())
        workdir = T.make_temp_dir("pyheap-moved-exe-")
        exe = os.path.join(workdir, "python3.11")
        shutil.copy2(T.DEBIAN.path, exe)
        w = T.Workload(T.DEBIAN, exe=exe, workdir=workdir).start()
        self.addCleanup(w.stop)
        core = T.gcore(w.pid, os.path.join(workdir, "core"))
        w.stop()
        os.unlink(exe)
        res = self.assert_error(["info", core, "--debug-dir", ""], TARGET_ERROR,
                                r"(?i)no such file|not found|cannot (open|find)|missing")
        self.assertIn(exe, res.stderr, "the error does not name the missing executable")
        # ... and --exe points py-heap at an identical copy: then it all works.
        res = T.run_pyheap(["info", "--json", core, "--debug-dir", "", "--exe", T.DEBIAN.path])
        self.assertEqual(0, res.returncode, res.describe())
        self.assertEqual([], T.compare_info(res.json(), w.gt, False))

    # -- processes -------------------------------------------------------------------------

    def test_pid_that_does_not_exist(self):
        proc = subprocess.Popen(["true"])
        proc.wait()
        pid = proc.pid  # reaped: no such process (unless the PID was reused at once)
        self.assertFalse(os.path.exists("/proc/%d" % pid))
        res = self.assert_error(["info", "--pid", str(pid)], TARGET_ERROR,
                                r"(?i)no such process|does not exist|not exist|ESRCH|"
                                r"not found|no process")
        self.assertIn(str(pid), res.stderr, "the error does not name the PID")

    def test_pid_that_cannot_be_traced(self):
        # A Python process already traced by strace: a second tracer cannot attach (EPERM,
        # even as root).
        if not shutil.which("strace"):
            self.skipTest("strace is not installed")
        interp = T.require_first_available()
        target = T.start_process(interp.command([interp.path, "-c", "import time; time.sleep(1000)"]),
                                 **interp.popen_kw())
        self.addCleanup(T.kill_process, target)
        tracer = T.start_process(["strace", "-o", "/dev/null", "-e", "trace=none",
                                  "-p", str(target.pid)])
        self.addCleanup(T.kill_process, tracer, signal.SIGTERM)
        self.assertTrue(T.wait_until(lambda: T.tracer_pid(target.pid) == tracer.pid, 10),
                        "strace did not attach")
        res = self.assert_error(["info", "--pid", str(target.pid)] + T.pyheap_args(interp),
                                TARGET_ERROR,
                                r"(?i)trac|attach|ptrace|permission|not permitted|EPERM")
        self.assertIn(str(target.pid), res.stderr, "the error does not name the PID")
        self.assertEqual(tracer.pid, T.tracer_pid(target.pid), "strace was detached")

    # -- usage -----------------------------------------------------------------------------

    def test_no_target(self):
        self.assert_error(["info"], USAGE_ERROR, r"(?i)target|core|--pid")

    def test_core_and_pid_together(self):
        self.assert_error(["info", "/bin/true", "--pid", "1"], USAGE_ERROR,
                          r"(?i)(either|both|not both|one of|/bin/true)")

    def test_unknown_verb(self):
        self.assert_error(["frobnicate", "/bin/true"], USAGE_ERROR, r"frobnicate")

    def test_unknown_option(self):
        self.assert_error(["info", "--bogus-option", "/bin/true"], USAGE_ERROR,
                          r"--bogus-option")

    def test_invalid_pid(self):
        self.assert_error(["info", "--pid", "12ab"], USAGE_ERROR, r"12ab")


if __name__ == "__main__":
    unittest.main()
