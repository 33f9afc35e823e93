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

import difflib
import hashlib
import itertools
import threading
from collections.abc import Mapping
from typing import Any

from executor._codec import JSON_CODEC
from executor._errors import CacheKeyError, ReplayMismatch
from executor._names import CONTEXT_PARAM
from executor._results import ErrorInfo
from executor.cache._keys import KEY_GENERATOR
from executor.state._model import StateEvent
from executor.state._report import Mismatch, readable_diff
from executor.state._store import StateStore
from executor.testing import RecordedStep, RunTap

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
    ) -> None:
        self.store = store
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
        self.replay_misses: list[str] = []
        self.checked = 0

    @property
    def persisting(self) -> bool:
        return self.tap is not None or (self.store is not None and self.state_id is not None)

    def recorded(
        self, address: str, digest: str | None
    ) -> StateEvent | RecordedStep | ReplayMismatch | None:
        """The recorded event to reuse for this call; a ReplayMismatch when strict
        replay cannot use one; ``None`` to run the step."""
        if self.replay is None or self.validating:
            return None
        event = self.replay.get(address)
        if (
            event is not None
            and event.completed
            and event.digest is not None
            and event.digest == digest
        ):
            return event
        if event is not None and not event.completed:
            return None  # it failed or paused last time: run it again
        with self._lock:
            self.replay_misses.append(address)
        if self.strict:
            # The nearest address is looked for only here, for the error message: it
            # compares with every recorded address, far too slow for each step a
            # resume runs again (a map of 400 items: ~15 ms a step, on the thread
            # that schedules them, so none started and none was checkpointed meanwhile).
            if event is None:
                mismatch = ReplayMismatch(address, "not recorded", self._nearest(address))
            else:
                mismatch = ReplayMismatch(address, "input changed")
            tap = self.tap
            if tap is not None and tap.on_mismatch is not None and tap.on_mismatch(mismatch):
                return None  # the harness lets this step run for real
            return mismatch
        return None

    def _nearest(self, address: str) -> str | None:
        assert self.replay is not None
        found = difflib.get_close_matches(address, list(self.known), n=1, cutoff=0.6)
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
    ) -> None:
        """Persist how one step ended (raises CodecError for an unstorable output).

        ``context`` is the context as the step left it, for a step that takes one:
        replaying the step puts it back (a context that cannot be encoded is not kept).
        """
        if self.tap is not None:
            text = f"{error.type.rsplit('.', 1)[-1]}: {error.message}" if error else None
            self.tap.keep(RecordedStep(address, digest, status, output, text, _snapshot(context)))
            return
        if not self.persisting:
            return
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


def _encoded(value: Any) -> str:
    try:
        return JSON_CODEC.dumps(value)
    except Exception:
        return repr(value)
