"""Live targets find their files as the process sees them, and the user's options count
(issue 13, finding 4).

  * a process under `unshare -m` whose libpython is on a tmpfs mounted in its own mount
    namespace only (the directory is empty outside; LD_LIBRARY_PATH points there, which
    python3.12's RUNPATH lets win): `info --pid` reads it, through /proc/PID/root, and says
    where it found the library; before, "not a Python process";
  * --exe of another program on a live target: a warning naming it and the file used
    (before: ignored in silence); --exe naming a FIFO: an error, at once.
"""
import json
import os
import re
import shutil
import subprocess
import unittest

import pyheap_testlib as T

PYENV_312 = os.path.join(T.PYENV, "3.12.1")


def setUpModule():
    T.require_pyheap()


def tearDownModule():
    T.cleanup_all()


class LiveFilesTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        interp = T.interpreter("3.12")
        T.require_interpreter(interp)
        if os.geteuid() != 0 or not shutil.which("unshare"):
            raise unittest.SkipTest("needs root and unshare(1) for a mount namespace")
        cls.interp = interp
        cls.tmp = T.make_temp_dir("pyheap-live-files-")
        cls.libdir = os.path.join(cls.tmp, "lib")
        os.makedirs(cls.libdir)
        lib = os.path.join(PYENV_312, "lib", "libpython3.12.so.1.0")
        if not os.path.exists(lib):
            raise unittest.SkipTest("%s is not installed" % lib)
        ready = os.path.join(cls.tmp, "ready")
        script = ("mount -t tmpfs none %s && cp %s %s/ && LD_LIBRARY_PATH=%s exec %s -c "
                  "\"import time; open('%s', 'w').write('x'); time.sleep(100000)\""
                  % (cls.libdir, lib, cls.libdir, cls.libdir, interp.path, ready))
        cls.proc = T.start_process(["unshare", "-m", "--propagation", "private", "sh", "-c",
                                    script])
        if not T.wait_until(lambda: os.path.exists(ready), 60):
            T.kill_process(cls.proc)
            raise unittest.SkipTest("the process in its own mount namespace did not start")
        T.wait_until(lambda: T.syscall_of(cls.proc.pid, cls.proc.pid) in T.SLEEP_SYSCALLS, 30)

    @classmethod
    def tearDownClass(cls):
        T.kill_process(cls.proc)

    def test_private_mount_namespace(self):
        pid = self.proc.pid
        with open("/proc/%d/maps" % pid) as fh:
            self.assertIn(os.path.join(self.libdir, "libpython3.12.so.1.0"), fh.read())
        self.assertEqual([], os.listdir(self.libdir), "the tmpfs is seen outside its namespace")
        res = T.run_pyheap(["info", "--pid", str(pid), "--json"])
        self.assertEqual(0, res.returncode, res.describe())
        doc = json.loads(res.stdout)
        libs = [b for b in doc["binaries"] if b["role"] == "libpython"]
        self.assertEqual(["/proc/%d/root%s/libpython3.12.so.1.0" % (pid, self.libdir)],
                         [b["local_path"] for b in libs])
        self.assertEqual("3.12.1", doc["python"]["version"])

    def test_exe_of_another_program(self):
        res = T.run_pyheap(["info", "--pid", str(self.proc.pid), "--exe", "/bin/true"])
        self.assertEqual(0, res.returncode, res.describe())
        self.assertRegex(res.stderr, r"(?m)^py-heap: warning: --exe /bin/true is not the "
                         r"executable of this target \(its build-id is not [0-9a-f]+\): using "
                         r"\S+/python3\.12 instead$")

    def test_exe_fifo(self):
        fifo = os.path.join(self.tmp, "fifo")
        if not os.path.exists(fifo):
            os.mkfifo(fifo)
        res = T.run_pyheap(["info", "--pid", str(self.proc.pid), "--exe", fifo], timeout=30)
        self.assertEqual(1, res.returncode, res.describe())
        self.assertEqual(["py-heap: error: --exe: %s is not a regular file (a FIFO)" % fifo],
                         res.stderr_lines(), res.describe())


if __name__ == "__main__":
    unittest.main()
