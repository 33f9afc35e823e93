"""Benchmark figures: statistics of rounds, per-step breakdown, baselines, comparisons.

Pure data and arithmetic (no pytest here), so each part is tested on its own.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "flowexec-benchmarks"
VERSION = 1
STATISTICS = ("min", "max", "mean", "median", "iqr", "stddev", "ops")
_ITEM = re.compile(r"\[\d+\]")
_ITERATION = re.compile(r"#\d+")


@dataclass(frozen=True)
class Stats:
    """Figures of one benchmark's measured rounds, in seconds (``ops``: runs per second)."""

    rounds: int
    min: float
    max: float
    mean: float
    median: float
    iqr: float
    """Interquartile range: the spread of the middle half of the rounds."""
    stddev: float
    ops: float
    """Runs per second, ``1 / mean``."""

    @classmethod
    def of(cls, times: Sequence[float]) -> Stats:
        if not times:
            raise ValueError("no rounds were measured")
        ordered = sorted(times)
        if len(ordered) >= 2:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
            stddev = statistics.stdev(ordered)
        else:
            q1 = q3 = ordered[0]
            stddev = 0.0
        mean = statistics.fmean(ordered)
        return cls(
            rounds=len(ordered),
            min=ordered[0],
            max=ordered[-1],
            mean=mean,
            median=statistics.median(ordered),
            iqr=q3 - q1,
            stddev=stddev,
            ops=1.0 / mean if mean > 0 else float("inf"),
        )

    def get(self, name: str) -> float:
        """One statistic by name (one of :data:`STATISTICS`)."""
        figures: dict[str, float] = asdict(self)
        return figures[name]


def step_key(address: str) -> str:
    """Map items and loop iterations folded together: ``f/m[3]/x`` -> ``f/m[*]/x``."""
    return _ITERATION.sub("#*", _ITEM.sub("[*]", address))


def breakdown(rounds: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Median seconds per step key over rounds (each round: step key -> seconds)."""
    per_key: dict[str, list[float]] = {}
    count = 0
    for durations in rounds:
        count += 1
        for key, seconds in durations.items():
            per_key.setdefault(key, []).append(seconds)
    # a step missing from a round (e.g. not taken) spent nothing in it
    return {
        key: statistics.median(values + [0.0] * (count - len(values)))
        for key, values in per_key.items()
    }


@dataclass
class Result:
    """One benchmark as reported and saved."""

    name: str
    """The test's node id."""
    group: str
    flow: str
    stats: Stats
    steps: dict[str, float]
    """Median seconds per step (composites include what is nested in them)."""
    warmup: int
    worker: str = "main"
    """The xdist worker that ran it (``main`` without xdist)."""
    comparison: list[str] = field(default_factory=list)
    """Lines comparing it with the baseline, when one was given."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["stats"] = asdict(self.stats)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Result:
        fields = dict(data)
        fields["stats"] = Stats(**fields["stats"])
        return cls(**fields)


def machine_info() -> dict[str, Any]:
    """What the figures depend on besides the code (saved with every baseline)."""
    return {
        "node": platform.node(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "system": f"{platform.system()} {platform.release()}",
        "cpu_count": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
    }


def baseline_path(root: Path, name: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name) or name.startswith("."):
        raise ValueError(
            f"benchmark baseline name {name!r}: use letters, digits, '_', '-' and '.' "
            f"(it becomes a file name under .flowexec/benchmarks/)"
        )
    return root / ".flowexec" / "benchmarks" / f"{name}.json"


def dump(results: Sequence[Result], *, side_by_side: int, tracing: bool) -> str:
    """A results file: machine info, how they ran, and each benchmark, sorted by name."""
    data = {
        "format": FORMAT,
        "version": VERSION,
        "machine": machine_info(),
        "side_by_side": side_by_side,
        "tracing": tracing,
        "benchmarks": [r.to_json() for r in sorted(results, key=lambda r: r.name)],
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


class BaselineError(Exception):
    """A baseline file is missing or unreadable."""


def load(path: Path) -> dict[str, Result]:
    """The benchmarks of a saved baseline, by name."""
    if not path.exists():
        raise BaselineError(
            f"no benchmark baseline {str(path)!r}; save one first with "
            f"--flow-benchmark-save={path.stem}"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise BaselineError(
                f"{str(path)!r} is not a version {VERSION} flowexec benchmark file; save "
                f"it again with --flow-benchmark-save={path.stem}"
            )
        return {entry["name"]: Result.from_json(entry) for entry in data["benchmarks"]}
    except (ValueError, KeyError, TypeError) as error:
        raise BaselineError(f"benchmark baseline {str(path)!r} is damaged ({error})") from None


@dataclass(frozen=True)
class Threshold:
    """``median:10%`` (slower by more than 10 %) or ``min:0.002`` (by more than 2 ms)."""

    statistic: str
    amount: float
    percent: bool

    @classmethod
    def parse(cls, text: str) -> Threshold:
        statistic, _, amount = text.partition(":")
        statistic = statistic.strip().lower()
        if statistic not in STATISTICS or not amount:
            raise ValueError(
                f"--flow-benchmark-compare-fail={text!r}: write STAT:PERCENT% or STAT:SECONDS "
                f"with STAT one of {', '.join(STATISTICS)} (e.g. median:10%)"
            )
        percent = amount.strip().endswith("%")
        try:
            value = float(amount.strip().rstrip("%"))
        except ValueError:
            raise ValueError(
                f"--flow-benchmark-compare-fail={text!r}: {amount!r} is not a number"
            ) from None
        if value < 0:
            raise ValueError(f"--flow-benchmark-compare-fail={text!r}: the amount is negative")
        return cls(statistic, value, percent)

    def __str__(self) -> str:
        return f"{self.statistic}:{self.amount:g}{'%' if self.percent else ''}"

    def check(self, name: str, baseline: Stats, current: Stats, label: str) -> str | None:
        """A message when ``current`` is worse than ``baseline`` beyond the threshold.

        Worse is slower, except for ``ops`` where worse is fewer runs per second.
        """
        before, now = baseline.get(self.statistic), current.get(self.statistic)
        worse = before - now if self.statistic == "ops" else now - before
        limit = abs(before) * self.amount / 100 if self.percent else self.amount
        if worse <= limit:
            return None
        change = f"{worse / before * 100:+.1f}%" if before else "new"
        direction = "fewer" if self.statistic == "ops" else "slower"
        return (
            f"benchmark {name}: {self.statistic} {show(self.statistic, now)} against "
            f"{show(self.statistic, before)} in baseline {label!r} ({change} {direction}); "
            f"threshold {self}"
        )


def show(statistic: str, value: float) -> str:
    """A figure with its unit: ``12.3 ms``, ``81.2 ops/s``."""
    if statistic == "ops":
        return f"{value:,.1f} ops/s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"
