import pytest

from executor import (
    FailureStrategy,
    Flow,
    FlowDefinitionError,
    Retry,
    StepStatus,
    loop,
    map_over,
    parallel,
    step,
    when,
)
from executor.cache import CachePolicy, MemoryCache
from tests.executor import composite_steps as cs


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda: parallel("p", {"a": cs.square}, on_failure="ignore"), "must be a FailureStrategy"),
        (lambda: parallel("p", {"a": cs.square}, merge=1), "merge must be a MergeStrategy"),
        (lambda: map_over(cs.square, max_concurrency=0), "max_concurrency must be an int >= 1"),
        (lambda: map_over(cs.square, on_failure="x"), "must be a FailureStrategy"),
        (lambda: loop(cs.increment, until=bool, max_iterations=0), "max_iterations must be"),
        (lambda: loop(cs.increment, until=3), "until must be callable"),
    ],
)
def test_bad_composite_options_are_named(build, needle):
    with pytest.raises(FlowDefinitionError, match=needle):
        build()


def test_async_predicates_and_unknown_options_are_refused():
    async def later(items):
        return True

    with pytest.raises(FlowDefinitionError, match="predicate must be a sync function"):
        when(later, then=cs.square)
    with pytest.raises(TypeError, match="unexpected option"):
        map_over(cs.square, colour="red")


def test_composites_take_step_options_and_variants():
    mapped = map_over(cs.square, retry=2, timeout=5, version="v1")
    assert (mapped.retry, mapped.timeout, mapped.version) == (Retry(attempts=2), 5.0, "v1")
    renamed = mapped.with_options(name="squares", retry=3)
    assert renamed.name == "squares" and renamed.retry == Retry(attempts=3)
    assert mapped.name == "square"  # the original is unchanged
    assert renamed(items=[2]) == [4]  # a variant runs as itself
    assert repr(renamed) == "<MapStep 'squares': square>"
    assert Flow("f", [renamed]).run(items=[1, 2])["squares"] == [1, 4]


def test_a_composite_can_be_cached_like_any_step():
    calls = []

    @step
    def fetch(items):
        calls.append(items)
        return items * 10

    cached = map_over(fetch, cache=CachePolicy())
    cache = MemoryCache()
    flow = Flow("c", [cached])
    assert flow.run(items=[1, 2], cache=cache)["fetch"] == [10, 20]
    again = flow.run(items=[1, 2], cache=cache)
    assert again.steps["c/fetch"].status is StepStatus.CACHED
    assert again["fetch"] == [10, 20] and calls == [1, 2]  # the items did not run again
    assert "c/fetch[0]" not in again.steps


def test_composite_identity_changes_with_its_parts():
    from executor.cache import step_identity

    a = parallel("p", {"x": cs.square})
    b = parallel("p", {"x": cs.add})
    assert step_identity(a) != step_identity(b)
    assert step_identity(a) == step_identity(parallel("p", {"x": cs.square}))


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"ttl": 0}, "ttl must be a positive number"),
        ({"codec": "yaml"}, "codec must be"),
        ({"key": "url"}, "key must be callable"),
    ],
)
def test_bad_cache_policies_are_named(kwargs, needle):
    with pytest.raises(FlowDefinitionError, match=needle):
        CachePolicy(**kwargs)


def test_ignored_failures_inside_a_map_are_results():
    flow = Flow("m", [map_over(cs.fails_on_three, on_failure=FailureStrategy.IGNORE)])
    out = flow.run(items=[3])["fails_on_three"]
    assert out[0].status is StepStatus.FAILED
