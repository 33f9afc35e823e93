"""What a test run pays before any step runs: importing the engine, defining steps
and building flows.

Import is timed as whole processes (``python -c ...``), each measured turn by turn
with ``python -c pass`` so both see the same machine load. Building is timed against
a plain-Python stand-in built in the same rounds (a small wrapper object per
function, its parameter names read from the code object; a dict of the steps by
name with their upstream names), and judged in plain-call units like the core suite.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

from benchmarks._harness import Row, byte_compiled, interleaved_medians
from benchmarks.bench_core import REFERENCE_CALL_US
from executor import Flow, step

SUITE = "startup"

DEFINE_AND_RUN = (
    "from executor import Flow, step\n"
    "@step\n"
    "def load(n): return list(range(n))\n"
    "@step\n"
    "def total(load): return sum(load)\n"
    "Flow('f', [load, total]).run(n=3)"
)


def _process(code: str) -> Callable[[], object]:
    command = [sys.executable, "-c", code]
    return lambda: subprocess.run(command, check=True)


def cold_import(rounds: int = 21) -> list[Row]:
    byte_compiled()
    bare, imported, ran = interleaved_medians(
        _process("pass"),
        _process("import executor"),
        _process(DEFINE_AND_RUN),
        repeat=rounds,
    )
    return [
        Row(
            SUITE,
            'cold `python -c "import executor"`',
            imported * 1e3,
            "ms",
            bare * 1e3,
            "python -c pass (ms)",
            "<= 3x",
            imported / bare <= 3.0,
        ),
        Row(
            SUITE,
            "cold import + define and run a 2-step flow",
            ran * 1e3,
            "ms",
            bare * 1e3,
            "python -c pass (ms)",
        ),
    ]


class _Wrapper:
    """The plain-Python stand-in for ``step()``: the function, its name and its
    parameter names, read from the code object (no inspect.signature)."""

    __slots__ = ("fn", "name", "params")

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.name = fn.__name__
        code = fn.__code__
        self.params = code.co_varnames[: code.co_argcount]


def _functions(count: int) -> list[Any]:
    namespace: dict[str, Any] = {}
    source = ["def s0(x): return x + 1"]
    source += [f"def s{i}(s{i - 1}): return s{i - 1} + 1" for i in range(1, count)]
    exec("\n".join(source), namespace)
    return [namespace[f"s{i}"] for i in range(count)]


def _plain_calls(count: int) -> Callable[[], object]:
    def one(x: int) -> int:
        return x + 1

    def calls() -> object:
        value = 0
        for _ in range(count):
            value = one(value)
        return value

    return calls


def flow_build(count: int = 100_000, rounds: int = 5) -> list[Row]:
    functions = _functions(count)
    steps = [step(f) for f in functions]

    def wrap_all() -> object:
        return [step(f) for f in functions]

    def plain_wrap_all() -> object:
        return [_Wrapper(f) for f in functions]

    def build() -> object:
        return Flow("big", steps)

    wrappers = [_Wrapper(f) for f in functions]

    def plain_build() -> object:
        # The least a flow build must do: steps by name, each one's upstream names.
        by_name = {w.name: w for w in wrappers}
        return by_name, {w.name: [p for p in w.params if p in by_name] for w in wrappers}

    wrapped, plain_wrapped, built, plain_built, calls = interleaved_medians(
        wrap_all, plain_wrap_all, build, plain_build, _plain_calls(count), repeat=rounds
    )
    call_us = calls / count * 1e6
    per_step_us = wrapped / count * 1e6
    # Targets set where a plain call costs 0.075 us: 5 us a step() is 67 calls,
    # 0.5 s for 100,000 steps is 6.7 million calls.
    step_limit = 5.0 / REFERENCE_CALL_US
    flow_limit = 0.5 / (REFERENCE_CALL_US * 1e-6)
    rows = [
        Row(
            SUITE,
            f"step() per function, {count:,} functions",
            per_step_us,
            "us",
            plain_wrapped / count * 1e6,
            "plain wrapper (us)",
            f"<= 5 us @ {REFERENCE_CALL_US} us/call, i.e. <= {step_limit:.0f} calls "
            f"(here {per_step_us / call_us:.0f})",
            per_step_us / call_us <= step_limit,
        ),
        Row(
            SUITE,
            f"Flow() of {count:,} steps",
            built,
            "s",
            plain_built,
            "dict of steps + upstream names",
            f"<= 0.5 s @ {REFERENCE_CALL_US} us/call, i.e. <= {flow_limit / 1e6:.1f}M calls "
            f"(here {built / (calls / count) / 1e6:.2f}M)",
            built / (calls / count) <= flow_limit,
        ),
    ]
    return rows + first_build(functions, rounds)


def first_build(functions: list[Any], rounds: int) -> list[Row]:
    """``step()`` on every function, then the first ``Flow()`` of those fresh steps.

    The rows above time ``Flow()`` on steps it has seen (the rounds reuse them), so
    work a step defers to first use would not show there; here every round starts
    from the functions, as a test session or a generated flow does.
    """
    count = len(functions)

    def fresh() -> object:
        return Flow("big", [step(f) for f in functions])

    def plain() -> object:
        wrappers = [_Wrapper(f) for f in functions]
        by_name = {w.name: w for w in wrappers}
        return by_name, {w.name: [p for p in w.params if p in by_name] for w in wrappers}

    took, base, calls = interleaved_medians(fresh, plain, _plain_calls(count), repeat=rounds)
    # The two targets together: 5 us a step() and 0.5 s a 100,000-step Flow(),
    # 10 us a function (1.0 s for 100,000) at 0.075 us/call.
    limit = 10e-6 * count / (REFERENCE_CALL_US * 1e-6)
    return [
        Row(
            SUITE,
            f"step() + first Flow() of {count:,} fresh functions",
            took,
            "s",
            base,
            "plain wrappers + dict (s)",
            f"<= {10e-6 * count:g} s @ {REFERENCE_CALL_US} us/call, "
            f"i.e. <= {limit / 1e6:.1f}M calls (here {took / (calls / count) / 1e6:.2f}M)",
            took / (calls / count) <= limit,
        )
    ]


def run() -> list[Row]:
    return cold_import() + flow_build()
