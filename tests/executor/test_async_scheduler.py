"""Sync steps on the "async" executor: inline when alone, on daemon workers otherwise."""

import asyncio
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from executor import Flow, StepFailed, StepStatus, StepTimeout, step


def _threads_seen(flow: Flow, run) -> dict[str, int]:
    seen: dict[str, int] = {}
    for s in flow.steps:
        original = s.fn

        def spy(*args, _name=s.name, _fn=original, **kwargs):
            seen[_name] = threading.get_ident()
            return _fn(*args, **kwargs)

        s.fn = spy
    run()
    return seen


def _chain():
    @step
    def a(x):
        return x + 1

    @step
    def b(a):
        return a + 1

    @step
    def c(b):
        return b + 1

    return Flow("chain", [a, b, c])


def test_a_chain_of_sync_steps_runs_inline_on_the_engines_own_loop():
    flow = _chain()
    seen = _threads_seen(flow, lambda: flow.run(x=0, executor="async"))
    assert set(seen.values()) == {threading.get_ident()}
    assert flow.run(x=0, executor="async")["c"] == 3


def test_on_a_callers_loop_sync_steps_never_block_it():
    """arun: other coroutines on the caller's loop could be waiting, so every sync
    step goes to a worker thread (and the loop's own work goes on meanwhile)."""
    flow = _chain()
    ticks = []

    async def main():
        async def ticker():
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        seen = _threads_seen(flow, lambda: None)
        loop_thread = threading.get_ident()
        result = await flow.arun(x=0)
        ticking.cancel()
        return seen, loop_thread, result

    seen, loop_thread, result = asyncio.run(main())
    assert result["c"] == 3
    assert seen and loop_thread not in set(seen.values())


def test_a_lone_step_with_a_timeout_still_goes_to_a_worker():
    @step(timeout=5.0)
    def timed(x):
        return threading.get_ident()

    result = Flow("t", [timed]).run(x=1, executor="async")
    assert result["timed"] != threading.get_ident()


@pytest.mark.parametrize("width", [3, 8])
def test_sync_steps_run_max_concurrency_at_once(width):
    """The worker threads number max_concurrency (they were a fixed 6 before)."""
    lock = threading.Lock()
    active = [0]
    peak = [0]

    def work():
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.3)
        with lock:
            active[0] -= 1

    steps = [step(work, name=f"w{i}") for i in range(10)]
    result = Flow("fan", steps).run(executor="async", max_concurrency=width)
    assert all(r.status is StepStatus.COMPLETED for r in result.steps.values())
    assert peak[0] == width


def test_a_timed_out_sync_step_is_reported_and_the_run_goes_on():
    release = threading.Event()

    @step(timeout=0.2)
    def stuck():
        release.wait(10)
        return 1

    @step
    def other():
        return 2

    try:
        with pytest.raises(StepFailed) as failed:
            Flow("t", [stuck, other]).run(executor="async")
        assert isinstance(failed.value.cause, StepTimeout)
    finally:
        release.set()


HANGING = textwrap.dedent(
    """
    import asyncio, sys, time
    from executor import Flow, StepFailed, step

    @step(timeout=0.2)
    def stuck():
        time.sleep(120)

    flow = Flow("hang", [stuck])
    try:
        if sys.argv[1] == "run":
            flow.run(executor="async")
        else:
            asyncio.run(flow.arun())
    except StepFailed as error:
        print(type(error.cause).__name__)
    """
)


@pytest.mark.parametrize("how", ["run", "arun"])
def test_a_stuck_sync_step_does_not_keep_the_process_alive(how):
    """After a sync step timed out on "async", the process exits when main returns
    (a ThreadPoolExecutor worker, joined at exit, kept it alive for the step's
    whole sleep)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", HANGING, how], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "StepTimeout"
    assert time.perf_counter() - started < 50  # far from the step's 120 s
