"""Text from the target never reaches the terminal raw (issue 13, finding 5).

A workload (pyenv's 3.12) whose every name carries terminal escapes: a class whose name
holds an OSC title sequence, a clear-screen CSI, the 8-bit CSI U+009B and a right-to-left
override U+202E; a second class whose qualified name also holds a lone surrogate (invalid UTF-8 once
read: pyh_str_read writes it as its 3-byte form); attribute names, str values and bytes
values with the same (the bytes with 0x9b, 0xff and a valid UTF-8 C1 sequence); a module
of such a name; a thread named likewise. Its gcore is read with every
verb in text and JSON:

  * text (stdout and stderr): strict UTF-8, and none of ESC, BEL, CR, U+009B, U+202E, nor a
    raw 0x9b byte; the escapes are visible instead (\\x1b, \\u009b, \\u202e);
  * JSON: valid, and exact: the first class's name is the very string the workload made
    (JSON's own escapes), the second's has its invalid bytes as \\xNN;
  * previews are Python's repr: the bytes object's preview is repr(b) exactly;
  * gdb: `py-heap objects --type bytes` and `py-heap types` print, with no Python
    exception, and nothing raw either.
"""
import json
import os
import re
import subprocess
import unittest

import gdb_testlib as G
import pyheap_testlib as T

EVIL = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eevil\r"

WORKLOAD = r'''
import ctypes, json, os, sys, threading, time, types

EVIL = %r
out = sys.argv[1]

Evil = type("Evil" + EVIL, (), {})
Lone = type("Lone" + EVIL, (), {})
Lone.__qualname__ = "Lone\udcff" + EVIL  # invalid UTF-8 once read (a lone surrogate)
objs = []
for i in range(40):
    o = Evil()
    setattr(o, "attr" + EVIL, "value" + EVIL + str(i))
    objs.append(o)
    objs.append(Lone())
mod = types.ModuleType("mod" + EVIL)
sys.modules["mod" + EVIL] = mod
keep_bytes = b"\x1b[31m\xff\x9b\xc2\x9b" + b"B" * 1000
keep_str = "str" + EVIL + "\udcff"

ready = threading.Event()
def worker():
    libc = ctypes.CDLL(None)
    libc.prctl(15, b"t\x1b[31m\x9bX", 0, 0, 0)  # PR_SET_NAME
    ready.set()
    time.sleep(100000)
threading.Thread(target=worker, daemon=True, name="thr" + EVIL).start()
ready.wait()
gt = {"evil": id(objs[0]), "lone": id(objs[1]), "bytes": id(keep_bytes), "str": id(keep_str),
      "bytes_repr": repr(keep_bytes[:64])}
with open(out + ".tmp", "w") as fh:
    json.dump(gt, fh)
os.rename(out + ".tmp", out)
time.sleep(100000)
''' % EVIL

# Bytes that must never be printed: ESC, BEL, CR, the 8-bit CSI (raw, or as UTF-8 U+009B)
# and U+202E.
RAW = [b"\x1b", b"\x07", b"\r", b"\xc2\x9b", b"\xe2\x80\xae"]


def setUpModule():
    T.require_pyheap()


def tearDownModule():
    T.cleanup_all()


def raw_problems(what, data):
    bad = ["%s holds %r raw" % (what, r) for r in RAW if r in data]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad.append("%s is not UTF-8: %s" % (what, e))
    return bad


class SanitizeTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        interp = T.interpreter("3.12")
        T.require_interpreter(interp)
        cls.interp = interp
        d = T.make_temp_dir("pyheap-sanitize-")
        script = os.path.join(d, "evil_workload.py")
        with open(script, "w") as fh:
            fh.write(WORKLOAD)
        w = T.Workload(interp, script=script, workdir=d).start()
        cls.gt = w.gt
        cls.core = T.gcore(w.pid, os.path.join(d, "core"))
        w.stop()
        cls.tmp = d

    def run_raw(self, args):
        p = subprocess.run([T.PYHEAP_BIN] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=T.PYHEAP_TIMEOUT)
        return p.returncode, p.stdout, p.stderr

    def verbs(self):
        hx = lambda k: "0x%x" % self.gt[k]
        return [["summary"], ["info"], ["types"], ["types", "--wide", "--limit", "0"], ["objects", "--type",
                "bytes"], ["objects", "--type", "str"], ["show", hx("evil")],
                ["show", hx("lone")], ["show", hx("bytes")], ["show", hx("str")],
                ["referrers", hx("evil")], ["path", hx("evil")], ["retained"],
                ["unreachable"], ["fragmentation"]]

    def test_text_has_nothing_raw(self):
        for args in self.verbs():
            with self.subTest(verb=" ".join(args)):
                rc, out, err = self.run_raw(args + [self.core])
                self.assertIn(rc, (0, 1), err.decode(errors="replace"))
                self.assertEqual([], raw_problems("stdout", out) + raw_problems("stderr", err))
        _rc, out, _err = self.run_raw(["types", "--wide", "--limit", "0", self.core])
        # ... and what was escaped shows: the class's name, visibly.
        self.assertIn(b"Evil\\x1b]0;pwned\\x07\\x1b[2J\\u009b31m\\u202eevil\\x0d", out)
        self.assertIn(b"Lone\\xed\\xb3\\xbf\\x1b]0;pwned", out)
        _rc, out, _err = self.run_raw(["info", self.core])
        self.assertIn(b"thr\\x1b]0;pwned\\x07", out)

    def test_json_is_exact(self):
        rc, out, err = self.run_raw(["types", "--json", "--limit", "0", self.core])
        self.assertEqual(0, rc, err.decode(errors="replace"))
        doc = json.loads(out)
        names = [t["name"] for t in doc["types"]]
        self.assertIn("__main__.Evil" + EVIL, names)
        self.assertIn("__main__.Lone\\xed\\xb3\\xbf" + EVIL, names)
        rc, out, err = self.run_raw(["show", "--json", "0x%x" % self.gt["bytes"], self.core])
        self.assertEqual(0, rc, err.decode(errors="replace"))
        self.assertEqual(self.gt["bytes_repr"] + "...", json.loads(out)["value"])
        rc, out, err = self.run_raw(["info", "--json", self.core])
        self.assertEqual([], raw_problems("info --json", out))
        self.assertIn("thr" + EVIL, [th["name"] for th in json.loads(out)["threads"]])

    def test_gdb(self):
        reason = G.gdb_skip_reason()
        if reason:
            self.skipTest(reason)
        cmds = ["py-heap objects --type bytes", "py-heap types", "py-heap info",
                "py-heap show 0x%x" % self.gt["lone"]]
        run = G.run_gdb_commands(G.core_target(self.interp, self.core), cmds)
        for c in run.commands:
            with self.subTest(command=c.command):
                self.assertNotIn("Traceback", c.err)
                self.assertNotIn("Error", c.err)
                for text in (c.out, c.err):
                    for r in ("\x1b", "\x07", "\x9b", "\u202e", "\ufffd"):
                        self.assertNotIn(r, text)
        self.assertIn("b'\\x1b[31m\\xff\\x9b\\xc2\\x9b", run["py-heap objects --type bytes"].out)


if __name__ == "__main__":
    unittest.main()
