"""Step coverage bookkeeping, fed by real runs through executor.testing.observe."""

import time

import pytest

from executor import Flow, Retry, StepFailed, loop, step, when
from executor.testing import observe
from pytest_flowexec._step_coverage import Observer, StepCoverage


def covered(*runs):
    data = StepCoverage()
    with observe(Observer(data)):
        for run in runs:
            run()
    return data


@step
def halve(v: float) -> float:
    return v / 2


@step
def shout(word: str) -> str:
    return word.upper()


@step(timeout=0.05, retry=Retry(attempts=2, backoff=0))
def slow(word: str) -> str:
    time.sleep(0.5)
    return word


def test_a_loop_ending_on_its_last_allowed_iteration_exits_by_until():
    flow = Flow("f", [loop(halve, until=lambda v: v < 1, max_iterations=3, name="l")])
    data = covered(lambda: flow.run(v=6.0))  # 3, 1.5, 0.75: until on the third
    assert data.arms == {"f/l exit: until": True, "f/l exit: max_iterations": False}
    assert data.addresses["f/l#*"]["live"] == 3


def test_a_loop_that_raises_at_its_limit_exits_by_max_iterations():
    flow = Flow("f", [loop(halve, until=lambda v: v < 1, max_iterations=2, name="l")])

    def run():
        with pytest.raises(StepFailed, match="loop ran 2 iterations"):
            flow.run(v=100.0)

    assert covered(run).arms["f/l exit: max_iterations"] is True


def test_when_without_otherwise_takes_the_otherwise_arm_when_false():
    flow = Flow("f", [when(lambda word: word == "yes", shout, name="w")])
    data = covered(lambda: flow.run(word="no"))
    assert data.arms == {"f/w/then": False, "f/w/otherwise": True}
    data = covered(lambda: flow.run(word="no"), lambda: flow.run(word="yes"))
    assert data.arms == {"f/w/then": True, "f/w/otherwise": True}
    assert data.percent() == 100.0


def test_timeouts_and_retries_are_arms():
    flow = Flow("f", [slow])

    def run():
        with pytest.raises(StepFailed):
            flow.run(word="x")

    data = covered(run)
    assert data.arms == {"f/slow retry": True, "f/slow timeout": True}
    assert data.addresses["f/slow"]["live"] == 1


def test_merging_sums_counts_and_ors_arms():
    one, two = StepCoverage(), StepCoverage()
    one.count("f/a[3]", "live")
    one.arm("f/w/then")
    two.count("f/a[7]", "cached")
    two.arm("f/w/then", True)
    one.add(two.to_json())
    assert one.addresses == {
        "f/a[*]": {"live": 1, "replayed": 0, "cached": 1, "stubbed": 0, "never": 0}
    }
    assert one.arms == {"f/w/then": True}
    assert one.missing() == []
