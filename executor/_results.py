"""What a run reports: a StepResult per step invocation and one FlowResult."""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from executor._errors import FlowError, RecordedFailure, StepTimeout, run_failure
from executor._stats import StepStats, compute_stats


class StepStatus(str, enum.Enum):
    """How one step invocation ended."""

    COMPLETED = "completed"
    """The step ran and returned a value."""
    FAILED = "failed"
    """Every attempt raised (or the error was not worth a retry)."""
    TIMED_OUT = "timed_out"
    """The last attempt ran past the step's ``timeout``."""
    SKIPPED = "skipped"
    """Never started: an upstream step failed, or the run stopped first."""
    CANCELLED = "cancelled"
    """Started or queued, then cancelled because the run stopped."""
    CACHED = "cached"
    """Not called: the output came from the step's cache."""
    REPLAYED = "replayed"
    """Not called: the output came from a recorded run (resume, replay)."""
    PAUSED = "paused"
    """The step raised ``Pause``: the run stopped to wait; resume to call it again."""

    @property
    def ok(self) -> bool:
        """Whether the step produced an output."""
        return self in _OK


_OK = frozenset({StepStatus.COMPLETED, StepStatus.CACHED, StepStatus.REPLAYED})


class RunStatus(str, enum.Enum):
    """How a whole run ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    PAUSED = "paused"
    """A step raised ``Pause()``: resume the run from its store to go on."""
    AWAITING = "awaiting"
    """A step raised ``Pause(awaiting=name)``: resume with that input."""


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A step's error as plain data: safe to store, compare and print."""

    type: str
    """Qualified name of the exception type, e.g. ``"builtins.ValueError"``."""
    message: str
    """``str()`` of the exception."""
    traceback: str
    """The formatted traceback, as Python prints it; for a :class:`StepTimeout`
    (which the engine raises, not the step) its error line alone."""

    @classmethod
    def from_exception(cls, error: BaseException, traceback_text: str | None = None) -> ErrorInfo:
        """Capture ``error``; ``traceback_text`` overrides the local traceback (remote errors)."""
        if isinstance(error, RecordedFailure):  # replayed: the recorded type and message
            return cls(error.type_name, error.message, traceback_text or "")
        kind = type(error)
        if traceback_text is None:
            import traceback  # only failures need it: `import executor` stays light

            if isinstance(error, StepTimeout):
                # The engine raised it, the step did not: its frames (the driver's,
                # which differ by executor) would say nothing, so every executor
                # gives the error line alone.
                traceback_text = "".join(traceback.format_exception_only(kind, error))
            else:
                traceback_text = "".join(
                    traceback.format_exception(kind, error, error.__traceback__)
                )
        return cls(f"{kind.__module__}.{kind.__qualname__}", str(error), traceback_text)


@dataclass(frozen=True, kw_only=True)
class StepResult:
    """The outcome of one step invocation, at one address."""

    address: str
    """Where in the run this invocation sits, e.g. ``"report/enrich"``."""
    name: str
    """The step's name."""
    status: StepStatus
    """How the invocation ended."""
    output: Any = None
    """The returned value, when ``status`` is COMPLETED; otherwise ``None``."""
    error: ErrorInfo | None = None
    """The last attempt's error, for FAILED and TIMED_OUT; the reason for SKIPPED/CANCELLED."""
    attempts: int = 0
    """Attempts made; 0 when the step never started."""
    started_at: float | None = None
    """Wall-clock start of the first attempt (seconds since the epoch)."""
    ended_at: float | None = None
    """Wall-clock end of the last attempt."""
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    """The live exception object of the last attempt, where there is one."""
    cache_key: str | None = None
    """The cache key of the call, for steps with a cache policy."""

    @classmethod
    def _record(
        cls,
        address: str,
        name: str,
        status: StepStatus,
        output: Any,
        attempts: int,
        started_at: float | None,
        ended_at: float | None,
        error: ErrorInfo | None = None,
        exception: BaseException | None = None,
        cache_key: str | None = None,
    ) -> StepResult:
        # The engine builds one of these per step on its hot path. The generated
        # frozen __init__ costs ~2 us (an object.__setattr__ per field); filling the
        # instance dict costs ~0.5 us. ``error``, ``exception`` and ``cache_key``
        # fall back to the class attributes (None) when not stored. Immutable all the
        # same once built.
        obj = object.__new__(cls)
        fields = obj.__dict__
        fields["address"] = address
        fields["name"] = name
        fields["status"] = status
        fields["output"] = output
        fields["attempts"] = attempts
        fields["started_at"] = started_at
        fields["ended_at"] = ended_at
        if error is not None:
            fields["error"] = error
            fields["exception"] = exception
        if cache_key is not None:
            fields["cache_key"] = cache_key
        return obj

    @property
    def duration(self) -> float | None:
        """Seconds from the first attempt's start to the last one's end."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    @property
    def ok(self) -> bool:
        """Whether the invocation produced an output."""
        return self.status.ok


@dataclass(frozen=True, slots=True)
class HookError:
    """A lifecycle hook raised; the run went on and recorded it here."""

    hook: str
    """The hook's name, e.g. ``"step_end"``."""
    address: str | None
    """The step address the hook was called for, if any."""
    error: ErrorInfo
    """What the hook raised."""


class StepOutputMissing(FlowError, KeyError):
    """``result[name]`` was asked for a step that has no output."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@dataclass(frozen=True)
class FlowResult:
    """Everything a run did: outputs by step name, a StepResult per address, stats.

    Example:
        >>> result = flow.run(path="data.csv")            # doctest: +SKIP
        >>> result["total"], result.status                 # doctest: +SKIP
        (42, <RunStatus.COMPLETED: 'completed'>)
    """

    flow: str
    """The flow's name."""
    status: RunStatus
    """COMPLETED when every planned step completed; FAILED otherwise."""
    steps: Mapping[str, StepResult]
    """A StepResult per address, in the flow's (deterministic) step order."""
    started_at: float
    """Wall-clock start of the run."""
    ended_at: float
    """Wall-clock end of the run."""
    seed: int
    """The seed that drove retry jitter; pass it as ``seed=`` to reproduce the waits."""
    state_id: str | None = None
    """The id under which a state store persisted the run, if one was given."""
    hook_errors: tuple[HookError, ...] = ()
    """Errors raised by lifecycle hooks; they never change the run's outcome."""
    usage: Mapping[str, float] = field(default_factory=dict)
    """What the run used: ``steps`` started, ``seconds``, and every counter that
    steps reported with ``record_usage``."""
    awaiting: str | None = None
    """For a run paused with ``Pause(awaiting=name)``: the input it waits for."""
    replay_misses: tuple[str, ...] = ()
    """Resuming: addresses whose recorded event could not be reused (not recorded,
    or their inputs changed), so they ran again."""

    @functools.cached_property
    def outputs(self) -> Mapping[str, Any]:
        """Outputs of the top-level steps that completed, by step name."""
        prefix = self.flow + "/"
        return MappingProxyType(
            {
                r.name: r.output
                for address, r in self.steps.items()
                if r.ok and address == prefix + r.name
            }
        )

    def __getitem__(self, name: str) -> Any:
        try:
            return self.outputs[name]
        except KeyError:
            pass
        address = f"{self.flow}/{name}"
        found = self.steps.get(address)
        if found is None:
            from executor._suggest import did_you_mean

            known = ", ".join(sorted(self.outputs)) or "none"
            names = {address.split("/", 2)[1] for address in self.steps}
            hint = did_you_mean(name, names) if isinstance(name, str) else ""
            raise StepOutputMissing(
                f"flow {self.flow!r} has no step {name!r} in this run "
                f"{f'({hint}) ' if hint else ''}(steps with an output: "
                f"{known}); was it left out by outputs=?"
            ) from None
        reason = f": {found.error.type}: {found.error.message}" if found.error else ""
        raise StepOutputMissing(
            f"step {address!r} has no output: it ended {found.status.value}{reason}"
        ) from None

    @property
    def duration(self) -> float:
        """Seconds the run took."""
        return self.ended_at - self.started_at

    @property
    def failed(self) -> tuple[StepResult, ...]:
        """The invocations that FAILED or TIMED_OUT, in step order."""
        bad = (StepStatus.FAILED, StepStatus.TIMED_OUT)
        return tuple(r for r in self.steps.values() if r.status in bad)

    @functools.cached_property
    def stats(self) -> Mapping[str, StepStats]:
        """Timing and failure counts per step name (all invocations of that step)."""
        return compute_stats(self.steps.values())

    def raise_for_status(self) -> FlowResult:
        """Raise :class:`StepFailed` for the first failed step; return ``self`` if none."""
        failed = self.failed
        if failed:
            first = failed[0]
            cause = first.exception or RuntimeError(
                first.error.message if first.error else "failed"
            )
            error = run_failure(first.address, cause, self, attempts=first.attempts)
            raise error from error.cause
        return self
