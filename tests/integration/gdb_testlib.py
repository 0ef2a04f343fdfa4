"""Helpers for the gdb extension's integration tests (test_gdb.py); standard library only.

What is here:
  * GDB_SCRIPT: the script users `source` (env PYHEAP_GDB_SCRIPT, default
    $PYHEAP_BUILD_DIR/gdbext/py-heap-gdb.py), gdb_skip_reason() when it or the
    _pyheap_gdb module beside it is not built (the ASan build has none);
  * run_gdb_commands(): one `gdb -nx -batch` run on a core or a live process with several
    commands, each framed by marker lines on stdout AND on stderr, so that the output of
    every command (and its warnings) is cut out exactly, apart from what gdb itself prints
    while attaching or loading symbols;
  * GdbServer: gdbserver attached to a process (over TCP on a port the kernel chooses, as
    an extended-remote server, or on a pipe) and the gdb arguments that connect to it;
  * InteractiveGdb: gdb on a pseudo-terminal (an interactive session, as a user has), with
    send()/expect(), for the Ctrl-C test;
  * cpu_ticks(): a process's CPU time from /proc/PID/stat (to see that gdb is computing);
  * comparable(): a JSON document without the fields a gdb run and a CLI run may rightly
    disagree on (EXCLUDED_FIELDS: none).
"""
import binascii
import errno
import fcntl
import glob
import json
import os
import re
import select
import shutil
import signal
import subprocess
import termios
import time

import pyheap_testlib as T

BUILD_DIR = os.environ.get("PYHEAP_BUILD_DIR") or T.BUILD_DIR
GDB_SCRIPT = os.environ.get("PYHEAP_GDB_SCRIPT") or os.path.join(BUILD_DIR, "gdbext",
                                                                  "py-heap-gdb.py")
GDB = shutil.which("gdb") or "gdb"
GDB_BATCH = [GDB, "-nx", "-batch", "-iex", "set debuginfod enabled off"]
GDB_RUN_TIMEOUT = 300  # one gdb run with many commands on a live process

BIG_HEAP_WORKLOAD = os.path.join(T.FIXTURES, "workloads", "big_heap_workload.py")

# Fields of py-heap's JSON left out when a gdb run is compared with a CLI run on the same
# target, as {dotted path: why}. Nothing in the JSON names how the target is reached
# (`gdb -p` reads /proc/PID/mem of the process it holds stopped, as the CLI's --pid does, and
# reports the same target.kind, description and stopped flag; a core is opened by the path
# gdb has, which the tests give the CLI too), the one timing is left out (below), and the warnings must
# agree as well (gdb also prints them on its stderr as `py-heap: warning: ...` lines, which
# the tests compare with the CLI's stderr). A field put here must say why.
EXCLUDED_FIELDS = {
    "target.stopped_seconds": "how long py-heap kept the process stopped: null when gdb holds "
                              "it (py-heap stops nothing), the CLI's own stop otherwise",
    "target.stopped_how": "why the CLI's stop lasted what it did (the tests run it with "
                          "--no-copy, to read the process stopped as gdb holds it): null "
                          "when gdb holds it",
}
# The CLI's options for a live process in a comparison with gdb: stopped for the read, as gdb
# holds it (not the default copy, which says copied: true), and no line on how long the stop
# lasted (gdb's stderr has none: gdb stops the process, not py-heap).
CLI_LIVE = ["--no-copy", "--quiet"]

# The same through gdbserver (test_gdb.GdbServerMatchesCliTest; the CLI reads the process
# with --pid after gdb has detached), as {dotted path: why}. These two name how the target
# is reached, which is the point of the test to differ: through gdb's remote target py-heap
# reads the process with gdb's read_memory, a "host" target described as "process N through
# gdb (remote HOST:PORT)", where the CLI has a "live" target, "process N". The test checks
# them on their own. The text of info prints the description too: the tests put the CLI's in
# place of gdb's there before they compare (and nothing else).
# The resident memory (fragmentation): through gdbserver, only Rss per mapping from
# /proc/PID/smaps (source "smaps", not exact: the parts are the allocators' own figures),
# where the CLI reads the page tables (source "pagemap", the parts measured). And reading the
# process changes Rss when it goes through gdb: gdbserver (as gdb itself) reads with
# /proc/PID/mem, whose reads of pages the process never touched (the end of [heap], above
# malloc's top chunk) fault real pages in, where the CLI's process_vm_readv maps none. gdb's
# smaps is fetched before py-heap reads, the CLI's after: the CLI's may be larger by the
# pages py-heap read there. The test checks by how much (REMOTE_RESIDENT_SLACK), and that
# the allocators' figures (mapped_split) are the same.
REMOTE_RESIDENT_FIELDS = ("resident.bytes", "resident.source", "resident.how", "resident.exact",
                          "resident.split",
                          # summary's causes divide the resident total: estimated from smaps
                          "totals.memory", "causes", "verdict")
REMOTE_RESIDENT_SLACK = 1 << 20
REMOTE_EXCLUDED_FIELDS = dict(EXCLUDED_FIELDS, **{
    "target.kind": "how the target is reached: host (gdb's memory) vs live (ptrace)",
    "target.description": "says how the target is reached: through gdb, and which remote",
}, **{f: "Rss per mapping from smaps (the parts estimated), which reads through gdbserver "
         "raise by the untouched pages they read" for f in REMOTE_RESIDENT_FIELDS})


def gdb_module_files():
    """The _pyheap_gdb extension modules beside GDB_SCRIPT."""
    return sorted(glob.glob(os.path.join(os.path.dirname(GDB_SCRIPT), "_pyheap_gdb*.so")))


def gdb_skip_reason():
    """Why the gdb tests cannot run here, or None."""
    if not shutil.which("gdb"):
        return "gdb is not installed"
    if not os.path.isfile(GDB_SCRIPT):
        return ("the gdb extension is not built: %s does not exist (set PYHEAP_GDB_SCRIPT, or "
                "PYHEAP_BUILD_DIR to a build with gdbext/; the ASan build has none)" % GDB_SCRIPT)
    if not gdb_module_files():
        return ("the gdb module is not built: no _pyheap_gdb*.so beside %s (this build dir "
                "has no gdb extension, e.g. the ASan build)" % GDB_SCRIPT)
    return None


def built_for(script=GDB_SCRIPT):
    """The `_BUILT_FOR = "3.11"` version of the script (gdb's Python at build time)."""
    with open(script) as fh:
        m = re.search(r'^_BUILT_FOR = "([^"]*)"', fh.read(), re.M)
    return m.group(1) if m else None


def comparable(doc, excluded=None):
    """A copy of a py-heap JSON document without the fields of `excluded` (default
    EXCLUDED_FIELDS): top-level keys, or dotted paths ("target.kind") into objects."""
    excluded = EXCLUDED_FIELDS if excluded is None else excluded

    def strip(value, prefix):
        if not isinstance(value, dict):
            return value
        return {k: strip(v, prefix + k + ".") for k, v in value.items()
                if prefix + k not in excluded}
    return strip(doc, "")


# ---- gdb -batch with framed commands --------------------------------------------------


class CommandOutput:
    """What one gdb command printed: stdout and stderr, exactly (str)."""

    def __init__(self, command, out, err):
        self.command = command
        self.out = out
        self.err = err

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError("gdb `%s` printed no valid JSON (%s)\nstdout: %s\nstderr: %s"
                                 % (self.command, e, self.out[:2000], self.err[-2000:]))

    def warnings(self):
        return [ln[len("py-heap: warning: "):] for ln in self.err.splitlines()
                if ln.startswith("py-heap: warning: ")]

    def __repr__(self):
        return "CommandOutput(%r)" % self.command


class GdbRun:
    """One finished gdb run: its exit status, whole output, and each framed command's."""

    def __init__(self, argv, returncode, stdout, stderr, commands):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.commands = commands  # [CommandOutput] in the order given
        self.by_name = {}
        for c in commands:
            self.by_name.setdefault(c.command, c)

    def __getitem__(self, command):
        return self.by_name[command]

    def describe(self):
        return "gdb %s -> exit %s\nstdout (tail):\n%s\nstderr (tail):\n%s" % (
            " ".join(repr(a) if " " in a else a for a in self.argv[1:]), self.returncode,
            self.stdout[-3000:], self.stderr[-3000:])


def _marker(token, what, i):
    return "%s %s %d" % (token, what, i)


# The locale of every gdb run here. gdb's host charset follows the locale, and the extension's
# help texts are UTF-8 (an em dash): see test_gdb.LoadTest.test_load_in_c_locale for the C
# locale; the other tests pin a UTF-8 locale so that they test what they are about.
GDB_ENV = {"LC_ALL": "C.UTF-8"}


def run_gdb_commands(target, commands, setup=(), script=GDB_SCRIPT, timeout=GDB_RUN_TIMEOUT,
                     load=True, env=None):
    """Runs `gdb -nx -batch TARGET -ex 'source SCRIPT' SETUP... COMMANDS...`.

    target: gdb arguments naming the target, e.g. [exe, core] or ["-p", "1234"] (or []).
    Every command is framed by marker lines written on stdout (`echo`) and on stderr
    (gdb.write(..., gdb.STDERR)) just before and just after it, so that its output is cut
    out byte for byte whatever gdb prints around it (attaching, symbols, auto-load notes).
    A command that fails does not stop the run (gdb -batch goes on with the next -ex).
    Returns a GdbRun; raises AssertionError when gdb times out or a marker is missing."""
    token = "@@PYHEAP-GDB-%s@@" % binascii.hexlify(os.urandom(6)).decode()
    argv = GDB_BATCH + list(target)
    if load:
        argv += ["-ex", "source " + script]
    for s in setup:
        argv += ["-ex", s]
    for i, cmd in enumerate(commands):
        for what, c in (("BEGIN", None), ("END", cmd)):
            if c is not None:
                argv += ["-ex", c]
            m = _marker(token, what, i)
            argv += ["-ex", "echo %s\\n" % m,
                     "-ex", "python gdb.write(%r, gdb.STDERR)" % (m + "\n")]
    res = T.run_process(argv, timeout, dict(GDB_ENV, **(env or {})), "gdb")
    out, err = res.stdout, res.stderr
    run = GdbRun(argv, res.returncode, out, err, [])
    for i, cmd in enumerate(commands):
        pieces = []
        for stream, name in ((out, "stdout"), (err, "stderr")):
            begin, end = _marker(token, "BEGIN", i) + "\n", _marker(token, "END", i) + "\n"
            b = stream.find(begin)
            e = stream.find(end, b + len(begin)) if b >= 0 else -1
            if b < 0 or e < 0:
                raise AssertionError("gdb's %s lacks the markers of command %d (`%s`):\n%s"
                                     % (name, i, cmd, run.describe()))
            pieces.append(stream[b + len(begin):e])
        run.commands.append(CommandOutput(cmd, pieces[0], pieces[1]))
    run.by_name = {}
    for c in run.commands:
        run.by_name.setdefault(c.command, c)
    return run


def core_target(interp, core):
    """gdb's arguments for a core of interp: a chroot's files are the chroot's (gdb's sysroot,
    which py-heap in gdb uses too, as the CLI's --sysroot)."""
    return (["-iex", "set sysroot " + interp.chroot] if interp.chroot else []) + [interp.path, core]


def pid_target(pid):
    return ["-p", str(pid)]


# ---- gdbserver ---------------------------------------------------------------------------

# Counting a remote target's reads: gdb commands (after the script is sourced) that wrap the
# script's _read_memory, through which py-heap reads any target but a core or `gdb -p`, and
# READ_STATS_COMMAND, which prints {"reads", "bytes", "pages", "pages_again", "failed",
# "nfailed"} as JSON: the host reads that returned data, their bytes, the 4 KiB pages they
# covered and how many of those were read again (each extra read of a page counts once);
# the first reads that failed ([address, length], hex) and how many failed. A failed read
# transfers nothing (gdbserver answers with an error): it costs a round trip, not the bytes.
_COUNT_READS = """
import json as _pyheap_test_json
_pyheap_test_reads = []
_pyheap_test_failed = []
_pyheap_test_read = _read_memory
def _read_memory(inferior, addr, length):
    try:
        data = _pyheap_test_read(inferior, addr, length)
    except Exception:
        _pyheap_test_failed.append((hex(addr), hex(length)))
        raise
    _pyheap_test_reads.append((addr, length))
    return data
def _pyheap_test_read_stats():
    pages = {}
    for addr, length in _pyheap_test_reads:
        for p in range(addr >> 12, (addr + length + 4095) >> 12):
            pages[p] = pages.get(p, 0) + 1
    print(_pyheap_test_json.dumps({
        "reads": len(_pyheap_test_reads), "bytes": sum(n for _a, n in _pyheap_test_reads),
        "pages": len(pages), "pages_again": sum(c - 1 for c in pages.values()),
        "failed": _pyheap_test_failed[:10], "nfailed": len(_pyheap_test_failed)}))
"""
COUNT_READS_SETUP = ["python exec(%r)" % _COUNT_READS]
READ_STATS_COMMAND = "python _pyheap_test_read_stats()"

GDBSERVER = shutil.which("gdbserver")
GDBSERVER_START_TIMEOUT = 30  # seconds for gdbserver to attach and listen


class GdbServer:
    """gdbserver attached to a live process, and the gdb arguments that connect to it.

    transport:
      "tcp"      gdbserver --once 127.0.0.1:0 --attach PID, then `target remote HOST:PORT`:
                 the usual way; port 0 lets the kernel choose a free port, which gdbserver
                 prints ("Listening on port N") and which is read from its stderr here;
      "extended" gdbserver --once --multi 127.0.0.1:0, then `target extended-remote
                 HOST:PORT` and `attach PID` in gdb;
      "pipe"     `target remote | gdbserver - --attach PID`: gdb starts gdbserver itself and
                 talks to it over its stdin and stdout (no port; nothing is started here).
    With --once gdbserver exits when gdb disconnects (gdb -batch detaches at its end); wait()
    waits for that. Every process started here is killed by T.cleanup_all at the latest."""

    def __init__(self, pid, transport="tcp"):
        self.pid = pid
        self.transport = transport
        self.proc = None
        self.port = None
        self.stderr = ""
        if transport == "pipe":
            return
        argv = [GDBSERVER, "--once"]
        argv += ["--multi", "127.0.0.1:0"] if transport == "extended" else \
            ["127.0.0.1:0", "--attach", str(pid)]
        self.proc = T.start_process(argv, stderr=subprocess.PIPE)
        deadline = time.monotonic() + GDBSERVER_START_TIMEOUT
        fd = self.proc.stderr.fileno()
        while self.port is None:
            left = deadline - time.monotonic()
            r, _, _ = select.select([fd], [], [], max(0.0, left))
            data = os.read(fd, 4096).decode(errors="replace") if r else ""
            self.stderr += data
            m = re.search(r"Listening on port (\d+)\n", self.stderr)
            if m:
                self.port = int(m.group(1))
            elif not data:
                T.kill_process(self.proc)
                raise AssertionError("gdbserver (%s) did not listen within %ss: %r"
                                     % (" ".join(argv), GDBSERVER_START_TIMEOUT, self.stderr))

    def gdb_target(self):
        """gdb arguments that connect to the process through gdbserver."""
        if self.transport == "pipe":
            return ["-ex", "target remote | exec %s - --attach %d" % (GDBSERVER, self.pid)]
        if self.transport == "extended":
            return ["-ex", "target extended-remote 127.0.0.1:%d" % self.port,
                    "-ex", "attach %d" % self.pid]
        return ["-ex", "target remote 127.0.0.1:%d" % self.port]

    def wait(self, timeout=30):
        """Waits for gdbserver to exit (after gdb disconnected); returns its exit status, or
        None (it is then killed) when it did not exit in time."""
        if self.proc is None:
            return 0
        try:
            rest = self.proc.communicate(timeout=timeout)[1]
        except subprocess.TimeoutExpired:
            T.kill_process(self.proc)
            return None
        self.stderr += rest.decode(errors="replace")
        T._live_processes.pop(self.proc.pid, None)
        return self.proc.returncode

    def close(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                T.kill_process(self.proc)
            self.proc.stderr.close()


# ---- an interactive gdb on a pseudo-terminal -----------------------------------------


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (/proc/PID/stat), or None."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


CLK_TCK = os.sysconf("SC_CLK_TCK")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r")


class InteractiveGdb:
    """gdb on a pseudo-terminal it has as controlling terminal: an interactive session with
    readline and a prompt, as a user at a terminal has (gdb -batch is not interactive).

    Output is read from the pty master into self.transcript (escape sequences and carriage
    returns removed); expect() waits for a pattern after a position in it."""

    PROMPT = "(gdb) "

    def __init__(self, args, env=None):
        master, slave = os.openpty()
        self.master = master
        full_env = dict(os.environ, TERM="dumb", COLUMNS="200", LINES="50", **GDB_ENV)
        full_env.pop("PYHEAP_TEST_HOLD_MS", None)
        full_env.pop("INSIDE_EMACS", None)
        if env:
            full_env.update(env)

        def child_setup():
            # start_new_session made the child a session leader: take the pty as its
            # controlling terminal (as a login shell would), and die with the test runner.
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            try:
                import ctypes
                ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
            except Exception:
                pass

        self.argv = [GDB, "-nx", "-q", "-iex", "set debuginfod enabled off",
                     "-iex", "set pagination off", "-iex", "set confirm off",
                     "-iex", "set width 0", "-iex", "set height 0"] + list(args)
        self.proc = T.start_process(self.argv, stdin=slave, stdout=slave, stderr=slave,
                                    start_new_session=True, preexec_fn=child_setup, env=full_env)
        os.close(slave)
        self.raw = b""
        self.transcript = ""
        self.eof = False

    @property
    def pid(self):
        return self.proc.pid

    def _pump(self, timeout):
        """Reads what is available within timeout seconds; False at end of file."""
        if self.eof:
            return False
        r, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not r:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: the slave side is closed (gdb exited)
                raise
            data = b""
        if not data:
            self.eof = True
            return False
        self.raw += data
        self.transcript = ANSI.sub("", self.raw.decode(errors="replace"))
        return True

    def expect(self, pattern, timeout, start=0):
        """Waits until `pattern` (a regex) matches the transcript after position `start`;
        returns the match, or raises AssertionError with the transcript."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.transcript, start)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0 or not self._pump(min(left, 0.1)) and self.eof:
                m = rx.search(self.transcript, start)
                if m:
                    return m
                raise AssertionError("gdb did not print /%s/ within %ss%s; transcript since "
                                     "then:\n%s" % (pattern, timeout,
                                                    " (gdb exited)" if self.eof else "",
                                                    self.transcript[start:][-4000:]))

    def drain(self, seconds=0.0):
        deadline = time.monotonic() + seconds
        while self._pump(max(0.0, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                break

    def wait_for_prompt(self, timeout):
        """Waits until gdb shows its prompt and nothing after it (typing earlier would be
        echoed by the terminal before gdb's own output)."""
        deadline = time.monotonic() + timeout
        while not self.transcript.endswith(self.PROMPT):
            left = deadline - time.monotonic()
            if left <= 0 or (not self._pump(min(left, 0.1)) and self.eof):
                raise AssertionError("gdb shows no prompt after %ss%s:\n%s" % (
                    timeout, " (gdb exited)" if self.eof else "", self.transcript[-4000:]))
        return self.transcript

    def send(self, line):
        """Types one line; returns the transcript position before it (for expect)."""
        self.drain(0)
        pos = len(self.transcript)
        os.write(self.master, line.encode() + b"\n")
        return pos

    def command(self, line, timeout=60):
        """Types a line and waits for the next prompt; returns what gdb printed for it (the
        echoed line excluded)."""
        pos = self.send(line)
        # The pty echoes the line itself, then gdb's output, then the next prompt.
        echoed = self.expect(re.escape(line) + r"\n", timeout, pos)
        prompt = self.expect(re.escape(self.PROMPT), timeout, echoed.end())
        return self.transcript[echoed.end():prompt.start()]

    def close(self):
        if self.proc.poll() is None:
            T.kill_process(self.proc)
        else:
            T._live_processes.pop(self.proc.pid, None)
        try:
            os.close(self.master)
        except OSError:
            pass
