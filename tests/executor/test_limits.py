import time

import pytest

from executor import (
    FailureStrategy,
    Flow,
    FlowDefinitionError,
    StepStatus,
    UsageLimitExceeded,
    UsageLimits,
    map_over,
    parallel,
    record_usage,
    step,
)
from tests.conftest import ALL_EXECUTORS
from tests.executor import composite_steps as cs
from tests.executor import steps


def test_max_steps_stops_the_run_with_partial_result(any_executor):
    flow = steps.chain_flow()
    with pytest.raises(UsageLimitExceeded) as info:
        flow.run(n=2, executor=any_executor, limits=UsageLimits(max_steps=2))
    error = info.value
    assert error.limit == "max_steps" and error.address == "chain/total"
    assert error.usage["steps"] == 2
    assert error.result.steps["chain/double"].status is StepStatus.COMPLETED
    assert error.result.steps["chain/total"].status is StepStatus.FAILED
    assert "usage limit max_steps = 2 exceeded" in str(error)


@pytest.mark.parametrize("executor", ALL_EXECUTORS)
def test_counters_never_slip_past_the_limit(executor):
    flow = Flow("m", [map_over(cs.costly, on_failure=FailureStrategy.IGNORE)])
    with pytest.raises(UsageLimitExceeded) as info:
        flow.run(
            items=list(range(12)), executor=executor, limits=UsageLimits(counters={"cost": 1.0})
        )
    result = info.value.result
    ended = [r for a, r in result.steps.items() if a.startswith("m/costly[")]
    completed = [r for r in ended if r.status is StepStatus.COMPLETED]
    over = [r for r in ended if isinstance(r.exception, UsageLimitExceeded)]
    # No call that took the total over 1.0 completed: 4 x 0.25 did, never a fifth...
    assert len(completed) == 4
    assert over  # ...the fifth (and any running beside it) raised, and stopped the run
    # ...and every call is reported, those that went over included (spent is spent).
    # (On "async" a sync step whose task the stop cancelled may still run in its
    # thread: its usage counts, though the step is reported CANCELLED.)
    reported = 0.25 * (len(completed) + len(over))
    if executor == "async":
        assert result.usage["cost"] >= reported - 1e-9
    else:
        assert result.usage["cost"] == pytest.approx(reported)
    assert info.value.limit == "cost"
    assert info.value.address.startswith("m/costly[")


@step
def spend_a_tenth(n: int) -> int:
    record_usage(cost=0.1, tokens=100)
    return n


@step
def spend_again(spend_a_tenth: int) -> int:
    record_usage(cost=0.1, tokens=50, calls=1)
    return spend_a_tenth


@pytest.mark.parametrize("executor", ["sequential", "threaded", "async", "parallel"])
def test_the_call_that_goes_over_is_counted_then_the_run_stops(executor):
    flow = Flow("spend", [spend_a_tenth, spend_again])
    with pytest.raises(UsageLimitExceeded) as info:
        flow.run(n=1, executor=executor, limits=UsageLimits(counters={"cost": 0.15}))
    error = info.value
    assert error.limit == "cost" and error.address == "spend/spend_again"
    assert error.attempted == pytest.approx(0.2)
    # Money already spent is reported, with every counter of that call.
    for usage in (error.usage, error.result.usage):
        assert usage["cost"] == pytest.approx(0.2)
        assert usage["tokens"] == 150
        assert usage["calls"] == 1
    assert error.result.steps["spend/spend_again"].status is StepStatus.FAILED
    assert "usage so far: calls=1, cost=0.2" in str(error)


def test_limits_inside_ignoring_composites_still_stop_the_run():
    branches = {f"b{i}": cs.costly for i in range(3)}
    flow = Flow("p", [parallel("p", branches, on_failure=FailureStrategy.IGNORE)])
    with pytest.raises(UsageLimitExceeded):
        flow.run(items=1, executor="threaded", limits=UsageLimits(counters={"cost": 0.5}))


def test_max_seconds_refuses_steps_after_the_budget():
    @step
    def slow(n):
        time.sleep(0.2)
        return n

    @step
    def after(slow):
        return slow

    with pytest.raises(UsageLimitExceeded) as info:
        Flow("t", [slow, after]).run(n=1, limits=UsageLimits(max_seconds=0.1))
    assert info.value.limit == "max_seconds" and info.value.address == "t/after"


def test_usage_is_reported_without_limits(any_executor):
    result = Flow("m", [map_over(cs.costly)]).run(items=[1, 2, 3], executor=any_executor)
    assert result.usage["cost"] == pytest.approx(0.75)
    assert result.usage["steps"] == 3  # the map itself is not a step call


def test_limit_errors_are_not_retried():
    calls = []

    @step(retry=5)
    def spend(n):
        calls.append(n)
        record_usage(cost=1)

    with pytest.raises(UsageLimitExceeded):
        Flow("r", [spend]).run(n=1, limits=UsageLimits(counters={"cost": 0.5}))
    assert len(calls) == 1


def test_record_usage_outside_a_run_does_nothing_and_checks_values():
    assert cs.costly.fn(3) == 3
    with pytest.raises(ValueError, match="cost must be a number >= 0"):
        record_usage(cost=-1)

    @step
    def cheat(n):
        record_usage(steps=1)

    result = Flow("r", [cheat]).run(n=1, on_failure="continue")
    assert "'steps' is counted by the engine" in result.steps["r/cheat"].error.message


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"max_steps": -1}, "max_steps"),
        ({"max_seconds": "1"}, "max_seconds"),
        ({"counters": {"cost": -2}}, "counter limits"),
    ],
)
def test_bad_limits_are_refused(kwargs, needle):
    with pytest.raises(FlowDefinitionError, match=needle):
        UsageLimits(**kwargs)
