"""The store stage of a run: checkpoints, replay of recorded steps, validation.

One Recorder serves every nesting level of a run. It

- persists how each step ended as one event (``flow.run(store=...)``): the
  checkpoint a resume starts from;
- answers ``begin`` with a recorded output when resuming (``replay``): only for
  the same address *and* the same input digest;
- in validation, compares each fresh output with the recorded one and hands the
  recorded value on, so that every step is judged on its recorded inputs.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from executor._changes import describe_changes
from executor._codec import JSON_CODEC
from executor._context import fields_of
from executor._errors import CacheKeyError, ReplayMismatch, hide_engine_frame
from executor._names import CONTEXT_PARAM
from executor._redo import RedoSet
from executor._results import ErrorInfo
from executor._suggest import close_names
from executor.cache._keys import KEY_GENERATOR, step_identity
from executor.state._model import StateEvent
from executor.state._report import Mismatch, readable_diff
from executor.state._store import StateStore
from executor.testing import RecordedError, RecordedStep, RunTap

if TYPE_CHECKING:
    from executor._step import Step

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these

DIGEST_FORMAT = b"flowexec-inputs/1"


def input_digest(inputs: Mapping[str, Any], address: str) -> str | None:
    """A stable digest of a step's inputs (the context left out); ``None`` when an
    input has no stable encoding (such a step can never be replayed)."""
    if CONTEXT_PARAM in inputs:
        inputs = {k: v for k, v in inputs.items() if k != CONTEXT_PARAM}
    try:
        body = KEY_GENERATOR.encode(inputs, address, "inputs")
    except CacheKeyError:
        return None
    return hashlib.sha256(DIGEST_FORMAT + body).hexdigest()


class Recorder:
    """The store stage shared by every level of one run."""

    def __init__(
        self,
        store: StateStore | None,
        state_id: str | None,
        *,
        replay: Mapping[str, StateEvent | RecordedStep] | None = None,
        strict: bool = False,
        record_replayed: bool = True,
        first_seq: int = 0,
        validating: bool = False,
        known: tuple[str, ...] = (),
        tap: RunTap | None = None,
        redo: RedoSet | None = None,
    ) -> None:
        self.store = store
        self.redo = redo
        """With ``resume_from``: the addresses that run again live, never refused."""
        self.tap = tap
        """A test harness's tap: recorded steps go to it instead of a store."""
        self.known = known or tuple(replay or ())
        """Every recorded address, for 'nearest address' hints."""
        self.state_id = state_id
        self.replay = replay
        self.strict = strict
        self.record_replayed = record_replayed
        self.validating = validating
        self._seq = itertools.count(first_seq)
        self._lock = threading.Lock()
        self.mismatches: list[Mismatch] = []
        # A test tap's view of each step, by address, between begin and end:
        self._inputs: dict[str, Any] = {}  # the normalized inputs, typed-JSON data
        self._code: dict[str, str] = {}  # the step's code identity
        self._context_before: dict[str, dict[str, str] | None] = {}  # its fields, encoded
        self._shown: dict[str, dict[str, Any]] = {}  # replaying: the normalized inputs
        self._retries: dict[str, list[RecordedError]] = {}  # failed attempts before the last
        self.reused: Mapping[str, StateEvent] | None = None
        """A resumed run's stored steps, reused before a test tap is asked (see reuse)."""
        self.replay_misses: list[str] = []
        self.checked = 0

    def reuse(self, resumed: Recorder) -> None:
        """Under a test tap, resume as ``resumed`` (a store's recorder) would: the steps
        the stored run completed are reused from the store, as they were live, and
        only the others are recorded or replayed (replay calls no step here either)."""
        replay = resumed.replay
        self.reused = {
            a: e for a, e in (replay or {}).items() if isinstance(e, StateEvent) and e.completed
        }
        self.redo = resumed.redo  # resume_from: redone steps go to the tap, not the store
        self._seq = resumed._seq
        self.record_replayed = resumed.record_replayed
        self.known = (*self.known, *resumed.known)

    @property
    def persisting(self) -> bool:
        return self.tap is not None or (self.store is not None and self.state_id is not None)

    def tap_digest(
        self, address: str, step: Step[..., Any], inputs: Mapping[str, Any], context: Any
    ) -> str | None:
        """For a test tap: the digest of the step's inputs as the tap normalizes them
        (redacted, volatile values replaced), so that no digest of a secret exists;
        remembers those inputs, the step's code identity and the context before
        the call, for the recording and for naming what changed."""
        tap = self.tap
        assert tap is not None
        normalize = tap.normalize
        shown = {
            name: normalize(address, name, value) if normalize is not None else value
            for name, value in inputs.items()
            if name != CONTEXT_PARAM
        }
        digest = input_digest(shown, address)
        code = step_identity(step)
        if not tap.recording:  # replay or validate: the inputs only name what changed
            with self._lock:
                self._code[address] = code
                self._shown[address] = shown
            return digest
        try:  # encoded now: the step may change its inputs in place
            encoded = JSON_CODEC.encode(shown, f"{address} inputs")
        except Exception:
            encoded = None  # the digest says "no stable encoding" already
        before = _field_codes(context) if CONTEXT_PARAM in inputs else None
        with self._lock:
            self._inputs[address] = encoded
            self._code[address] = code
            if before is not None:
                self._context_before[address] = before
        return digest

    def recorded(
        self, address: str, digest: str | None, redone: bool = False
    ) -> StateEvent | RecordedStep | ReplayMismatch | None:
        """The recorded event to reuse for this call; a ReplayMismatch when strict
        replay cannot use one; ``None`` to run the step.

        Under a test tap a recorded failure is reused too (replay never calls a
        step), and a step whose code changed since recording is a mismatch. A step
        ``redone`` by ``resume_from`` is not taken from the resumed store then.
        """
        reused = None if redone or self.reused is None else self.reused.get(address)
        if reused is not None and reused.digest is not None and reused.digest == digest:
            return reused  # a resumed run's stored step: reused as it was live
        if self.replay is None or self.validating:
            return None
        event = self.replay.get(address)
        detail = ""
        if event is None:
            reason = "not recorded"
        elif isinstance(event, RecordedStep):
            reason = ""
            with self._lock:
                code = self._code.get(address)
                shown = self._shown.get(address)
                current = self._inputs.get(address) if shown is None else None
            if event.code is not None and code is not None and event.code != code:
                reason, detail = (
                    "code changed since recording",
                    f"recorded {event.code}, now {code}",
                )
            elif event.digest is None or event.digest != digest:
                reason = "input changed"
                if digest is None:
                    detail = "an input has no stable encoding (see CacheKeyError)"
                elif isinstance(event.inputs, dict):
                    now = shown if shown is not None else _decoded(current or {})
                    detail = describe_changes(_decoded(event.inputs), now)
            elif event.completed or event.failed:
                return event
            else:
                reason = f"recorded as {event.status}, which cannot be replayed"
        elif event.completed and event.digest is not None and event.digest == digest:
            return event
        elif not event.completed:
            return None  # it failed or paused last time: run it again
        else:
            reason = "input changed"
        with self._lock:
            self.replay_misses.append(address)
        if self.strict:
            # The nearest address is looked for only here, for the error message: it
            # compares with every recorded address, far too slow for each step a
            # resume runs again (a map of 400 items: ~15 ms a step, on the thread
            # that schedules them, so none started and none was checkpointed meanwhile).
            nearest = self._nearest(address) if event is None else None
            tap = self.tap
            mismatch = ReplayMismatch(
                address, reason, nearest, detail, tap.rerecord if tap is not None else ""
            )
            if tap is not None and tap.on_mismatch is not None and tap.on_mismatch(mismatch):
                return None  # the harness lets this step run for real
            return mismatch
        return None

    def unfinished(self, address: str) -> bool:
        """Whether ``address`` is stored as a step that did not complete (it failed,
        timed out, paused or was cancelled): a resume runs it again, and what
        follows it, which could not run then."""
        event = None if self.replay is None else self.replay.get(address)
        return isinstance(event, StateEvent) and not event.completed and event.unreadable is None

    def replayed(
        self,
        found: StateEvent | RecordedStep,
        digest: str | None,
        wall: float,
        context: Any = None,
    ) -> None:
        """Note that ``found`` answered its step (a test tap counts it; a store keeps
        a ``replayed`` event when ``record_replayed``).

        Under a test tap a store gets the event the live run gave it (the recorded
        status and attempts, ``context`` as the step left it): a test that reads its
        store sees what it saw live. A replayed failure's event is the one
        :meth:`record` appends as the failure is finished.
        """
        if self.tap is not None and isinstance(found, RecordedStep):
            self.tap.keep(found, replayed=True)
            if self._storing and self.record_replayed and found.completed:
                self._append(
                    found.address,
                    digest,
                    found.status,
                    found.output,
                    found.attempts,
                    wall,
                    wall,
                    None,
                    context=context,
                )
            return
        if self.tap is not None:  # a resumed run's stored step: the store answers it
            if self._storing and self.record_replayed:  # in replay too, so not recorded
                self._append(found.address, digest, "replayed", found.output, 0, wall, wall, None)
            return
        if self.record_replayed:
            self.record(
                found.address,
                digest,
                "replayed",
                found.output,
                0,
                wall,
                wall,
                None,
                context=found.context,
            )

    def answered(self, found: RecordedStep) -> None:
        """Note that ``found`` answered its step, which the run then failed (a usage
        limit went over as it did live): the recording was used all the same."""
        if self.tap is not None:
            self.tap.keep(found, replayed=True)

    def retried(self, address: str, error: BaseException) -> None:
        """Keep how an attempt of the step at ``address`` failed before it was retried
        (a test tap records it, so that replay tells ``step_retry`` again)."""
        info = ErrorInfo.from_exception(error, "")
        with self._lock:
            self._retries.setdefault(address, []).append(RecordedError(info.type, info.message))

    def _nearest(self, address: str) -> str | None:
        assert self.replay is not None
        found = close_names(address, self.known, n=1)
        return found[0] if found else None

    def compare(self, address: str, value: Any) -> Any:
        """In validation: note a mismatch with the recorded output; return the value
        the run goes on with (the recorded one, when there is one)."""
        event = None if self.replay is None else self.replay.get(address)
        if event is None or not event.completed:
            return value
        with self._lock:
            self.checked += 1
            if _encoded(value) != _encoded(event.output):
                self.mismatches.append(
                    Mismatch(
                        address, event.output, value, readable_diff(event.output, value, address)
                    )
                )
        return event.output

    def record(
        self,
        address: str,
        digest: str | None,
        status: str,
        output: Any,
        attempts: int,
        started_at: float | None,
        ended_at: float | None,
        error: ErrorInfo | None,
        awaiting: str | None = None,
        context: Any = None,
        usage: Mapping[str, float] | None = None,
    ) -> None:
        """Persist how one step ended (raises CodecError for an unstorable output).

        ``context`` is the context as the step left it, for a step that takes one:
        replaying the step puts it back (a context that cannot be encoded is not
        kept; a test tap keeps it only where the step changed it). ``usage``: the
        counters the step reported (a test tap keeps them).
        """
        tap = self.tap
        if tap is not None:
            with self._lock:
                inputs = self._inputs.get(address)
                code = self._code.get(address)
                before = self._context_before.get(address)
                retries = tuple(self._retries.pop(address, ()))
            after = _field_codes(context) if context is not None else None
            changed, fields, removed = context_change(before, after)
            tap.keep(
                RecordedStep(
                    address,
                    digest,
                    status,
                    output,
                    RecordedError(error.type, error.message) if error is not None else None,
                    _snapshot(context) if changed else None,
                    attempts=attempts,
                    code=code,
                    inputs=inputs,
                    context_changed=changed,
                    context_fields=fields if changed else None,
                    context_removed=removed if changed else (),
                    usage=dict(usage) if usage else None,
                    retries=retries,
                    awaiting=awaiting,
                )
            )
        if self._storing:
            self._append(
                address,
                digest,
                status,
                output,
                attempts,
                started_at,
                ended_at,
                error,
                awaiting,
                context,
            )

    @property
    def _storing(self) -> bool:
        return self.store is not None and self.state_id is not None

    def _append(
        self,
        address: str,
        digest: str | None,
        status: str,
        output: Any,
        attempts: int,
        started_at: float | None,
        ended_at: float | None,
        error: ErrorInfo | None,
        awaiting: str | None = None,
        context: Any = None,
    ) -> None:
        assert self.store is not None
        assert self.state_id is not None
        seq = next(self._seq)  # itertools.count: atomic in CPython, no lock needed
        self.store.append_event(
            self.state_id,
            seq,
            address,
            digest=digest,
            status=status,
            output=output,
            attempts=attempts,
            started_at=started_at,
            ended_at=ended_at,
            error=error,
            awaiting=awaiting,
            context=context,
        )


def _snapshot(context: Any) -> Any:
    """An independent copy of the context (through the codec), or None."""
    if context is None:
        return None
    try:
        return JSON_CODEC.decode(JSON_CODEC.encode(context))
    except Exception:
        return None


def context_change(
    before: Mapping[str, str] | None, after: Mapping[str, str] | None
) -> tuple[bool, tuple[str, ...] | None, tuple[str, ...]]:
    """What a step did to its context, from its fields encoded before and after the
    call: (changed at all, the fields it set in ``after``'s order or ``None`` when
    only the whole context says it, the keys it removed).

    ``None`` fields when the fields before are unknown or only their order changed
    (setting fields again does not reorder a dict: replay puts the context back whole).
    """
    if after is None:
        return False, None, ()
    if before is None:
        return True, None, ()
    fields = tuple(name for name, code in after.items() if before.get(name) != code)
    removed = tuple(name for name in before if name not in after)
    if fields or removed:
        return True, fields, removed
    if list(after) != list(before):
        return True, None, ()
    return False, None, ()


def _field_codes(context: Any) -> dict[str, str] | None:
    """Each field of the context, encoded (to see which ones a step changed); None
    for a context whose fields cannot be listed."""
    try:
        return {name: _encoded(value) for name, value in fields_of(context).items()}
    except TypeError:
        return None


def _decoded(data: dict[str, Any]) -> dict[str, Any]:
    """Typed-JSON inputs as values, to name what changed (the data itself if the
    codec cannot read it back)."""
    try:
        found = JSON_CODEC.decode(data)
    except Exception:
        return data
    return found if isinstance(found, dict) else data


def _encoded(value: Any) -> str:
    try:
        return JSON_CODEC.dumps(value)
    except Exception:
        return repr(value)
