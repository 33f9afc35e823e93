"""The plugin with flows on executor="dask": record/replay, and flow_mock's stubs.

The inner test sessions connect to the outer session's cluster by its address;
the app module reaches the workers with ``client.upload_file`` (Dask's way to ship
a module that is not installed on the cluster). One inner project, two sessions
(record, then replay): inner sessions that import Dask are what costs here.
"""

import pytest

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
