"""Helpers for py-heap's integration tests (standard library only; run by /usr/bin/python3).

What is here:
  * INTERPRETERS / info_runs(): every CPython on the machine, with a label ("3.8", ...,
    "3.11-debian") and how py-heap is to be run on it;
  * register_cases() / require_run(): a test class made once per interpreter (a base class
    that skips itself, one subclass per interpreter, named after its label);
  * require_first_available(): one interpreter, any, for what does not depend on the version;
    pyheap_args(): the py-heap arguments an interpreter is read with;
  * Workload: starts fixtures/workloads/info_workload.py (or another workload) under an
    interpreter and waits for the ground truth it writes about itself; always killed in the
    end (cleanup registered with the test, with atexit as a last resort);
  * shared_workload() / shared_core(): one workload process and one gcore of it per
    interpreter per test process, reused by every test that only reads them
    (start_workloads() / wait_for_workload() / workload_core(): the same for other
    workloads, started in parallel);
  * run_process() / run_pyheap(): a process (py-heap: $PYHEAP_BIN or another build) run to
    its end with a timeout, everything captured;
  * gcore(), run_gdb_oracle(): gdb-made cores and gdb's outside view of a process;
  * ELF helpers (program headers, build-id, symbol values), CoreImage (a core's memory by
    target address) and /proc helpers;
  * compare_info(): the list of every difference between py-heap's `info --json` and a
    ground truth, so that one failing test reports all mismatches at once.

Environment (set by ctest): PYHEAP_BIN, PYHEAP_BUILD_DIR, PYHEAP_SOURCE_DIR.
PYHEAP_BIN defaults to SOURCE_DIR/build/py-heap. By hand: PYHEAP_INTERPRETERS=3.13-sid,3.12
runs only those interpreters (the others are skipped); PYHEAP_CHROOT_CACHE: where the Debian
chroots are (default /var/cache/py-heap/chroot).
"""
import atexit
import bisect
import json
import mmap
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("PYHEAP_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("PYHEAP_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")


PYHEAP_BIN = os.environ.get("PYHEAP_BIN") or os.path.join(SOURCE_DIR, "build", "py-heap")
FIXTURES = os.path.join(SOURCE_DIR, "fixtures")
INFO_WORKLOAD = os.path.join(FIXTURES, "workloads", "info_workload.py")
HEARTBEAT_WORKLOAD = os.path.join(FIXTURES, "workloads", "heartbeat_workload.py")
GDB_ORACLE = os.path.join(HERE, "gdb_oracle.py")

WORKLOAD_TIMEOUT = 60  # seconds for a workload to write its ground truth
PYHEAP_TIMEOUT = 120  # seconds for one py-heap run
GDB_TIMEOUT = 180  # seconds for one gdb run (gcore of a big process, oracle walk)

# ---- interpreters ------------------------------------------------------------------------


class Interpreter:
    """One CPython on this machine: a pyenv build, Debian 12's own, or one of a Debian chroot
    (scripts/setup.sh --chroots) whose workloads run inside the chroot (chroot_command())."""

    def __init__(self, label, path, minor, pyenv_dir=None, chroot=None):
        self.label = label  # "3.8" ... "3.13", "3.11-debian", "3.13-sid", "3.13-trixie"
        self.chroot = chroot  # the chroot's directory, or None
        self.target_path = path  # the binary as its processes see it
        self.path = (chroot + path) if chroot else path  # the binary itself, on this machine
        self.minor = minor  # (3, 11)
        self.pyenv_dir = pyenv_dir  # /root/.pyenv/versions/3.11.7 or None
        self.debian = pyenv_dir is None  # Debian's build: stripped, its DWARF in a -dbg package
        self._support = None  # None: not asked yet; "": supported; else why not
        # Where the GC generations' list heads start in the GC state (for the oracles):
        # Debian's 3.13.5+ align PyGC_Head to 4 bytes (gchead-alignment.diff).
        self.gc_heads_offset = (20 if chroot and minor == (3, 13) else 8 if minor >= (3, 15)
                                else 24)  # 3.15 dropped trash_delete_* before them

    @property
    def installed(self):
        return os.path.isfile(self.path) and os.access(self.path, os.X_OK)

    @property
    def selected(self):
        """Not left out by $PYHEAP_INTERPRETERS (labels, comma-separated: only those run;
        unset, all of them)."""
        only = os.environ.get("PYHEAP_INTERPRETERS")
        return not only or self.label in only.split(",")

    @property
    def available(self):
        """Installed, selected, and (for a chroot interpreter) of a version py-heap reads."""
        return self.installed and self.selected and not self.unsupported()

    def unsupported(self):
        """Why py-heap cannot read this interpreter yet ("" when it can). Asked of py-heap
        itself, once, for the chroot interpreters (the only ones that can be newer than what
        py-heap knows): `py-heap info` on a process of it."""
        if self.chroot is None or not pyheap_available():
            return ""
        if self._support is None:
            self._support = ""
            proc = start_process(self.command([self.path, "-c",
                                               "import time; print(1, flush=True); "
                                               "time.sleep(60)"]), stdout=subprocess.PIPE,
                                 **self.popen_kw())
            try:
                proc.stdout.readline()
                res = run_pyheap(["info", "--pid", str(proc.pid)] + pyheap_args(self))
                m = re.search(r"unsupported Python version.*", res.stderr)
                if res.returncode != 0 and m:
                    self._support = m.group(0)
            finally:
                kill_process(proc)
                proc.stdout.close()
        return self._support

    def command(self, argv):
        """argv (a command line whose program may be self.path) as it is run: the program as
        the chroot names it (popen_kw() puts the process in the chroot)."""
        argv = list(argv)
        if self.chroot and argv and argv[0] == self.path:
            argv[0] = self.target_path
        return argv

    def popen_kw(self, cwd=None):
        """start_process() keywords that run a command of command() where it belongs: for a
        chroot interpreter, inside the chroot (enter_chroot()), in cwd."""
        if not self.chroot:
            return {"cwd": cwd} if cwd else {}
        root, where = self.chroot, cwd or os.getcwd()

        def preexec():
            _die_with_parent()
            enter_chroot(root, where)
        return {"preexec_fn": preexec}

    def host_path(self, target_path):
        """A path the target names (in /proc/PID/maps, a core's NT_FILE), on this machine."""
        return (self.chroot + target_path) if self.chroot else target_path

    @property
    def gdb_helper(self):
        """CPython's own gdb helper (libpython.py) for this build, or ""."""
        if not self.pyenv_dir:
            return ""
        p = os.path.join(self.pyenv_dir, "bin", "python%d.%d-gdb.py" % self.minor)
        return p if os.path.exists(p) else ""

    @property
    def libpython(self):
        """Path of the shared libpython (pyenv) or None (Debian: linked statically)."""
        if not self.pyenv_dir:
            return None
        p = os.path.join(self.pyenv_dir, "lib", "libpython%d.%d.so.1.0" % self.minor)
        return p if os.path.exists(p) else None

    def skip_reason(self):
        if not self.selected:
            return "interpreter %s left out (PYHEAP_INTERPRETERS)" % self.label
        if not self.installed:
            if self.chroot:
                return ("interpreter %s not installed (%s; scripts/setup.sh --chroots makes it)"
                        % (self.label, self.path))
            return "interpreter %s not installed (%s)" % (self.label, self.path)
        why = self.unsupported()
        return "interpreter %s: py-heap does not read it yet (%s)" % (self.label, why) if why \
            else None

    def __repr__(self):
        return "Interpreter(%s)" % self.label


# The Debian chroots of scripts/setup.sh --chroots (scripts/chroots.sh).
CHROOTS = os.environ.get("PYHEAP_CHROOT_CACHE") or "/var/cache/py-heap/chroot"


def enter_chroot(root, cwd):
    """In a child process before exec: moves it into the chroot root as a container is, so
    that it sees the chroot's files at their own paths (/usr/bin/python3.13), its /proc/PID/maps
    and cores name them so (a core must be read with --sysroot root, as on another machine),
    and gdb and py-heap reach them through /proc/PID/root. A private mount namespace
    (unshare), in which the chroot is bind-mounted onto itself and made the root
    (pivot_root): everything mounted here goes away with the process. Visible inside at their
    own paths: /dev, a fresh /proc, the temporary directory (workloads' ground truths) and
    the source tree (the workload scripts)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)

    def check(rc, what):
        if rc != 0:
            e = ctypes.get_errno()
            raise OSError(e, "entering chroot %s: %s: %s" % (root, what, os.strerror(e)))

    CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE, MNT_DETACH, SYS_pivot_root = \
        0x20000, 4096, 16384, 1 << 18, 2, 155
    check(libc.unshare(CLONE_NEWNS), "unshare")
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    check(libc.mount(root.encode(), root.encode(), None, MS_BIND | MS_REC, None), "bind")
    for d in ("/dev", tempfile.gettempdir(), SOURCE_DIR):
        inside = root + d
        os.makedirs(inside, exist_ok=True)
        check(libc.mount(d.encode(), inside.encode(), None, MS_BIND | MS_REC, None),
              "bind " + d)
    check(libc.mount(b"proc", (root + "/proc").encode(), b"proc", 0, None), "mount proc")
    os.chdir(root)
    check(libc.syscall(SYS_pivot_root, b".", b"."), "pivot_root")
    check(libc.umount2(b".", MNT_DETACH), "umount the old root")
    os.chdir(cwd)


PYENV = "/root/.pyenv/versions"
INTERPRETERS = [
    Interpreter("3.8", PYENV + "/3.8.18/bin/python3.8", (3, 8), PYENV + "/3.8.18"),
    Interpreter("3.9", PYENV + "/3.9.18/bin/python3.9", (3, 9), PYENV + "/3.9.18"),
    Interpreter("3.10", PYENV + "/3.10.13/bin/python3.10", (3, 10), PYENV + "/3.10.13"),
    Interpreter("3.11", PYENV + "/3.11.7/bin/python3.11", (3, 11), PYENV + "/3.11.7"),
    Interpreter("3.12", PYENV + "/3.12.1/bin/python3.12", (3, 12), PYENV + "/3.12.1"),
    Interpreter("3.13", PYENV + "/3.13.0/bin/python3.13", (3, 13), PYENV + "/3.13.0"),
    Interpreter("3.11-debian", "/usr/bin/python3.11", (3, 11)),
    # Debian's own builds of today (stripped, Debian-patched: 3.13.5+ aligns PyGC_Head to 4
    # bytes), with newer glibcs (trixie 2.41, sid 2.43), in chroots.
    Interpreter("3.13-trixie", "/usr/bin/python3.13", (3, 13), chroot=CHROOTS + "/trixie"),
    Interpreter("3.13-sid", "/usr/bin/python3.13", (3, 13), chroot=CHROOTS + "/sid"),
    Interpreter("3.14-sid", "/usr/bin/python3.14", (3, 14), chroot=CHROOTS + "/sid"),
    Interpreter("3.15-sid", "/usr/bin/python3.15", (3, 15), chroot=CHROOTS + "/sid"),
]


def _extra_interpreters(free_threaded=False):
    """The builds named in PYHEAP_EXTRA_PYTHONS (paths, comma-separated): interpreters built
    locally that no package ships (none may be committed: a CPython 3.14.0-3.14.4, whose
    collector is incremental; a free-threaded 3.14t). The GIL builds are run by every test like
    the others, labelled extra-VERSION; the free-threaded ones (free_threaded=True), labelled
    extra-VERSIONt, only by the tests written for them (test_free_threaded, test_mimalloc):
    their workloads measure themselves with what a free-threaded build offers."""
    extras = []
    for path in [p for p in os.environ.get("PYHEAP_EXTRA_PYTHONS", "").split(",") if p]:
        try:
            out = subprocess.run(
                [path, "-c", "import sys, sysconfig; print(*sys.version_info[:3], "
                 "sysconfig.get_config_var('Py_GIL_DISABLED') or 0)"],
                capture_output=True, text=True, timeout=60).stdout.split()
        except (OSError, subprocess.SubprocessError):
            out = []
        if len(out) != 4 or (out[3] == "1") != free_threaded:
            continue
        major, minor, micro = (int(x) for x in out[:3])
        prefix = os.path.dirname(os.path.dirname(os.path.abspath(path)))
        extras.append(Interpreter("extra-%d.%d.%d%s" % (major, minor, micro,
                                                        "t" if free_threaded else ""),
                                  path, (major, minor), prefix))
    return extras


PRERELEASE_NOTE = "is a pre-release of one of the versions"


def ok_or_prerelease(res):
    """A py-heap run that succeeded, or whose results are partial only because the target is
    a pre-release (a locally built 3.15.0rc1: read, and every result partial, saying so)."""
    return res.returncode == 0 or (res.returncode == 1 and PRERELEASE_NOTE in res.stderr)


INTERPRETERS += _extra_interpreters()
FREE_THREADED = _extra_interpreters(free_threaded=True)
DEBIAN = INTERPRETERS[6]
DEBIANS = [i for i in INTERPRETERS if i.debian]  # Debian 12's and the chroots'


def incremental_gc(gt):
    """Whether the target (its ground truth's version) collects incrementally: CPython
    3.14.0-3.14.4, whose GC lists are a young generation and two old spaces (runtime/gc.h)."""
    v = int(gt["version_hex"], 16)
    return 0x030e0000 <= v < 0x030e05c1


def gc_lists_match(lists, gt):
    """Whether per-list GC counts (py-heap's generations, or gdb's lists) agree with the
    target's len(gc.get_objects(g)) for g = 0, 1, 2. With the incremental collector,
    gc.get_objects(1) is always empty and gc.get_objects(2) holds both old spaces."""
    want = gt["gc"]["generations"]
    if not incremental_gc(gt):
        return list(lists) == want
    return (lists is not None and len(lists) == 3 and lists[0] == want[0] and want[1] == 0 and
            lists[1] + lists[2] == want[2])


def interpreter(label):
    for i in INTERPRETERS:
        if i.label == label:
            return i
    raise KeyError(label)


def first_available(prefer=("3.11-debian",)):
    for label in prefer:
        i = interpreter(label)
        if i.available:
            return i
    for i in INTERPRETERS:
        if i.available:
            return i
    return None


def require_first_available(prefer=("3.11-debian",), reason="no interpreter installed"):
    """first_available(prefer), for a test (or class) that needs one interpreter, any: raises
    unittest.SkipTest(reason) when none is installed."""
    interp = first_available(prefer)
    if interp is None:
        raise unittest.SkipTest(reason)
    return interp


def require_interpreter(interp):
    """Raises unittest.SkipTest(interp.skip_reason()) when the interpreter is not installed."""
    reason = interp.skip_reason()
    if reason:
        raise unittest.SkipTest(reason)


def pyheap_args(interp):
    """The py-heap arguments an interpreter is read with: Debian's stripped builds as in
    production, never with a separate debug file (`--debug-dir ''`: the chroots have the -dbg
    packages installed); a chroot's cores with `--sysroot` (the files they name are the
    chroot's: a core from another machine; a live process is read through /proc/PID/root
    whatever --sysroot says); the others none."""
    if interp.chroot:
        return ["--debug-dir", "", "--sysroot", interp.chroot]
    return ["--debug-dir", ""] if interp.debian else []


def no_debug_files(args):
    """Whether py-heap arguments say `--debug-dir ''` (no separate debug file)."""
    args = list(args)
    return any(a == "--debug-dir" and args[k + 1:k + 2] == [""] for k, a in enumerate(args))


class InterpreterRun:
    """An interpreter and the py-heap arguments it is read with (pyheap_args()): an entry of
    census_testlib.census_runs() and growth_testlib.growth_runs()."""

    def __init__(self, interp):
        self.interp = interp
        self.label = interp.label
        self.args = pyheap_args(interp)

    def __repr__(self):
        return "InterpreterRun(%s)" % self.label


class InfoRun:
    """One way of running `py-heap info` on an interpreter's workload."""

    def __init__(self, label, interp, args, expect_debug_info):
        self.label = label
        self.interp = interp
        self.args = args  # extra py-heap arguments, e.g. ["--debug-dir", ""]
        self.expect_debug_info = expect_debug_info  # python.debug_info

    def __repr__(self):
        return "InfoRun(%s)" % self.label


def debian_dbg_file():
    """The separate debug file of Debian's python3.11 in the default debug directory, if the
    python3.11-dbg package is installed, else None."""
    if not DEBIAN.available:
        return None
    bid = build_id(DEBIAN.path)
    if not bid:
        return None
    p = "/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:])
    return p if os.path.exists(p) else None


def info_runs():
    """Every interpreter, and Debian's twice: the production case first (no symbols at all:
    `--debug-dir ''` so an installed python3.11-dbg is never used), then with the default
    debug directories (debug info used exactly when python3.11-dbg is installed)."""
    runs = [InfoRun(i.label, i, [], True) for i in INTERPRETERS if not i.debian]
    runs.append(InfoRun("3.11-debian", DEBIAN, ["--debug-dir", ""], False))
    runs.append(InfoRun("3.11-debian-default-debug-dirs", DEBIAN, [],
                        debian_dbg_file() is not None))
    runs += [InfoRun(i.label, i, pyheap_args(i), False) for i in INTERPRETERS if i.chroot]
    return runs


# ---- test classes made once per interpreter ------------------------------------------------


def case_name(prefix, label):
    """The name of a test class made for an interpreter: prefix + the label with '.' and '-'
    as '_' (case_name("TestCensus_", "3.11-debian") == "TestCensus_3_11_debian")."""
    return prefix + label.replace(".", "_").replace("-", "_")


def register_cases(namespace, base, prefix, runs, attr, doc, numbered=False):
    """Defines in namespace (a test module's globals()) one subclass of base per run (an
    object with a .label: an Interpreter, an InterpreterRun, ...), named case_name(prefix, label),
    with the run as its attribute attr and doc % label as its docstring; returns them.

    numbered: the run's index goes before the label (prefix + "0_3_8", ...), so that
    unittest, which runs the classes of a module in name order, runs them in the order of
    runs. The classes belong to the namespace's module (their test ids name it)."""
    made = []
    for k, run in enumerate(runs):
        name = case_name(prefix + ("%d_" % k if numbered else ""), run.label)
        cls = type(name, (base,), {attr: run, "__doc__": doc % run.label,
                                   "__module__": namespace["__name__"]})
        namespace[name] = cls
        made.append(cls)
    return made


def require_run(run):
    """The start of setUpClass in a base class that register_cases() subclasses once per
    run (run: the class's run attribute, None in the base class itself): skips the base class
    ("base class"), an interpreter that is not installed (its skip_reason()), and every class
    when py-heap is not built (require_pyheap())."""
    if run is None:
        raise unittest.SkipTest("base class")
    require_interpreter(run.interp)
    require_pyheap()


# ---- processes -------------------------------------------------------------------------

_live_processes = {}  # pid -> Popen: everything started here, killed at exit at the latest


def _register(proc):
    _live_processes[proc.pid] = proc
    return proc


def kill_process(proc, sig=signal.SIGKILL):
    """Kills one process we started (by its pid, never by name) and reaps it."""
    if proc is None:
        return
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    _live_processes.pop(proc.pid, None)


def _die_with_parent():
    """In the child, before exec: get SIGKILL when the test runner dies, however it dies
    (prctl(PR_SET_PDEATHSIG) survives execve), so that no workload outlives its test."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def start_process(argv, **kw):
    """Popen registered for cleanup; killed when the test runner dies. Output goes where kw
    says (default: /dev/null). A chroot interpreter's binary (Interpreter.path) as argv[0]
    runs inside its chroot (Interpreter.command() and popen_kw())."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    # A chroot's interpreter named by its path here runs in its chroot, whoever starts it.
    interp = next((i for i in INTERPRETERS if i.chroot and argv and argv[0] == i.path), None)
    if interp is not None and "preexec_fn" not in kw:
        argv = interp.command(argv)
        kw.update(interp.popen_kw(kw.get("cwd")))
    kw.setdefault("preexec_fn", _die_with_parent)
    return _register(subprocess.Popen(argv, **kw))


def cleanup_all():
    for proc in list(_live_processes.values()):
        kill_process(proc)
    for d in list(_temp_dirs):
        shutil.rmtree(d, ignore_errors=True)
        _temp_dirs.remove(d)
    _shared_workloads.clear()
    _shared_cores.clear()


_temp_dirs = []


def make_temp_dir(prefix="pyheap-test-"):
    """A temporary directory removed by cleanup_all() (at the end of the test process)."""
    d = tempfile.mkdtemp(prefix=prefix)
    _temp_dirs.append(d)
    return d


atexit.register(cleanup_all)


def _on_sigterm(signum, _frame):
    # ctest's timeout sends SIGTERM: exit through atexit so that everything is cleaned up.
    sys.exit(128 + signum)


if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _on_sigterm)


def log_tail(path):
    """The last 3000 characters of a process's log file (for failure messages), or "" when it
    cannot be read."""
    try:
        with open(path, errors="replace") as fh:
            return fh.read()[-3000:]
    except OSError:
        return ""


class WorkloadError(Exception):
    pass


class Workload:
    """A workload process and the ground truth it wrote about itself."""

    def __init__(self, interp, script=INFO_WORKLOAD, args=(), workdir=None, exe=None):
        self.interp = interp
        self.script = script
        self.workdir = workdir or make_temp_dir("pyheap-workload-")
        self.gt_path = os.path.join(self.workdir, "ground_truth.json")
        self.log_path = os.path.join(self.workdir, "workload.log")
        self.exe = exe or interp.path
        self.args = list(args)
        self.proc = None
        self.gt = None

    @property
    def pid(self):
        return self.proc.pid

    def start(self, timeout=WORKLOAD_TIMEOUT, wait_for_ground_truth=True):
        with open(self.log_path, "wb") as log:
            self.proc = start_process(
                self.interp.command([self.exe, self.script, self.gt_path] + self.args),
                stdout=log, stderr=subprocess.STDOUT, **self.interp.popen_kw(self.workdir))
        if wait_for_ground_truth:
            self.gt = self.wait_for_ground_truth(timeout)
        return self

    def log(self):
        return log_tail(self.log_path)

    def wait_for_ground_truth(self, timeout=WORKLOAD_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.gt_path):
            if self.proc.poll() is not None:
                raise WorkloadError("%s workload exited with %s before writing its ground "
                                    "truth; log:\n%s" % (self.interp.label,
                                                         self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                self.stop()
                raise WorkloadError("%s workload wrote no ground truth in %ss; log:\n%s"
                                    % (self.interp.label, timeout, self.log()))
            time.sleep(0.05)
        with open(self.gt_path) as fh:
            gt = json.load(fh)  # written atomically (tmp + rename): never half a file
        if "error" in gt:
            self.stop()
            raise WorkloadError("%s workload: %s; log:\n%s" % (self.interp.label, gt["error"],
                                                             self.log()))
        threads = self.threads_when_settled(gt)
        if threads is not None:
            self.wait_until_settled(threads, timeout)
        return gt

    # A workload writes its ground truth as its last act before the main thread's final
    # sleep (the only sleep after the write): its state is final once that thread is inside
    # the sleep system call and every thread sleeps. settled_threads: how many threads it
    # then has (0: any number; None: wait_for_ground_truth does not wait).
    settled_threads = None

    def threads_when_settled(self, gt):
        """settled_threads, or what the ground truth says (a subclass's choice)."""
        if self.settled_threads is None and self.script == INFO_WORKLOAD:
            return 4
        return self.settled_threads

    def wait_until_settled(self, threads, timeout=WORKLOAD_TIMEOUT):
        seen = {}

        def settled():
            main = syscall_of(self.pid, self.pid)
            seen["states"] = states = thread_states(self.pid)
            return (main is not None and main in SLEEP_SYSCALLS and bool(states)
                    and (not threads or len(states) == threads)
                    and all(s == "S" for s in states.values()))
        if not wait_until_twice(settled, timeout, interval=0.05):
            self.stop()
            raise WorkloadError("%s workload %s: not in its final sleep (threads %r)"
                                % (self.interp.label, os.path.basename(self.script),
                                   seen.get("states")))

    def stop(self):
        kill_process(self.proc)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


_shared_workloads = {}  # interp label -> Workload
_shared_cores = {}  # interp label -> core path


def shared_workload(interp):
    """The info workload of this interpreter, started once per test process and reused by
    every test that only reads it (it sleeps forever; reading it does not change it)."""
    w = _shared_workloads.get(interp.label)
    if w is None or not w.alive():
        w = Workload(interp).start()
        _shared_workloads[interp.label] = w
        _shared_cores.pop(interp.label, None)
    return w


def start_workloads(workload_class, interps, workloads):
    """Starts a workload_class (a Workload subclass taking the interpreter) under every
    installed interpreter of interps that workloads ({label: Workload}, the caller's) lacks,
    all at once and without waiting for their ground truths (they build and measure
    themselves in parallel); workloads keeps them."""
    for interp in interps:
        if interp.available and interp.label not in workloads:
            w = workload_class(interp)
            w.start(wait_for_ground_truth=False)
            workloads[interp.label] = w


def wait_for_workload(w, workloads):
    """Waits for the ground truth of w (started by start_workloads) unless it is in already
    (w.gt); a workload that fails to write it is dropped from workloads, so that the next
    ask starts a new one, and the error is raised."""
    if w.gt is None:
        try:
            w.gt = w.wait_for_ground_truth()
        except Exception:
            workloads.pop(w.interp.label, None)
            raise
    return w


def shared_core(interp):
    """A gcore of shared_workload(interp), made once per test process."""
    return workload_core(shared_workload(interp), _shared_cores)


def workload_core(w, cores):
    """A gcore of the workload w (WORKDIR/core.PID), made once: cores is the caller's
    {interpreter label: core path}, which keeps it (a core whose file is gone is made again)."""
    core = cores.get(w.interp.label)
    if core is None or not os.path.exists(core):
        core = gcore(w.pid, os.path.join(w.workdir, "core.%d" % w.pid))
        cores[w.interp.label] = core
    return core


# ---- gdb ---------------------------------------------------------------------------------

GDB_BASE = ["gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off"]


def gcore(pid, path, timeout=GDB_TIMEOUT):
    """Makes an ELF core of a live process with gdb (gdb stops it while it copies, then
    detaches), with the pages gdb wrote as zeros around a glibc 2.42+ stack guard filled in
    while the process is still stopped (gcore_fill.py). Raises if gdb fails or writes
    nothing."""
    fill = ("python import sys; sys.path.insert(0, %r); import gcore_fill; "
            "gcore_fill.fill(%r, %d)" % (os.path.dirname(os.path.abspath(__file__)), path, pid))
    res = subprocess.run(GDB_BASE + ["-p", str(pid), "-ex", "gcore " + path, "-ex", fill],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=timeout)
    if res.returncode != 0 or not os.path.exists(path) or os.path.getsize(path) == 0:
        raise RuntimeError("gcore of %d failed (%d):\n%s" % (pid, res.returncode,
                                                            res.stdout.decode(errors="replace")[-2000:]))
    return path


def gdb_chroot_args(interp):
    """gdb options for a chroot interpreter's process or core: the chroot's files for a core
    (a live process's are reached through its mount namespace), and the chroot's debug files
    (its -dbg packages: DWARF for the oracles' cross-checks, never for py-heap's no-symbols
    runs)."""
    if not interp.chroot:
        return []
    return ["-iex", "set sysroot " + interp.chroot,
            "-iex", "set debug-file-directory " + interp.chroot + "/usr/lib/debug"]


def run_gdb_oracle(interp, pid=None, core=None, exe=None, timeout=GDB_TIMEOUT):
    """gdb's outside view of a live process or a core (tests/integration/gdb_oracle.py)."""
    out = tempfile.NamedTemporaryFile(prefix="oracle-", suffix=".json", delete=False)
    out.close()
    try:
        setup = "python ORACLE_ARGS = [%r, %r, %r, %d]" % (
            out.name, "%d.%d" % interp.minor, interp.gdb_helper, interp.gc_heads_offset)
        target = ["-p", str(pid)] if pid else [exe or interp.path, core]
        res = subprocess.run(GDB_BASE + gdb_chroot_args(interp) + target
                             + ["-ex", setup, "-x", GDB_ORACLE],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=timeout)
        try:
            with open(out.name) as fh:
                return json.load(fh)
        except ValueError:
            raise RuntimeError("gdb oracle wrote nothing (%d):\n%s" % (
                res.returncode, res.stdout.decode(errors="replace")[-2000:]))
    finally:
        os.unlink(out.name)


# ---- py-heap -----------------------------------------------------------------------------


class Result:
    def __init__(self, argv, returncode, stdout, stderr, elapsed):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError as e:
            raise AssertionError("py-heap printed no valid JSON (%s): %s\nstdout: %s\nstderr: %s"
                                 % (e, self.cmdline(), self.stdout[:2000], self.stderr[-2000:]))

    def stderr_lines(self):
        return self.stderr.splitlines()

    def cmdline(self):
        return " ".join(repr(a) if (not a or " " in a) else a for a in self.argv)

    def describe(self):
        return "%s -> exit %s\nstderr:\n%s" % (self.cmdline(), self.returncode,
                                              self.stderr[-3000:])


def pyheap_available():
    return os.path.isfile(PYHEAP_BIN) and os.access(PYHEAP_BIN, os.X_OK)


def require_pyheap():
    """Skips (the whole module when called from setUpModule) when the CLI is not built."""
    if not pyheap_available():
        raise unittest.SkipTest("py-heap is not built: %s does not exist (set PYHEAP_BIN)"
                                % PYHEAP_BIN)


def run_process(argv, timeout, env=None, what="py-heap", **kw):
    """Runs argv to its end (started by start_process(), kw passed on) with stdout and stderr
    captured; returns a Result (never raises on a non-zero exit). Its environment is ours
    without PYHEAP_TEST_HOLD_MS, updated with env. Still running after timeout seconds, it is
    killed and AssertionError says "WHAT timed out after ..." with the end of its stderr."""
    argv = list(argv)
    full_env = dict(os.environ)
    full_env.pop("PYHEAP_TEST_HOLD_MS", None)
    if env:
        full_env.update(env)
    t0 = time.monotonic()
    proc = start_process(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env,
                         **kw)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_process(proc)
        out, err = proc.communicate()
        raise AssertionError("%s timed out after %ss: %s\nstderr: %s" % (
            what, timeout, " ".join(argv), err.decode(errors="replace")[-2000:]))
    finally:
        _live_processes.pop(proc.pid, None)
    return Result(argv, proc.returncode, out.decode(errors="replace"),
                  err.decode(errors="replace"), time.monotonic() - t0)


def run_pyheap(args, timeout=PYHEAP_TIMEOUT, env=None, binary=None):
    """Runs py-heap ($PYHEAP_BIN, or another build: binary) with run_process(); returns a
    Result (never raises on a non-zero exit)."""
    return run_process([binary or PYHEAP_BIN] + list(args), timeout, env)


# ---- ELF and /proc ------------------------------------------------------------------------

PT_LOAD, PT_NOTE = 1, 4
ET_EXEC, ET_DYN, ET_CORE = 2, 3, 4
NT_FILE = 0x46494C45


class Phdr:
    __slots__ = ("type", "flags", "offset", "vaddr", "filesz", "memsz")

    def __init__(self, type_, flags, offset, vaddr, filesz, memsz):
        self.type, self.flags, self.offset = type_, flags, offset
        self.vaddr, self.filesz, self.memsz = vaddr, filesz, memsz

    def __repr__(self):
        return "Phdr(type=%d off=0x%x vaddr=0x%x filesz=0x%x)" % (
            self.type, self.offset, self.vaddr, self.filesz)


def elf_header(path):
    """(e_type, e_phoff, e_phentsize, e_phnum) of a 64-bit little-endian ELF file."""
    with open(path, "rb") as fh:
        h = fh.read(64)
    if len(h) < 64 or h[:4] != b"\x7fELF" or h[4] != 2 or h[5] != 1:
        raise ValueError("%s: not a 64-bit little-endian ELF file" % path)
    e_type = struct.unpack_from("<H", h, 16)[0]
    e_phoff = struct.unpack_from("<Q", h, 32)[0]
    e_phentsize, e_phnum = struct.unpack_from("<HH", h, 54)
    return e_type, e_phoff, e_phentsize, e_phnum


def program_headers(path):
    e_type, phoff, phentsize, phnum = elf_header(path)
    out = []
    with open(path, "rb") as fh:
        fh.seek(phoff)
        data = fh.read(phentsize * phnum)
    for i in range(phnum):
        p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, _align = \
            struct.unpack_from("<IIQQQQQQ", data, i * phentsize)
        out.append(Phdr(p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz))
    return out


def segment_containing(core, vaddr):
    for ph in program_headers(core):
        if ph.type == PT_LOAD and ph.vaddr <= vaddr < ph.vaddr + ph.filesz:
            return ph
    return None


def truncated_copy(src, dst, size):
    """Writes the first size bytes of file src (all of it if shorter) to dst; returns dst."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        remaining = size
        while remaining:
            chunk = fin.read(min(remaining, 1 << 20))
            if not chunk:
                break
            fout.write(chunk)
            remaining -= len(chunk)
    return dst


class CoreImage:
    """A core file read as the target's address space: the file bytes of its PT_LOAD
    segments, mmapped (read-only), by target address; a context manager. The census, alloc
    and hostile test libraries subclass it with what their tests need."""

    def __init__(self, path):
        self.path = path
        # The PT_LOAD segments that have bytes in the file, in address order.
        self.segments = sorted((p for p in program_headers(path)
                                if p.type == PT_LOAD and p.filesz), key=lambda p: p.vaddr)
        self._starts = [p.vaddr for p in self.segments]
        self.fh = open(path, "rb")
        self.map = mmap.mmap(self.fh.fileno(), 0, access=mmap.ACCESS_READ)

    def close(self):
        self.map.close()
        self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def segment(self, addr):
        """The segment whose file bytes hold target address addr, or None."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.segments[i].vaddr + self.segments[i].filesz:
            return self.segments[i]
        return None

    def offset(self, addr, size=1):
        """File offset of target address addr; KeyError when the size bytes are not all in
        one segment of the core."""
        p = self.segment(addr)
        if p is None or addr + size > p.vaddr + p.filesz:
            raise KeyError("0x%x (+%d bytes) is not in the core" % (addr, size))
        return p.offset + (addr - p.vaddr)

    def read(self, addr, size):
        off = self.offset(addr, size)
        return self.map[off:off + size]

    def u64(self, addr):
        return struct.unpack("<Q", self.read(addr, 8))[0]

    def u32(self, addr):
        return struct.unpack("<I", self.read(addr, 4))[0]

    def notes(self):
        """[(type, name, desc_file_offset, desc_size)] of every note of the PT_NOTE segments."""
        out = []
        for ph in program_headers(self.path):
            if ph.type != PT_NOTE:
                continue
            data = self.map[ph.offset:ph.offset + ph.filesz]
            off = 0
            while off + 12 <= len(data):
                namesz, descsz, ntype = struct.unpack_from("<III", data, off)
                name = data[off + 12:off + 12 + namesz].rstrip(b"\0")
                desc = off + 12 + ((namesz + 3) & ~3)
                out.append((ntype, name, ph.offset + desc, descsz))
                off = desc + ((descsz + 3) & ~3)
        return out


def build_id(path):
    """The GNU build-id of an ELF file, as lowercase hex, or None (via readelf)."""
    res = subprocess.run(["readelf", "-n", path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True)
    m = re.search(r"Build ID:\s*([0-9a-fA-F]+)", res.stdout)
    return m.group(1).lower() if m else None


def dynsym_value(path, name):
    """Value of a defined dynamic symbol (nm -D), or None."""
    res = subprocess.run(["nm", "-D", "--defined-only", path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True)
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    return None


def read_maps(pid):
    """[(start, end, perms, offset, path)] from /proc/PID/maps."""
    out = []
    with open("/proc/%d/maps" % pid) as fh:
        for line in fh:
            parts = line.split(None, 5)
            start, end = (int(x, 16) for x in parts[0].split("-"))
            path = parts[5].strip() if len(parts) > 5 else ""
            out.append((start, end, parts[1], int(parts[2], 16), path))
    return out


def load_base(pid, path):
    """Lowest address at which `path` is mapped in the process (its load base for ET_DYN);
    path as the process names it."""
    real = os.path.realpath(path) if os.path.exists(path) else path
    starts = [m[0] for m in read_maps(pid) if m[4] == real and m[3] == 0]
    return min(starts) if starts else None


def runtime_address(pid, interp, exe=None):
    """Address of _PyRuntime in the process, from .dynsym of the file that defines it."""
    holder = interp.libpython or exe or interp.path
    value = dynsym_value(holder, "_PyRuntime")
    if value is None:
        return None
    if elf_header(holder)[0] == ET_EXEC:
        return value
    return load_base(pid, interp.target_path if holder == interp.path else holder) + value


def thread_states(pid):
    """{tid: state letter} of every thread of the process ('t' = tracing stop)."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except FileNotFoundError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as fh:
                out[int(tid)] = fh.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return out


SLEEP_SYSCALLS = {7, 23, 35, 230, 270}  # x86-64 poll, select, nanosleep, clock_nanosleep, pselect6


def syscall_of(pid, tid):
    """The system call number a thread is blocked in (/proc/PID/task/TID/syscall), or None
    when it is running or the file cannot be read."""
    try:
        with open("/proc/%d/task/%d/syscall" % (pid, tid)) as fh:
            first = fh.read().split()
    except OSError:
        return None
    return int(first[0]) if first and first[0].isdigit() else None


def tracer_pid(pid, tid=None):
    path = "/proc/%d/task/%d/status" % (pid, tid) if tid else "/proc/%d/status" % pid
    with open(path) as fh:
        for line in fh:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return None


def wait_until(predicate, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return value
        time.sleep(interval)


def wait_until_twice(predicate, timeout, interval=0.05):
    """wait_until() for a state that must be seen on two looks in a row, interval apart (a
    process settled, not passing through)."""
    previous = [False]

    def twice():
        ok = predicate()
        seen = ok and previous[0]
        previous[0] = ok
        return seen

    return wait_until(twice, timeout, interval)


def not_stopped_problems(pid):
    """Why the process is not running freely, as a list of strings (empty: all is fine):
    a thread in stopped/tracing-stop state, or a tracer still attached."""
    problems = []
    for tid, state in sorted(thread_states(pid).items()):
        if state in ("t", "T"):
            problems.append("thread %d is in state %s" % (tid, state))
        tp = tracer_pid(pid, tid)
        if tp:
            problems.append("thread %d is traced by %d" % (tid, tp))
    return problems


# ---- comparing `info` with a ground truth ------------------------------------------------


def get(d, dotted, default=KeyError):
    """get(info, "python.version") with a readable error."""
    cur = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            if default is KeyError:
                raise KeyError(dotted)
            return default
        cur = cur[part]
    return cur


_MISSING = object()


def compare_info(info, gt, expect_debug_info=None):
    """Every difference between py-heap's `info --json` and the workload's ground truth, as
    a list of readable strings (empty when all agree)."""
    bad = []

    def check(what, got, want):
        if got != want:
            bad.append("%s: py-heap says %r, the target says %r" % (what, got, want))

    def field(dotted):
        v = get(info, dotted, _MISSING)
        if v is _MISSING:
            bad.append("%s: missing from py-heap's JSON" % dotted)
            return None
        return v

    check("command", field("command"), "info")
    check("python.version", field("python.version"), gt["version"])
    check("python.version_hex", field("python.version_hex"), gt["version_hex"])
    check("python.sys_version", field("python.sys_version"), gt["sys_version"])
    check("python.interpreters", field("python.interpreters"), 1)
    if expect_debug_info is not None:
        check("python.debug_info", field("python.debug_info"), expect_debug_info)
    check("modules", field("modules"), gt["modules"])
    generations = field("gc.generations")
    if not gc_lists_match(generations or [], gt):
        bad.append("gc.generations: py-heap says %r, the target's gc.get_objects(0, 1, 2) give %r%s"
                   % (generations, gt["gc"]["generations"],
                      " (incremental collector)" if incremental_gc(gt) else ""))
    check("gc.collector", field("gc.collector"),
          "incremental" if incremental_gc(gt) else "generational")
    check("gc.permanent", field("gc.permanent"), gt["gc"]["permanent"])
    check("gc.collecting", field("gc.collecting"), False)
    check("partial", field("partial"), False)

    threads = field("threads") or []
    got_ids = sorted((t.get("thread_id"), t.get("native_id"), t.get("name")) for t in threads)
    want_ids = sorted((t["thread_id"], t["native_id"], t["name"]) for t in gt["threads"])
    check("threads (thread_id, native_id, name)", got_ids, want_ids)
    by_id = {t.get("thread_id"): t for t in threads}
    for want in gt["threads"]:
        got = by_id.get(want["thread_id"])
        if got is None:
            continue  # already reported above
        label = "thread %s (%s) top_frame" % (want["name"], want["thread_id"])
        top = got.get("top_frame")
        if not isinstance(top, dict):
            bad.append("%s: py-heap says %r, the target says %r" % (label, top,
                                                                   want["top_frame"]))
            continue
        # The line must be exact: the ground truth's line of a worker is f_lineno, which
        # CPython computes from the same code object and instruction pointer an outside
        # reader sees (the thread is blocked in the call, its instruction pointer does not
        # move); the main thread's is the line of its time.sleep() call, where it is blocked.
        for key in ("function", "file", "line"):
            check("%s.%s" % (label, key), top.get(key), want["top_frame"][key])
    if bad and info.get("warnings"):
        bad.append("(py-heap's warnings: %r)" % (info.get("warnings"),))
    return bad


VOLATILE_KEY = re.compile(r"(time|elapsed|duration|seconds|_ms$|_us$|_ns$)", re.I)


def strip_volatile(obj):
    """A copy of a JSON value without keys that name a time or a duration (the only things
    that may differ between two reads of a target that does not change)."""
    if isinstance(obj, dict):
        return {k: strip_volatile(v) for k, v in obj.items() if not VOLATILE_KEY.search(k)}
    if isinstance(obj, list):
        return [strip_volatile(v) for v in obj]
    return obj


def json_diff(a, b, path=""):
    """Paths where two JSON values differ (for readable failure messages)."""
    if type(a) is not type(b):
        return ["%s: %r != %r" % (path or "/", a, b)]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append("%s/%s: only in %s" % (path, k, "first" if k in a else "second"))
            else:
                out += json_diff(a[k], b[k], "%s/%s" % (path, k))
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return ["%s: lists of %d and %d items: %r != %r" % (path, len(a), len(b), a, b)]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += json_diff(x, y, "%s[%d]" % (path, i))
        return out
    return [] if a == b else ["%s: %r != %r" % (path or "/", a, b)]


def error_line_problems(result, exit_status, cause_regex, exactly_one_line=True):
    """Checks the error convention: exit status, and stderr that is exactly one line
    `py-heap: error: ...` whose text matches cause_regex (the cause must be named).
    Returns a list of problems (empty when all is fine)."""
    bad = []
    if result.returncode != exit_status:
        bad.append("exit status %s, expected %s" % (result.returncode, exit_status))
    lines = result.stderr_lines()
    if exactly_one_line and len(lines) != 1:
        bad.append("stderr has %d lines, expected exactly one" % len(lines))
    errors = [ln for ln in lines if ln.startswith("py-heap: error: ")]
    if len(errors) != 1:
        bad.append("expected one line starting with 'py-heap: error: ', found %d" % len(errors))
    elif not re.search(cause_regex, errors[0][len("py-heap: error: "):]):
        bad.append("the error line does not name the cause (no match for /%s/): %r"
                   % (cause_regex, errors[0]))
    if bad:
        bad.append(result.describe())
    return bad
