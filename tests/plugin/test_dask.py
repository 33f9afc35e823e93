"""The plugin with flows on executor="dask": record/replay, and flow_mock's stubs.

The inner test sessions connect to the outer session's cluster by its address;
the app module reaches the workers with ``client.upload_file`` (Dask's way to ship
a module that is not installed on the cluster). One inner project, two sessions
(record, then replay): inner sessions that import Dask are what costs here.
"""

import pytest

from tests.plugin.conftest import calls

pytest.importorskip("distributed")

DASK_APP = """
from executor import Flow, step

@step
def fetch(url: str) -> dict:
    import os
    return {"url": url, "pid": os.getpid()}

@step
def parse(fetch: dict) -> int:
    return len(fetch["url"])

report = Flow("report", [fetch, parse])
"""

TESTS = """
import os
import distributed
import pytest
import dask_app
from executor import StepFailed

ADDRESS = "{address}"

@pytest.fixture
def client():
    with distributed.Client(ADDRESS) as client:
        client.upload_file(dask_app.__file__)
        yield client

def test_report(client):
    result = dask_app.report.run(url="https://example.org", executor="dask", dask_client=client)
    assert result["parse"] == 19
    print("ran in", "client" if result["fetch"]["pid"] == os.getpid() else "worker")

def test_stubs_stay_in_the_test_process(flow_mock):
    flow_mock.stub("parse", return_value=0)
    with pytest.raises(StepFailed, match=(
        r"step 'report/parse' is stubbed [(]flow_mock.stub[(]'parse'[)][)] but runs in "
        r"another process [(]executor='parallel', executor='dask'"
    )):
        dask_app.report.run(url="u", executor="dask", dask_address=ADDRESS)
    assert dask_app.report.run(url="u", executor="threaded")["parse"] == 0
"""


def test_runs_on_dask_are_recorded_replayed_and_never_take_stubs(run, pytester, dask_client):
    pytester.makepyfile(dask_app=DASK_APP)
    pytester.makepyfile(test_app=TESTS.format(address=dask_client.scheduler.address))
    result = run("--flow-record-mode=once", "-s")
    result.assert_outcomes(passed=2)
    if not run.xdist:  # xdist swallows the test's output
        result.stdout.fnmatch_lines(["*ran in worker*"])
    recording = pytester.path / "fixtures" / "recordings" / "test_app" / "test_report.json"
    assert '"report/fetch"' in recording.read_text()
    replayed = run("--flow-replay", "-k", "test_report")
    replayed.assert_outcomes(passed=1)
    replayed.stdout.fnmatch_lines(["*replayed 2*mismatched 0*unused 0*"])


REPLAYED = """
import os
import sys
import pytest
import app

EXECUTOR = os.environ["FLOW_TEST_EXECUTOR"]


@pytest.fixture
def no_cluster(monkeypatch):
    # A session of its own (-n 2) has not imported Dask: the run must not either.
    # In-process, the outer session has: every way a run gets a cluster is a spy.
    asked = []
    distributed = sys.modules.get("distributed")
    if distributed is not None:
        for owner, name in (
            (distributed.Client, "__init__"),
            (distributed.LocalCluster, "__init__"),
            (distributed, "default_client"),
        ):
            def spy(*args, _what=f"{owner.__name__}.{name}", **kwargs):
                asked.append(_what)
                raise AssertionError(f"a replayed run called {_what}")

            monkeypatch.setattr(owner, name, spy)
    yield
    assert asked == []
    if distributed is None:
        assert "distributed" not in sys.modules, "a replayed run imported distributed"


@pytest.mark.parametrize("url", ["https://example.org", "https://example.com/a"])
def test_report(no_cluster, url):
    result = app.report.run(url=url, executor=EXECUTOR)
    assert result["parse"] == sum(result["fetch"]["rows"])
"""


def test_a_replayed_run_on_dask_starts_no_cluster(run, pytester, monkeypatch):
    # Recorded on threads (a recording names no executor; the test above records on
    # Dask), replayed on executor="dask" without a client: before, each such test
    # started a LocalCluster of its own (~1-2 s), although nothing ran on it.
    pytester.makepyfile(test_replayed=REPLAYED)
    monkeypatch.setenv("FLOW_TEST_EXECUTOR", "threaded")
    run("--flow-record-mode=once").assert_outcomes(passed=2)
    assert sorted(calls(pytester)) == ["https://example.com/a", "https://example.org"]
    monkeypatch.setenv("FLOW_TEST_EXECUTOR", "dask")
    replayed = run("--flow-replay")
    replayed.assert_outcomes(passed=2)
    replayed.stdout.fnmatch_lines(["*replayed 4*mismatched 0*unused 0*"])
    assert len(calls(pytester)) == 2  # nothing ran again
