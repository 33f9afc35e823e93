import pytest

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
