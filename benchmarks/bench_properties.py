"""The determinism tools: check_cache_keys on a typed step, and the determinism
marker's cost per flow run.

``check_cache_keys`` is compared with hypothesis drawing the same inputs and keying
them once each (what any property test over the step costs), in the same run; the
marker's re-runs are compared with the flow's own run.
"""

from __future__ import annotations

import time

from hypothesis import given, settings

from benchmarks._harness import Row, interleaved_medians
from executor import Flow, map_over, step
from executor.cache import CachePolicy, call_key
from executor.testing import capture_runs
from pytest_flowexec import _determinism as det
from pytest_flowexec._properties_plugin import Tally, _matrix
from pytest_flowexec.properties import check_cache_keys
from pytest_flowexec.strategies import inputs_for

SUITE = "properties"


@step(cache=CachePolicy())
def priced(sku: str, quantity: int, discounts: dict[str, float]) -> float:
    return quantity * 9.5


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step
def square(numbers: int) -> int:
    return numbers * numbers


@step
def total(squares: list[int]) -> int:
    return sum(squares)


FLOW = Flow("bench", [numbers, map_over(square, over="numbers", name="squares"), total])


def cache_key_properties() -> list[Row]:
    def checked() -> None:
        check_cache_keys(priced)  # default profile: 100 examples, 2 hash-seed subprocesses

    def bare() -> None:
        @settings(database=None)
        @given(inputs_for(priced))
        def keyed(inputs: dict[str, object]) -> None:
            call_key(priced, inputs)

        keyed()

    took, base = interleaved_medians(checked, bare, repeat=3)
    return [
        Row(
            SUITE,
            "check_cache_keys, 3 typed params (default profile)",
            took,
            "s",
            base,
            "hypothesis + one key per example",
            "within a few seconds",
            took < 5.0,
        )
    ]


def marker_overhead() -> list[Row]:
    with capture_runs() as runs:
        FLOW.run(n=20)
    (run,) = runs
    options = det.Options(executors=("sequential", "threaded", "async"), runs=2)

    def checked() -> None:
        problems = _matrix(0, run, None, options, Tally())[0]
        assert not problems, problems

    def plain() -> None:
        FLOW.run(n=20)

    took, base = interleaved_medians(checked, plain, repeat=7)
    made = len(options.executors) * options.runs + 1
    per_run = took / made
    return [
        Row(
            SUITE,
            f"flow_determinism, per re-run ({made} runs, 3 executors + replay)",
            per_run,
            "s",
            base,
            "the flow's own run",
            "reported",
        )
    ]


def run() -> list[Row]:
    started = time.perf_counter()
    rows = cache_key_properties() + marker_overhead()
    assert time.perf_counter() - started < 600
    return rows
