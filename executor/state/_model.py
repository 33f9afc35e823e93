"""What a persisted run looks like: its status, metadata, events and errors."""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from executor._errors import FlowError, os_error_fix, os_error_reason
from executor._results import ErrorInfo

STATE_FORMAT = 1
"""The version of the state format; a store refuses states of another version."""


class StateStatus(str, enum.Enum):
    """Where a persisted run stands."""

    RUNNING = "running"
    """Started and not ended (or the process died: resume it)."""
    PAUSED = "paused"
    """A step raised ``Pause`` without awaiting anything: resume to go on."""
    AWAITING = "awaiting"
    """A step raised ``Pause(awaiting=name)``: resume with that input to go on."""
    FAILED = "failed"
    COMPLETED = "completed"


@dataclass(frozen=True, kw_only=True)
class StateMetadata:
    """What you say about a run, stored with it."""

    tags: tuple[str, ...] = ()
    """Labels to find runs by (``store.list_states(tags=[...])``)."""
    description: str = ""
    custom_data: Mapping[str, Any] = field(default_factory=dict)
    """Anything encodable by the typed codec."""
    parent_state_id: str | None = None
    """The run this one was resumed from (set by the engine: lineage)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "custom_data", MappingProxyType(dict(self.custom_data)))


@dataclass(frozen=True, kw_only=True)
class StateEvent:
    """How one step invocation ended, as persisted: the checkpoint."""

    seq: int
    """Order of the event within its run."""
    address: str
    digest: str | None
    """A digest of the step's inputs (None when they have no stable encoding)."""
    status: str
    """The StepStatus value: completed, cached, replayed, failed, timed_out, ..."""
    output: Any = None
    attempts: int = 0
    started_at: float | None = None
    ended_at: float | None = None
    error: ErrorInfo | None = None
    awaiting: str | None = None
    """For a paused step: the input it waits for."""
    context: Any = None
    """For a step that takes the context: the context as the step left it (when it
    could be encoded); a resume puts it back when it reuses the step."""
    unreadable: str | None = None
    """Why this event's output or context could not be decoded (None when it could):
    e.g. its class was renamed since the run was stored. The event's ``output`` is
    then None, and a resume runs the step again."""

    @property
    def completed(self) -> bool:
        """Whether the event holds a usable output."""
        return self.unreadable is None and self.status in ("completed", "cached", "replayed")


@dataclass(frozen=True, kw_only=True)
class ExecutionState:
    """A persisted run, as loaded from a store."""

    state_id: str
    flow: str
    status: StateStatus
    inputs: Mapping[str, Any]
    metadata: StateMetadata
    events: tuple[StateEvent, ...]
    created_at: float
    updated_at: float
    contexts: Mapping[str, Any] = field(default_factory=dict)
    """Context snapshots: ``"start"`` and ``"end"`` (absent when not encodable)."""
    pause: Mapping[str, Any] = field(default_factory=dict)
    """For a paused run: ``address``, ``reason``, ``awaiting``."""

    @property
    def unreadable(self) -> dict[str, str]:
        """Addresses whose last event could not be decoded, with the reason.

        The rest of the run loads; a resume runs these steps again.
        """
        return {a: e.unreadable for a, e in self.latest().items() if e.unreadable is not None}

    def latest(self) -> dict[str, StateEvent]:
        """The last event of every address (a later attempt supersedes an earlier)."""
        found: dict[str, StateEvent] = {}
        for event in self.events:
            found[event.address] = event
        return found


@dataclass(frozen=True, kw_only=True)
class StateSummary:
    """One run in a listing (``store.list_states``)."""

    state_id: str
    flow: str
    status: StateStatus
    created_at: float
    updated_at: float
    tags: tuple[str, ...]
    """The run's tags in the order they were given, each once (every backend alike;
    ``load(...).metadata.tags`` is exactly what was given)."""
    parent_state_id: str | None


class StateError(FlowError):
    """A state cannot be found, read or written."""


class StateNotFound(StateError, KeyError):
    """No state with that id (never stored, or deleted)."""

    def __init__(self, state_id: str, where: str) -> None:
        self.state_id = state_id
        super().__init__(f"no state {state_id!r} in {where} (never stored, or deleted)")

    def __str__(self) -> str:
        return str(self.args[0])


class StateCorrupted(StateError):
    """A state's data is damaged, truncated, of an unknown format, or incomplete.

    Attributes:
        where: the store and its file or folder, e.g. ``state file '.flowexec/state.db'``.
        state_id: the run concerned (None when the whole file is unusable).
        outcome: what did not happen because of it: ``"nothing was loaded"``,
            ``"the event of 'f/load' was not stored"``...
    """

    def __init__(
        self,
        where: str,
        state_id: str | None,
        problem: str,
        *,
        outcome: str = "nothing was loaded",
        fix: str = "",
    ) -> None:
        self.where = where
        self.state_id = state_id
        self.outcome = outcome
        subject = f"state {state_id!r} in {where}" if state_id else where
        super().__init__(f"{subject}: {problem}; {outcome}" + (f". {fix}" if fix else ""))


class StateWriteFailed(StateError, OSError):
    """The file system refused a write to a state store: a full disk, a read-only
    folder, a path that runs through a regular file...

    Nothing is half-written: the file keeps its previous bytes (a new run that could
    not be created is not listed; an event that could not be appended is not in the
    run, whose earlier events still load). Also an ``OSError``, with the OS's
    ``errno``, so code that caught the bare OS error still catches it.

    Attributes:
        path: the file or folder that was being written.
        state_id: the run concerned (None when the store itself could not be made).
        outcome: what did not happen, e.g. ``"the event of 'f/load' was not stored"``.
        reason: the OS's words, e.g. ``"No space left on device"``.
        fix: what to do.
    """

    def __init__(
        self,
        path: str,
        state_id: str | None,
        outcome: str,
        reason: str,
        fix: str,
        errno: int | None = None,
    ) -> None:
        self.path = path
        self.state_id = state_id
        self.outcome = outcome
        self.reason = reason
        self.fix = fix
        subject = f"state {state_id!r}: " if state_id else ""
        super().__init__(f"{subject}cannot write {path!r} ({reason}); {outcome}. {fix}")
        self.errno = errno

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            StateWriteFailed,
            (self.path, self.state_id, self.outcome, self.reason, self.fix, self.errno),
        )

    @classmethod
    def from_os_error(
        cls, error: OSError, path: str | os.PathLike[str], state_id: str | None, outcome: str
    ) -> StateWriteFailed:
        """The error for ``error``, raised while writing ``path`` for ``state_id``
        (``error`` may be a StateWriteFailed itself, said again for a run)."""
        if isinstance(error, StateWriteFailed):
            reason, fix = error.reason, error.fix
        else:
            reason, fix = os_error_reason(error), os_error_fix(error, path)
        return cls(str(path), state_id, outcome, reason, fix, error.errno)
