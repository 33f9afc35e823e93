import subprocess
import sys
import textwrap
import threading

import pytest
from freezegun import freeze_time

from executor import (
    CacheKeyError,
    ExecutorCore,
    Flow,
    StepFailed,
    StepStatus,
    call_step,
    hookimpl,
    step,
)
from executor._codec import CodecError
from executor.cache import CachePolicy, MemoryCache, SQLiteCache
from tests.executor import steps


class CallCounter:
    """A step executor that counts real calls (in-process executors only)."""

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def __call__(self, s, inputs, context):
        with self.lock:
            self.calls.append(s.name)
        return call_step(s, inputs, context)


def test_second_run_is_answered_from_the_cache(any_executor):
    cache = MemoryCache()
    flow = Flow("sq", [steps.slow_square])
    first = flow.run(x=4, cache=cache, executor=any_executor)
    second = flow.run(x=4, cache=cache, executor=any_executor)
    miss, hit = first.steps["sq/slow_square"], second.steps["sq/slow_square"]
    assert miss.status is StepStatus.COMPLETED and miss.attempts == 1
    assert hit.status is StepStatus.CACHED and hit.attempts == 0
    assert hit.output == 16 == second["slow_square"]
    assert hit.cache_key == miss.cache_key and len(hit.cache_key) == 64
    assert second.stats["slow_square"].cache_hits == 1
    assert first.stats["slow_square"].cache_misses == 1


def test_cached_steps_are_not_called(in_process_executor):
    counter = CallCounter()
    cache = MemoryCache()
    core = ExecutorCore(step_executor=counter, executor=in_process_executor, cache=cache)
    for _ in range(3):
        core.run(Flow("sq", [steps.slow_square]), {"x": 3})  # a new Flow object each time
    core.run(Flow("sq", [steps.slow_square]), {"x": 5})
    assert counter.calls == ["slow_square", "slow_square"]


def test_none_and_falsy_outputs_are_cached():
    cache = MemoryCache()
    flow = Flow("f", [steps.falsy])
    for x in (0, 1):
        flow.run(x=x, cache=cache)
        again = flow.run(x=x, cache=cache).steps["f/falsy"]
        assert again.status is StepStatus.CACHED
        assert again.output == (None if x == 0 else 0)


def test_failures_are_not_cached(in_process_executor):
    cache = MemoryCache()
    flow = Flow("f", [steps.cached_boom])
    for _ in range(2):
        result = flow.run(x=1, cache=cache, on_failure="continue", executor=in_process_executor)
        assert result.steps["f/cached_boom"].status is StepStatus.FAILED
    assert len(cache) == 0


def test_expired_entries_are_recomputed():
    cache = MemoryCache()
    timed = step(steps.slow_square, cache=CachePolicy(ttl=60))
    flow = Flow("f", [timed])
    with freeze_time("2026-11-21 12:00:00") as clock:
        flow.run(x=2, cache=cache)
        clock.tick(59)
        assert flow.run(x=2, cache=cache).steps["f/slow_square"].status is StepStatus.CACHED
        clock.tick(2)
        assert flow.run(x=2, cache=cache).steps["f/slow_square"].status is StepStatus.COMPLETED


def test_a_run_without_policies_calls_every_step():
    counter = CallCounter()
    cache = MemoryCache()
    core = ExecutorCore(step_executor=counter, cache=cache)
    for _ in range(2):
        core.run(steps.chain_flow(), {"n": 2})
    assert counter.calls == ["load", "double", "total"] * 2
    assert len(cache) == 0


def test_policy_backend_wins_over_the_run_backend():
    own, run_cache = MemoryCache(), MemoryCache()
    pinned = step(steps.slow_square, cache=CachePolicy(cache=own))
    Flow("f", [pinned]).run(x=2, cache=run_cache)
    assert len(own) == 1 and len(run_cache) == 0


def test_default_cache_belongs_to_the_flow():
    flow = Flow("f", [steps.slow_square])
    flow.run(x=7)
    assert flow.run(x=7).steps["f/slow_square"].status is StepStatus.CACHED
    other = Flow("f", [steps.slow_square])
    assert other.run(x=7).steps["f/slow_square"].status is StepStatus.COMPLETED


def test_unencodable_output_fails_the_step_unless_pickle_is_asked_for():
    @step(cache=CachePolicy())
    def makes_lock(x):
        return threading.Lock()

    result = Flow("f", [makes_lock]).run(x=1, on_failure="continue")
    failed = result.steps["f/makes_lock"]
    assert failed.status is StepStatus.FAILED
    assert isinstance(failed.exception, CodecError)
    assert failed.error.message.startswith("f/makes_lock output: cannot encode")

    @step(cache=CachePolicy(codec="pickle"))
    def makes_set(x):
        return frozenset({x})

    cache = MemoryCache()
    Flow("f", [makes_set]).run(x=1, cache=cache)
    hit = Flow("f", [makes_set]).run(x=1, cache=cache)
    assert hit["makes_set"] == frozenset({1})


def test_unencodable_input_fails_the_step_and_names_the_path():
    @step
    def config():
        return {"callback": print}

    @step(cache=CachePolicy())
    def use(config):
        return 1

    with pytest.raises(StepFailed) as info:
        Flow("f", [config, use]).run()
    assert isinstance(info.value.cause, CacheKeyError)
    assert "inputs['config']['callback'] is a " in str(info.value.cause)
    assert info.value.result.steps["f/use"].attempts == 0


def test_key_and_include_context_choose_what_identifies_a_call():
    by_url = step(
        steps.slow_square, name="sq_url", cache=CachePolicy(key=lambda inputs: inputs["x"] % 10)
    )
    cache = MemoryCache()
    flow = Flow("f", [by_url])
    flow.run(x=3, cache=cache)
    assert flow.run(x=13, cache=cache)["sq_url"] == 9  # same key: 13 % 10 == 3

    @step(cache=CachePolicy(include_context=True))
    def greet(name, context):
        return f"{context['greeting']} {name}"

    flow = Flow("g", [greet])
    assert flow.run(name="a", context={"greeting": "hi"}, cache=cache)["greet"] == "hi a"
    assert flow.run(name="a", context={"greeting": "yo"}, cache=cache)["greet"] == "yo a"


def test_cache_hit_hook():
    seen = []

    class Spy:
        @hookimpl
        def cache_hit(self, address, key):
            seen.append((address, key))

    cache = MemoryCache()
    flow = Flow("f", [steps.slow_square])
    flow.run(x=1, cache=cache, plugins=[Spy()])
    result = flow.run(x=1, cache=cache, plugins=[Spy()])
    assert seen == [("f/slow_square", result.steps["f/slow_square"].cache_key)]


def test_cached_values_are_copies():
    @step(cache=CachePolicy())
    def rows(n):
        return [[i] for i in range(n)]

    cache = MemoryCache()
    flow = Flow("f", [rows])
    flow.run(n=2, cache=cache)
    flow.run(n=2, cache=cache)["rows"].append("mutated")
    assert flow.run(n=2, cache=cache)["rows"] == [[0], [1]]


def test_sqlite_cache_is_shared_between_processes(tmp_path):
    module = tmp_path / "cached_flow.py"
    module.write_text(
        textwrap.dedent("""
        import sys
        from executor import Flow, step
        from executor.cache import CachePolicy, SQLiteCache

        @step(cache=CachePolicy())
        def square(x):
            return x * x

        if __name__ == "__main__":
            result = Flow("f", [square]).run(x=9, cache=SQLiteCache(sys.argv[1]))
            print(result.steps["f/square"].status.value, result["square"])
    """)
    )
    db = tmp_path / ".flowexec" / "cache.db"
    outs = [
        subprocess.run(
            [sys.executable, str(module), str(db)], capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    assert outs == [["completed", "81"], ["cached", "81"]]
    assert len(SQLiteCache(db)) == 1


def test_renewing_default_caches_empties_them_but_not_explicit_ones():
    from executor.testing import renew_default_caches

    flow, explicit = Flow("f", [steps.slow_square]), MemoryCache()
    flow.run(x=7)
    flow.run(x=7, cache=explicit)
    renew_default_caches()
    assert flow.run(x=7).steps["f/slow_square"].status is StepStatus.COMPLETED
    assert flow.run(x=7).steps["f/slow_square"].status is StepStatus.CACHED
    assert flow.run(x=7, cache=explicit).steps["f/slow_square"].status is StepStatus.CACHED
