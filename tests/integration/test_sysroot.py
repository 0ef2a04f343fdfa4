"""Cores from another machine: the files a core names are found under --sysroot, in
--lib-path directories or through --exe, and a file whose build-id differs from the one the
core recorded is used only with a clear warning.

The "other machine" is made here: Debian's python3.11 is copied to a temporary directory,
run from there and dumped; then the copy is deleted, so the path the core names no longer
exists, and copies are offered back under the options."""
import os
import re
import shutil
import unittest

import pyheap_testlib as T


def setUpModule():
    T.require_pyheap()


def tearDownModule():
    T.cleanup_all()


def patch_build_id(path):
    """Flips one byte of the file's NT_GNU_BUILD_ID (the code is untouched)."""
    build_id = bytes.fromhex(T.build_id(path))
    with open(path, "r+b") as fh:
        data = fh.read()
        at = data.find(build_id)
        assert at > 0, "build-id of %s not found in its bytes" % path
        fh.seek(at)
        fh.write(bytes([build_id[0] ^ 0xff]))


class SysrootTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not T.DEBIAN.available:
            raise unittest.SkipTest(T.DEBIAN.skip_reason())
        cls.work = T.make_temp_dir("pyheap-sysroot-")
        cls.exe = os.path.join(cls.work, "bin", "python3.11")
        os.makedirs(os.path.dirname(cls.exe))
        shutil.copy2(T.DEBIAN.path, cls.exe)
        cls.workload = T.Workload(T.DEBIAN, exe=cls.exe, workdir=cls.work).start()
        cls.core = T.gcore(cls.workload.pid, os.path.join(cls.work, "core"))
        cls.workload.stop()
        os.unlink(cls.exe)  # the core now names a file this "machine" does not have

    def info(self, *args):
        res = T.run_pyheap(["info", "--json", self.core, "--debug-dir", ""] + list(args))
        self.assertEqual(0, res.returncode, res.describe())
        return res

    def executable(self, res):
        return next(b for b in res.json()["binaries"] if b["role"] == "executable")

    def test_sysroot_finds_the_file_under_its_original_path(self):
        root = os.path.join(self.work, "root")
        copy = root + self.exe
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        shutil.copy2(T.DEBIAN.path, copy)
        res = self.info("--sysroot", root)
        self.assertEqual(copy, self.executable(res)["local_path"])
        self.assertEqual([], T.compare_info(res.json(), self.workload.gt, False))
        self.assertNotIn("build-id", res.stderr)

    def test_lib_path_finds_the_file_by_name(self):
        libdir = os.path.join(self.work, "libs")
        os.makedirs(libdir, exist_ok=True)
        shutil.copy2(T.DEBIAN.path, os.path.join(libdir, "python3.11"))
        res = self.info("--lib-path", "/nonexistent:" + libdir)
        self.assertEqual(os.path.join(libdir, "python3.11"), self.executable(res)["local_path"])
        self.assertEqual([], T.compare_info(res.json(), self.workload.gt, False))

    def test_build_id_mismatch_is_a_clear_warning(self):
        wrong = os.path.join(self.work, "wrong", "python3.11")
        os.makedirs(os.path.dirname(wrong), exist_ok=True)
        shutil.copy2(T.DEBIAN.path, wrong)
        patch_build_id(wrong)
        res = self.info("--exe", wrong)
        warnings = [l for l in res.stderr_lines() if l.startswith("py-heap: warning:")]
        self.assertTrue(any(re.search(r"build-id mismatch", l) and self.exe in l and wrong in l
                            for l in warnings), res.describe())
        self.assertTrue(any("build-id mismatch" in w for w in res.json()["warnings"]))
        # The code is the same, so the numbers still are.
        self.assertEqual([], T.compare_info(res.json(), self.workload.gt, False))

    def test_a_matching_candidate_wins_over_a_mismatching_one(self):
        wrong = os.path.join(self.work, "first", "python3.11")
        right = os.path.join(self.work, "second", "python3.11")
        for path in (wrong, right):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.copy2(T.DEBIAN.path, path)
        patch_build_id(wrong)
        res = self.info("--lib-path", os.path.dirname(wrong) + ":" + os.path.dirname(right))
        self.assertEqual(right, self.executable(res)["local_path"])
        self.assertNotIn("build-id mismatch", res.stderr)


if __name__ == "__main__":
    unittest.main()
