"""The pytest plugin: replaying a long recorded flow, and its cost when unused."""

from __future__ import annotations

import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks._harness import Row, byte_compiled
from benchmarks.bench_core import chain
from executor import hookimpl
from executor.testing import RecordedStep, RunTap, intercept, observe

SUITE = "plugin"


class _Replayer:
    """A harness like the plugin's, replaying one recorded run."""

    def __init__(self, steps: Mapping[str, RecordedStep] | None) -> None:
        self.steps = steps
        self.tap: RunTap | None = None

    def wrap_step_executor(self, step_executor: Any) -> Any:
        return step_executor

    def tap_run(self, flow: str, inputs: Mapping[str, Any]) -> RunTap:
        if self.steps is None:
            self.tap = RunTap(record=True)
        else:
            self.tap = RunTap(replay=self.steps, strict=True, record=False)
        return self.tap


def replay_long_flow(length: int = 1_000) -> list[Row]:
    flow = chain(length)
    recorder = _Replayer(None)
    with intercept(recorder):
        flow.run({"x": 0})
    assert recorder.tap is not None
    recorded = dict(recorder.tap.recorded)
    times = []
    for _ in range(7):
        replayer = _Replayer(recorded)
        with intercept(replayer):
            started = time.perf_counter()
            result = flow.run({"x": 0})
            times.append(time.perf_counter() - started)
        assert replayer.tap is not None
        assert len(replayer.tap.replayed) == length
        assert result.steps[f"chain{length}/s{length - 1}"].status.value == "completed"
    took = statistics.median(times)
    return [
        Row(
            SUITE,
            f"replay a recorded {length:,}-step flow",
            took * 1e3,
            "ms",
            None,
            "",
            "<= 50 ms",
            took <= 0.050,
        )
    ]


TESTS = "\n".join(f"def test_{i}():\n    assert {i} + 1 == {i + 1}\n" for i in range(500))


def unused_overhead(rounds: int = 15) -> list[Row]:
    """A whole pytest process with the plugin installed, turn by turn with one run
    ``-p no:flowexec``; the CPU time the process used (user + system, from the OS's
    accounting of the finished child), which a loaded machine disturbs far less than
    wall time. Medians of ``rounds`` rounds.

    Where hypothesis is installed, a third run in each round has its pytest plugin
    on (the other two leave it out): not flowexec's cost, but the reason hypothesis
    is an extra of flowexec and not a dependency."""
    byte_compiled()
    hypothesis = importlib.util.find_spec("hypothesis") is not None
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "test_many.py").write_text(TESTS)
        Path(folder, "pytest.ini").write_text("[pytest]\n")
        env = dict(os.environ)
        base = [sys.executable, "-m", "pytest", "-q"]
        for plugin in ("cacheprovider", "randomly", "cov", "xdist", "timeout"):
            base += ["-p", f"no:{plugin}"]

        def session(*extra: str) -> float:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([*base, *extra], cwd=folder, env=env, check=True, capture_output=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

        kinds = {
            "plugin": ("-p", "no:hypothesispytest"),
            "no plugin": ("-p", "no:hypothesispytest", "-p", "no:flowexec"),
        }
        if hypothesis:
            kinds["hypothesis' plugin"] = ("-p", "no:flowexec")
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        for kind in kinds:
            session(*kinds[kind])
        for _ in range(rounds):
            for kind, extra in kinds.items():
                times[kind].append(session(*extra))
    median = {kind: statistics.median(found) for kind, found in times.items()}
    a, b = median["plugin"], median["no plugin"]
    rows = [
        Row(
            SUITE,
            "500-test session, plugin installed but unused (CPU)",
            a,
            "s",
            b,
            "with -p no:flowexec",
            "<= 1.03x",
            a / b <= 1.03,
        )
    ]
    if hypothesis:
        rows.append(
            Row(
                SUITE,
                "500-test session, hypothesis' pytest plugin on (CPU; why it is an extra)",
                median["hypothesis' plugin"],
                "s",
                b,
                "with -p no:hypothesispytest",
            )
        )
    return rows


class _Counter:
    """An observer as step coverage uses one: a hook per step end."""

    def __init__(self) -> None:
        self.ends = 0

    @hookimpl
    def step_end(self, address: str, result: Any) -> None:
        self.ends += 1


def observed_chain(length: int = 200, rounds: int = 9) -> list[Row]:
    """What ``executor.testing.observe`` (golden-file marker, step coverage) adds per step."""
    flow = chain(length)
    flow.run({"x": 0})

    def best(observed: bool) -> float:
        times = []
        for _ in range(rounds):
            counter = _Counter()
            if observed:
                with observe(counter):
                    started = time.perf_counter()
                    flow.run({"x": 0})
                    times.append(time.perf_counter() - started)
                assert counter.ends == length
            else:
                started = time.perf_counter()
                flow.run({"x": 0})
                times.append(time.perf_counter() - started)
        return statistics.median(times)

    plain, observed = [], []
    for _ in range(3):  # interleaved: the machine's load hits both alike
        plain.append(best(False))
        observed.append(best(True))
    a, b = min(observed), min(plain)
    added = (a - b) / length * 1e6
    return [
        Row(
            SUITE,
            f"observed chain of {length}: added per step",
            added,
            "us",
            b / length * 1e6,
            "unobserved run, per step",
            "<= 10 us",
            added <= 10,
        )
    ]


def run() -> list[Row]:
    return replay_long_flow() + observed_chain() + unused_overhead()
