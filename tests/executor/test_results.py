import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor import Flow, StepOutputMissing, StepStatus, step
from executor._stats import percentile
from tests.executor import steps


def test_outputs_and_item_access():
    result = steps.chain_flow().run(n=3)
    assert dict(result.outputs) == {"load": [0, 1, 2], "double": [0, 2, 4], "total": 6}
    assert result["double"] == [0, 2, 4]


def test_item_access_explains_a_missing_output():
    flow = Flow("f", [steps.load, steps.boom, steps.double])
    result = flow.run(n=1, on_failure="continue")
    with pytest.raises(
        StepOutputMissing,
        match=r"step 'f/boom' has no output: it ended failed: "
        r"builtins\.ValueError: bad batch of 1",
    ):
        result["boom"]
    with pytest.raises(KeyError, match="has no step 'nope' in this run"):
        result["nope"]


def test_results_are_immutable():
    result = steps.chain_flow().run(n=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.steps["chain/load"].output = 3
    with pytest.raises(TypeError):
        result.steps["chain/x"] = None


def test_stats_per_step_name():
    @step
    def double(boom):
        return boom

    result = Flow("f", [steps.load, steps.boom, double]).run(n=1, on_failure="continue")
    stats = result.stats
    assert stats["boom"].failures == 1 and stats["boom"].count == 1
    assert stats["load"].failures == 0
    assert stats["load"].mean == pytest.approx(result.steps["f/load"].duration)
    assert stats["double"].count == 0  # skipped steps are not timed


def test_step_result_equality_ignores_the_live_exception():
    result = Flow("f", [steps.load, steps.boom]).run(n=1, on_failure="continue")
    failed = result.steps["f/boom"]
    assert dataclasses.replace(failed, exception=None) == failed
    assert failed.status is StepStatus.FAILED and not failed.ok


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200))
def test_percentiles_are_ordered_and_bounded(values):
    ordered = sorted(values)
    p50, p95, p99 = (percentile(ordered, q) for q in (50, 95, 99))
    assert ordered[0] <= p50 <= p95 <= p99 <= ordered[-1]


def test_percentile_interpolates():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    assert percentile([], 50) == 0.0


def test_step_results_in_flow_order_whatever_the_completion_order():
    import time

    @step
    def slow():
        time.sleep(0.05)
        return 1

    @step
    def quick():
        return 2

    result = Flow("f", [slow, quick]).run(executor="threaded")
    assert list(result.steps) == ["f/slow", "f/quick"]
