"""py-heap where users already work (issue 15): cores as users have them (zstd, gzip, xz, lz4,
a pipe, systemd-coredump's store), every verb's JSON against its schema (docs/schemas/),
80-column text, the habits of the command line, progress on a terminal and never through a
pipe, and the installed package (man page, pkg-config, the C API's example, bash completion,
gdb's gdbinit.d snippet).

Ground truth: a compressed or piped core must give exactly the census of the plain core it
was made from; the installed example's census must be the CLI's.
"""

import glob
import json
import os
import pty
import re
import select
import shutil
import subprocess
import threading
import time
import unittest

import pyheap_testlib as T

SCHEMAS = os.path.join(T.SOURCE_DIR, "docs", "schemas")
WIDTH = 80

# The command-line tools that make each format, at their fastest levels: the formats are
# what is tested, not the ratios.
COMPRESSORS = {
    "zstd": (["zstd", "-q", "-1", "-c"], ".zst"),
    "gzip": (["gzip", "-1", "-c"], ".gz"),
    "xz": (["xz", "-0", "-T1", "-c"], ".xz"),
    "lz4": (["lz4", "-q", "-1", "-c"], ".lz4"),
}


def setUpModule():
    T.require_pyheap()


def compress(path, fmt, out_dir):
    argv, ext = COMPRESSORS[fmt]
    if not shutil.which(argv[0]):
        raise unittest.SkipTest("%s is not installed (scripts/setup.sh installs it)" % argv[0])
    out = os.path.join(out_dir, os.path.basename(path) + ext)
    if not os.path.exists(out):
        with open(path, "rb") as src, open(out + ".tmp", "wb") as dst:
            subprocess.run(argv, stdin=src, stdout=dst, check=True)
        os.rename(out + ".tmp", out)
    return out


def measured(argv, stdin_path=None):
    """(exit status, stdout, peak RSS in bytes) of argv, measured by a child that runs it."""
    code = ("import resource, subprocess, sys, json\n"
            "fh = open(sys.argv[1], 'rb') if sys.argv[1] else None\n"
            "p = subprocess.run(sys.argv[2:], stdin=fh, stdout=subprocess.PIPE, "
            "stderr=subprocess.PIPE)\n"
            "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "sys.stdout.write(json.dumps([p.returncode, p.stdout.decode(errors='replace'), "
            "p.stderr.decode(errors='replace'), ru.ru_maxrss * 1024]))\n")
    res = subprocess.run(["/usr/bin/python3", "-c", code, stdin_path or ""] + argv,
                         stdout=subprocess.PIPE, timeout=T.PYHEAP_TIMEOUT * 2, check=True)
    return json.loads(res.stdout)


def census(doc):
    return {"types": doc["types"], "totals": doc["totals"], "accounting": doc["accounting"]}


# ---- 1. Compressed and piped cores ---------------------------------------------------------

class CompressedCoreTest(unittest.TestCase):
    """Each format, and a pipe, gives exactly the census of the plain core."""

    @classmethod
    def setUpClass(cls):
        cls.interp = T.require_first_available()
        cls.core = T.shared_core(cls.interp)
        cls.extra = T.pyheap_args(cls.interp)
        cls.tmp = T.make_temp_dir("pyheap-compressed-")
        res = T.run_pyheap(["types", cls.core, "--limit", "0", "--json"] + cls.extra)
        if res.returncode != 0:
            raise AssertionError(res.describe())
        cls.plain = census(res.json())

    def test_formats(self):
        for fmt in COMPRESSORS:
            with self.subTest(fmt=fmt):
                path = compress(self.core, fmt, self.tmp)
                res = T.run_pyheap(["types", path, "--limit", "0", "--json"] + self.extra)
                self.assertEqual(0, res.returncode, res.describe())
                doc = res.json()
                self.assertEqual(self.plain, census(doc), "%s core: another census" % fmt)
                self.assertIn("(%s)" % fmt, doc["target"]["description"])

    def test_pipe(self):
        path = compress(self.core, "zstd", self.tmp)
        # `coredumpctl dump PID | py-heap types -`: a zstd core decompressed on the way in
        # would be the same; here the compressed bytes themselves come through the pipe.
        with open(path, "rb") as fh:
            proc = T.start_process([T.PYHEAP_BIN, "types", "-", "--limit", "0", "--json"]
                                   + self.extra, stdin=fh, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
            out, err = proc.communicate(timeout=T.PYHEAP_TIMEOUT)
        self.assertEqual(0, proc.returncode, err.decode(errors="replace"))
        self.assertEqual(self.plain, census(json.loads(out)), "piped zstd core: another census")
        # And a plain core through a pipe.
        with open(self.core, "rb") as fh:
            proc = T.start_process(["cat"], stdin=fh, stdout=subprocess.PIPE)
            res = subprocess.run([T.PYHEAP_BIN, "types", "-", "--limit", "0", "--json"]
                                 + self.extra, stdin=proc.stdout, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, timeout=T.PYHEAP_TIMEOUT)
            proc.stdout.close()
            proc.wait()
        self.assertEqual(0, res.returncode, res.stderr.decode(errors="replace"))
        self.assertEqual(self.plain, census(json.loads(res.stdout)), "piped plain core")

    def test_truncated_and_terminal(self):
        path = compress(self.core, "zstd", self.tmp)
        cut = os.path.join(self.tmp, "cut.zst")
        with open(path, "rb") as src, open(cut, "wb") as dst:
            dst.write(src.read(os.path.getsize(path) // 2))
        res = T.run_pyheap(["info", cut] + self.extra)
        problems = T.error_line_problems(res, 1, r"(?i)truncated.*zstd")
        self.assertEqual([], problems, res.describe())


_big_cores = {}


def paced_write(path, pipe, seconds):
    """Writes the file at path into pipe in 30 pieces over `seconds`, then closes it."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        step = max(1, -(-len(data) // 30))
        for off in range(0, len(data), step):
            pipe.write(data[off:off + step])
            pipe.flush()
            time.sleep(seconds / 30)
    except (BrokenPipeError, ValueError):
        pass  # the reader ended first: its exit status tells
    finally:
        try:
            pipe.close()
        except BrokenPipeError:
            pass


def big_core(interp):
    """(directory, core) of a workload of ~3.6 M objects, made once per test process: 1.2 M
    tuples of an int and a str, a core of ~200 MiB whose census takes seconds."""
    if interp.label not in _big_cores:
        tmp = T.make_temp_dir("pyheap-bigcore-")
        script = ("import sys, time, json\n"
                  "blob = [(i, str(i)) for i in range(1200000)]\n"
                  "open(sys.argv[1] + '.tmp', 'w').write(json.dumps({'len': len(blob)}))\n"
                  "import os; os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
                  "time.sleep(1000)\n")
        path = os.path.join(tmp, "blob.py")
        with open(path, "w") as fh:
            fh.write(script)
        w = T.Workload(interp, script=path, workdir=tmp).start()
        try:
            _big_cores[interp.label] = (tmp, T.gcore(w.pid, os.path.join(tmp, "core.%d" % w.pid)))
        finally:
            w.stop()
    return _big_cores[interp.label]


class CompressedMemoryTest(unittest.TestCase):
    """Decompressing costs a few buffers, not the core: on a core of about 200 MiB the peak
    memory of a run on its compressed form exceeds the plain run's by less than 20 % of the
    core, for every format."""

    @classmethod
    def setUpClass(cls):
        cls.interp = T.require_first_available()
        cls.extra = T.pyheap_args(cls.interp)
        cls.tmp, cls.core = big_core(cls.interp)

    def test_peak_memory(self):
        size = os.path.getsize(self.core)
        code, out, err, plain_peak = measured([T.PYHEAP_BIN, "types", self.core, "--json"]
                                              + self.extra)
        self.assertEqual(0, code, err)
        plain = census(json.loads(out))
        report = ["core %.0f MiB; plain run peak %.1f MiB" % (size / 2**20, plain_peak / 2**20)]
        for fmt in COMPRESSORS:
            path = compress(self.core, fmt, self.tmp)
            code, out, err, peak = measured([T.PYHEAP_BIN, "types", path, "--json"] + self.extra)
            self.assertEqual(0, code, err)
            self.assertEqual(plain, census(json.loads(out)), "%s: another census" % fmt)
            report.append("%s: peak %.1f MiB (+%.1f MiB)" % (fmt, peak / 2**20,
                                                            (peak - plain_peak) / 2**20))
            self.assertLess(peak - plain_peak, 0.2 * size, "; ".join(report))
        print("\n  " + "; ".join(report))


# ---- 2. systemd-coredump's store -------------------------------------------------------------

class CoredumpStoreTest(unittest.TestCase):
    """--coredump MATCH on systemd-coredump's layout: core.COMM.UID.BOOT_ID.PID.USEC.zst files
    with the user.coredump.* attributes systemd-coredump sets. This machine's PID 1 is not
    systemd (no journal, no coredumpctl to ask), so the store is faked in a directory
    ($PYHEAP_COREDUMP_DIR) with a real zstd core of a real process in it and decoys around it;
    the file names and attributes are systemd-coredump's own."""

    BOOT_ID = "0123456789abcdef0123456789abcdef"

    @classmethod
    def setUpClass(cls):
        cls.interp = T.require_first_available()
        cls.extra = T.pyheap_args(cls.interp)
        cls.workload = T.shared_workload(cls.interp)
        core = T.shared_core(cls.interp)
        cls.store = T.make_temp_dir("pyheap-coredump-store-")
        comm = os.path.basename(cls.interp.path)[:15]  # the kernel's comm: 15 bytes
        escaped = comm.replace(".", "\\x2e")  # systemd escapes the dots of COMM
        now = int(time.time() * 1e6)
        pid = cls.workload.pid

        def put(name, data_from, attrs):
            path = os.path.join(cls.store, name)
            if data_from:
                compress(data_from, "zstd", cls.store)
                os.rename(os.path.join(cls.store, os.path.basename(data_from) + ".zst"), path)
            else:
                with open(path, "wb") as fh:
                    fh.write(b"\x28\xb5\x2f\xfd not a core")  # a decoy: must not be chosen
            for k, v in attrs.items():
                try:
                    os.setxattr(path, "user.coredump." + k, str(v).encode())
                except OSError as e:
                    raise unittest.SkipTest("the file system of %s keeps no user xattrs: %s"
                                            % (cls.store, e))
            return path

        cls.newest = put("core.%s.0.%s.%d.%d.zst" % (escaped, cls.BOOT_ID, pid, now), core,
                         {"pid": pid, "comm": comm, "exe": cls.interp.path, "uid": 0,
                          "timestamp": now, "signal": 6})
        # An older core of the same command and another process's core.
        put("core.%s.0.%s.%d.%d.zst" % (escaped, cls.BOOT_ID, pid + 100000, now - 10**8), None,
            {"pid": pid + 100000, "comm": comm, "exe": cls.interp.path, "timestamp": now - 10**8})
        put("core.other.0.%s.%d.%d.zst" % (cls.BOOT_ID, pid + 200000, now + 10**6), None,
            {"pid": pid + 200000, "comm": "other", "exe": "/usr/bin/other",
             "timestamp": now + 10**6})
        res = T.run_pyheap(["types", core, "--limit", "0", "--json"] + cls.extra)
        assert res.returncode == 0, res.describe()
        cls.plain = census(res.json())

    def run_match(self, match):
        return T.run_pyheap(["types", "--coredump", match, "--limit", "0", "--json"] + self.extra,
                            env={"PYHEAP_COREDUMP_DIR": self.store})

    def test_matches(self):
        for match in (str(self.workload.pid), os.path.basename(self.interp.path)[:15],
                      self.interp.path):
            with self.subTest(match=match):
                res = self.run_match(match)
                self.assertEqual(0, res.returncode, res.describe())
                doc = res.json()
                self.assertEqual(self.plain, census(doc))
                self.assertEqual(self.newest, doc["target"]["path"])

    def test_no_match(self):
        res = self.run_match("nosuchcommand")
        self.assertEqual([], T.error_line_problems(res, 1, r"no core in systemd-coredump's store "
                                                   + re.escape(self.store)), res.describe())


# ---- 3. JSON of every verb against its schema ------------------------------------------------

def validator(verb):
    import jsonschema  # python3-jsonschema (Debian), installed by scripts/setup.sh
    store = {}
    for path in glob.glob(os.path.join(SCHEMAS, "*.json")):
        with open(path) as fh:
            s = json.load(fh)
        store[s["$id"]] = s
    with open(os.path.join(SCHEMAS, verb + ".json")) as fh:
        schema = json.load(fh)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, resolver=jsonschema.RefResolver.from_schema(schema, store=store))


class JsonSchemaTest(unittest.TestCase):
    """`--json` of every verb, on a real core (and watch on a real process), validates
    against docs/schemas/VERB.json; a document missing a required member does not."""

    @classmethod
    def setUpClass(cls):
        try:
            import jsonschema  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("python3-jsonschema is not installed (scripts/setup.sh)")
        cls.interp = T.require_first_available()
        cls.core = T.shared_core(cls.interp)
        cls.extra = T.pyheap_args(cls.interp)
        cls.tmp = T.make_temp_dir("pyheap-schema-")

    def pyheap(self, *args):
        res = T.run_pyheap(list(args) + self.extra)
        self.assertEqual(0, res.returncode, res.describe())
        return res

    def check(self, verb, doc):
        errors = ["%s: %s" % ("/".join(map(str, e.path)), e.message[:300])
                  for e in validator(verb).iter_errors(doc)]
        self.assertEqual([], errors[:10], "%s --json does not match docs/schemas/%s.json"
                         % (verb, verb))

    def test_every_verb(self):
        objs = self.pyheap("objects", "--type", "dict", "--limit", "3", self.core, "--json").json()
        addr = objs["objects"][0]["address"]
        runs = {
            "summary": [], "info": [], "fragmentation": [], "types": [], "retained": [],
            "unreachable": [], "gc": [], "objects": ["--type", "dict", "--limit", "3"],
            "show": [addr], "referrers": [addr], "path": [addr],
        }
        for verb, args in runs.items():
            with self.subTest(verb=verb):
                self.check(verb, self.pyheap(verb, self.core, "--json", *args).json())
        with self.subTest(verb="edges"):
            edges = os.path.join(self.tmp, "edges.bin")
            doc = self.pyheap("edges", "-o", edges, self.core, "--json").json()
            self.check("edges", doc)
            self.assertEqual(8 + 16 * doc["edges"], os.path.getsize(edges))
        with self.subTest(verb="path --type"):
            self.check("path", self.pyheap("path", "--type", "dict", self.core, "--json").json())
        snaps = []
        for i in range(3):
            path = os.path.join(self.tmp, "s%d.json" % i)
            doc = self.pyheap("snapshot", "-o", path, self.core, "--json").json()
            with self.subTest(verb="snapshot -o"):
                self.check("snapshot", doc)
                self.assertEqual(path, doc["output"])
            snaps.append(path)
        with self.subTest(verb="snapshot"):
            doc = self.pyheap("snapshot", self.core, "--json", "--no-retainers").json()
            self.check("snapshot", doc)
            self.assertEqual(doc["objects"], doc["snapshot"]["totals"]["objects"])
        with self.subTest(verb="diff"):
            self.check("diff", self.pyheap("diff", snaps[0], snaps[1], "--json").json())
        with self.subTest(verb="trend"):
            self.check("trend", self.pyheap("trend", *snaps, "--json").json())
        with self.subTest(verb="report"):
            html = os.path.join(self.tmp, "report.html")
            doc = self.pyheap("report", self.core, "-o", html, "--json", *snaps).json()
            self.check("report", doc)
            self.assertEqual(os.path.getsize(html), doc["bytes"])
        # A schema that fails nothing checks nothing: one member less must fail.
        doc = self.pyheap("types", self.core, "--json").json()
        del doc["totals"]
        self.assertTrue(list(validator("types").iter_errors(doc)), "types.json accepts a "
                        "document without totals")

    def test_watch(self):
        w = T.shared_workload(self.interp)
        out = T.make_temp_dir("pyheap-watch-json-")
        res = self.pyheap("watch", "-p", str(w.pid), "--rss-limit", "1K", "--out", out,
                          "--max-dumps", "1", "--json")
        events = [json.loads(line) for line in res.stdout.splitlines()]
        # "cgroup" when the process's memory cgroup can be read (test_watch_cgroup checks it)
        self.assertEqual(["start", "breach", "snapshot", "max_dumps"],
                         [e["event"] for e in events if e["event"] != "cgroup"], res.stdout)
        self.assertIn([e["event"] for e in events][1], ("breach", "cgroup"))
        v = validator("watch")
        for e in events:
            errors = [x.message for x in v.iter_errors(e)]
            self.assertEqual([], errors, "watch event %r" % e)
        self.assertTrue(os.path.exists([e for e in events if e["event"] == "snapshot"][0]["path"]))


# ---- 4. Text: 80 columns; the command line's habits --------------------------------------------

def too_wide(text):
    return [line for line in text.splitlines() if len(line) > WIDTH]


class TextAndHabitsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.interp = T.require_first_available()
        cls.core = T.shared_core(cls.interp)
        cls.extra = T.pyheap_args(cls.interp)
        cls.tmp = T.make_temp_dir("pyheap-text-")

    def pyheap(self, *args, status=0):
        res = T.run_pyheap(list(args))
        self.assertEqual(status, res.returncode, res.describe())
        return res

    def test_80_columns(self):
        objs = self.pyheap("objects", "--type", "dict", self.core, "--json", *self.extra).json()
        addr = objs["objects"][0]["address"]
        snaps = []
        for i in range(3):
            snaps.append(os.path.join(self.tmp, "s%d.json" % i))
            self.pyheap("snapshot", "-o", snaps[-1], self.core, *self.extra)
        runs = [[v, self.core] for v in ("summary", "info", "fragmentation", "types",
                                         "retained", "unreachable")]
        runs += [["objects", "--type", t, self.core] for t in ("dict", "str", "tuple")]
        runs += [["show", addr, self.core], ["referrers", addr, self.core],
                 ["path", addr, self.core], ["path", "--type", "dict", self.core],
                 ["types", "--limit", "0", self.core]]
        runs = [r + self.extra for r in runs]
        runs += [["diff", snaps[0], snaps[1]], ["trend"] + snaps, ["--help"]]
        runs += [[v, "--help"] for v in ("summary", "info", "fragmentation", "types", "objects",
                                         "show", "referrers", "path", "retained", "unreachable",
                                         "snapshot", "diff", "trend", "watch")]
        bad = {}
        for args in runs:
            wide = too_wide(self.pyheap(*args).stdout)
            if wide:
                bad[" ".join(args)] = wide[:3]
        self.assertEqual({}, bad, "lines over 80 columns")
        # --wide: the whole preview and type names, whatever the width.
        narrow = self.pyheap("objects", "--type", "dict", self.core, *self.extra).stdout
        wide = self.pyheap("objects", "--type", "dict", self.core, "--wide", *self.extra).stdout
        self.assertTrue(too_wide(wide) and "..." in narrow, "--wide changes nothing:\n" + wide)

    def test_habits(self):
        w = T.shared_workload(self.interp)
        # -p PID is --pid PID.
        a = self.pyheap("info", "-p", str(w.pid), "--json", *self.extra).json()
        self.assertEqual(w.pid, a["target"]["pid"])
        self.assertIsInstance(a["target"]["stopped_seconds"], float)
        # Did you mean: verbs and options.
        res = self.pyheap("tpyes", self.core, status=2)
        self.assertIn("did you mean types?", res.stderr)
        res = self.pyheap("types", "--limt", "3", self.core, status=2)
        self.assertIn("did you mean --limit?", res.stderr)
        # A PID given as a core file.
        res = self.pyheap("info", "999999", status=2)
        self.assertIn("use -p 999999", res.stderr)
        # A value out of its range, from the table.
        res = self.pyheap("types", "--sort", "name", self.core, status=2)
        self.assertIn("size|count", res.stderr)

    @unittest.skipIf(os.geteuid() != 0, "needs root to run py-heap as another user")
    def test_permission_hint(self):
        # A process of root, read by py-heap running as nobody. CI may clone into a directory
        # nobody cannot enter (mktemp -d is 0700): nobody runs a copy of py-heap and of the
        # libraries it loads from the build tree, in a directory anyone can enter.
        w = T.shared_workload(self.interp)
        tmp = T.make_temp_dir("pyheap-perm-")
        os.chmod(tmp, 0o755)
        binary = os.path.join(tmp, "py-heap")
        shutil.copy2(T.PYHEAP_BIN, binary)
        ldd = subprocess.run(["ldd", T.PYHEAP_BIN], capture_output=True, text=True, check=True)
        for lib in re.findall(r"=> (\S+) \(", ldd.stdout):
            if os.path.realpath(lib).startswith(os.path.realpath(T.SOURCE_DIR) + os.sep):
                shutil.copy2(lib, tmp)
        env = dict(os.environ, LD_LIBRARY_PATH=tmp)
        res = T.run_process(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             binary, "info", "-p", str(w.pid)], T.PYHEAP_TIMEOUT, env=env)
        self.assertEqual([], T.error_line_problems(res, 1, r"run py-heap as root .* owner"),
                         res.describe())


# ---- 5. Progress: on a terminal only ------------------------------------------------------------

class ProgressTest(unittest.TestCase):
    """A read of several seconds shows a progress line on a terminal (a pty), and nothing on a
    pipe, with --quiet or with --json. The read: an xz core of ~3.6 M objects (big_core(),
    shared with CompressedMemoryTest) arriving on standard input over ~3 s, as a core copied
    from another machine does: a fast machine reads the file itself in under the second after
    which the line appears, so the pace is set by the feed, never by the machine."""

    @classmethod
    def setUpClass(cls):
        cls.interp = T.require_first_available()
        cls.extra = T.pyheap_args(cls.interp)
        cls.tmp, cls.core = big_core(cls.interp)
        cls.xz = compress(cls.core, "xz", cls.tmp)

    def run_on_pty(self, args, feed=None):
        """stderr on a pty, stdout a pipe: (exit status, stdout, stderr as the terminal saw it).
        With feed (a file), standard input is that file written into a pipe over ~3 s."""
        master, slave = pty.openpty()
        proc = T.start_process([T.PYHEAP_BIN] + args, stdout=subprocess.PIPE, stderr=slave,
                               stdin=subprocess.PIPE if feed else subprocess.DEVNULL)
        os.close(slave)
        if feed:
            threading.Thread(target=paced_write, args=(feed, proc.stdin, 3.0),
                             daemon=True).start()
        seen = b""
        deadline = time.monotonic() + T.PYHEAP_TIMEOUT
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        out = proc.stdout.read()
        proc.wait()
        os.close(master)
        return proc.returncode, out.decode(errors="replace"), seen.decode(errors="replace")

    def test_progress(self):
        code, out, err = self.run_on_pty(["summary", "-"] + self.extra, feed=self.xz)
        self.assertEqual(0, code, err)
        lines = [l for l in re.split(r"[\r\n]", err.replace("\x1b[K", ""))
                 if l.startswith("py-heap: ")]
        # "py-heap: decompressing the core: 12.0 MiB, 1.2 s" (a pipe's total is unknown), or
        # "py-heap: sizing objects: 65536 of 3600000 objects (2%), 1.3 s".
        progress = [l for l in lines if re.search(r"^py-heap: [a-z' ]+: [\d.]+( [KMG]?i?B)?"
                                                  r"( of [\d.]+.* \(\d+%\))?.*, [\d.]+ s$", l)]
        self.assertTrue(progress, "no progress line on the terminal: %r" % err[-2000:])
        self.assertTrue(out.startswith("Python "), out)
        # Never through a pipe, with --quiet or with --json.
        res = T.run_pyheap(["summary", self.xz] + self.extra)
        self.assertEqual(0, res.returncode, res.describe())
        self.assertEqual("", res.stderr)
        for extra in (["--quiet"], ["--json"]):
            code, out, err = self.run_on_pty(["summary", self.xz] + self.extra + extra)
            self.assertEqual(0, code, err)
            self.assertEqual("", err, extra)


# ---- 6. The installed package --------------------------------------------------------------------

class InstallTest(unittest.TestCase):
    """`cmake --install` of the build to a prefix, then what a user of the package does."""

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(os.path.join(T.BUILD_DIR, "cmake_install.cmake")):
            raise unittest.SkipTest("no CMake build in %s" % T.BUILD_DIR)
        cls.prefix = T.make_temp_dir("pyheap-prefix-")
        res = subprocess.run(["cmake", "--install", T.BUILD_DIR, "--prefix", cls.prefix],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        assert res.returncode == 0, res.stdout.decode(errors="replace")
        cls.interp = T.require_first_available()
        cls.core = T.shared_core(cls.interp)
        cls.extra = T.pyheap_args(cls.interp)
        cls.libdir = next(d for d in glob.glob(os.path.join(cls.prefix, "lib*"))
                          if glob.glob(os.path.join(d, "libpyheap.so*")))
        # A sanitizer build's library loads only into a program built with the sanitizers.
        with open(os.path.join(T.BUILD_DIR, "CMakeCache.txt")) as fh:
            sanitized = re.search(r"^PYHEAP_SANITIZE:BOOL=ON$", fh.read(), re.M)
        cls.cflags = ["-fsanitize=address,undefined"] if sanitized else []

    def run_ok(self, argv, env=None, **kw):
        full = dict(os.environ, **(env or {}))
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full,
                             timeout=300, **kw)
        self.assertEqual(0, res.returncode, "%s:\n%s" % (" ".join(argv),
                                                        res.stderr.decode(errors="replace")))
        return res.stdout.decode(errors="replace")

    def test_man(self):
        man = os.path.join(self.prefix, "share", "man")
        text = self.run_ok(["man", "py-heap"], env={"MANPATH": man, "MANPAGER": "cat",
                                                     "PAGER": "cat", "MANWIDTH": "80"})
        for want in (r"py-heap\s+-\s+look\s+inside\s+the\s+heap", r"--coredump MATCH",
                     r"SEE ALSO", r"--sort size\|count"):
            self.assertRegex(text, want)
        text = self.run_ok(["man", "3", "libpyheap"], env={"MANPATH": man, "MANPAGER": "cat",
                                                           "PAGER": "cat"})
        self.assertIn("pyh_census_list_get", text)

    def test_pkg_config_and_example(self):
        env = {"PKG_CONFIG_PATH": os.path.join(self.libdir, "pkgconfig")}
        flags = self.run_ok(["pkg-config", "--cflags", "--libs", "pyheap"], env=env).split()
        self.assertIn("-lpyheap", flags)
        example = glob.glob(os.path.join(self.prefix, "share", "doc", "*", "examples",
                                         "census.c"))
        self.assertTrue(example, "the example is not installed")
        exe = os.path.join(self.prefix, "census")
        self.run_ok(["cc", "-Wall", "-Werror"] + self.cflags + [example[0], "-o", exe] + flags
                    + ["-Wl,-rpath," + self.libdir], env=env)
        out = self.run_ok([exe, self.core])
        res = T.run_pyheap(["types", self.core, "--json"] + self.extra)
        totals = res.json()["totals"]
        first = out.splitlines()[0]
        self.assertTrue(first.startswith("%d objects, %d bytes in " % (totals["objects"],
                                                                        totals["size"])),
                        "the example's census %r is not the CLI's %r" % (first, totals))
        self.assertIn(res.json()["types"][0]["name"], out.splitlines()[1])
        # Only the public API is exported.
        syms = self.run_ok(["nm", "-D", "--defined-only",
                            os.path.join(self.libdir, "libpyheap.so")]).split("\n")
        names = [l.split()[-1] for l in syms if l.strip() and l.split()[1] in "TDBR"]
        self.assertEqual([], [n for n in names if not n.startswith("pyh_")])
        with open(os.path.join(self.prefix, "include", "pyheap.h")) as fh:
            header = fh.read()
        self.assertEqual([], [n for n in names if n not in header], "exported, not declared")

    def test_cmake_package(self):
        src = os.path.join(self.prefix, "cmake-user")
        os.makedirs(src, exist_ok=True)
        with open(os.path.join(src, "CMakeLists.txt"), "w") as fh:
            fh.write("cmake_minimum_required(VERSION 3.18)\nproject(user C)\n"
                     "find_package(pyheap REQUIRED)\nadd_executable(census census.c)\n"
                     "target_link_libraries(census pyheap::pyheap)\n")
        shutil.copy(glob.glob(os.path.join(self.prefix, "share", "doc", "*", "examples",
                                           "census.c"))[0], src)
        build = os.path.join(src, "build")
        self.run_ok(["cmake", "-S", src, "-B", build, "-DCMAKE_PREFIX_PATH=" + self.prefix,
                     "-DCMAKE_C_FLAGS=" + " ".join(self.cflags)])
        self.run_ok(["cmake", "--build", build])
        out = self.run_ok([os.path.join(build, "census"), self.core],
                          env={"LD_LIBRARY_PATH": self.libdir})
        self.assertRegex(out.splitlines()[0], r"^\d+ objects")

    def test_bash_completion(self):
        script = os.path.join(self.prefix, "share", "bash-completion", "completions", "py-heap")
        self.assertTrue(os.path.exists(script))

        def complete(*words):
            words = ["py-heap"] + list(words)
            code = ("source %s\nCOMP_WORDS=(%s)\nCOMP_CWORD=%d\n_py_heap\n"
                    "printf '%%s\\n' \"${COMPREPLY[@]}\"\n"
                    % (script, " ".join("'%s'" % w for w in words), len(words) - 1))
            return self.run_ok(["bash", "--norc", "-c", code]).split()

        self.assertEqual(["types"], complete("ty"))
        self.assertIn("fragmentation", complete("f"))
        self.assertEqual(["--lib-path", "--limit"], sorted(complete("types", "--li")))
        self.assertEqual(["count", "size"], sorted(complete("types", "--sort", "")))
        self.assertIn("--coredump", complete("summary", "--co"))
        for shell, path in (("zsh", ("zsh", "site-functions", "_py-heap")),
                            ("fish", ("fish", "vendor_completions.d", "py-heap.fish"))):
            self.assertTrue(os.path.exists(os.path.join(self.prefix, "share", *path)), shell)

    def test_gdb_snippet(self):
        if not shutil.which("gdb"):
            self.skipTest("gdb is not installed")
        snippet = os.path.join(self.prefix, "etc", "gdb", "gdbinit.d", "py-heap.gdb")
        if not os.path.exists(snippet):
            self.skipTest("the gdb module is not built (-DPYHEAP_BUILD_GDB=OFF)")
        out = self.run_ok(["gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off",
                           "-x", snippet, "-ex", "help py-heap"])
        self.assertRegex(out, r"(?m)^py-heap types -- ")
        self.assertNotRegex(out, r"(?m)^py-heap watch")
        module = glob.glob(os.path.join(self.libdir, "py-heap", "gdb", "_pyheap_gdb*.so"))
        self.assertTrue(module, "the gdb module is not under the library directory")


if __name__ == "__main__":
    unittest.main()
