"""`watch` and the container: a real memory cgroup made under /sys/fs/cgroup with a limit, a
process in it that grows until the kernel's OOM killer kills it (SIGKILL, so no core could be
written then), and `watch --limit 70%`: the snapshot is taken when the cgroup's usage passes
70 % of its limit and before the kill, the limit and usage it logs are the cgroup's own
files', the OOM kill is seen in the cgroup's counter (memory.events / memory.oom_control) and
logged after the snapshot, and the snapshot holds the process's Chunks.

cgroup v2 is tried first (a child group with memory.max, the memory controller enabled in the
parent's cgroup.subtree_control); where the v2 hierarchy has no memory controller (a hybrid
host whose memory controller is bound to cgroup v1) that test is skipped saying so, and the
same test runs in cgroup v1's memory hierarchy, which `watch` falls back to. Both need root.

Also: `--every 1 --keep 2` keeps the newest two scheduled snapshots and says which it removed.

Run from this folder (as root):

    PYHEAP_BIN=../../build/py-heap python3 -m unittest -v test_watch_cgroup
"""
import json
import os
import signal
import subprocess
import time
import unittest

import growth_testlib as G
import pyheap_testlib as T

GROWER = os.path.join(T.FIXTURES, "workloads", "cgroup_grower.py")
LIMIT = 200 << 20
SHARE = 70


def mounts(fstype):
    """[(mount point, super options)] of this process's mounts of fstype."""
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if rfields and rfields[0] == fstype:
                out.append((fields[4], rfields[2] if len(rfields) > 2 else ""))
    return out


def read(path):
    with open(path) as fh:
        return fh.read()


def make_v2_group():
    """A new cgroup v2 group with memory.max, or (None, why not)."""
    found = mounts("cgroup2")
    if not found:
        return None, "no cgroup v2 hierarchy is mounted"
    why = []
    for mount, _opts in found:
        try:
            controllers = read(os.path.join(mount, "cgroup.controllers")).split()
        except OSError as e:
            why.append("%s: %s" % (mount, e))
            continue
        if "memory" not in controllers:
            why.append("cgroup v2 at %s has no memory controller (its controllers: %s; memory "
                       "is bound to cgroup v1 on this host)" % (mount, " ".join(controllers) or
                                                                "none"))
            continue
        try:
            with open(os.path.join(mount, "cgroup.subtree_control"), "w") as fh:
                fh.write("+memory")
        except OSError:
            pass  # may be enabled already
        group = os.path.join(mount, "pyheap-test-%d" % os.getpid())
        try:
            os.mkdir(group)
        except OSError as e:
            why.append("cannot make a group under %s: %s" % (mount, e))
            continue
        if not os.path.exists(os.path.join(group, "memory.max")):
            os.rmdir(group)
            why.append("a group under %s has no memory.max (the parent does not delegate the "
                       "memory controller)" % mount)
            continue
        with open(os.path.join(group, "memory.max"), "w") as fh:
            fh.write(str(LIMIT))
        if os.path.exists(os.path.join(group, "memory.swap.max")):
            with open(os.path.join(group, "memory.swap.max"), "w") as fh:
                fh.write("0")
        return group, None
    return None, "; ".join(why)


def make_v1_group():
    for mount, opts in mounts("cgroup"):
        if "memory" not in opts.split(","):
            continue
        group = os.path.join(mount, "pyheap-test-%d" % os.getpid())
        try:
            os.mkdir(group)
        except OSError as e:
            return None, "cannot make a group under %s: %s" % (mount, e)
        with open(os.path.join(group, "memory.limit_in_bytes"), "w") as fh:
            fh.write(str(LIMIT))
        try:
            with open(os.path.join(group, "memory.swappiness"), "w") as fh:
                fh.write("0")
        except OSError:
            pass
        return group, None
    return None, "no cgroup v1 memory hierarchy is mounted"


def oom_kills(group, version):
    name, key = ("memory.events", "oom_kill") if version == 2 else ("memory.oom_control", "oom_kill")
    for line in read(os.path.join(group, name)).splitlines():
        k, _, v = line.partition(" ")
        if k == key:
            return int(v)
    return None


class CgroupWatchBase(unittest.TestCase):
    version = None

    def setUp(self):
        T.require_pyheap()
        if self.version is None:
            self.skipTest("base class")
        if os.geteuid() != 0:
            self.skipTest("making a cgroup needs root")
        self.interp = T.require_first_available(prefer=("3.12", "3.11-debian"))
        group, why = (make_v2_group if self.version == 2 else make_v1_group)()
        if not group:
            self.skipTest("no writable cgroup v%d with a memory limit: %s" % (self.version, why))
        self.group = group
        self.addCleanup(self.remove_group)
        self.out = T.make_temp_dir("pyheap-watch-cgroup-")

    def remove_group(self):
        for _ in range(50):
            try:
                os.rmdir(self.group)
                return
            except OSError:
                time.sleep(0.1)  # the killed process is still leaving

    def test_snapshot_before_the_oom_kill(self):
        grower = T.start_process([self.interp.path, GROWER, self.group], stdout=subprocess.PIPE)
        self.addCleanup(grower.stdout.close)
        self.addCleanup(T.kill_process, grower)
        self.assertEqual(grower.stdout.readline().strip(), b"in")
        kills_before = oom_kills(self.group, self.version)
        w = G.WatchRun(["-p", str(grower.pid), "--limit", "%d%%" % SHARE, "--out", self.out,
                        "--max-dumps", "2", "--cooldown", "3600", "--json"]
                       + T.pyheap_args(self.interp))
        self.addCleanup(T.kill_process, w.proc)
        w.wait_line(r'"event": ?"exit"', timeout=120)
        w.wait(timeout=30)  # and its log read to the end
        grower.wait(timeout=30)
        events = [json.loads(t) for _a, t in w.lines]
        by = {}
        for i, e in enumerate(events):
            by.setdefault(e["event"], []).append((i, e))
        self.assertEqual(0, w.proc.returncode, w.text())
        # the group as the kernel has it
        cg = by["cgroup"][0][1]
        self.assertEqual(cg["cgroup_version"], self.version)
        self.assertEqual(cg["memory_max"], LIMIT)
        self.assertEqual(cg["cgroup"], "/" + os.path.basename(self.group))
        # one breach, at the share asked, below the limit
        self.assertEqual(len(by["breach"]), 1, w.text())
        bi, breach = by["breach"][0]
        self.assertGreaterEqual(breach["memory_current"], LIMIT * SHARE // 100)
        self.assertLess(breach["memory_current"], LIMIT)
        # its snapshot, whole, before the kill
        si, snap = by["snapshot"][0]
        self.assertGreater(si, bi)
        doc = G.load_json(snap["path"])
        self.assertEqual(doc["pid"], grower.pid)
        chunks = G.class_counts(doc["types"], names=("__main__.Chunk",))["__main__.Chunk"]
        self.assertGreaterEqual(chunks << 20, breach["memory_current"] - (48 << 20), w.text())
        self.assertLess(chunks << 20, LIMIT)
        # then the kernel killed the process: SIGKILL, counted by the cgroup, logged after
        self.assertEqual(grower.returncode, -signal.SIGKILL)
        self.assertEqual(oom_kills(self.group, self.version), kills_before + 1)
        self.assertIn("oom_kill", by, w.text())
        ki, kill = by["oom_kill"][0]
        self.assertGreater(ki, si)
        self.assertEqual(kill["oom_kill"], kills_before + 1)


class TestCgroupV2(CgroupWatchBase):
    version = 2


class TestCgroupV1(CgroupWatchBase):
    version = 1


class TestSchedule(unittest.TestCase):
    def test_every_and_keep(self):
        T.require_pyheap()
        interp = T.require_first_available()
        out = T.make_temp_dir("pyheap-watch-schedule-")
        proc = T.start_process([interp.path, "-c", "import time; time.sleep(600)"])
        self.addCleanup(T.kill_process, proc)
        time.sleep(0.5)
        w = G.WatchRun(["-p", str(proc.pid), "--every", "1", "--keep", "2", "--out", out,
                        "--json"] + T.pyheap_args(interp))
        self.addCleanup(T.kill_process, w.proc)
        for k in range(4):
            w.wait_line(r'"event": ?"snapshot"', timeout=30,
                        start=1 + max([i for i, (_a, t) in enumerate(w.lines)
                                       if '"snapshot"' in t] or [-1]) if k else 0)
        w.proc.send_signal(signal.SIGINT)
        w.wait(timeout=30)  # and its log read to the end
        events = [json.loads(t) for _a, t in w.lines]
        written = [e["path"] for e in events if e["event"] == "snapshot"]
        removed = [e["path"] for e in events if e["event"] == "removed"]
        self.assertGreaterEqual(len(written), 4)
        self.assertTrue(all(p.endswith("-scheduled.json") for p in written), written)
        self.assertEqual(removed, written[:len(written) - 2])
        self.assertEqual(sorted(os.listdir(out)), sorted(os.path.basename(p) for p in written[-2:]))
        self.assertEqual([e["event"] for e in events].count("scheduled"), len(written))
