import threading

import pluggy
import pytest

from executor import ExecutorCore, Flow, Retry, StepFailed, hookimpl, step
from tests.executor import steps


class Recorder:
    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def add(self, *event):
        with self.lock:
            self.events.append(event)

    @hookimpl
    def flow_start(self, flow, inputs, seed):
        self.add("flow_start", flow, dict(inputs))

    @hookimpl
    def step_start(self, address, inputs):
        self.add("step_start", address, dict(inputs))

    @hookimpl
    def step_retry(self, address, attempt, error, delay):
        self.add("step_retry", address, attempt, type(error).__name__, delay)

    @hookimpl
    def step_error(self, address, error):
        self.add("step_error", address, str(error))

    @hookimpl
    def step_end(self, address, result):
        self.add("step_end", address, result.status.value)

    @hookimpl
    def flow_end(self, flow, result):
        self.add("flow_end", flow, result.status.value)


def test_lifecycle_order_for_a_run(any_executor):
    recorder = Recorder()
    Flow("chain", [steps.load, steps.double]).run(n=1, executor=any_executor, plugins=[recorder])
    assert recorder.events == [
        ("flow_start", "chain", {"n": 1}),
        ("step_start", "chain/load", {"n": 1}),
        ("step_end", "chain/load", "completed"),
        ("step_start", "chain/double", {"load": [0]}),
        ("step_end", "chain/double", "completed"),
        ("flow_end", "chain", "completed"),
    ]


def test_retry_and_error_hooks(in_process_executor):
    recorder = Recorder()
    flaky = step(steps.boom, retry=Retry(attempts=2, backoff=0.01))
    core = ExecutorCore(executor=in_process_executor, plugins=[recorder])
    with pytest.raises(StepFailed):
        core.run(Flow("f", [steps.load, flaky]), {"n": 1})
    kinds = [e for e in recorder.events if e[0] in ("step_retry", "step_error")]
    assert kinds == [
        ("step_retry", "f/boom", 1, "ValueError", 0.01),
        ("step_error", "f/boom", "bad batch of 1"),
    ]
    assert ("step_end", "f/boom", "failed") in recorder.events


def test_same_seed_same_jitter_on_every_executor(in_process_executor):
    policy = Retry(attempts=4, backoff=0.001, jitter=0.9)
    flow = Flow("f", [steps.load, step(steps.boom, retry=policy)])
    recorder = Recorder()
    flow.run(n=1, seed=42, executor=in_process_executor, on_failure="continue", plugins=[recorder])
    delays = [e[4] for e in recorder.events if e[0] == "step_retry"]
    reference = Recorder()
    flow.run(n=1, seed=42, on_failure="continue", plugins=[reference])
    assert delays == [e[4] for e in reference.events if e[0] == "step_retry"]
    assert len(set(delays)) == 3  # jitter did vary the waits


class Broken:
    @hookimpl
    def step_end(self, address, result):
        raise RuntimeError(f"telemetry down at {address}")


def test_hook_errors_never_corrupt_a_run(any_executor, caplog):
    recorder = Recorder()
    result = steps.chain_flow().run(n=2, executor=any_executor, plugins=[Broken(), recorder])
    assert result["total"] == 2
    assert [e.address for e in result.hook_errors] == ["chain/load", "chain/double", "chain/total"]
    assert result.hook_errors[0].hook == "step_end"
    assert "telemetry down at chain/load" in result.hook_errors[0].error.message
    assert "the run goes on" in caplog.text


def test_a_misspelled_hook_is_an_error():
    class Typo:
        @hookimpl
        def step_ended(self, address):
            pass

    with pytest.raises(pluggy.PluginValidationError, match="step_ended"):
        steps.chain_flow().run(n=1, plugins=[Typo()])


def test_core_plugins_and_run_plugins_both_apply():
    first, second = Recorder(), Recorder()
    ExecutorCore(plugins=[first]).run(steps.chain_flow(), {"n": 1}, plugins=[second, first])
    assert first.events == second.events and len(first.events) == 8


def test_usage_md_lists_every_hook_with_its_argument_types():
    # The docs once said `flow_start(flow, ...)` and people took `flow` for a Flow: it is
    # the flow's name. The table in docs/usage.md must match the hookspecs exactly.
    import re
    from pathlib import Path

    from executor._hooks import LifecycleSpec

    usage = (Path(__file__).resolve().parents[2] / "docs" / "usage.md").read_text()
    documented = dict(re.findall(r"^\| `(\w+)\(([^)]*)\)` \|", usage, flags=re.M))
    specs = {
        name: ", ".join(
            f"{param}: {annotation}"
            for param, annotation in getattr(LifecycleSpec, name).__annotations__.items()
            if param != "return"
        )
        for name in vars(LifecycleSpec)
        if not name.startswith("_")
    }
    assert documented == specs
    assert specs["flow_start"].startswith("flow: str")
