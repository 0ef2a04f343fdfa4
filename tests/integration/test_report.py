"""`py-heap report`: the HTML report rendered in a real browser (Debian's chromium, headless;
scripts/setup.sh --browser installs it).

For each target — the bundled sample service (scripts/sample.sh's), the graph workload (its
reference graph known by construction) and a snapshot series of the sample service — the
report is loaded by chromium with --dump-dom (the DOM after the page's script ran), with
console messages on stderr and a network log, and:
  * the page logs nothing to the console (no error, no CSP refusal) and asks the network
    for nothing (no request from the page in the net log);
  * the numbers in the DOM are those of --json for the same target: totals and top types
    (`summary`), every type row (`types --limit 0`), the suspects with their paths and the
    live bytes (`retained`), the allocators' verdict (`summary`), and with snapshots every
    type's class (`trend` over the same snapshots and core);
  * the graph workload's linked list is in the dominator tree with its ground-truth retained
    size and count;
  * a class whose name is markup (<script>, <img onerror>) shows as text: the DOM has the
    report's one script and the name in the type table as it is.
The detectors themselves are tested on a page that does log an error and fetch an image.
Screenshots of every part of each report are kept in $PYHEAP_ARTEFACTS (default
BUILD_DIR/test-artefacts/report/).
"""
import glob
import html.parser
import json
import os
import re
import shutil
import subprocess
import time
import unittest

import pyheap_testlib as T
import graph_testlib as G

SAMPLE = os.path.join(T.FIXTURES, "sample_service.py")
ARTEFACTS = os.environ.get("PYHEAP_ARTEFACTS") or os.path.join(T.BUILD_DIR, "test-artefacts",
                                                               "report")
CHROMIUM = shutil.which("chromium")
PARTS = ["verdict", "types", "retainers", "memory", "trend", "target"]
HOSTILE_NAME = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&amp;"

HOSTILE_CLASS = r'''
import json, os, sys, time
name = %r
Evil = type(name, (), {})
KEEP = [Evil() for _ in range(5000)]
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as fh:
    json.dump({"pid": os.getpid()}, fh)
os.rename(tmp, sys.argv[1])
while True:
    time.sleep(3600)
''' % HOSTILE_NAME


# ---- the browser ---------------------------------------------------------------------------

class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children, self.text = tag, dict(attrs), parent, [], []

    def all_text(self):
        return "".join(c if isinstance(c, str) else c.all_text() for c in self.text)

    def iter(self):
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag=None, **attrs):
        return [n for n in self.iter() if (tag is None or n.tag == tag)
                and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def by_id(self, ident):
        found = [n for n in self.iter() if n.attrs.get("id") == ident]
        return found[0] if found else None


VOID = {"meta", "img", "input", "br", "hr", "link", "rect", "circle", "line", "polyline"}


class DomBuilder(html.parser.HTMLParser):
    """The DOM chromium dumped, as a tree of Nodes (SVG's self-closed elements included)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        self.cur.text.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        self.cur.text.append(n)

    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.text.append(data)


class Rendered:
    def __init__(self, dom, console, requests):
        self.dom, self.console, self.requests = dom, console, requests


def chromium_args(profile, *extra):
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--user-data-dir=" + profile] + list(extra)


def render(path, workdir):
    """chromium --dump-dom of path: the DOM, the console lines, the page's network requests."""
    profile = T.make_temp_dir("pyheap-chromium-")
    netlog = os.path.join(workdir, "net-%s.json" % os.path.basename(path))
    res = subprocess.run(chromium_args(profile, "--enable-logging=stderr", "--v=0",
                                       "--log-net-log=" + netlog, "--dump-dom",
                                       "file://" + os.path.abspath(path)),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=120)
    shutil.rmtree(profile, ignore_errors=True)
    if res.returncode != 0:
        raise AssertionError("chromium failed (%d): %s" % (res.returncode, res.stderr[-2000:]))
    console = [l for l in res.stderr.decode(errors="replace").splitlines() if ":CONSOLE" in l]
    with open(netlog) as fh:
        log = json.load(fh)
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    # The browser's own background requests (update checks) have no page behind them; a
    # page's requests carry the file:// page in their isolation key.
    requests = [e["params"]["url"] for e in log["events"]
                if e["type"] == start and "file://" in e["params"].get("network_isolation_key", "")]
    b = DomBuilder()
    b.feed(res.stdout.decode())
    return Rendered(b.root, console, requests)


def screenshots(path, name, parts):
    """A screenshot of each part (#part-ID shows that part alone) into ARTEFACTS."""
    os.makedirs(ARTEFACTS, exist_ok=True)
    for part in parts:
        profile = T.make_temp_dir("pyheap-chromium-")
        out = os.path.join(ARTEFACTS, "%s-%s.png" % (name, part))
        subprocess.run(chromium_args(profile, "--window-size=1100,1400", "--hide-scrollbars",
                                     "--screenshot=" + out,
                                     "file://%s#part-%s" % (os.path.abspath(path), part)),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
        shutil.rmtree(profile, ignore_errors=True)


# ---- what the DOM must say -------------------------------------------------------------------

def pyheap_json(*args):
    res = T.run_pyheap(list(args), timeout=600)
    if res.returncode != 0:
        raise AssertionError(res.describe())
    return res.json()


def dom_problems(dom, summary, types, retained):
    """Every difference between the report's DOM and the JSON of summary, types --limit 0 and
    retained for the same target."""
    bad = []
    totals = dom.by_id("totals")
    got = {"objects": int(totals.attrs["data-objects"]), "size": int(totals.attrs["data-size"]),
           "heap_total": int(totals.attrs["data-heap-total"])}
    want_totals = {k: summary["totals"][k] for k in ("objects", "size", "heap_total")}
    if got != want_totals:
        bad.append("totals: DOM %r, summary --json %r" % (got, summary["totals"]))
    rows = dom.by_id("type-table").find_all("tr")[1:]
    table = [{"name": r.attrs["data-name"], "count": int(r.attrs["data-count"]),
              "size": int(r.attrs["data-size"])} for r in rows]
    if table[:len(summary["top_types"])] != summary["top_types"]:
        bad.append("top types: DOM %r, summary --json %r" % (table[:5], summary["top_types"]))
    want = [{"name": t["name"], "count": t["count"], "size": t["size"]} for t in types["types"]]
    if table != want:
        diff = [(a, b) for a, b in zip(table, want) if a != b][:5]
        bad.append("type table (%d rows) differs from types --limit 0 (%d rows): %r"
                   % (len(table), len(want), diff))
    # Each row's text says the same as its data.
    for r in rows[:20]:
        if r.find_all("td")[0].all_text() != r.attrs["data-name"]:
            bad.append("row text %r, data-name %r" % (r.find_all("td")[0].all_text(),
                                                      r.attrs["data-name"]))
    verdict = dom.by_id("frag-verdict").all_text()
    if verdict != summary["allocators_verdict"]:
        bad.append("allocators' verdict: DOM %r, summary --json %r"
                   % (verdict, summary["allocators_verdict"]))
    sentence = dom.by_id("verdict-sentence").all_text()
    if sentence != summary["verdict"]:
        bad.append("verdict: DOM %r, summary --json %r" % (sentence, summary["verdict"]))
    causes = [(r.attrs["data-cause"], int(r.attrs["data-bytes"]))
              for r in dom.by_id("causes").find_all("tr")[1:]]
    want_causes = [(c["cause"], c["bytes"]) for c in summary["causes"] if c["matters"]]
    if causes != want_causes:
        bad.append("causes: DOM %r, summary --json %r" % (causes, want_causes))
    live = dom.by_id("live")
    if (int(live.attrs["data-live-bytes"]), int(live.attrs["data-live-objects"])) != \
            (retained["live_bytes"], retained["live_objects"]):
        bad.append("live: DOM %r, retained --json %r/%r" % (live.attrs, retained["live_bytes"],
                                                           retained["live_objects"]))
    sus = [{"address": li.attrs["data-address"], "path": li.find_all("code")[0].all_text(),
            "retained_size": int(li.attrs["data-retained-size"]),
            "retained_count": int(li.attrs["data-retained-count"])}
           for li in dom.by_id("suspects").find_all("li")]
    want = [{"address": s["address"], "path": s["path"] or "?", "retained_size": s["retained_size"],
             "retained_count": s["retained_count"]} for s in retained["suspects"]]
    if sus != want:
        bad.append("suspects: DOM %r, retained --json %r" % (sus, want))
    return bad


def browser_problems(r):
    bad = []
    if r.console:
        bad.append("console: %r" % r.console[:5])
    if r.requests:
        bad.append("network requests: %r" % r.requests[:5])
    scripts = r.dom.find_all("script")
    if len(scripts) != 1:
        bad.append("%d script elements, not the report's one" % len(scripts))
    return bad


def require_chromium():
    if not CHROMIUM:
        raise unittest.SkipTest("chromium is not installed (scripts/setup.sh --browser)")


def start_sample(interp, workdir):
    log = open(os.path.join(workdir, "sample.log"), "wb")
    proc = T.start_process([interp.path, SAMPLE, "--rate", "3000"], stdout=log,
                           stderr=subprocess.STDOUT)
    log.close()
    return proc


SESSIONS_BETWEEN = 3000  # sessions the service keeps between two points of the series
SESSIONS_TIMEOUT = 120   # seconds to wait for them


def sessions_kept(log):
    """The sessions the sample service said it kept, in the last of its lines (one a second)."""
    with open(log, "rb") as fh:
        found = re.findall(rb"(\d+) sessions kept", fh.read())
    return int(found[-1]) if found else 0


def wait_for_sessions(log, n):
    """Waits until the service says it keeps n sessions or more; returns how many it keeps."""
    if not T.wait_until(lambda: sessions_kept(log) >= n, SESSIONS_TIMEOUT, interval=0.2):
        raise AssertionError("the sample service kept %d sessions in %d s, not %d: %s"
                             % (sessions_kept(log), SESSIONS_TIMEOUT, n, T.log_tail(log)))
    return sessions_kept(log)


# ---- the tests -------------------------------------------------------------------------------

class DetectorTest(unittest.TestCase):
    """The checks can fail: a page that logs an error and fetches an image is caught."""

    def test_bad_page_is_caught(self):
        require_chromium()
        tmp = T.make_temp_dir("pyheap-report-")
        page = os.path.join(tmp, "bad.html")
        with open(page, "w") as fh:
            fh.write('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png">'
                     '<script>console.error("boom")</script><script>nothing()</script>'
                     '</body></html>')
        r = render(page, tmp)
        self.assertEqual(2, len(r.console), r.console)
        self.assertEqual(["http://127.0.0.1:9/x.png"], r.requests)
        self.assertEqual(3, len(browser_problems(r)))


class SampleReportTest(unittest.TestCase):
    """The sample service's core, and a series of three snapshots of it before the core."""

    @classmethod
    def setUpClass(cls):
        require_chromium()
        cls.interp = T.require_first_available()
        cls.extra = T.pyheap_args(cls.interp)
        cls.tmp = T.make_temp_dir("pyheap-report-")
        proc = start_sample(cls.interp, cls.tmp)
        log = os.path.join(cls.tmp, "sample.log")
        cls.snaps = []
        try:
            # Each snapshot (and the core) after the service kept 3,000 more sessions than
            # when the one before it ended, not after a fixed time: on a loaded machine (the
            # sanitizer pass) the service can all but stop for seconds, and the series then
            # really is a plateau.
            kept = wait_for_sessions(log, 1)
            for i in range(4):
                kept = wait_for_sessions(log, kept + SESSIONS_BETWEEN)
                if i == 3:
                    break
                path = os.path.join(cls.tmp, "s%d.json" % i)
                pyheap_json("snapshot", "-p", str(proc.pid), "-o", path, "--json", *cls.extra)
                cls.snaps.append(path)
                kept = sessions_kept(log)
            cls.core = T.gcore(proc.pid, os.path.join(cls.tmp, "sample.core"))
        finally:
            T.kill_process(proc)

    def report(self, name, *snaps):
        out = os.path.join(self.tmp, name + ".html")
        doc = pyheap_json("report", self.core, "-o", out, "--json", *(list(snaps) + self.extra))
        self.assertEqual(os.path.getsize(out), doc["bytes"])
        return out, doc

    def test_sample(self):
        out, doc = self.report("sample")
        r = render(out, self.tmp)
        screenshots(out, "sample", [p for p in PARTS if p != "trend"])
        summary = pyheap_json("summary", self.core, "--json", *self.extra)
        types = pyheap_json("types", self.core, "--limit", "0", "--json", *self.extra)
        retained = pyheap_json("retained", self.core, "--json", *self.extra)
        bad = browser_problems(r) + dom_problems(r.dom, summary, types, retained)
        for key in ("totals", "top_types", "verdict"):
            if doc[key] != summary[key]:
                bad.append("report --json %s %r, summary %r" % (key, doc[key], summary[key]))
        # The leak: the sample's _SESSIONS dict is the suspect.
        if not any("_SESSIONS" in s["path"] for s in doc["suspects"]):
            bad.append("no suspect holds _SESSIONS: %r" % doc["suspects"])
        self.assertEqual([], bad)
        self.assertIsNone(r.dom.by_id("trend"))

    def test_series(self):
        out, doc = self.report("series", *self.snaps)
        self.assertEqual(4, doc["snapshots"])
        r = render(out, self.tmp)
        screenshots(out, "series", ["trend", "verdict"])
        trend = pyheap_json("trend", *(self.snaps + [self.core] + self.extra + ["--json"]))
        bad = browser_problems(r)
        got = {row.attrs["data-name"]: row.attrs["data-class"]
               for row in r.dom.by_id("trend-table").find_all("tr")[1:]}
        want = {t["name"]: t["class"] for t in trend["types"]}
        for name, cls in got.items():
            if want.get(name) != cls:
                bad.append("%s: DOM says %s, trend --json %s" % (name, cls, want.get(name)))
        if len(got) != min(40, len(want)):
            bad.append("%d types in the trend table, trend has %d" % (len(got), len(want)))
        if got.get("__main__.Session") != "growing":
            bad.append("__main__.Session is %r, not growing" % got.get("__main__.Session"))
        lines = r.dom.by_id("trend-bytes").find_all("polyline")
        if not lines or any(len(l.attrs["points"].split()) != 4 for l in lines):
            bad.append("the bytes chart has no line of 4 points")
        self.assertEqual([], bad)


class HostileNameTest(unittest.TestCase):
    """A class named with markup is text in the report, never markup."""

    def test_markup_in_class_name(self):
        require_chromium()
        interp = T.require_first_available()
        tmp = T.make_temp_dir("pyheap-report-")
        script = os.path.join(tmp, "evil.py")
        with open(script, "w") as fh:
            fh.write(HOSTILE_CLASS)
        w = T.Workload(interp, script=script).start()
        try:
            core = T.gcore(w.pid, os.path.join(tmp, "evil.core"))
        finally:
            w.stop()
        out = os.path.join(tmp, "evil.html")
        pyheap_json("report", core, "-o", out, "--json", *T.pyheap_args(interp))
        r = render(out, tmp)
        screenshots(out, "hostile", ["types"])
        bad = browser_problems(r)
        names = [row.attrs["data-name"] for row in r.dom.by_id("type-table").find_all("tr")[1:]]
        want = "__main__." + HOSTILE_NAME
        if want not in names:
            bad.append("%r is not a row of the type table: %r" % (want, names[:12]))
        if r.dom.find_all("img"):
            bad.append("an <img> element made it into the DOM")
        self.assertEqual([], bad)


class GraphReportTest(unittest.TestCase):
    """The graph workload: its linked list in the dominator tree, as built."""

    def test_graph(self):
        require_chromium()
        interp = T.require_first_available()
        w = G.GraphWorkload(interp)
        w.args = ["--nodes", "200000"]
        w.start()
        tmp = T.make_temp_dir("pyheap-report-")
        try:
            core = T.gcore(w.pid, os.path.join(tmp, "graph.core"))
        finally:
            w.stop()
        extra = T.pyheap_args(interp)
        out = os.path.join(tmp, "graph.html")
        pyheap_json("report", core, "-o", out, "--json", *extra)
        r = render(out, tmp)
        screenshots(out, "graph", ["retainers"])
        summary = pyheap_json("summary", core, "--json", *extra)
        types = pyheap_json("types", core, "--limit", "0", "--json", *extra)
        retained = pyheap_json("retained", core, "--json", *extra)
        bad = browser_problems(r) + dom_problems(r.dom, summary, types, retained)
        ll = w.gt["linked_list"]
        head = [d for d in r.dom.find_all("details") if d.attrs.get("data-address") == "0x%x" % ll["head_id"]]
        if not head:
            bad.append("the list's head 0x%x is not in the dominator tree" % ll["head_id"])
        elif (int(head[0].attrs["data-retained"]), int(head[0].attrs["data-count"])) != \
                (ll["retained_size"], ll["retained_count"]):
            bad.append("the list's head retains %s/%s in the tree, %s/%s by construction"
                       % (head[0].attrs["data-retained"], head[0].attrs["data-count"],
                          ll["retained_size"], ll["retained_count"]))
        self.assertEqual([], bad)


if __name__ == "__main__":
    unittest.main()
