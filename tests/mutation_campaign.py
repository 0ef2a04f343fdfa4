#!/usr/bin/env python3
"""Mutation campaign: py-heap on seeded mutants of real cores (issue 13, "what it must show").

For each interpreter, a workload (lists, dicts, sets, tuples, bytes, bytearrays, a chain and
cycles) is run and dumped with gdb's gcore. py-heap's JSON answer of every verb on the pristine
core is recorded (twice: what differs between two pristine runs is not compared). Then each
mutant changes the core in place (and is undone after its run), and one verb runs on it — the
verbs taken in turn, so that every verb meets every kind of mutation. A mutant is:

  pointer  a container's buffer pointer aimed at unmapped memory (list ob_item, dict ma_keys,
           set table, bytearray ob_bytes)
  count    a count made absurd (a list's allocated or ob_size, a tuple's or bytes' ob_size,
           a set's mask, a dict's keys size)
  random   1-8 random bytes of the writable memory the core holds, anywhere

and its outcome one of:

  same     exit 0 and the pristine answer
  said     the answer differs but py-heap said so: an error line, or results marked partial,
           or a warning the pristine run did not give
  silent   exit 0, another answer, nothing said
  crash    killed by a signal; sanitizer  a sanitizer report (ASan/UBSan build); hang  no
           answer within the timeout

The campaign passes when there is no crash, no sanitizer report, no hang, and no silent change
among the pointer and count mutants. A random byte is often no damage at all but another value
(a str's character, a refcount, an int): a silent change there is another program's answer, so
those are counted and printed, not failed.

    tests/mutation_campaign.py [--mutants N] [--seed S] [--interpreters 3.12,3.9,...]
                               [--binary PATH] [--json]

Figures are printed at the end (--json: as one JSON object); exit status 1 when it fails.
"""
import argparse
import json
import os
import random
import re
import shutil
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "integration"))

import hostile_testlib as H  # noqa: E402
import pyheap_testlib as T  # noqa: E402

WORKLOAD = r'''
import json, os, sys, time
out = sys.argv[1]

class Node:
    def __init__(self, nxt, payload):
        self.next = nxt
        self.payload = payload

chain = None
for i in range(2000):
    chain = Node(chain, [i, str(i)])
lists = [[j for j in range(i % 50)] for i in range(400)]
dicts = [{"k%d" % j: j for j in range(i % 30)} for i in range(400)]
sets = [set(range(i % 40)) for i in range(200)]
tuples = [tuple(range(i % 20)) for i in range(300)]
blobs = [bytes(i % 300) for i in range(300)]
arrays = [bytearray(i * 10) for i in range(100)]
cycles = []
for i in range(100):
    a, b = [], {}
    a.append(b)
    b["a"] = a
    cycles.append(a)
with open(out + ".tmp", "w") as fh:
    json.dump({"pid": os.getpid()}, fh)
os.rename(out + ".tmp", out)
while True:
    time.sleep(1000)
'''

VERBS = [["summary"], ["info"], ["fragmentation"], ["types", "--limit", "0"],
         ["objects", "--type", "dict", "--limit", "50"], ["show", "{addr}"],
         ["referrers", "{addr}"], ["path", "{addr}"], ["retained"], ["unreachable"], ["gc"],
         ["snapshot", "--json"]]
KINDS = ("pointer", "count", "random")
# Offsets (bytes from the object's start) the same in 3.8 to 3.13.
LIST_SIZE, LIST_ITEMS, LIST_ALLOCATED = 16, 24, 32
DICT_KEYS = 32
SET_MASK, SET_TABLE = 32, 40
BYTEARRAY_BYTES = 32
VAR_SIZE = 16
UNMAPPED = [0x10, 0x1000, 0xdead00000000, 0x7ffffffff000 - 0x10000000]


def q(v):
    return struct.pack("<Q", v & 0xffffffffffffffff)


class Target:
    """One interpreter's pristine core, its answers and the objects to mutate."""

    def __init__(self, interp, workdir, binary, timeout):
        self.interp = interp
        self.binary = binary
        self.timeout = timeout
        script = os.path.join(workdir, "workload.py")
        with open(script, "w") as fh:
            fh.write(WORKLOAD)
        w = T.Workload(interp, script=script, workdir=workdir).start()
        try:
            self.pristine = T.gcore(w.pid, os.path.join(workdir, "pristine.core"))
        finally:
            w.stop()
        self.core = os.path.join(workdir, "mutant.core")
        shutil.copyfile(self.pristine, self.core)
        self.keep_times()
        self.minor = int(interp.label.split("-")[0].split(".")[1])
        self.objects = {}
        for t in ("list", "dict", "set", "tuple", "bytes", "bytearray"):
            res = self.run(["objects", "--type", t, "--limit", "300", "--json"])
            self.objects[t] = [int(o["address"], 16) for o in json.loads(res.stdout)["objects"]]
        with H.CoreImage(self.core) as c:
            self.writable = [(ph.offset, ph.filesz) for ph in c.phdrs
                             if ph.type == T.PT_LOAD and ph.flags & 2 and ph.filesz > 0]
        self.answers = {}

    def run(self, args):
        return H.run(self.binary, list(args) + [self.core], timeout=self.timeout)

    def answer(self, verb, addr):
        """(pristine JSON, volatile paths, pristine warnings) of verb on addr."""
        key = (tuple(verb), addr)
        if key not in self.answers:
            args = [a.replace("{addr}", "0x%x" % addr) for a in verb]
            if "--json" not in args:
                args.append("--json")
            runs = [self.run(args) for _ in range(2)]
            docs = [parse(r) for r in runs]
            volatile = set(differing(docs[0], docs[1])) if None not in docs else set()
            warnings = set(docs[0].get("warnings", [])) if docs[0] else set()
            self.answers[key] = (args, runs[0].returncode, docs[0], volatile, warnings)
        return self.answers[key]

    def edit(self, patches):
        """The file edits [(offset, bytes)] for patches [(address, bytes)]."""
        return H.address_edits(self.core, patches)

    def apply(self, edits):
        """Applies file edits to the mutant; returns the undo list. The file keeps the
        pristine core's times (a snapshot's time is the core's)."""
        undo = []
        with open(self.core, "r+b") as fh:
            for off, data in edits:
                fh.seek(off)
                undo.append((off, fh.read(len(data))))
                fh.seek(off)
                fh.write(data)
        self.keep_times()
        return undo

    def keep_times(self):
        st = os.stat(self.pristine)
        os.utime(self.core, ns=(st.st_atime_ns, st.st_mtime_ns))

    def undo(self, undo):
        with open(self.core, "r+b") as fh:
            for off, data in reversed(undo):
                fh.seek(off)
                fh.write(data)
        self.keep_times()

    def read_u64(self, addr):
        with H.CoreImage(self.core) as c:
            return c.u64(addr)


def parse(res):
    try:
        return json.loads(res.stdout)
    except ValueError:
        return None


def differing(a, b, path=""):
    """The paths of the leaves where a and b differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in set(a) | set(b):
            yield from differing(a.get(k), b.get(k), path + "/" + k)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from differing(x, y, path + "/%d" % i)
    elif a != b:
        yield path


def strip(doc, volatile):
    doc = json.loads(json.dumps(doc))
    for key in ("warnings", "partial"):
        doc.pop(key, None)
    for path in volatile:
        parts = path.strip("/").split("/")
        node = doc
        for p in parts[:-1]:
            node = node.get(p) if isinstance(node, dict) else (
                node[int(p)] if isinstance(node, list) and int(p) < len(node) else None)
            if node is None:
                break
        if isinstance(node, dict):
            node.pop(parts[-1], None)
        elif isinstance(node, list) and int(parts[-1]) < len(node):
            node[int(parts[-1])] = None
    return doc


def mutation(t, kind, rng):
    """(description, object address for the address verbs, file edits)."""
    if kind == "random":
        off, size = rng.choice(t.writable)
        at = off + rng.randrange(size)
        data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        addr = rng.choice(t.objects["list"] or t.objects["dict"])
        return "%d random bytes at file offset %d" % (len(data), at), addr, [(at, data)]
    if kind == "pointer":
        choices = [("list", LIST_ITEMS), ("dict", DICT_KEYS), ("set", SET_TABLE),
                   ("bytearray", BYTEARRAY_BYTES)]
        tname, field = rng.choice([c for c in choices if t.objects[c[0]]])
        addr = rng.choice(t.objects[tname])
        bad = rng.choice(UNMAPPED)
        return ("%s at 0x%x: +%d -> 0x%x" % (tname, addr, field, bad), addr,
                t.edit([(addr + field, q(bad))]))
    choices = [("list", LIST_ALLOCATED), ("list", LIST_SIZE), ("tuple", VAR_SIZE),
               ("bytes", VAR_SIZE), ("set", SET_MASK), ("dict", None)]
    tname, field = rng.choice([c for c in choices if t.objects[c[0]]])
    addr = rng.choice(t.objects[tname])
    if tname == "dict":
        keys = t.read_u64(addr + DICT_KEYS)
        if t.minor >= 11:
            v = rng.randint(20, 45)
            return ("dict at 0x%x: keys 0x%x log2 size -> %d" % (addr, keys, v), addr,
                    t.edit([(keys + 8, bytes([v]))]))
        v = 1 << rng.randint(20, 45)
        return ("dict at 0x%x: keys 0x%x size -> %d" % (addr, keys, v), addr,
                t.edit([(keys + 8, q(v))]))
    v = (1 << rng.randint(24, 45)) + rng.randrange(1000)
    if tname == "set":
        v = (1 << rng.randint(24, 45)) - 1
    return "%s at 0x%x: +%d -> %d" % (tname, addr, field, v), addr, t.edit([(addr + field, q(v))])


def outcome(t, verb, addr, res):
    args, rc0, doc0, volatile, warnings0 = t.answer(verb, addr)
    if res is None:
        return "hang"
    if H.SANITIZER.search(res.stderr):
        return "sanitizer"
    if res.returncode is None or res.returncode < 0 or res.returncode >= 128:
        return "crash"
    errors = [ln for ln in res.stderr_lines() if ln.startswith("py-heap: error: ")]
    doc = parse(res)
    if res.returncode == rc0 and doc is not None and doc0 is not None and \
            strip(doc, volatile) == strip(doc0, volatile):
        return "same"
    if errors and res.returncode != 0:
        return "said"
    if doc is not None and (doc.get("partial") or set(doc.get("warnings", [])) - warnings0):
        return "said"
    if any(ln.startswith("py-heap: warning: ") and ln[18:] not in warnings0
           for ln in res.stderr_lines()):
        return "said"
    return "silent"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mutants", type=int, default=300, help="mutants in all (default 300)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--interpreters", default="3.12,3.11,3.9",
                    help="comma-separated labels (default 3.12,3.11,3.9; 'all')")
    ap.add_argument("--binary", default=T.PYHEAP_BIN)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--json", action="store_true", help="the figures as one JSON object")
    ap.add_argument("--verbose", action="store_true", help="one line per mutant")
    a = ap.parse_args(argv)
    labels = [i.label for i in T.INTERPRETERS] if a.interpreters == "all" else a.interpreters.split(",")
    interps = [T.interpreter(lb) for lb in labels]
    interps = [i for i in interps if i is not None and i.available]
    if not interps:
        print("no interpreter available among %s" % labels, file=sys.stderr)
        return 2
    rng = random.Random(a.seed)
    started = time.monotonic()
    targets = []
    for interp in interps:
        d = T.make_temp_dir("pyheap-mutants-")
        targets.append(Target(interp, d, a.binary, a.timeout))
    counts = {k: {o: 0 for o in ("same", "said", "silent", "crash", "sanitizer", "hang")}
              for k in KINDS}
    failures = []
    for n in range(a.mutants):
        t = targets[n % len(targets)]
        kind = KINDS[(n // len(targets)) % len(KINDS)]
        verb = VERBS[n % len(VERBS)]
        desc, addr, edits = mutation(t, kind, rng)
        args = t.answer(verb, addr)[0]  # the pristine answer, before the mutation
        undo = t.apply(edits)
        try:
            try:
                res = t.run(args)
            except AssertionError:  # run_process: timed out
                res = None
        finally:
            t.undo(undo)
        o = outcome(t, verb, addr, res)
        counts[kind][o] += 1
        line = "%s %s: %s: py-heap %s -> %s" % (t.interp.label, kind, desc, " ".join(args), o)
        if o == "silent":  # where the answer changed
            _a, _rc, doc0, volatile, _w = t.answer(verb, addr)
            doc = parse(res)  # None: exit 0 with no JSON (a killed or broken run) — changed whole
            changed = (sorted(differing(strip(doc, volatile), strip(doc0, volatile)))
                       if doc is not None else ["/ (no JSON on stdout)"])
            line += " (%s)" % ", ".join(changed[:4])
        if a.verbose:
            print(line, file=sys.stderr)
        if o in ("crash", "sanitizer", "hang") or (o == "silent" and kind != "random"):
            failures.append(line + ("" if res is None else "\n" + res.describe()[-1500:]))
    for t in targets:
        os.unlink(t.core)
    elapsed = time.monotonic() - started
    figures = {"mutants": a.mutants, "seed": a.seed, "binary": a.binary,
               "interpreters": [i.label for i in interps], "seconds": round(elapsed, 1),
               "by_kind": counts,
               "failures": len(failures)}
    if a.json:
        print(json.dumps(figures))
    else:
        print("mutation campaign: %d mutants of %s cores (seed %d, %s), %.0f s" % (
            a.mutants, "/".join(figures["interpreters"]), a.seed, a.binary, elapsed))
        print("  %-8s %6s %6s %6s %6s %9s %5s" % ("kind", "same", "said", "silent", "crash",
                                                   "sanitizer", "hang"))
        for k in KINDS:
            c = counts[k]
            print("  %-8s %6d %6d %6d %6d %9d %5d" % (k, c["same"], c["said"], c["silent"],
                                                      c["crash"], c["sanitizer"], c["hang"]))
    for f in failures[:20]:
        print("FAILED: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
