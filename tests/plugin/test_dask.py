"""The plugin with flows on executor="dask": replay, and flow_mock's stubs.

The inner test sessions connect to the outer session's cluster by its address;
the app module reaches the workers with ``client.upload_file`` (Dask's way to ship
a module that is not installed on the cluster).
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

@pytest.fixture
def client():
    with distributed.Client("{address}") as client:
        client.upload_file(dask_app.__file__)
        yield client

def test_report(client):
    result = dask_app.report.run(url="https://example.org", executor="dask", dask_client=client)
    assert result["parse"] == 19
    print("ran in", "client" if result["fetch"]["pid"] == os.getpid() else "worker")
"""


@pytest.fixture
def app(pytester, dask_client):
    pytester.makepyfile(dask_app=DASK_APP)
    pytester.makepyfile(test_app=TESTS.format(address=dask_client.scheduler.address))


def test_runs_on_dask_are_recorded_then_replayed_without_the_cluster(run, pytester, app):
    result = run("--flow-record-mode=once", "-s")
    result.assert_outcomes(passed=1)
    if not run.xdist:  # xdist swallows the test's output
        result.stdout.fnmatch_lines(["*ran in worker*"])
    recording = pytester.path / "fixtures" / "recordings" / "test_app" / "test_report.json"
    assert recording.exists()
    replayed = run("--flow-replay")
    replayed.assert_outcomes(passed=1)
    replayed.stdout.fnmatch_lines(["*replayed 2*mismatched 0*unused 0*"])


def test_stubs_are_refused_on_dask_as_on_processes(run, pytester, dask_client):
    pytester.makepyfile(dask_app=DASK_APP)
    pytester.makepyfile(
        test_app=f"""
        import pytest
        import dask_app
        from executor import StepFailed

        def test_stubbed(flow_mock):
            flow_mock.stub("parse", return_value=0)
            with pytest.raises(StepFailed, match="flow_mock stubs live in the test process"):
                dask_app.report.run(
                    url="u", executor="dask", dask_address="{dask_client.scheduler.address}"
                )
            assert dask_app.report.run(url="u", executor="threaded")["parse"] == 0
        """
    )
    run().assert_outcomes(passed=1)
