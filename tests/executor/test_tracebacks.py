"""What a user's failing test shows: their line and the step's, not the engine's frames."""

import pytest

from executor import Flow
from tests.executor import steps

STEPS = """
import asyncio
from executor import Flow, map_over, step

@step
def load(n: int) -> list[int]:
    return list(range(n))

@step
def boom(load: list[int]) -> int:
    raise ValueError(f"bad value {load}")  # the user's raising line

@step
async def aboom(load: list[int]) -> int:
    await asyncio.sleep(0)
    raise ValueError(f"bad value {load}")  # the user's raising line

@step
def item(x: int) -> int:
    if x == 1:
        raise ValueError(f"bad value {x}")  # the user's raising line
    return x

flows = {
    "plain": Flow("f", [load, boom]),
    "async_step": Flow("f", [load, aboom]),
    "map": Flow("f", [map_over(item, over="x", name="items")]),
}
inputs = {"plain": {"n": 2}, "async_step": {"n": 2}, "map": {"x": [0, 1]}}
"""

TEST = """
import asyncio
from mysteps import flows, inputs

def test_it():
    flows[{kind!r}].run(**inputs[{kind!r}], executor={executor!r})
"""


CASES = [
    (executor, kind)
    for executor in ["sequential", "threaded", "async"]
    for kind in ["plain", "async_step", "map"]
] + [("parallel", "plain")]  # one process run: the pool's start-up dominates


@pytest.mark.parametrize(("executor", "kind"), CASES)
def test_a_failing_step_shows_the_test_and_the_step_not_the_engine(pytester, executor, kind):
    pytester.makepyfile(mysteps=STEPS)
    pytester.makepyfile(test_it=TEST.format(kind=kind, executor=executor))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "executor/_" not in out.replace("\\", "/"), out
    result.stdout.fnmatch_lines(
        [
            '*raise ValueError(f"bad value {*}")  # the user\'s raising line*',
            "*The above exception was the direct cause of the following exception:*",
            "*.run(**inputs*",
            "E *StepFailed: step 'f/*' failed: ValueError: bad value*",
        ]
    )
    assert "During handling of the above exception" not in out, out
    # The whole failure: its header, the step's lines, the test's lines, the summary.
    assert len(out.splitlines()) < 45, out


def test_a_stub_that_raises_shows_the_test_not_the_plugin(pytester):
    pytester.makepyfile(mysteps=STEPS)
    pytester.makepyfile(
        test_it="""
from mysteps import flows

def test_it(flow_mock):
    flow_mock.stub("load", side_effect=[KeyError("no such row")])
    flows["plain"].run(n=2)
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str().replace("\\", "/")
    assert "executor/_" not in out and "pytest_flowexec/_" not in out, out
    result.stdout.fnmatch_lines(["E *StepFailed: step 'f/load' failed: KeyError: 'no such row'*"])


def test_an_error_the_engine_did_not_mean_keeps_its_frames(pytester):
    # A TypeError raised inside the engine is a bug to report: its frames stay.
    pytester.makepyfile(
        """
        from executor._executors import run_coroutine

        def test_it():
            run_coroutine(42)  # not awaitable: fails in the engine's own code
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    assert "executor/_executors.py" in result.stdout.str().replace("\\", "/")


def test_fulltrace_shows_the_engine_frames(pytester):
    pytester.makepyfile(mysteps=STEPS)
    pytester.makepyfile(test_it=TEST.format(kind="plain", executor="sequential"))
    result = pytester.runpytest("-p", "no:cacheprovider", "--fulltrace")
    assert "executor/_core.py" in result.stdout.str().replace("\\", "/")


@pytest.mark.parametrize("executor", ["sequential", "threaded", "async", "parallel"])
@pytest.mark.parametrize("slow", [steps.stuck, steps.astuck], ids=["sync", "async"])
def test_a_timeouts_traceback_is_the_timeout_alone(executor, slow):
    # Its frames would all be the engine's (the step did not raise): the error line
    # is what there is to say, the same on every executor.
    result = Flow("f", [steps.load, slow]).run(n=1, executor=executor, on_failure="continue")
    error = result.steps[f"f/{slow.name}"].error
    assert error is not None
    assert error.traceback == (
        f"executor._errors.StepTimeout: step 'f/{slow.name}' timed out after 0.2 s "
        f"(attempt 1); raise @step(timeout=...) if the step is slow rather than stuck\n"
    )


@pytest.mark.parametrize("executor", ["sequential", "threaded", "async", "parallel"])
@pytest.mark.parametrize("failing", [steps.boom, steps.aboom], ids=["sync", "async"])
def test_a_failures_traceback_starts_at_the_failure(executor, failing):
    result = Flow("f", [steps.load, failing]).run(n=1, executor=executor, on_failure="continue")
    error = result.steps[f"f/{failing.name}"].error
    assert error is not None
    text = error.traceback
    assert text.startswith("Traceback (most recent call last):\n"), text
    assert "During handling of the above exception" not in text, text
    assert "no running event loop" not in text, text
    assert text.endswith(f"ValueError: {error.message}\n"), text
    assert 'raise ValueError(f"bad' in text, text
