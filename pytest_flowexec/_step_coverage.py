"""Step coverage data: which step addresses and composite arms the session's runs reached.

Pure bookkeeping (no pytest here). An observer (``executor.testing.observe``) feeds
it every step start, retry and end of every run in the process:

- an **address** (map items and loop iterations folded: ``f/m[*]``, ``f/l#*``) is
  counted by how each invocation got its outcome: ``live`` (its function ran),
  ``replayed``, ``cached``, ``stubbed`` (a ``flow_mock`` stub answered), or ``never``
  (skipped or cancelled);
- an **arm** is a path through a composite or a policy, known once the step
  started live: each ``when`` arm (``f/w/then``, ``f/w/otherwise``), each
  ``parallel`` branch (``f/p/<branch>``), a loop's exits (``f/l exit: until``,
  ``f/l exit: max_iterations``), and ``f/s retry`` / ``f/s timeout`` for a step
  with that policy. An arm is taken or not.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from pytest_flowexec._bench_stats import step_key

_lifecycle = pluggy.HookimplMarker("flowexec")
"""``executor.hookimpl`` without importing the engine (same project name)."""

FORMAT = "flowexec-step-coverage"
VERSION = 1
HOWS = ("live", "replayed", "cached", "stubbed", "never")
_HOW_OF_STATUS = {
    "completed": "live",
    "failed": "live",
    "timed_out": "live",
    "paused": "live",
    "cached": "cached",
    "replayed": "replayed",
    "skipped": "never",
    "cancelled": "never",
}
_ITERATION = re.compile(r"#(\d+)$")


@dataclass
class StepCoverage:
    """Counts per address and taken-or-not per arm (merged across xdist workers)."""

    addresses: dict[str, dict[str, int]] = field(default_factory=dict)
    arms: dict[str, bool] = field(default_factory=dict)

    def count(self, address: str, how: str) -> None:
        counts = self.addresses.setdefault(step_key(address), dict.fromkeys(HOWS, 0))
        counts[how] += 1

    def arm(self, name: str, taken: bool = False) -> None:
        self.arms[name] = self.arms.get(name, False) or taken

    @property
    def reached(self) -> list[str]:
        return [a for a, counts in self.addresses.items() if _reached(counts)]

    def percent(self) -> float:
        total = len(self.addresses) + len(self.arms)
        if total == 0:
            return 100.0
        covered = len(self.reached) + sum(self.arms.values())
        return 100.0 * covered / total

    def missing(self) -> list[str]:
        """Addresses never reached and arms never taken, sorted."""
        never = [a for a, counts in self.addresses.items() if not _reached(counts)]
        return sorted(never + [arm for arm, taken in self.arms.items() if not taken])

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "percent": round(self.percent(), 2),
            "addresses": {a: dict(c) for a, c in sorted(self.addresses.items())},
            "arms": dict(sorted(self.arms.items())),
        }

    def add(self, data: Mapping[str, Any]) -> None:
        for address, counts in data["addresses"].items():
            mine = self.addresses.setdefault(address, dict.fromkeys(HOWS, 0))
            for how in HOWS:
                mine[how] += counts[how]
        for arm, taken in data["arms"].items():
            self.arm(arm, taken)


def _reached(counts: Mapping[str, int]) -> bool:
    return any(counts[how] for how in HOWS if how != "never")


@dataclass
class _Open:
    """A ``when`` or ``loop`` step that started and has not ended yet."""

    kind: str
    key: str
    taken: str | None = None
    """when: the arm a nested step ran in."""
    iterations: int = 0
    """loop: iterations seen so far."""
    max_iterations: int = 0
    stop_quietly: bool = False


class Observer:
    """The lifecycle plugin that fills a :class:`StepCoverage` (thread-safe)."""

    def __init__(self, data: StepCoverage) -> None:
        self.data = data
        self.stubs: Any = None
        """The running test's ``flow_mock``, if it uses one (it knows what stubs answered)."""
        self._open: dict[str, _Open] = {}
        self._lock = threading.Lock()

    @_lifecycle
    def step_start(self, address: str, step: Any, inputs: Any) -> None:
        key = step_key(address)
        with self._lock:
            if step.retry.attempts > 1:
                self.data.arm(f"{key} retry")
            if step.timeout is not None:
                self.data.arm(f"{key} timeout")
            if not step.is_composite:
                return
            if step.kind == "when":
                self.data.arm(f"{key}/then")
                self.data.arm(f"{key}/otherwise")
                self._open[address] = _Open("when", key)
            elif step.kind == "parallel":
                for branch in step.branch_names:
                    self.data.arm(f"{key}/{branch}")
            elif step.kind == "loop":
                self.data.arm(f"{key} exit: until")
                self.data.arm(f"{key} exit: max_iterations")
                self._open[address] = _Open(
                    "loop", key, max_iterations=step.max_iterations, stop_quietly=step.stop_quietly
                )

    @_lifecycle
    def step_retry(self, address: str, error: BaseException) -> None:
        from executor import StepTimeout

        key = step_key(address)
        with self._lock:
            self.data.arm(f"{key} retry", True)
            if isinstance(error, StepTimeout):
                self.data.arm(f"{key} timeout", True)

    @_lifecycle
    def step_end(self, address: str, result: Any) -> None:
        status = result.status.value
        how = how_it_ran(address, status, self.stubs)
        with self._lock:
            self.data.count(address, how)
            if status == "timed_out":
                self.data.arm(f"{step_key(address)} timeout", True)
            self._nested_end(address, how)
            opened = self._open.pop(address, None)
            if opened is not None:
                self._composite_end(opened, result)

    def _nested_end(self, address: str, how: str) -> None:
        if how == "never":
            return
        key = step_key(address)
        if key in self.data.arms:  # a parallel branch or a when arm that ran
            self.data.arm(key, True)
        parent, _, label = address.rpartition("/")
        if label in ("then", "otherwise") and parent in self._open:
            self._open[parent].taken = label
        match = _ITERATION.search(address)
        if match is not None:
            loop = self._open.get(address[: match.start()])
            if loop is not None:
                loop.iterations = max(loop.iterations, int(match.group(1)) + 1)

    def _composite_end(self, opened: _Open, result: Any) -> None:
        ok = result.status.value in ("completed", "cached", "replayed")
        if opened.kind == "when" and ok and opened.taken is None:
            # no nested step ran: the predicate was false and there is no otherwise step
            self.data.arm(f"{opened.key}/otherwise", True)
        elif opened.kind == "loop":
            limit = result.error is not None and result.error.type.endswith("LoopLimitReached")
            # Stopping quietly at the limit looks like until() turning true on the
            # last iteration; it counts as the limit (the rarer path, worth a test).
            quiet_limit = opened.stop_quietly and opened.iterations >= opened.max_iterations
            if limit or (ok and quiet_limit):
                self.data.arm(f"{opened.key} exit: max_iterations", True)
            elif ok:
                self.data.arm(f"{opened.key} exit: until", True)


def how_it_ran(address: str, status: str, stubs: Any) -> str:
    """How the invocation at ``address`` that ended with ``status`` got its outcome:
    one of :data:`HOWS` (``stubs``: the running test's ``flow_mock``, if any)."""
    how = _HOW_OF_STATUS.get(status, "live")
    if how == "live" and stubs is not None and stubs.answered(address):
        return "stubbed"
    if how == "live" and _replayed_by_test(address):
        return "replayed"  # test replay reports the recorded status; its tap knows
    return how


def _replayed_by_test(address: str) -> bool:
    """Whether the running test's record/replay tap answered ``address`` from its
    recording (the plugin's interceptor keeps one ``RunTap`` per run)."""
    from executor.testing import intercepting

    runs = getattr(intercepting(), "taps", None) or ()
    return any(address in tap.replayed for _, _, tap in runs)
