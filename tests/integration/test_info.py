"""`py-heap info` on every interpreter of the machine, live (--pid) and on a gcore, against
the ground truth that fixtures/workloads/info_workload.py writes about itself.

The ground truth is exact (test_workload_oracle.py proves it with gdb on every run), so
every difference reported here is py-heap's.
"""
import os
import subprocess
import unittest

import pyheap_testlib as T


def setUpModule():
    T.require_pyheap()


def tearDownModule():
    T.cleanup_all()


def has_symtab(path):
    res = subprocess.run(["readelf", "-S", "-W", path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True)
    return " .symtab " in res.stdout


def heap_size(pid):
    return sum(end - start for start, end, _p, _o, path in T.read_maps(pid) if path == "[heap]")


class InfoTest(unittest.TestCase):
    maxDiff = None

    def for_each_run(self, body):
        """Calls body(run) for every InfoRun, each in its own subTest; an absent interpreter
        is skipped with the reason."""
        for run in T.info_runs():
            with self.subTest(run=run.label):
                reason = run.interp.skip_reason()
                if reason:
                    self.skipTest(reason)
                body(run)

    def info_live(self, run, *extra, env=None):
        w = T.shared_workload(run.interp)
        res = T.run_pyheap(["info", "--json", "--pid", str(w.pid)] + run.args + list(extra),
                           env=env)
        self.assertEqual(0, res.returncode, res.describe())
        self.assertEqual([], T.not_stopped_problems(w.pid),
                         "the target was left stopped or traced after " + res.cmdline())
        return w, res.json()

    def info_core(self, run, *extra):
        w = T.shared_workload(run.interp)
        core = T.shared_core(run.interp)
        res = T.run_pyheap(["info", "--json", core] + run.args + list(extra))
        self.assertEqual(0, res.returncode, res.describe())
        return w, core, res.json()

    # -- the numbers -----------------------------------------------------------------------

    def test_live_matches_ground_truth(self):
        def body(run):
            w, info = self.info_live(run)
            self.assertEqual([], T.compare_info(info, w.gt, run.expect_debug_info))
            self.assertEqual("live", T.get(info, "target.kind"))
            self.assertEqual(w.pid, T.get(info, "target.pid"))
            self.assertIs(True, T.get(info, "target.stopped"))

        self.for_each_run(body)

    def test_core_matches_ground_truth(self):
        def body(run):
            w, core, info = self.info_core(run)
            self.assertEqual([], T.compare_info(info, w.gt, run.expect_debug_info))
            self.assertEqual("core", T.get(info, "target.kind"))
            self.assertEqual(os.path.abspath(core), os.path.abspath(T.get(info, "target.path")))
            # A core names its process (NT_PRPSINFO); null is allowed by the schema.
            self.assertIn(T.get(info, "target.pid"), (w.pid, None))

        self.for_each_run(body)

    def test_core_of_a_dead_process_matches_ground_truth(self):
        # The shared cores come from processes that are still alive; this one is read after
        # its process is gone, so nothing can come from /proc.
        def body(run):
            if run.label.endswith("default-debug-dirs"):
                return  # same process and core as the 3.11-debian run
            w = T.Workload(run.interp).start()
            self.addCleanup(w.stop)
            core = T.gcore(w.pid, os.path.join(w.workdir, "core"))
            w.stop()
            res = T.run_pyheap(["info", "--json", core] + run.args)
            self.assertEqual(0, res.returncode, res.describe())
            self.assertEqual([], T.compare_info(res.json(), w.gt, run.expect_debug_info))
            os.unlink(core)

        self.for_each_run(body)

    def test_live_no_stop_matches_ground_truth(self):
        # The workload does not change while it sleeps, so reading it without stopping it
        # must give the same numbers.
        def body(run):
            w, info = self.info_live(run, "--no-stop")
            self.assertEqual([], T.compare_info(info, w.gt, run.expect_debug_info))
            self.assertIs(False, T.get(info, "target.stopped"))

        self.for_each_run(body)

    # -- the binaries and the memory map ------------------------------------------------------

    def check_binaries(self, run, w, info, live):
        binaries = T.get(info, "binaries")
        by_role = {}
        for b in binaries:
            by_role.setdefault(b.get("role"), []).append(b)
        bad = []
        interp = run.interp
        # (role, the path the target names, the file on this machine): a chroot's binary is
        # named by its path inside, and read from the --sysroot.
        if interp.chroot:
            # Read with --sysroot (pyheap_args), which live targets honour too.
            exe = interp.target_path
            local = interp.path
            expected = [("executable", exe, local)]
        else:
            exe = os.path.realpath(interp.path)
            expected = [("executable", exe, exe)]
        if interp.libpython:
            lib = os.path.realpath(interp.libpython)
            expected.append(("libpython", lib, lib))
        for role, path, local in expected:
            entries = by_role.get(role, [])
            if len(entries) != 1:
                bad.append("%d binaries with role %s: %r" % (len(entries), role, binaries))
                continue
            b = entries[0]
            want = {
                "path": path,
                "local_path": local,
                "build_id": T.build_id(local),
                "base": hex(T.load_base(w.pid, path)),
                "symbols": "symtab" if has_symtab(local) else "dynsym",
            }
            for key, value in want.items():
                got = b.get(key)
                if key == "base" and isinstance(got, str):
                    got = hex(int(got, 16))
                if got != value:
                    bad.append("%s.%s: py-heap says %r, expected %r" % (role, key, got, value))
            if T.no_debug_files(run.args) and b.get("debug_file") is not None:
                bad.append("%s.debug_file is %r with --debug-dir ''" % (role, b["debug_file"]))
        if run.interp.debian:
            # Debian links libpython statically: no separate libpython may be named.
            for b in by_role.get("libpython", []):
                if b.get("path") != exe:
                    bad.append("a libpython %r in a static build" % (b,))
        return bad

    def test_live_binaries_and_memory(self):
        def body(run):
            w, info = self.info_live(run)
            bad = self.check_binaries(run, w, info, True)
            rt = T.runtime_address(w.pid, run.interp)
            got_rt = T.get(info, "python.runtime_address", None)
            if not isinstance(got_rt, str) or int(got_rt, 16) != rt:
                bad.append("python.runtime_address: %r, expected %s" % (got_rt, hex(rt)))
            if T.get(info, "memory.heap", None) != heap_size(w.pid):
                bad.append("memory.heap: %r, [heap] in /proc/PID/maps is %d bytes"
                           % (T.get(info, "memory.heap", None), heap_size(w.pid)))
            if run.interp.debian and T.no_debug_files(run.args):
                # Without debug info: 3.13+ publish their layout (_Py_DebugOffsets).
                want = "debug-offsets" if run.interp.minor >= (3, 13) else "built-in"
                if T.get(info, "python.layout_source", None) != want:
                    bad.append("python.layout_source %r without any debug info, expected %r"
                               % (T.get(info, "python.layout_source", None), want))
            self.assertEqual([], bad)

        self.for_each_run(body)

    def test_core_binaries_and_memory(self):
        def body(run):
            w, core, info = self.info_core(run)
            bad = self.check_binaries(run, w, info, False)
            rt = T.runtime_address(w.pid, run.interp)
            got_rt = T.get(info, "python.runtime_address", None)
            if not isinstance(got_rt, str) or int(got_rt, 16) != rt:
                bad.append("python.runtime_address: %r, expected %s" % (got_rt, hex(rt)))
            if T.get(info, "memory.heap", None) != heap_size(w.pid):
                bad.append("memory.heap: %r, [heap] was %d bytes when the core was made"
                           % (T.get(info, "memory.heap", None), heap_size(w.pid)))
            self.assertEqual([], bad)

        self.for_each_run(body)

    # -- layouts that check themselves ------------------------------------------------------

    def test_vendor_patched_gc_heads_are_found_and_said(self):
        # Debian's 3.13.5+ align PyGC_Head to 4 bytes: the generations' list heads are at
        # +20/44/68 of the GC state, not the upstream table's +24/48/72. Read without debug
        # files (the upstream offsets), the heads at +24 do not check out as circular lists;
        # py-heap says so and where it found them, and counts exactly (compare_info, in the
        # other tests); never a silent zero.
        want = ("GC heads at +20/44/68, not +24/48/72 (which did not check out): a "
                "vendor-patched PyGC_Head (4-byte aligned, as in Debian's 3.13.5+)")
        runs = [r for r in T.info_runs() if r.interp.chroot and r.interp.minor == (3, 13)]
        for run in runs:
            with self.subTest(run=run.label):
                reason = run.interp.skip_reason()
                if reason:
                    self.skipTest(reason)
                _w, live = self.info_live(run)
                w, core, info = self.info_core(run)
                for what, doc in (("live", live), ("core", info)):
                    self.assertEqual([want], T.get(doc, "python.layout_notes"), what)
                    self.assertEqual(w.gt["gc"]["generations"], T.get(doc, "gc.generations"))
                res = T.run_pyheap(["info", core] + run.args)
                self.assertEqual(0, res.returncode, res.describe())
                self.assertIn("GC heads at +20/44/68, not +24/48/72", res.stdout)
        # Where the table is right, nothing is said.
        for run in T.info_runs():
            if run.interp.available and not run.interp.chroot:
                _w, info = self.info_live(run)
                self.assertEqual([], T.get(info, "python.layout_notes"), run.label)
                break

    # -- repeatability ---------------------------------------------------------------------

    def test_same_target_read_twice_is_identical(self):
        def body(run):
            _w, first = self.info_live(run)
            _w, second = self.info_live(run)
            self.assertEqual([], T.json_diff(T.strip_volatile(first), T.strip_volatile(second)),
                             "two live reads differ")
            _w, _core, first = self.info_core(run)
            _w, _core, second = self.info_core(run)
            self.assertEqual([], T.json_diff(T.strip_volatile(first), T.strip_volatile(second)),
                             "two reads of the same core differ")

        self.for_each_run(body)

    def test_live_and_core_agree(self):
        # The core was made from the very process that is read live: everything about Python
        # must be the same (only the target description may differ).
        def body(run):
            _w, live = self.info_live(run)
            _w, _core, core = self.info_core(run)
            for key in ("python", "modules", "threads", "gc"):
                self.assertEqual([], T.json_diff(T.strip_volatile(live.get(key)),
                                                 T.strip_volatile(core.get(key)), key),
                                 "live and core differ in %s" % key)

        self.for_each_run(body)


if __name__ == "__main__":
    unittest.main()
