import os
import pickle
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest

from executor import (
    FailureStrategy,
    Flow,
    FlowDefinitionError,
    LoopLimitReached,
    StepFailed,
    StepResult,
    StepStatus,
    loop,
    map_over,
    parallel,
    step,
    when,
)
from tests.executor import composite_steps as cs


@pytest.fixture(scope="module")
def process_pool():
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        yield pool


@pytest.fixture(params=["sequential", "threaded", "async", "processes"])
def executor(request, process_pool):
    """Every executor; processes as a shared pool so the module spawns it once."""
    return process_pool if request.param == "processes" else request.param


# -- map_over -----------------------------------------------------------------------


def test_map_runs_once_per_item_in_input_order(executor):
    flow = Flow("m", [cs.numbers, map_over(cs.squared, over="numbers", name="mapped"), cs.total])
    result = flow.run(n=5, executor=executor)
    assert result["mapped"] == [0, 1, 4, 9, 16]
    assert result["total"] == 30
    assert [a for a in result.steps if a.startswith("m/mapped[")] == [
        f"m/mapped[{i}]" for i in range(5)
    ]
    assert result.steps["m/mapped[3]"].output == 9
    assert result.steps["m/mapped[3]"].name == "squared"


def test_map_wires_other_parameters_as_usual(executor):
    flow = Flow("m", [map_over(cs.add)])
    assert flow.run(items=[1, 2], offset=10, executor=executor)["add"] == [11, 12]


def test_map_over_a_flow(executor):
    result = Flow("m", [map_over(cs.pipeline(), name="mapped")]).run(
        items=[1, 2, 3], executor=executor
    )
    assert result["mapped"] == [3, 5, 7]
    assert result.steps["m/mapped[2]/plus_one"].output == 7


def test_map_failure_propagates_with_the_item_address(executor):
    flow = Flow("m", [map_over(cs.fails_on_three, name="mapped")])
    with pytest.raises(StepFailed) as info:
        flow.run(items=[1, 2, 3, 4], executor=executor)
    assert info.value.address == "m/mapped[2]"
    assert "three is not allowed" in str(info.value)
    assert info.value.result.steps["m/mapped"].status is StepStatus.FAILED


def test_map_ignore_reports_failed_items_as_results(executor):
    flow = Flow(
        "m", [map_over(cs.fails_on_three, name="mapped", on_failure=FailureStrategy.IGNORE)]
    )
    out = flow.run(items=[1, 3, 5], executor=executor)["mapped"]
    assert out[0] == 1 and out[2] == 5
    assert isinstance(out[1], StepResult) and out[1].status is StepStatus.FAILED
    assert out[1].address == "m/mapped[1]"


def test_map_max_concurrency_bounds_items():
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    @step
    def tracked(items):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return items

    Flow("m", [map_over(tracked, max_concurrency=2)]).run(items=list(range(8)), executor="threaded")
    assert state["max"] == 2


def test_map_executor_runs_items_elsewhere():
    result = Flow("m", [map_over(cs.where_am_i, map_executor="parallel")]).run(
        items=[1, 2, 3], executor="threaded"
    )
    assert os.getpid() not in result["where_am_i"]


def test_map_needs_a_list_and_a_parameter_to_fill():
    with pytest.raises(FlowDefinitionError, match="has no parameter 'rows' to receive each"):
        map_over(cs.square, over="rows")
    with pytest.raises(StepFailed, match="map_over needs a list in 'items', got int"):
        Flow("m", [map_over(cs.square)]).run(items=3)


# -- parallel -------------------------------------------------------------------------


def test_parallel_outputs_in_declaration_order(executor):
    flow = Flow("p", [parallel("both", {"pipe": cs.pipeline(), "sq": cs.square})])
    result = flow.run(items=3, executor=executor)
    assert list(result["both"].items()) == [("pipe", 7), ("sq", 9)]
    assert result.steps["p/both/sq"].output == 9
    assert result.steps["p/both/pipe/plus_one"].output == 7


def test_parallel_propagate_fails_and_names_the_branch(executor):
    flow = Flow("p", [parallel("both", {"ok": cs.square, "bad": cs.fails_on_three})])
    with pytest.raises(StepFailed) as info:
        flow.run(items=3, executor=executor)
    assert info.value.address == "p/both/bad"


def test_parallel_propagate_cancels_siblings():
    @step
    async def slow(items):
        import asyncio

        await asyncio.sleep(5)

    started = time.perf_counter()
    flow = Flow("p", [parallel("both", {"slow": slow, "bad": cs.fails_on_three})])
    with pytest.raises(StepFailed) as info:
        flow.run(items=3, executor="async")
    assert time.perf_counter() - started < 2
    assert info.value.result.steps["p/both/slow"].status is StepStatus.CANCELLED


def test_parallel_ignore_keeps_every_branch(executor):
    flow = Flow(
        "p",
        [
            parallel(
                "both",
                {"ok": cs.square, "bad": cs.fails_on_three},
                on_failure=FailureStrategy.IGNORE,
            )
        ],
    )
    out = flow.run(items=3, executor=executor)["both"]
    assert out["ok"] == 9
    assert isinstance(out["bad"], StepResult) and out["bad"].status is StepStatus.FAILED


def test_parallel_branch_names_must_be_identifiers():
    with pytest.raises(FlowDefinitionError, match="branch name 'a/b' must be an identifier"):
        parallel("p", {"a/b": cs.square})
    with pytest.raises(FlowDefinitionError, match="has no branches"):
        parallel("p", {})


# -- when -------------------------------------------------------------------------------


def test_when_routes_and_records_the_branch(executor):
    flow = Flow(
        "w", [when(lambda items: items > 2, then=cs.square, otherwise=cs.add, name="route")]
    )
    high = flow.run(items=3, executor=executor)
    low = flow.run(items=1, offset=5, executor=executor)
    assert (high["route"], low["route"]) == (9, 6)
    assert "w/route/then" in high.steps and "w/route/otherwise" not in high.steps
    assert "w/route/otherwise" in low.steps


def test_when_predicate_is_wired_like_a_step():
    def big(numbers, context):
        return len(numbers) > context["limit"]

    summed = step(lambda numbers: sum(numbers), name="summed")
    flow = Flow("w", [cs.numbers, when(big, then=summed, name="route")])
    assert flow.run(n=4, context={"limit": 1})["route"] == 6
    skipped = flow.run(n=1, context={"limit": 1})
    assert skipped["route"] is None  # predicate false and no otherwise
    assert not any(a.startswith("w/route/") for a in skipped.steps)


# -- loop -------------------------------------------------------------------------------


def test_loop_feeds_output_back_until_done(executor):
    flow = Flow("l", [loop(cs.increment, until=lambda v: v >= 5, name="count")])
    result = flow.run(value=2, executor=executor)
    assert result["count"] == 5
    assert [a for a in result.steps if "#" in a] == ["l/count#0", "l/count#1", "l/count#2"]


def test_loop_limit_is_a_clear_error_unless_quiet():
    flow = Flow("l", [loop(cs.increment, until=lambda v: False, max_iterations=3, name="count")])
    with pytest.raises(StepFailed) as info:
        flow.run(value=0)
    assert isinstance(info.value.cause, LoopLimitReached)
    assert "loop ran 3 iterations" in str(info.value.cause)
    quiet = Flow(
        "l",
        [
            loop(
                cs.increment,
                until=lambda v: False,
                max_iterations=3,
                name="count",
                stop_quietly=True,
            )
        ],
    )
    assert quiet.run(value=0)["count"] == 3


def test_documented_except_loop_limit_reached_catches_the_run_error(executor):
    # docs/composites.md: "Reaching max_iterations raises LoopLimitReached". The run's
    # error is a StepFailed that is also a LoopLimitReached, so both forms catch it,
    # also when the loop sits inside another composite.
    inner = loop(cs.increment, until=lambda v: False, max_iterations=3, name="count")
    for flow in (Flow("l", [inner]), Flow("outer", [Flow("l", [inner]).as_step("sub")])):
        with pytest.raises(LoopLimitReached) as info:  # what `except LoopLimitReached` sees
            flow.run(value=0, executor=executor)
        error = info.value
        assert isinstance(error, StepFailed)
        assert error.address in ("l/count", "outer/sub/count")
        assert (error.max_iterations, error.last) == (3, 3)
        assert isinstance(error.cause, LoopLimitReached)
        assert error.result.steps[error.address].status is StepStatus.FAILED


def test_loop_limit_error_pickles_as_itself_and_comes_from_raise_for_status():
    flow = Flow("l", [loop(cs.increment, until=lambda v: False, max_iterations=2, name="count")])
    result = flow.run(value=0, on_failure="continue")
    with pytest.raises(LoopLimitReached) as info:
        result.raise_for_status()
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is type(info.value)
    assert isinstance(copy, StepFailed) and copy.address == "l/count"
    assert copy.max_iterations == 2 and "loop ran 2 iterations" in str(copy)


def test_loop_feed_must_be_clear():
    with pytest.raises(FlowDefinitionError, match="say which one receives the previous"):
        loop(cs.add.with_options(name="adder"), until=bool)
    with pytest.raises(FlowDefinitionError, match="feed='nope' is not a parameter"):
        loop(cs.increment, until=bool, feed="nope")
    assert (
        Flow("l", [loop(cs.add, until=lambda v: v > 9, feed="items", name="acc")]).run(
            items=0, offset=4
        )["acc"]
        == 12
    )


# -- sub-flows ------------------------------------------------------------------------


def test_flow_as_step_with_renamed_inputs_and_chosen_output(executor):
    inner = cs.pipeline()
    outer = Flow(
        "o", [cs.numbers, inner.as_step("pipe", inputs={"items": "n"}, output="double_it")]
    )
    result = outer.run(n=4, executor=executor)
    assert result["pipe"] == 8
    assert result.steps["o/pipe/plus_one"].output == 9
    with pytest.raises(FlowDefinitionError, match="has no input"):
        inner.as_step("x", inputs={"nope": "n"})
    with pytest.raises(FlowDefinitionError, match="has no step 'nope'"):
        inner.as_step("x", output="nope")


def test_a_composite_is_callable_on_its_own():
    assert map_over(cs.square)(items=[1, 2]) == [1, 4]


# -- every composite inside every other, on every executor -------------------------------

KINDS = ["subflow", "parallel", "map", "when", "loop"]


def wrap(kind, inner, n):
    """A step taking `value` (int) and returning an int, with `inner` inside `kind`."""
    name = f"{kind}{n}"
    if kind == "subflow":
        return Flow(name, [inner]).as_step(name)
    if kind == "parallel":
        return Flow(
            name, [parallel("branches", {"x": inner, "y": inner}), cs.sum_branches]
        ).as_step(name)
    if kind == "map":
        pairs = step(cs.pair_up, name="value")
        body = Flow(name, [pairs, map_over(inner, over="value", name="mapped"), cs.total])
        return body.as_step(name, inputs={"value_in": "value"})
    if kind == "when":
        plus = Flow("plus", [inner.with_options(name="inner"), cs.plus_hundred])
        return when(lambda value: value % 2 == 0, then=inner, otherwise=plus, name=name)
    return loop(inner, until=lambda out: out >= 10, name=name)


def model(kind, inner):
    if kind == "subflow":
        return inner
    if kind == "parallel":
        return lambda v: 2 * inner(v)
    if kind == "map":
        return lambda v: inner(v) + inner(v + 1)
    if kind == "when":
        return lambda v: inner(v) if v % 2 == 0 else inner(v) + 100

    def looped(v):
        while True:
            v = inner(v)
            if v >= 10:
                return v

    return looped


@pytest.mark.parametrize("outer", KINDS)
@pytest.mark.parametrize("inner", KINDS)
def test_every_composite_nests_in_every_other(outer, inner, executor):
    built = wrap(outer, wrap(inner, cs.increment, 1), 2)
    expected = model(outer, model(inner, lambda v: v + 1))
    flow = Flow("nest", [built])
    for value in (0, 3):
        result = flow.run(value=value, executor=executor)
        assert result[built.name] == expected(value), (outer, inner, value)


def test_queued_items_report_only_their_own_time():
    @step
    def nap(items):
        time.sleep(0.05)
        return items

    result = Flow("m", [map_over(nap)]).run(
        items=list(range(6)), executor="threaded", max_concurrency=2
    )
    durations = [result.steps[f"m/nap[{i}]"].duration for i in range(6)]
    # Six 0.05 s naps on two workers: the last start ~0.1 s after being handed over;
    # a duration counting that wait would reach ~0.15 s.
    assert max(durations) < 0.12, durations


def test_timed_items_do_not_time_out_while_queued():
    @step(timeout=0.12)
    def nap(items):
        time.sleep(0.05)
        return items

    result = Flow("m", [map_over(nap)]).run(
        items=list(range(6)), executor="threaded", max_concurrency=2
    )
    assert result["nap"] == list(range(6))


def test_a_cached_composite_still_pickles_after_its_first_key():
    """What keying kept on the step (a SHA-256 hasher, the last key) is not state:
    pickling one, e.g. to send it to a worker process, leaves it out."""
    from executor.cache import CachePolicy, call_key
    from tests.executor import steps

    both = parallel("both", {"a": steps.double, "b": steps.double}, cache=CachePolicy())
    key = call_key(both, {"n": 1})
    copy = pickle.loads(pickle.dumps(both))
    assert call_key(copy, {"n": 1}) == key
