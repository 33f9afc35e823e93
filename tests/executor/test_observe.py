"""executor.testing.observe: lifecycle plugins added to every run in the process."""

import threading

from executor import Flow, hookimpl, map_over, step, when
from executor.testing import intercept, observe, observers


@step
def double(x: int) -> int:
    return 2 * x


@step
def neg(each: list) -> int:
    return -sum(each)


class Ends:
    def __init__(self):
        self.steps = []
        self.flows = []
        self.lock = threading.Lock()

    @hookimpl
    def step_end(self, address, result):
        with self.lock:
            self.steps.append((address, result.status.value))

    @hookimpl
    def flow_end(self, flow, result):
        self.flows.append(result)


def test_observers_see_every_run_nested_steps_included(in_process_executor):
    flow = Flow(
        "f", [map_over(double, over="x", name="each"), when(lambda each: True, neg, name="w")]
    )
    first, second = Ends(), Ends()
    with observe(first), observe(second):
        assert observers() == (first, second)
        result = flow.run(x=[1, 2], executor=in_process_executor)
    assert observers() == ()
    assert (
        sorted(first.steps)
        == sorted(second.steps)
        == sorted((address, "completed") for address in result.steps)
    )
    assert "f/each[1]" in result.steps and "f/w/then" in result.steps
    assert [r.flow for r in first.flows] == ["f"]  # nested runs end inside their run
    flow.run(x=[3])
    assert len(first.flows) == 1  # removed when its block ended


def test_observers_and_an_interceptor_live_side_by_side():
    class Stub:
        def wrap_step_executor(self, base):
            return lambda step, inputs, context: 7

        def tap_run(self, flow, inputs):
            return None

    seen = Ends()
    with intercept(Stub()), observe(seen):
        assert Flow("g", [double]).run(x=1)["double"] == 7
    assert seen.steps == [("g/double", "completed")]
