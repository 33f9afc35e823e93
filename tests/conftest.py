import pytest
from hypothesis import HealthCheck, settings

# Properties here test values, not speed: on a shared 2-core CI machine one example can
# take longer than hypothesis' 200 ms deadline for reasons that have nothing to do with
# the code under test, so timing is left to the benchmarks.
settings.register_profile("flowexec", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("flowexec")

SYNC_EXECUTORS = ["sequential", "threaded", "parallel"]
ALL_EXECUTORS = ["sequential", "threaded", "async", "parallel"]
CONCURRENT_EXECUTORS = ["threaded", "async"]


@pytest.fixture(params=ALL_EXECUTORS)
def any_executor(request):
    """Every named executor, processes included."""
    return request.param


@pytest.fixture(params=["sequential", "threaded", "async"])
def in_process_executor(request):
    """Executors that can run closures (no pickling)."""
    return request.param


@pytest.fixture(params=CONCURRENT_EXECUTORS)
def concurrent_executor(request):
    return request.param
