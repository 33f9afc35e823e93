"""Hooks for test harnesses: see, stub, record and replay every run in this process.

A harness (the ``flowexec`` pytest plugin) installs an :class:`Interceptor` for the
duration of a test with :func:`intercept`. While it is installed, every run the
engine starts in this process, in any thread — including runs started deep inside
application code — passes its step executor through :meth:`Interceptor.wrap_step_executor`
and asks :meth:`Interceptor.tap_run` for a :class:`RunTap` that records its steps,
replays recorded ones, or validates against them. One interceptor is active per
process at a time (pytest runs one test at a time per process, xdist included).

Observers are lighter and may be many: :func:`observe` adds a lifecycle plugin (an
object with ``@executor.hookimpl`` methods) to every run started meanwhile, so a
harness can see each step end and each run's :class:`~executor.FlowResult` (golden
files, benchmarks, step coverage) without taking the interceptor's place.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from executor._errors import ReplayMismatch, hide_engine_frame
from executor._executors import StepExecutor
from executor._limits import _SCOPE
from executor._names import CONTEXT_PARAM
from executor._newfiles import temporary_beside
from executor._step import Step

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these

__all__ = [
    "CapturedRun",
    "Interceptor",
    "RecordedError",
    "RecordedStep",
    "RunTap",
    "called_with",
    "capture_runs",
    "current_address",
    "decode_value",
    "encode_value",
    "intercept",
    "intercepting",
    "known_addresses",
    "known_step_names",
    "observe",
    "observers",
    "renew_default_caches",
    "temporary_beside",
]


@dataclass(frozen=True)
class RecordedError:
    """How a recorded step failed: what replaying it raises again."""

    type: str
    """Qualified name of the exception type, e.g. ``"builtins.ConnectionRefusedError"``."""
    message: str
    """``str()`` of the exception."""


@dataclass(frozen=True)
class RecordedStep:
    """How one step invocation ended, as a test recording keeps it."""

    address: str
    digest: str | None
    """Digest of the step's inputs (context left out)."""
    status: str
    """``completed``, ``cached``, ``failed``, ..."""
    output: Any = None
    error: RecordedError | None = None
    """For a failed or timed-out step: how its last attempt failed."""
    context: Any = None
    """For a step that changed the context: the context as the step left it."""
    attempts: int = 1
    """Attempts the step made (a replayed failure reports the same number)."""
    code: str | None = None
    """The step's code identity when recorded: ``name@version:V`` or
    ``name@source:HASH``; replaying a step whose code changed is a mismatch."""
    inputs: Any = None
    """The step's inputs as typed-JSON data (redacted), for naming what changed."""
    context_changed: bool = False
    """Whether ``context`` holds the step's change to the context."""
    context_fields: tuple[str, ...] | None = None
    """The fields of ``context`` the step set (changed or added), in the context's
    order; replay sets only these, so what other steps did meanwhile stays. ``None``
    (a recording from before these were kept): replay puts ``context`` back whole."""
    context_removed: tuple[str, ...] = ()
    """Keys the step removed from a dict context."""
    usage: Mapping[str, float] | None = None
    """The counters the step reported with ``record_usage`` (replay reports them again,
    so a run's ``usage`` and its counter limits come out as they did live)."""
    retries: tuple[RecordedError, ...] = ()
    """How each attempt before the last failed (replay tells ``step_retry`` again)."""
    awaiting: str | None = None
    """For a step that paused the run: the input its ``Pause`` awaits."""

    @property
    def completed(self) -> bool:
        return self.status in ("completed", "cached", "replayed")

    @property
    def cached(self) -> bool:
        """Answered from a cache when recorded: its function was not called."""
        return self.status == "cached"

    @property
    def failed(self) -> bool:
        """A failure (or a pause) that replay repeats rather than calling the step again."""
        return self.status in ("failed", "timed_out", "paused") and self.error is not None


class RunTap:
    """What a harness does with one run.

    Args:
        replay: recorded steps by address: a step whose address and input digest
            match is not called; its recorded output is used.
        strict: a step that cannot be replayed fails with ReplayMismatch instead of
            being called (``on_mismatch`` may still let it run).
        validating: call every step and compare with ``replay`` instead of using it.
        record: keep every step's end in :attr:`recorded`.
        on_mismatch: called for each strict mismatch; return True to let the step
            run for real instead of failing.
        live: ``(step name, address) -> bool``: True for a step the harness answers
            itself (a stub): it is neither replayed nor recorded, in every mode.
        observe: ``(step name, address, inputs)``: called for every step answered
            from ``replay``, so a spy sees replayed calls too.
        normalize: ``(address, name, value) -> value`` for every step input
            (``name`` the parameter): what is digested, matched and recorded in
            place of the real value (redaction, volatile values).
        rerecord: how to re-record, appended to every mismatch message.
    """

    def __init__(
        self,
        *,
        replay: Mapping[str, RecordedStep] | None = None,
        strict: bool = False,
        validating: bool = False,
        record: bool = True,
        on_mismatch: Callable[[ReplayMismatch], bool] | None = None,
        live: Callable[[str, str], bool] | None = None,
        observe: Callable[[str, str, Mapping[str, Any]], None] | None = None,
        normalize: Callable[[str, str, Any], Any] | None = None,
        rerecord: str = "",
    ) -> None:
        self.replay = replay
        self.strict = strict
        self.validating = validating
        self.recording = record
        self.on_mismatch = on_mismatch
        self.live = live
        self.observe = observe
        self.normalize = normalize
        self.rerecord = rerecord
        self.passed_through: set[str] = set()
        """Addresses neither replayed nor recorded: stubbed steps, and composites
        (they run again under replay; their nested steps are replayed one by one)."""
        self.recorded: dict[str, RecordedStep] = {}
        """Steps that ended in this run, by address (the last end of each)."""
        self.replayed: set[str] = set()
        """Addresses answered from ``replay``."""
        self.mismatches: list[Any] = []
        """In validation: ``Mismatch`` objects (address, recorded, actual, diff)."""
        self.misses: list[str] = []
        """Addresses that could not be replayed (they ran, or failed if strict)."""
        self._lock = threading.Lock()

    def keep(self, step: RecordedStep, *, replayed: bool = False) -> None:
        """Called by the engine as each step ends (``replayed``: answered from
        ``replay``, then ``step`` is the recorded one)."""
        with self._lock:
            if step.address in self.passed_through:
                return
            if replayed:
                self.replayed.add(step.address)
            if self.recording and step.status != "skipped":
                self.recorded[step.address] = step

    def pass_through(self, address: str) -> None:
        """Leave ``address`` out of replay and recording (see :attr:`passed_through`)."""
        with self._lock:
            self.passed_through.add(address)


class Interceptor(Protocol):
    """What a harness installs with :func:`intercept`."""

    def wrap_step_executor(self, step_executor: StepExecutor) -> StepExecutor:
        """The step executor runs should use (e.g. one that answers stubbed steps)."""

    def tap_run(self, flow: str, inputs: Mapping[str, Any]) -> RunTap | None:
        """A tap for a run of ``flow`` that starts now, or ``None`` to leave it be."""


_active: Interceptor | None = None
_lock = threading.Lock()


@contextlib.contextmanager
def intercept(interceptor: Interceptor) -> Iterator[Interceptor]:
    """Install ``interceptor`` for every run started in this process meanwhile."""
    global _active
    with _lock:
        if _active is not None:
            raise RuntimeError(
                f"another flowexec interceptor ({type(_active).__qualname__}) is already "
                f"installed; leave its intercept() block before installing "
                f"{type(interceptor).__qualname__}"
            )
        _active = interceptor
    try:
        yield interceptor
    finally:
        with _lock:
            _active = None


@dataclass(frozen=True)
class CapturedRun:
    """A top-level run as it was asked for, kept by :func:`capture_runs` so that a
    harness can run it again (under another executor, in another process)."""

    flow: Any
    """The :class:`~executor.Flow` that ran."""
    inputs: Mapping[str, Any]
    """Its flow inputs, copied when the run started."""
    context: Any
    """The run context, copied when the run started (steps may change the original)."""
    executor: Any
    """The executor it ran on (a name or a ``concurrent.futures.Executor``)."""
    options: Mapping[str, Any]
    """The other run options: ``outputs``, ``on_failure``, ``seed``, ``limits``,
    ``max_concurrency``, ``step_executor``, ``plugins``."""


_captures: list[list[CapturedRun]] = []


@contextlib.contextmanager
def capture_runs() -> Iterator[list[CapturedRun]]:
    """Collect every top-level run started in this process meanwhile, in start order.

    Nested runs (composites, sub-flows) are part of their top-level run and are not
    listed. Runs are copied as they start: re-running one later starts from the same
    inputs and context even if the first run changed them.
    """
    seen: list[CapturedRun] = []
    with _lock:
        _captures.append(seen)
    try:
        yield seen
    finally:
        with _lock:  # by identity: two open blocks may hold equal lists
            _captures[:] = [other for other in _captures if other is not seen]


def _capturing() -> bool:
    """Whether some :func:`capture_runs` block is open (the engine asks per run)."""
    return bool(_captures)


def _captured(run: CapturedRun) -> None:
    """Called by the engine as a top-level run starts, while :func:`_capturing`."""
    with _lock:
        for seen in _captures:
            seen.append(run)


def intercepting() -> Interceptor | None:
    """The interceptor installed now, if any."""
    return _active


def known_step_names() -> frozenset[str]:
    """The names a stub can answer: those of every leaf step built in this process so
    far (for typo hints). Composite steps, a ``when``'s predicate and the lambda arms
    it names ``then``/``otherwise`` are not among them: address those."""
    from executor._step import known_step_names as names

    return names()


def known_addresses() -> frozenset[str]:
    """The addresses of the steps of every flow alive in this process now, with their
    ``when`` arms (``report/fetch``, ``orders/check/then``), for "did you mean" hints.
    Map items, loop iterations and the steps of sub-flows are not listed."""
    from executor._flow import known_addresses as addresses

    return addresses()


def renew_default_caches() -> None:
    """Give every flow in this process an empty default cache from now on.

    A flow's :attr:`~executor.Flow.default_cache` lives as long as the flow object,
    usually a module global: without this, a cached step that ran in one test is a
    cache hit in the next, and what a test sees depends on which tests ran before it
    in the same process. The pytest plugin calls this before each test. Caches a user
    passes explicitly (``cache=``, ``CachePolicy(cache=...)``, ``ExecutorCore(cache=...)``)
    are left alone: sharing those is the user's choice.
    """
    from executor._flow import renew_default_caches as renew

    renew()


_observers: tuple[object, ...] = ()


@contextlib.contextmanager
def observe(plugin: object) -> Iterator[object]:
    """Add ``plugin`` to the lifecycle plugins of every run started in this process
    meanwhile, in any thread (nested runs share their run's plugins).

    Example:
        >>> class Ends:
        ...     @hookimpl
        ...     def flow_end(self, flow, result): print(flow, result.status.value)
        >>> with observe(Ends()):                          # doctest: +SKIP
        ...     Flow("f", [one]).run()
        f completed
    """
    global _observers
    with _lock:
        _observers = (*_observers, plugin)
    try:
        yield plugin
    finally:
        with _lock:
            _observers = tuple(p for p in _observers if p is not plugin)


def observers() -> tuple[object, ...]:
    """The plugins :func:`observe` added, in the order they were added."""
    return _observers


def current_address() -> str | None:
    """The address of the step running in this thread or task, inside a step executor
    or a step (``None`` outside one)."""
    scope = _SCOPE.get()
    return None if scope is None else scope.address


def called_with(step: Step[..., Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments ``step``'s function sees for ``inputs``: the inputs, then
    the defaults of its parameters the run did not pass, in parameter order; the run
    context left out. What a stub's ``side_effect`` callable is called with, so it can
    take the same parameters as the step (``lambda users, factor: ...``) however the
    run was started."""
    import inspect

    try:
        parameters = list(inspect.signature(step.fn).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin): the inputs
        parameters = []
    seen = {
        p.name: inputs.get(p.name, p.default)
        for p in parameters
        if p.name != CONTEXT_PARAM
        and (p.name in inputs or p.default is not inspect.Parameter.empty)
    }
    return seen | {k: v for k, v in inputs.items() if k != CONTEXT_PARAM and k not in seen}


def encode_value(value: Any, where: str = "value") -> Any:
    """``value`` as typed-JSON data (what recordings and stores keep)."""
    from executor._codec import JSON_CODEC

    return JSON_CODEC.encode(value, where)


def decode_value(data: Any, where: str = "value") -> Any:
    """The value typed-JSON ``data`` stands for."""
    from executor._codec import JSON_CODEC

    return JSON_CODEC.decode(data, where)
