"""Timing helpers shared by the benchmark suites: medians, ratios, machine facts."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

REPEAT = 5  # median of 5, as the reference figures are


@dataclass(frozen=True)
class Row:
    """One measured figure, its same-run baseline, and the target it answers to."""

    suite: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    ok: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline


def byte_compiled() -> None:
    """Give the project's modules their ``.pyc`` files, as installing a wheel does (pip
    compiles at install). Whole-process timings of a checkout would otherwise charge
    the compiler to every import: after an edit, or always when
    ``PYTHONDONTWRITEBYTECODE`` is set, each timed process compiles the sources anew."""
    import compileall

    import executor
    import pytest_flowexec

    for package in (executor, pytest_flowexec):
        compileall.compile_dir(Path(str(package.__file__)).parent, quiet=1)


def median_seconds(fn: Callable[[], object], repeat: int = REPEAT, warmup: int = 1) -> float:
    """Median wall time of ``repeat`` calls of ``fn``, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def interleaved_medians(*fns: Callable[[], object], repeat: int = 15) -> list[float]:
    """Median time of each of ``fns``, measured in turn within every round.

    This machine's speed drifts by up to 2x over seconds (shared cores), so a
    baseline measured minutes apart says little; measured turn by turn, all see
    the same conditions and their differences and ratios are stable.
    """
    for fn in fns:
        fn()
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, times in zip(fns, samples, strict=True):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
    return [statistics.median(times) for times in samples]


def paired_medians(
    subject: Callable[[], object], baseline: Callable[[], object], repeat: int = 15
) -> tuple[float, float]:
    """Median times of ``subject`` and ``baseline``, measured alternately."""
    took, base = interleaved_medians(subject, baseline, repeat=repeat)
    return took, base


def machine() -> dict[str, object]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def report(rows: list[Row], out_dir: Path) -> None:
    """Print a table and write ``<suite>.json`` files with the machine's facts."""
    width = max(len(r.name) for r in rows)
    print(f"{'benchmark':<{width}}  {'value':>12}  {'baseline':>12}  {'ratio':>8}  target")
    for r in rows:
        base = f"{r.baseline:.4g}" if r.baseline is not None else "-"
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else "-"
        verdict = {True: "ok", False: "MISSED", None: ""}[r.ok]
        print(
            f"{r.name:<{width}}  {r.value:>10.4g} {r.unit:<2} {base:>12}  {ratio:>8}  "
            f"{r.target} {verdict}".rstrip()
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for suite in sorted({r.suite for r in rows}):
        payload = {
            "suite": suite,
            "machine": machine(),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "rows": [dict(asdict(r), ratio=r.ratio) for r in rows if r.suite == suite],
        }
        path = out_dir / f"{suite}.json"
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
