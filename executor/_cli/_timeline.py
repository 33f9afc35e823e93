"""Step attempts in time: recorded from the lifecycle hooks, kept beside the store,
and packed onto lanes for the report's timeline.

A store event says when a step's first attempt started and its last one ended;
the hooks also say when each failed attempt ended and how long the retry waited.
``flowexec run`` keeps those attempts in ``attempts/<state id>.json`` next to the
store file, as sorted JSON, so the report can draw a bar per attempt.

Lanes: the store does not know which worker ran a step, so lanes are rebuilt from
times: each bar goes on the first lane free when it starts. Bars that overlapped
ran at once, on different workers; the lane count is the run's real concurrency.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from executor._hooks import hookimpl
from executor._results import StepResult, StepStatus
from executor.state._model import ExecutionState

ATTEMPTS_FORMAT = "flowexec-attempts"
ATTEMPTS_VERSION = 1


class AttemptLog:
    """A hook plugin noting each attempt's start, end and outcome, per address."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, float] = {}
        self.attempts: dict[str, list[tuple[float, float, str]]] = {}

    @hookimpl
    def step_start(self, address: str) -> None:
        with self._lock:
            self._open[address] = time.time()

    @hookimpl
    def step_retry(self, address: str, error: BaseException, delay: float) -> None:
        now = time.time()
        outcome = "timed_out" if isinstance(error, TimeoutError) else "failed"
        with self._lock:
            start = self._open.get(address, now)
            self.attempts.setdefault(address, []).append((start, now, outcome))
            self._open[address] = now + delay

    @hookimpl
    def cache_hit(self, address: str) -> None:
        now = time.time()
        with self._lock:
            self._open[address] = now

    @hookimpl
    def step_end(self, address: str, result: StepResult) -> None:
        now = time.time()
        with self._lock:
            start = self._open.pop(address, None)
            tries = self.attempts.setdefault(address, [])
            if start is None:
                return  # never started (skipped): nothing ran
            # The hook fires when a step is handed to a pool, maybe before a worker is
            # free; workers stamp the first attempt's real start in the result.
            first = result.started_at
            if first is not None and not tries:
                start = first
            elif first is not None and first <= tries[0][1]:
                tries[0] = (first, tries[0][1], tries[0][2])
            end = result.ended_at if result.ended_at is not None else now
            tries.append((start, max(start, end), result.status.value))

    def save(self, folder: Path, state_id: str) -> None:
        """Write (or extend, on resume) ``folder/<state_id>.json``."""
        path = folder / f"{state_id}.json"
        known = load_attempts(path)
        with self._lock:
            for address, tries in self.attempts.items():
                known.setdefault(address, []).extend(tries)
        data = {
            "format": ATTEMPTS_FORMAT,
            "version": ATTEMPTS_VERSION,
            "state_id": state_id,
            "attempts": {a: [list(t) for t in tries] for a, tries in known.items() if tries},
        }
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, sort_keys=True, indent=1) + "\n", encoding="utf-8")


def attempts_folder(store_path: Path) -> Path:
    """Where the attempts of runs in the store file ``store_path`` are kept."""
    return store_path.parent / "attempts"


def load_attempts(path: Path) -> dict[str, list[tuple[float, float, str]]]:
    """The attempts kept in ``path``; empty when the file is absent or not ours."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != ATTEMPTS_FORMAT or data.get("version") != ATTEMPTS_VERSION:
            return {}
        return {
            str(address): [(float(a), float(b), str(c)) for a, b, c in tries]
            for address, tries in data["attempts"].items()
        }
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return {}


@dataclass(frozen=True)
class Bar:
    """One attempt of one step on the timeline."""

    address: str
    attempt: int
    """1 for the first attempt; 0 for a step that was not called (cached, replayed)."""
    start: float
    end: float
    status: str
    group: str
    """The top-level step the attempt belongs to (``flow`` for top-level leaves)."""
    lane: int = 0


def bars_of(
    state: ExecutionState, attempts: Mapping[str, list[tuple[float, float, str]]]
) -> list[Bar]:
    """A bar per attempt: from the kept attempts where there are some, else one bar
    per stored event spanning all its attempts. Composite steps are left out (their
    nested steps are the bars); lanes are packed per group."""
    latest = state.latest()
    parents = {_parent(a) for a in latest} - {None}
    bars: list[Bar] = []
    for address, event in latest.items():
        if address in parents or event.started_at is None or event.ended_at is None:
            continue
        group = _group(state.flow, address)
        tries = attempts.get(address)
        if tries:
            called = [t for t in tries if t[2] not in ("cached", "replayed")]
            for number, (start, end, status) in enumerate(tries, start=1):
                bars.append(Bar(address, number if called else 0, start, end, status, group))
        else:
            number = 0 if event.status in ("cached", "replayed") else event.attempts
            bars.append(Bar(address, number, event.started_at, event.ended_at, event.status, group))
    return pack_lanes(bars, CLOCK_SLACK)


CLOCK_SLACK = 0.002
"""Seconds two bars may seem to overlap and still share a lane: an attempt's end is
stamped when the engine takes in its outcome, a little after the worker finished."""


def pack_lanes(bars: Iterable[Bar], slack: float = 0.0) -> list[Bar]:
    """Each bar on the lowest lane of its group that is free when it starts (or
    ``slack`` seconds after)."""
    out: list[Bar] = []
    free_at: dict[str, list[float]] = {}
    for bar in sorted(bars, key=lambda b: (b.group, b.start, b.end, b.address, b.attempt)):
        lanes = free_at.setdefault(bar.group, [])
        lane = next((i for i, t in enumerate(lanes) if t <= bar.start + slack), len(lanes))
        if lane == len(lanes):
            lanes.append(bar.end)
        else:
            lanes[lane] = max(lanes[lane], bar.end)
        out.append(Bar(bar.address, bar.attempt, bar.start, bar.end, bar.status, bar.group, lane))
    return out


_NESTED = re.compile(r"[/\[#]")


def _group(flow: str, address: str) -> str:
    rest = address[len(flow) + 1 :] if address.startswith(flow + "/") else address
    match = _NESTED.search(rest)
    return flow if match is None else f"{flow}/{rest[: match.start()]}"


def _parent(address: str) -> str | None:
    # "f/m[3]" -> "f/m"; "f/p/a" -> "f/p"; "f/l#2" -> "f/l"; "f/a" -> "f" (the flow)
    cut = max(address.rfind("/"), address.rfind("["), address.rfind("#"))
    return address[:cut] if cut > 0 else None


def status_class(status: str) -> str:
    """The CSS class of a step status (the StepStatus value, or ``unknown``)."""
    try:
        return StepStatus(status).value
    except ValueError:
        return "unknown"


def summary_counts(bars: Iterable[Bar]) -> dict[str, Any]:
    """How many attempts, retries and cache hits the bars show."""
    bars = list(bars)
    return {
        "attempts": sum(1 for b in bars if b.attempt > 0),
        "retries": sum(1 for b in bars if b.attempt > 1),
        "cache_hits": sum(1 for b in bars if b.status == "cached"),
    }
