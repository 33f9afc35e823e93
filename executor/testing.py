"""Hooks for test harnesses: see, stub, record and replay every run in this process.

A harness (the ``flowexec`` pytest plugin) installs an :class:`Interceptor` for the
duration of a test with :func:`intercept`. While it is installed, every run the
engine starts in this process, in any thread — including runs started deep inside
application code — passes its step executor through :meth:`Interceptor.wrap_step_executor`
and asks :meth:`Interceptor.tap_run` for a :class:`RunTap` that records its steps,
replays recorded ones, or validates against them. One interceptor is active per
process at a time (pytest runs one test at a time per process, xdist included).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from executor._errors import ReplayMismatch
from executor._executors import StepExecutor
from executor._limits import _SCOPE
from executor._newfiles import temporary_beside

__all__ = [
    "Interceptor",
    "RecordedStep",
    "RunTap",
    "current_address",
    "decode_value",
    "encode_value",
    "intercept",
    "intercepting",
    "temporary_beside",
]


@dataclass(frozen=True)
class RecordedStep:
    """How one step invocation ended, as a test recording keeps it."""

    address: str
    digest: str | None
    """Digest of the step's inputs (context left out)."""
    status: str
    """``completed``, ``cached``, ``failed``, ..."""
    output: Any = None
    error: str | None = None
    """``"Type: message"`` for a failed step."""
    context: Any = None
    """For a step that takes the context: the context as the step left it."""

    @property
    def completed(self) -> bool:
        return self.status in ("completed", "cached", "replayed")


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
    """

    def __init__(
        self,
        *,
        replay: Mapping[str, RecordedStep] | None = None,
        strict: bool = False,
        validating: bool = False,
        record: bool = True,
        on_mismatch: Callable[[ReplayMismatch], bool] | None = None,
    ) -> None:
        self.replay = replay
        self.strict = strict
        self.validating = validating
        self.recording = record
        self.on_mismatch = on_mismatch
        self.recorded: dict[str, RecordedStep] = {}
        """Steps that ended in this run, by address (the last end of each)."""
        self.replayed: set[str] = set()
        """Addresses answered from ``replay``."""
        self.mismatches: list[Any] = []
        """In validation: ``Mismatch`` objects (address, recorded, actual, diff)."""
        self.misses: list[str] = []
        """Addresses that could not be replayed (they ran, or failed if strict)."""
        self._lock = threading.Lock()

    def keep(self, step: RecordedStep) -> None:
        """Called by the engine as each step ends."""
        with self._lock:
            if step.status == "replayed":
                self.replayed.add(step.address)
                if step.address in (self.replay or {}):
                    step = self.replay[step.address]  # type: ignore[index]
            if self.recording and step.status != "skipped":
                self.recorded[step.address] = step


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


def intercepting() -> Interceptor | None:
    """The interceptor installed now, if any."""
    return _active


def current_address() -> str | None:
    """The address of the step running in this thread or task, inside a step executor
    or a step (``None`` outside one)."""
    scope = _SCOPE.get()
    return None if scope is None else scope.address


def encode_value(value: Any, where: str = "value") -> Any:
    """``value`` as typed-JSON data (what recordings and stores keep)."""
    from executor._codec import JSON_CODEC

    return JSON_CODEC.encode(value, where)


def decode_value(data: Any, where: str = "value") -> Any:
    """The value typed-JSON ``data`` stands for."""
    from executor._codec import JSON_CODEC

    return JSON_CODEC.decode(data, where)
