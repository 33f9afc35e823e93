"""Flow results as golden files keep them, and the differences between two of them.

A run is kept as its top-level steps' outputs (or status and error); a test's runs
as ``{"runs": [...]}``. Differences are reported by run, step address and the path
inside the step's output, which is also what per-path tolerances match.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pytest_flowexec import _golden as golden

if TYPE_CHECKING:
    from executor import FlowResult


def encode(value: Any) -> tuple[Any, bool]:
    """``(encoded value, whether it holds flow runs)``."""
    from executor import FlowResult
    from executor.testing import encode_value

    if isinstance(value, FlowResult):
        return _run(value), True
    if isinstance(value, list) and value and all(isinstance(v, FlowResult) for v in value):
        return {"runs": [_run(v) for v in value]}, True
    return encode_value(value, "value"), False


def _run(result: FlowResult) -> dict[str, Any]:
    """A run as a golden file keeps it: per top-level step address, the output of a
    step that has one (however it got it: ran, cached or replayed), else its status
    and error. Steps nested in composites show in their composite's output: a replayed
    or cached composite has no nested results, and the file must not depend on how
    the run got its values. Timings, attempts and the seed are left out too."""
    from executor.testing import encode_value

    steps: dict[str, Any] = {}
    prefix = result.flow + "/"
    for address, step in result.steps.items():
        if address != prefix + step.name:
            continue
        if step.ok:
            steps[address] = {"output": encode_value(step.output, f"{address} output")}
        else:
            entry: dict[str, Any] = {"status": step.status.value}
            if step.error is not None:
                entry["error"] = f"{step.error.type}: {step.error.message}"
            steps[address] = entry
    return {"flow": result.flow, "status": result.status.value, "steps": steps}


def differences(
    kept: Any, obtained: Any, runs: bool, tolerances: golden.Tolerances
) -> Iterator[golden.Difference]:
    if not runs or type(kept) is not dict:
        yield from golden.compare(kept, obtained, "value", tolerances)
        return
    if "runs" in obtained:
        before, after = kept.get("runs"), obtained["runs"]
        if type(before) is not list:
            yield from golden.compare(kept, obtained, "value", tolerances)
            return
        for k in range(max(len(before), len(after))):
            if k >= len(after):
                yield golden.Difference(f"run {k}", before[k].get("flow", "?"), "-", "run missing")
            elif k >= len(before):
                yield golden.Difference(f"run {k}", "-", after[k]["flow"], "new run")
            else:
                for difference in _run_differences(before[k], after[k], tolerances):
                    yield golden.Difference(
                        f"run {k} {difference.path}",
                        difference.golden,
                        difference.obtained,
                        difference.note,
                    )
        return
    yield from _run_differences(kept, obtained, tolerances)


def _run_differences(
    kept: Any, obtained: Mapping[str, Any], tolerances: golden.Tolerances
) -> Iterator[golden.Difference]:
    if type(kept) is not dict or type(kept.get("steps")) is not dict:
        yield from golden.compare(kept, obtained, "value", tolerances)
        return
    for key in ("flow", "status"):
        if kept.get(key) != obtained[key]:
            yield golden.Difference(f"({key})", repr(kept.get(key)), repr(obtained[key]))
    before, after = kept["steps"], obtained["steps"]
    for address in sorted(set(before) | set(after)):
        if address not in after:
            yield golden.Difference(address, "ran", "-", "step missing from the run")
        elif address not in before:
            yield golden.Difference(address, "-", "ran", "step new in the run")
        else:
            yield from _step_differences(address, before[address], after[address], tolerances)


def _step_differences(
    address: str, before: Any, after: Mapping[str, Any], tolerances: golden.Tolerances
) -> Iterator[golden.Difference]:
    if type(before) is not dict:
        yield from golden.compare(before, after, address, tolerances)
        return
    for key in ("status", "error"):
        if before.get(key) != after.get(key):
            yield golden.Difference(
                f"{address} ({key})",
                repr(before.get(key, "has an output")),
                repr(after.get(key, "has an output")),
            )
    if "output" in before and "output" in after:
        yield from golden.compare(before["output"], after["output"], address, tolerances)
