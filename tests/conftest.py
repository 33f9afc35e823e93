import time

import freezegun
import pytest
from hypothesis import HealthCheck, settings

from pytest_flowexec._session import REAL_TIME_MODULES

# Tests here freeze time (freezegun) in the same process as the session's Dask client
# and scheduler (dask_cluster below). On a frozen clock a Dask comm waits for a timer
# that never fires, and every later run on that cluster would stall (the engine then
# ends it with ClusterError: tests/executor/test_dask.py shows both). Dask keeps real
# time, as under the plugin's own frozen time.
freezegun.configure(extend_ignore_list=list(REAL_TIME_MODULES))

# Properties here test values, not speed: on a shared 2-core CI machine one example can
# take longer than hypothesis' 200 ms deadline for reasons that have nothing to do with
# the code under test, so timing is left to the benchmarks.
settings.register_profile("flowexec", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("flowexec")

SYNC_EXECUTORS = ["sequential", "threaded", "parallel", "dask"]
ALL_EXECUTORS = ["sequential", "threaded", "async", "parallel", "dask"]
CONCURRENT_EXECUTORS = ["threaded", "async"]


@pytest.fixture(scope="session")
def dask_cluster():
    """One real Dask cluster for the session: 2 worker processes of 1 thread each
    (processes, so steps and values really travel), restarted by their nannies if a
    test kills one. Started on first use only."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def dask_client(dask_cluster):
    """A client of the session's cluster, the process's current Dask client from
    then on: ``executor="dask"`` without ``dask_client=`` runs there. Not entered with
    ``with``: that would pin it as Dask's current client for the whole session, over
    any client a later test makes (docs/scaling.md makes one and expects its runs on
    it)."""
    import distributed

    client = distributed.Client(dask_cluster)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _dask_for_dask_params(request):
    """Tests parametrized over executors get a cluster when one of them is "dask";
    every test on the cluster starts with both its workers there, and idle."""
    callspec = getattr(request.node, "callspec", None)
    dask_param = callspec is not None and "dask" in callspec.params.values()
    if dask_param or "dask_client" in request.fixturenames:
        client = request.getfixturevalue("dask_client")
        # A worker killed by a test comes back through its nanny: wait for it.
        client.wait_for_workers(2, timeout=60)
        # A timed-out or cancelled task cannot be interrupted: it runs on, holding
        # its worker's one thread, and a test of concurrency after it would see one
        # worker. Wait for it to end (bounded: the longest such step sleeps 3 s).
        deadline = time.monotonic() + 30
        while sum(client.run(_executing).values()) and time.monotonic() < deadline:
            time.sleep(0.05)


def _executing(dask_worker):
    """On a Dask worker: how many tasks its threads run, cancelled ones included."""
    return len(dask_worker.state.executing)


@pytest.fixture(params=ALL_EXECUTORS)
def any_executor(request):
    """Every named executor, processes and Dask included."""
    return request.param


@pytest.fixture(params=["sequential", "threaded", "async"])
def in_process_executor(request):
    """Executors that can run closures (no pickling)."""
    return request.param


@pytest.fixture(params=CONCURRENT_EXECUTORS)
def concurrent_executor(request):
    return request.param
