"""OpenMetrics output -- `snapshot --openmetrics` and `watch --openmetrics FILE` -- read by a
real parser: the OpenMetrics parser of Debian's python3-prometheus-client (scripts/setup.sh),
and its parser of Prometheus' own text format (node_exporter's textfile collector reads
that). The values equal the JSON snapshot of the same core exactly (per type for the top N,
the rest summed as type="(other)", totals, allocators, the collector); names follow
Prometheus' conventions (pyheap_ prefix, snake case, base units in the name and # UNIT); a
type named with a quote, a backslash and a newline comes back from the parser as it was.

Run from this folder:

    PYHEAP_BIN=../../build/py-heap python3 -m unittest -v test_openmetrics
"""
import json
import os
import re
import subprocess
import time
import unittest

import growth_testlib as G
import pyheap_testlib as T

SYSTEM_PYTHON = "/usr/bin/python3"

# Runs under Debian's python3 (where python3-prometheus-client is): parses stdin with the
# parser named by argv[1] and prints the samples as JSON.
PARSE = r"""
import json, sys
which = sys.argv[1]
text = sys.stdin.read()
if which == "openmetrics":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        out.append({"family": fam.name, "type": fam.type, "unit": getattr(fam, "unit", ""),
                    "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"""


def parse(text, which):
    res = subprocess.run([SYSTEM_PYTHON, "-c", PARSE, which], input=text.encode(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if res.returncode != 0:
        raise AssertionError("the %s parser refused the output: %s\n%s" % (
            which, res.stderr.decode(errors="replace")[-2000:], text[:3000]))
    return json.loads(res.stdout)


def have_parser():
    res = subprocess.run([SYSTEM_PYTHON, "-c", "import prometheus_client.openmetrics.parser"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return res.returncode == 0


def values(samples, name, label=None):
    return {(s["labels"].get(label) if label else None): s["value"]
            for s in samples if s["name"] == name}


class OpenMetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        T.require_pyheap()
        if not os.path.exists(SYSTEM_PYTHON) or not have_parser():
            raise unittest.SkipTest("python3-prometheus-client is not installed for %s "
                                    "(scripts/setup.sh)" % SYSTEM_PYTHON)
        cls.interp = T.require_first_available()
        cls.args = T.pyheap_args(cls.interp)
        cls.core = T.shared_core(cls.interp)
        cls.tmp = T.make_temp_dir("pyheap-openmetrics-")

    def pyheap(self, args):
        return G.pyheap_ok(args + self.args)

    def test_values_equal_the_snapshot(self):
        text = self.pyheap(["snapshot", self.core, "--openmetrics", "--top", "5"]).stdout
        snap = json.loads(self.pyheap(["snapshot", self.core, "-o", "-"]).stdout)
        self.assertTrue(text.endswith("# EOF\n"))
        for which in ("openmetrics", "prometheus"):
            with self.subTest(parser=which):
                samples = parse(text, which)
                pid = str(snap["pid"])
                self.assertTrue(all(s["labels"]["pid"] == pid for s in samples))
                types = snap["types"]
                want_count = {t["name"]: t["count"] for t in types[:5]}
                want_count["(other)"] = sum(t["count"] for t in types[5:])
                want_size = {t["name"]: t["size"] for t in types[:5]}
                want_size["(other)"] = sum(t["size"] for t in types[5:])
                self.assertEqual(values(samples, "pyheap_type_objects", "type"), want_count)
                self.assertEqual(values(samples, "pyheap_type_bytes", "type"), want_size)
                self.assertEqual(values(samples, "pyheap_objects"), {None: snap["totals"]["objects"]})
                self.assertEqual(values(samples, "pyheap_object_bytes"), {None: snap["totals"]["size"]})
                frag = snap["fragmentation"]
                self.assertEqual(values(samples, "pyheap_heap_bytes"), {None: frag["heap_total"]})
                alloc = {(s["labels"]["allocator"], s["labels"]["state"]): s["value"]
                         for s in samples if s["name"] == "pyheap_allocator_bytes"}
                self.assertEqual(alloc, {("pymalloc", "used"): frag["pymalloc_used"],
                                         ("pymalloc", "free"): frag["pymalloc_free"],
                                         ("malloc", "used"): frag["glibc_used"],
                                         ("malloc", "free"): frag["glibc_free"]})
                gc = snap["gc"]
                self.assertEqual(values(samples, "pyheap_gc_enabled"), {None: int(gc["enabled"])})
                self.assertEqual(values(samples, "pyheap_gc_garbage_bytes"),
                                 {None: gc["garbage"]["bytes"]})
                self.assertEqual(
                    values(samples, "pyheap_gc_generation_threshold", "generation"),
                    {str(g): x["threshold"] for g, x in enumerate(gc["generations"])})
                self.assertEqual(values(samples, "pyheap_snapshot_timestamp_seconds"),
                                 {None: snap["time"]})
        # Prometheus' naming conventions
        fams = parse(text, "openmetrics")
        for s in fams:
            self.assertRegex(s["family"], r"^pyheap_[a-z][a-z0-9_]*$")
            self.assertNotRegex(s["family"], r"_total$|_count$|_sum$|_bucket$")
            self.assertEqual(s["type"], "gauge")
            if s["family"].endswith("_bytes"):
                self.assertEqual(s["unit"], "bytes")
            if s["family"].endswith("_seconds"):
                self.assertEqual(s["unit"], "seconds")
        # --top 0: every type, no (other)
        every = parse(self.pyheap(["snapshot", self.core, "--openmetrics", "--top", "0"]).stdout,
                      "openmetrics")
        self.assertEqual(values(every, "pyheap_type_objects", "type"),
                         {t["name"]: t["count"] for t in snap["types"]})

    def test_label_escaping(self):
        name = 'Odd"Name\\with\nnewline'
        script = ("import sys, time\nC = type(%r, (), {})\nKEEP = [C() for _ in range(50000)]\n"
                  "sys.stdout.write('ready\\n'); sys.stdout.flush(); time.sleep(600)\n" % name)
        proc = T.start_process([self.interp.path, "-c", script], stdout=subprocess.PIPE)
        self.addCleanup(T.kill_process, proc)
        self.addCleanup(proc.stdout.close)
        self.assertEqual(proc.stdout.readline().strip(), b"ready")
        path = os.path.join(self.tmp, "odd.prom")
        self.pyheap(["snapshot", "--pid", str(proc.pid), "--openmetrics", "-o", path])
        with open(path) as fh:
            text = fh.read()
        for which in ("openmetrics", "prometheus"):
            with self.subTest(parser=which):
                got = values(parse(text, which), "pyheap_type_objects", "type")
                self.assertEqual(got.get("__main__." + name), 50000, sorted(got))

    def test_watch_writes_the_file(self):
        proc = T.start_process([self.interp.path, "-c", "import time; time.sleep(600)"])
        self.addCleanup(T.kill_process, proc)
        time.sleep(0.5)
        out = T.make_temp_dir("pyheap-watch-om-")
        prom = os.path.join(self.tmp, "watch.prom")
        w = G.WatchRun(["-p", str(proc.pid), "--every", "1", "--out", out, "--openmetrics",
                        prom, "--top", "3"] + self.args)
        self.addCleanup(T.kill_process, w.proc)
        w.wait_line(r"^snapshot ", timeout=30)
        w.proc.send_signal(2)
        w.wait(timeout=30)  # and its log read to the end
        with open(prom) as fh:
            samples = parse(fh.read(), "openmetrics")
        self.assertEqual({s["labels"]["pid"] for s in samples}, {str(proc.pid)})
        self.assertEqual(len(values(samples, "pyheap_type_bytes", "type")), 4)  # 3 + (other)
        self.assertFalse([n for n in os.listdir(self.tmp) if n.endswith(".tmp")])
