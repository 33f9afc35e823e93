"""``flowexec report``: one self-contained HTML file, rendered in headless Chromium.

CI installs Debian's ``chromium`` (.ci/run); without it these tests fail rather
than skip, so a report that no browser has rendered is never called tested.
"""

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executor._cli._timeline import Bar, pack_lanes

from .conftest import flowexec, latest_id

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
]


def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (.ci/run does)")
    return found


def render(page, tmp_path, *extra):
    """The DOM after the page's scripts ran, and the browser's console lines."""
    done = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            *extra,
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


class _Addresses(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.bars, self.boxes = [], [], []

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "tr" and "data-address" in found:
            self.rows.append((found["data-address"], found.get("class") or ""))
        if tag == "rect" and "data-address" in found:
            self.bars.append((found["data-address"], found["class"], int(found["data-attempt"])))
        if tag == "g" and "data-id" in found:
            self.boxes.append(found["data-id"])


def _parse(dom):
    parser = _Addresses()
    parser.feed(dom)
    return parser


def test_the_report_renders_every_step_without_script_errors(project, tmp_path):
    flowexec(
        "run", "flows.py:flow", "-i", "n=4", "--executor", "threaded", cwd=project, check_code=0
    )
    state_id = latest_id(project)
    flowexec("report", state_id[:8], "-o", "run.html", cwd=project, check_code=0)
    page = project / "run.html"
    html = page.read_text()
    dom, console = render(page, tmp_path)
    assert console == []  # no script error, no blocked load, nothing logged
    assert 'data-ready="1"' in dom  # the page's script ran to its end
    found = _parse(dom)
    addresses = [
        "demo/load",
        "demo/squares",
        "demo/squares[0]",
        "demo/squares[1]",
        "demo/squares[2]",
        "demo/squares[3]",
        "demo/flaky",
        "demo/bounds",
        "demo/bounds/low",
        "demo/bounds/high",
        "demo/total",
        "demo/report",
    ]
    rows = [a for a, _ in found.rows]
    assert sorted(rows) == sorted(addresses)  # the steps table: every address, once
    assert rows.index("demo/squares") < rows.index("demo/squares[0]")  # in start order
    assert f'data-steps="{len(addresses)}"' in dom
    bars = {(a, s, n) for a, s, n in found.bars}
    assert ("demo/flaky", "bar failed", 1) in bars  # the failed first attempt ...
    assert ("demo/flaky", "bar completed retry", 2) in bars  # ... and its retry
    leaves = {a for a, _, _ in found.bars}
    assert leaves == set(addresses) - {"demo/squares", "demo/bounds"}  # composites group
    groups = re.findall(r'<text class="group"[^>]*>([^<]+)</text>', dom)
    assert groups == ["top-level steps", "demo/squares", "demo/bounds"]  # nested, grouped
    assert {"demo/squares", "demo/squares[]", "demo/report"} <= set(found.boxes)  # the DAG
    assert "map: squares" in dom and "\u00d74 (4 ok)" in dom
    # self-contained: nothing to fetch, the only URL is the SVG namespace
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}
    assert "<link" not in html and " src=" not in html


def test_cache_hits_are_visible_on_the_timeline(project, tmp_path):
    (project / "cached.py").write_text(
        "from executor import Flow, step\n"
        "from executor.cache import CachePolicy, SQLiteCache\n"
        "@step(cache=CachePolicy(cache=SQLiteCache('cache.db')))\n"
        "def slow(n: int) -> int:\n    return n * 2\n"
        "flow = Flow('cached', [slow])\n"
    )
    flowexec("run", "cached.py:flow", "-i", "n=2", cwd=project, check_code=0)
    second = flowexec("run", "cached.py:flow", "-i", "n=2", cwd=project, check_code=0)
    assert "cached" in second.stdout
    flowexec("report", latest_id(project), "-o", "c.html", cwd=project, check_code=0)
    dom, console = render(project / "c.html", tmp_path)
    assert console == []
    assert ("cached/slow", "bar cached", 0) in _parse(dom).bars
    assert "1 cache hits" in dom


def test_two_runs_compared_highlight_the_differing_addresses(project, tmp_path):
    flowexec("run", "flows.py:flow", "-i", "n=3", cwd=project, check_code=0)
    a = latest_id(project)
    flowexec("run", "flows.py:flow", "-i", "n=4", cwd=project, check_code=0)
    b = latest_id(project)
    flowexec("report", a, b, "-o", "diff.html", cwd=project, check_code=0)
    dom, console = render(project / "diff.html", tmp_path)
    assert console == []
    assert 'data-ready="1"' in dom
    rows = dict(_parse(dom).rows)
    assert rows["demo/squares[3]"] == "differs"  # only in the second run
    assert rows["demo/report"] == "differs"  # its output changed
    assert rows["demo/bounds/low"] == "differs"  # same output, but its inputs changed
    assert "flow inputs differ: inputs.n" in dom
    assert 'id="timeline-a"' in dom and 'id="timeline-b"' in dom


def test_the_same_runs_compared_show_no_difference(project, tmp_path):
    flowexec("run", "flows.py:broken", "-i", "n=3", cwd=project, check_code=1)
    a = latest_id(project)
    flowexec("run", "flows.py:broken", "-i", "n=3", cwd=project, check_code=1)
    b = latest_id(project)
    flowexec("report", a, b, "-o", "same.html", cwd=project, check_code=0)
    dom, _ = render(project / "same.html", tmp_path)
    assert "The runs match" in dom and "differs" not in {c for _, c in _parse(dom).rows}


def test_a_run_stored_from_python_reports_without_its_graph(project, tmp_path):
    (project / "start.py").write_text(
        "from executor.state import SQLiteStateBackend\nfrom flows import flow\n"
        "flow.run(n=2, store=SQLiteStateBackend('.flowexec/state.db'))\n"
    )
    subprocess.run([sys.executable, "start.py"], cwd=project, check=True)
    flowexec("report", latest_id(project), "-o", "py.html", cwd=project, check_code=0)
    dom, console = render(project / "py.html", tmp_path)
    assert console == []
    assert "its graph was not stored with it" in dom
    assert "demo/flaky" in {a for a, _ in _parse(dom).rows}


intervals = st.lists(
    st.tuples(st.floats(0, 100), st.floats(0.001, 10), st.sampled_from(["g1", "g2"])), max_size=30
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(intervals)
def test_lanes_never_overlap_and_are_as_few_as_the_peak_concurrency(spans):
    bars = [Bar(f"f/s{i}", 1, s, s + d, "completed", g) for i, (s, d, g) in enumerate(spans)]
    packed = pack_lanes(bars)
    assert sorted(b.address for b in packed) == sorted(b.address for b in bars)
    for group in ("g1", "g2"):
        mine = [b for b in packed if b.group == group]
        for x in mine:
            for y in mine:
                if x is not y and x.lane == y.lane:
                    assert x.end <= y.start or y.end <= x.start
        peak = max(
            (sum(1 for y in mine if y.start <= x.start < y.end) for x in mine),
            default=0,
        )
        lanes = len({b.lane for b in mine})
        assert lanes == peak
