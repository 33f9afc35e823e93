"""Usage limits: a run's budget of steps, seconds and named counters such as cost.

Steps report usage with :func:`record_usage`; the run's :class:`UsageMeter` adds it
and checks the limits under one lock, so two concurrent branches can never both
slip past a limit.
"""

from __future__ import annotations

import contextvars
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from executor._clock import Clock
from executor._errors import FlowDefinitionError, FlowError, hide_engine_frame

if TYPE_CHECKING:
    from executor._results import FlowResult

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these


@dataclass(frozen=True, kw_only=True)
class UsageLimits:
    """A budget for one run.

    Example:
        >>> flow.run(..., limits=UsageLimits(max_steps=100, counters={"cost": 1.0}))
        ... # doctest: +SKIP
    """

    max_steps: int | None = None
    """Step calls the run may start (composites and cache hits do not count)."""
    max_seconds: float | None = None
    """Wall-clock seconds, checked whenever a step starts or reports usage; a running
    step is not interrupted (give it a ``timeout=`` for that)."""
    counters: Mapping[str, float] = field(default_factory=dict)
    """Upper bounds on counters that steps report, e.g. ``{"cost": 1.0}``."""

    def __post_init__(self) -> None:
        if self.max_steps is not None and (
            not isinstance(self.max_steps, int)
            or isinstance(self.max_steps, bool)
            or self.max_steps < 0
        ):
            raise FlowDefinitionError(f"max_steps must be an int >= 0, got {self.max_steps!r}")
        if self.max_seconds is not None and not _non_negative(self.max_seconds):
            raise FlowDefinitionError(
                f"max_seconds must be a number >= 0, got {self.max_seconds!r}"
            )
        for name, limit in self.counters.items():
            if not isinstance(name, str) or not _non_negative(limit):
                raise FlowDefinitionError(
                    f"counter limits must map names to numbers >= 0, got {name!r}: {limit!r}"
                )
        object.__setattr__(self, "counters", MappingProxyType(dict(self.counters)))


def _non_negative(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


class UsageLimitExceeded(FlowError):
    """A run went over its :class:`UsageLimits`; the run stops.

    Attributes:
        address: the step that went over (or was about to start).
        limit: what was exceeded: ``"max_steps"``, ``"max_seconds"`` or a counter.
        usage: the run's usage when it stopped.
        result: the partial FlowResult (set when the run raises).
    """

    def __init__(
        self, address: str, limit: str, bound: float, attempted: float, usage: Mapping[str, float]
    ) -> None:
        self.address = address
        self.limit = limit
        self.bound = bound
        self.attempted = attempted
        self.usage = dict(usage)
        self.result: FlowResult | None = None
        super().__init__(
            f"step {address!r}: usage limit {limit} = {bound:g} exceeded "
            f"({limit} would be {attempted:g}); usage so far: {self._usage_text()}"
        )

    def _usage_text(self) -> str:
        return ", ".join(f"{k}={v:g}" for k, v in sorted(self.usage.items())) or "none"

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            UsageLimitExceeded,
            (self.address, self.limit, self.bound, self.attempted, self.usage),
        )


class UsageMeter:
    """The usage of one run (all its nested levels and threads), under one lock."""

    def __init__(self, limits: UsageLimits | None) -> None:
        self.limits = limits
        self.limited = limits is not None
        self._lock = threading.Lock()
        self._started = Clock.monotonic()
        self._totals: dict[str, float] = {"steps": 0}
        self._by_step: dict[str, dict[str, float]] | None = None

    def usage(self, uncounted_steps: int = 0) -> dict[str, float]:
        """The totals so far: ``steps`` started, ``seconds``, and every counter reported.

        Without limits the meter does not count steps (that would take its lock per
        step); the run counts them and passes them as ``uncounted_steps``.
        """
        with self._lock:
            totals = dict(self._totals)
        totals["steps"] += uncounted_steps
        totals["seconds"] = round(Clock.monotonic() - self._started, 6)
        return totals

    def track_steps(self) -> None:
        """Also keep what each step address reported (a test recording keeps it, so
        that replay reports it again); off by default: no run pays for it."""
        with self._lock:
            if self._by_step is None:
                self._by_step = {}

    def reported(self, address: str) -> dict[str, float]:
        """What the step at ``address`` reported so far (with :meth:`track_steps`)."""
        with self._lock:
            found = self._by_step.get(address) if self._by_step is not None else None
            return dict(found) if found else {}

    def start_step(self, address: str) -> None:
        """Count a step call about to start; raise if that goes over a limit."""
        limits = self.limits
        with self._lock:
            steps = self._totals["steps"] + 1
            if limits is not None:
                if limits.max_steps is not None and steps > limits.max_steps:
                    raise self._exceeded(address, "max_steps", limits.max_steps, steps)
                self._check_time(address)
            self._totals["steps"] = steps

    def add(self, address: str, amounts: Mapping[str, float]) -> None:
        """Add usage reported by the step at ``address``; raise if it went over.

        The amounts are counted even when they go over a limit: that usage has
        happened (money spent is spent), so the run's ``usage`` reports it; then
        the step raises and the run stops.
        """
        for name in amounts:
            if name in ("steps", "seconds"):
                raise ValueError(
                    f"step {address!r}: record_usage({name}=...): {name!r} is counted by "
                    f"the engine; report your own counter under another name"
                )
        limits = self.limits
        with self._lock:
            totals = self._totals
            for name, amount in amounts.items():
                totals[name] = totals.get(name, 0) + amount
            if self._by_step is not None:
                mine = self._by_step.setdefault(address, {})
                for name, amount in amounts.items():
                    mine[name] = mine.get(name, 0) + amount
            if limits is not None:
                for name in amounts:
                    bound = limits.counters.get(name)
                    if bound is not None and totals[name] > bound:
                        raise self._exceeded(address, name, bound, totals[name])
                self._check_time(address)

    def _check_time(self, address: str) -> None:
        assert self.limits is not None
        bound = self.limits.max_seconds
        if bound is not None:
            elapsed = Clock.monotonic() - self._started
            if elapsed > bound:
                raise self._exceeded(address, "max_seconds", bound, elapsed)

    def _exceeded(self, address: str, limit: str, bound: float, attempted: float) -> Exception:
        usage = dict(self._totals)
        usage["seconds"] = round(Clock.monotonic() - self._started, 6)
        return UsageLimitExceeded(address, limit, bound, attempted, usage)


# -- record_usage: who is running ------------------------------------------------------

_SCOPE: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "flowexec_usage_scope", default=None
)


class Scope:
    """Where record_usage reports to: a meter and the address of the running step."""

    __slots__ = ("address", "meter")

    def __init__(self, meter: UsageMeter | Collector, address: str) -> None:
        self.meter = meter
        self.address = address


class Collector:
    """Collects usage in a worker process, to be added by the parent's meter."""

    def __init__(self) -> None:
        self.amounts: dict[str, float] = {}

    def add(self, address: str, amounts: Mapping[str, float]) -> None:
        for name, amount in amounts.items():
            self.amounts[name] = self.amounts.get(name, 0) + amount


def record_usage(**amounts: float) -> None:
    """Report usage from inside a step, e.g. ``record_usage(cost=0.01, tokens=512)``.

    The run adds it to its totals (``FlowResult.usage``) and checks it against its
    :class:`UsageLimits` at once: going over raises :class:`UsageLimitExceeded` in
    the step, which stops the run. The call that goes over is counted all the same
    (every counter in it): usage that happened is reported. Outside a run (a step
    called as a plain function) this does nothing.
    """
    for name, amount in amounts.items():
        if not _non_negative(amount):
            raise ValueError(f"record_usage: {name} must be a number >= 0, got {amount!r}")
    scope = _SCOPE.get()
    if scope is not None:
        scope.meter.add(scope.address, amounts)


def scoped(meter: UsageMeter | Collector, address: str, call: Callable[[], Any]) -> Any:
    """Run ``call`` with :func:`record_usage` reporting to ``meter`` as ``address``."""
    token = _SCOPE.set(Scope(meter, address))
    try:
        return call()
    finally:
        _SCOPE.reset(token)
