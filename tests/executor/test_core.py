import asyncio
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from executor import (
    ExecutorCore,
    Flow,
    FlowDefinitionError,
    RemoteStepError,
    Retry,
    RunStatus,
    StepFailed,
    StepNotPicklable,
    StepStatus,
    StepTimeout,
    step,
)
from tests.executor import steps


def test_chain_runs_on_every_executor(any_executor):
    result = steps.chain_flow().run(n=4, executor=any_executor)
    assert result["total"] == 12
    assert result.status is RunStatus.COMPLETED
    assert list(result.steps) == ["chain/load", "chain/double", "chain/total"]
    for address, r in result.steps.items():
        assert r.address == address and r.status is StepStatus.COMPLETED and r.attempts == 1
        assert r.started_at <= r.ended_at and r.duration >= 0
    assert result.started_at <= result.steps["chain/load"].started_at


def test_async_steps_run_on_every_executor(any_executor):
    flow = Flow("mixed", [steps.load, steps.adouble])
    assert flow.run(n=3, executor=any_executor)["adouble"] == [0, 2, 4]


def test_a_user_executor_instance_is_used_and_left_open():
    with ThreadPoolExecutor(2) as pool:
        result = steps.chain_flow().run(n=3, executor=pool)
        assert result["total"] == 6
        assert pool.submit(lambda: 5).result() == 5  # not shut down by the run


def test_unknown_executor_and_bad_width_are_refused():
    with pytest.raises(FlowDefinitionError, match="unknown executor 'gpu'"):
        ExecutorCore(executor="gpu")
    with pytest.raises(FlowDefinitionError, match="max_concurrency must be an int >= 1"):
        ExecutorCore(max_concurrency=0)
    with pytest.raises(FlowDefinitionError, match="on_failure must be one of"):
        steps.chain_flow().run(n=1, on_failure="ignore")  # type: ignore[arg-type]


def test_step_executor_is_the_seam_on_every_executor(any_executor):
    core = ExecutorCore(step_executor=steps.fake_double, executor=any_executor)
    assert core.run(steps.chain_flow(), {"n": 3})["total"] == -1


def test_step_executor_receives_step_inputs_and_context(in_process_executor):
    seen = []

    def spy(s, inputs, context):
        seen.append((s.name, dict(inputs), context))
        return len(seen)

    @step
    def needs(context, load):
        raise AssertionError("replaced")

    core = ExecutorCore(step_executor=spy, executor=in_process_executor)
    core.run(Flow("f", [steps.load, needs]), {"n": 2}, context="ctx")
    assert seen == [("load", {"n": 2}, "ctx"), ("needs", {"load": 1, "context": "ctx"}, "ctx")]


def test_first_failure_stops_the_run_and_carries_the_partial_result(any_executor):
    flow = Flow("f", [steps.load, steps.boom, steps.double, steps.total])
    with pytest.raises(StepFailed) as info:
        flow.run(n=2, executor=any_executor)
    error = info.value
    assert error.address == "f/boom"
    assert isinstance(error.cause, ValueError) and str(error.cause) == "bad batch of 2"
    assert "step 'f/boom' failed: ValueError: bad batch of 2" in str(error)
    partial = error.result
    assert partial.status is RunStatus.FAILED
    assert partial.steps["f/load"].status is StepStatus.COMPLETED
    boom = partial.steps["f/boom"]
    assert boom.status is StepStatus.FAILED
    assert boom.error.type == "builtins.ValueError"
    assert "raise ValueError" in boom.error.traceback
    assert set(partial.steps) == {"f/load", "f/boom", "f/double", "f/total"}


def test_sequential_skips_everything_after_the_failure():
    flow = Flow("f", [steps.load, steps.boom, steps.double, steps.total])
    with pytest.raises(StepFailed) as info:
        flow.run(n=2)
    partial = info.value.result
    assert partial.steps["f/double"].status is StepStatus.SKIPPED
    assert "the run stopped after 'f/boom' failed" in partial.steps["f/double"].error.message
    assert partial.steps["f/double"].attempts == 0


def test_continue_runs_independent_steps_and_skips_dependents(any_executor):
    @step
    def after_boom(boom):
        return boom

    flow = Flow("f", [steps.load, steps.boom, after_boom, steps.double, steps.total])
    result = flow.run(n=2, executor=any_executor, on_failure="continue")
    assert result.status is RunStatus.FAILED
    assert result["total"] == 2
    assert result.steps["f/boom"].status is StepStatus.FAILED
    skipped = result.steps["f/after_boom"]
    assert skipped.status is StepStatus.SKIPPED
    assert skipped.error.message == "upstream step 'f/boom' did not complete"
    assert [r.address for r in result.failed] == ["f/boom"]
    with pytest.raises(StepFailed, match="f/boom"):
        result.raise_for_status()


def test_retries_count_attempts_and_wait(in_process_executor):
    calls = []

    @step(retry=Retry(attempts=3, backoff=0.01, retry_on=(ConnectionError,)))
    def flaky(n):
        calls.append(time.perf_counter())
        if len(calls) < 3:
            raise ConnectionError("try again")
        return n

    result = Flow("f", [flaky]).run(n=5, executor=in_process_executor)
    assert result["flaky"] == 5
    assert result.steps["f/flaky"].attempts == 3
    assert calls[1] - calls[0] >= 0.009 and calls[2] - calls[1] >= 0.019


def test_errors_not_in_retry_on_fail_at_once(in_process_executor):
    calls = []

    @step(retry=Retry(attempts=5, retry_on=(ConnectionError,)))
    def wrong(n):
        calls.append(n)
        raise KeyError(n)

    result = Flow("f", [wrong]).run(n=1, executor=in_process_executor, on_failure="continue")
    assert len(calls) == 1 and result.steps["f/wrong"].attempts == 1


def test_retries_exhausted_report_every_attempt(any_executor):
    flow = Flow("f", [steps.load, step(steps.boom, retry=3)])
    with pytest.raises(StepFailed) as info:
        flow.run(n=1, executor=any_executor)
    error = info.value
    assert error.attempts == 3 and "failed after 3 attempts" in str(error)
    assert error.result.steps["f/boom"].attempts == 3


def test_timeouts_are_reported_and_the_run_does_not_hang(any_executor):
    flow = Flow("f", [steps.load, steps.stuck])
    started = time.perf_counter()
    with pytest.raises(StepFailed) as info:
        flow.run(n=1, executor=any_executor)
    error = info.value
    assert time.perf_counter() - started < 2.5  # the step itself sleeps 3 s
    assert isinstance(error.cause, StepTimeout)
    assert error.cause.address == "f/stuck" and error.cause.timeout == 0.2
    assert error.result.steps["f/stuck"].status is StepStatus.TIMED_OUT
    assert "timed out after 0.2 s" in error.result.steps["f/stuck"].error.message


def test_timeouts_are_retried_like_other_errors(in_process_executor):
    attempts = []

    @step(timeout=0.1, retry=2)
    def slow_once(n):
        attempts.append(n)
        if len(attempts) == 1:
            time.sleep(0.5)
        return n

    result = Flow("f", [slow_once]).run(n=1, executor=in_process_executor)
    assert result["slow_once"] == 1 and result.steps["f/slow_once"].attempts == 2


def test_async_timeout_cancels_the_task():
    cancelled = threading.Event()

    @step(timeout=0.05)
    async def hangs(n):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    result = Flow("f", [hangs]).run(n=1, executor="async", on_failure="continue")
    assert result.steps["f/hangs"].status is StepStatus.TIMED_OUT
    assert cancelled.is_set()


def test_fail_fast_cancels_running_async_steps():
    @step
    async def sleeper(n):
        await asyncio.sleep(5)

    @step
    async def fails(n):
        await asyncio.sleep(0.01)
        raise RuntimeError("no")

    started = time.perf_counter()
    with pytest.raises(StepFailed) as info:
        Flow("f", [sleeper, fails]).run(n=1, executor="async")
    error = info.value
    assert time.perf_counter() - started < 2
    assert error.result.steps["f/sleeper"].status is StepStatus.CANCELLED


def _tracker():
    lock = threading.Lock()
    state = {"now": 0, "max": 0, "intervals": {}}

    def enter(name):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
            state["intervals"][name] = [time.perf_counter(), None]

    def leave(name):
        with lock:
            state["now"] -= 1
            state["intervals"][name][1] = time.perf_counter()

    return state, enter, leave


def _sleeper(name, params, enter, leave, seconds=0.05, critical=False):
    namespace = {"enter": enter, "leave": leave, "time": time}
    exec(
        f"def {name}({', '.join(params)}):\n"
        f"    enter({name!r}); time.sleep({seconds}); leave({name!r}); return 1",
        namespace,
    )
    return step(namespace[name], critical=critical)


def test_max_concurrency_bounds_running_steps(concurrent_executor):
    state, enter, leave = _tracker()
    flow = Flow("wide", [_sleeper(f"s{i}", [], enter, leave) for i in range(9)])
    flow.run(executor=concurrent_executor, max_concurrency=3)
    assert 2 <= state["max"] <= 3


def test_a_step_starts_as_soon_as_its_inputs_are_ready(concurrent_executor):
    state, enter, leave = _tracker()
    flow = Flow(
        "eager",
        [
            _sleeper("slow", [], enter, leave, seconds=0.4),
            _sleeper("fast", [], enter, leave, seconds=0.01),
            _sleeper("after_fast", ["fast"], enter, leave, seconds=0.01),
        ],
    )
    flow.run(executor=concurrent_executor)
    spans = state["intervals"]
    assert spans["after_fast"][1] < spans["slow"][1]


def test_critical_steps_never_overlap_and_keep_flow_order(concurrent_executor):
    state, enter, leave = _tracker()
    critical = [_sleeper(f"c{i}", [], enter, leave, seconds=0.06, critical=True) for i in range(4)]
    free = [_sleeper(f"p{i}", [], enter, leave, seconds=0.06) for i in range(3)]
    Flow("mixed", [*critical, *free]).run(executor=concurrent_executor, max_concurrency=8)
    spans = state["intervals"]
    ordered = [spans[f"c{i}"] for i in range(4)]
    for before, after in itertools.pairwise(ordered):
        assert before[1] <= after[0], "critical steps overlapped or ran out of order"
    # the rest is not serialised behind them
    assert any(spans[f"p{i}"][0] < spans["c0"][1] for i in range(3))


def test_flow_run_async_from_inside_a_running_loop():
    async def main():
        inside = steps.chain_flow().run(n=2, executor="async")
        awaited = await steps.chain_flow().arun(n=2)
        threaded = await steps.chain_flow().arun(n=2, executor="threaded")
        return inside["total"], awaited["total"], threaded["total"]

    assert asyncio.run(main()) == (2, 2, 2)


def test_sequential_run_with_async_steps_inside_a_running_loop():
    async def main():
        return Flow("m", [steps.load, steps.adouble]).run(n=2)["adouble"]

    assert asyncio.run(main()) == [0, 2]


def test_cancelling_arun_cancels_its_steps():
    cancelled = threading.Event()

    @step
    async def forever(n):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    @step
    async def other(n):
        await asyncio.sleep(10)

    async def main():
        task = asyncio.ensure_future(Flow("f", [forever, other]).arun(n=1))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert cancelled.is_set()


WHERE = {"parallel": "a process executor", "dask": 'executor="dask"'}


@pytest.mark.parametrize("remote", ["parallel", "dask"])
class TestProcesses:
    """Executors whose steps run in other processes: what travels, and errors."""

    def test_steps_run_in_other_processes(self, remote):
        import os

        result = Flow("p", [steps.load, steps.where]).run(n=1, executor=remote)
        assert result["where"] != os.getpid()

    def test_unpicklable_inputs_are_named(self, remote):
        @step
        def local(n):
            return n

        with pytest.raises(StepFailed) as info:
            Flow("p", [local]).run(n=1, executor=remote)
        error = info.value
        assert isinstance(error.cause, StepNotPicklable)
        assert f"step 'p/local' cannot run on {WHERE[remote]}" in str(error.cause)
        assert "executor='threaded'" in str(error.cause)

    def test_unpicklable_outputs_are_named(self, remote):
        flow = Flow("p", [steps.load, steps.unpicklable_output])
        with pytest.raises(StepFailed) as info:
            flow.run(n=1, executor=remote)
        error = info.value
        assert isinstance(error.cause, StepNotPicklable)
        assert "step 'p/unpicklable_output'" in str(error.cause)
        assert "its output could not be pickled" in str(error.cause)

    def test_unrebuildable_remote_errors_keep_type_message_and_traceback(self, remote):
        flow = Flow("p", [steps.load, steps.raises_odd])
        result = flow.run(n=1, executor=remote, on_failure="continue")
        failed = result.steps["p/raises_odd"]
        assert isinstance(failed.exception, RemoteStepError)
        assert failed.exception.type_name == "tests.executor.steps.Unpicklable"
        assert "odd failure" in failed.error.message
        assert 'raise Unpicklable("odd failure", "extra")' in failed.error.traceback


def test_a_second_interceptor_is_refused_and_both_are_named():
    from executor.testing import intercept

    class First:
        pass

    class Second:
        pass

    match = r"\(.*First\) is already installed.*installing .*Second"
    with intercept(First()), pytest.raises(RuntimeError, match=match), intercept(Second()):
        pass
    with intercept(Second()):  # the first one's block ended: a new one may start
        pass
