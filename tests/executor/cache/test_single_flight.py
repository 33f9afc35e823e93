import threading
import time

from executor import Flow, StepStatus, map_over, step
from executor.cache import CachePolicy, MemoryCache


def test_identical_concurrent_calls_compute_once(concurrent_executor):
    calls = []
    lock = threading.Lock()

    @step(cache=CachePolicy())
    def fetch(items):
        with lock:
            calls.append(items)
        time.sleep(0.05)  # long enough for the duplicates to be in flight together
        return items * 10

    flow = Flow("sf", [map_over(fetch, max_concurrency=8)])
    result = flow.run(items=[1, 1, 2, 1, 2], cache=MemoryCache(), executor=concurrent_executor)
    assert result["fetch"] == [10, 10, 20, 10, 20]
    assert sorted(calls) == [1, 2]
    statuses = [result.steps[f"sf/fetch[{i}]"].status for i in range(5)]
    assert statuses.count(StepStatus.COMPLETED) == 2
    assert statuses.count(StepStatus.CACHED) == 3


def test_a_failed_leader_lets_a_follower_try():
    attempts = []

    @step(cache=CachePolicy())
    def flaky(items):
        attempts.append(items)
        time.sleep(0.02)
        if len(attempts) == 1:
            raise ConnectionError("first one fails")
        return items

    flow = Flow("sf", [map_over(flaky, on_failure=__import__("executor").FailureStrategy.IGNORE)])
    out = flow.run(items=[7, 7], cache=MemoryCache(), executor="threaded")["flaky"]
    assert len(attempts) == 2
    assert out[1] == 7 or out[0] == 7
