"""Each test starts with empty default caches, whatever ran before it in its process."""

import json

CACHED = """
from executor import CachePolicy, Flow, step

@step(cache=CachePolicy())
def lookup(key: str) -> str:
    with open("calls.log", "a") as log:
        log.write(key + "\\n")
    return key.upper()

@step
def use(lookup: str) -> str:
    return lookup + "!"

cached = Flow("cached", [lookup, use])
"""


def test_a_cached_step_runs_once_in_every_test(run, pytester):
    pytester.makepyfile(
        cached_app=CACHED,
        test_app="""
        import pytest
        from executor import StepStatus
        from cached_app import cached

        @pytest.fixture
        def warm():
            cached.run(key="w")  # a function-scoped fixture's runs share the test's cache

        @pytest.mark.parametrize("k", range(6))
        def test_spy_sees_the_call(flow_mock, k):
            flow_mock.spy("lookup")
            result = cached.run(key="a")
            assert result.steps["cached/lookup"].status is StepStatus.COMPLETED
            flow_mock.assert_called("lookup", times=1)
            again = cached.run(key="a")  # within one test the cache still works
            assert again.steps["cached/lookup"].status is StepStatus.CACHED

        @pytest.mark.parametrize("k", range(4))
        def test_without_the_plugin(k):
            assert cached.run(key="a").steps["cached/lookup"].status is StepStatus.COMPLETED

        def test_a_fixture_warms_the_test_cache(warm):
            assert cached.run(key="w").steps["cached/lookup"].status is StepStatus.CACHED
    """,
    )
    result = run()
    result.assert_outcomes(passed=11)


def test_recordings_do_not_depend_on_test_order(run, pytester):
    pytester.makepyfile(
        cached_app=CACHED,
        test_app="""
        import pytest
        from cached_app import cached

        @pytest.mark.parametrize("k", range(4))
        def test_record(k):
            assert cached.run(key="a")["use"] == "A!"
    """,
    )
    result = run("--flow-record-mode=rewrite")
    result.assert_outcomes(passed=4)
    folder = pytester.path / "fixtures" / "recordings" / "test_app"
    events = []
    for k in range(4):
        recording = json.loads((folder / f"test_record[{k}].json").read_text())
        events.append(recording["runs"][0]["steps"])
    assert [e["cached/lookup"]["status"] for e in events] == ["completed"] * 4
    assert all(e == events[0] for e in events)
    run("--flow-replay").assert_outcomes(passed=4)


def test_an_explicit_cache_is_the_users_to_share(pytester):
    pytester.makepyfile(
        cached_app=CACHED,
        test_app="""
        from executor import StepStatus
        from executor.cache import MemoryCache
        from cached_app import cached

        SHARED = MemoryCache()  # passed explicitly: kept across tests on purpose

        def status():
            return cached.run(key="a", cache=SHARED).steps["cached/lookup"].status

        def test_first():
            assert status() is StepStatus.COMPLETED

        def test_second():
            assert status() is StepStatus.CACHED
    """,
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
