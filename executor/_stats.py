"""Per-step timing statistics, computed from a run's StepResults when asked for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from executor._results import StepResult


@dataclass(frozen=True, slots=True)
class StepStats:
    """Timings of every invocation of one step in a run, in seconds."""

    count: int
    """Invocations that ran (skipped and cached ones are not timed)."""
    failures: int
    """Invocations that ended FAILED or TIMED_OUT."""
    cache_hits: int
    """Invocations answered from the cache."""
    cache_misses: int
    """Invocations with a cache policy that had to run."""
    mean: float
    p50: float
    p95: float
    p99: float


def percentile(ordered: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted values, interpolating linearly.

    Example:
        >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
        2.5
    """
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def compute_stats(results: Iterable[StepResult]) -> Mapping[str, StepStats]:
    """Group ``results`` by step name and summarise their durations."""
    durations: dict[str, list[float]] = {}
    counts: dict[str, list[int]] = {}  # failures, hits, misses
    for result in results:
        count = counts.setdefault(result.name, [0, 0, 0])
        timed = durations.setdefault(result.name, [])
        status = result.status.value
        if status == "cached":
            count[1] += 1
            continue
        if result.cache_key is not None:
            count[2] += 1
        duration = result.duration
        if duration is not None:
            timed.append(duration)
        if status in ("failed", "timed_out"):
            count[0] += 1
    stats: dict[str, StepStats] = {}
    for name, values in durations.items():
        values.sort()
        mean = sum(values) / len(values) if values else 0.0
        failures, hits, misses = counts[name]
        stats[name] = StepStats(
            count=len(values),
            failures=failures,
            cache_hits=hits,
            cache_misses=misses,
            mean=mean,
            p50=percentile(values, 50),
            p95=percentile(values, 95),
            p99=percentile(values, 99),
        )
    return MappingProxyType(stats)
