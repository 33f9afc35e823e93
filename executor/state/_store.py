"""What every state backend shares: encoding states and events, artifacts, loading.

A backend implements a handful of raw primitives (insert a state, append an
event, update a state, read one back, list, delete) over JSON text; this base
turns runs into that text and back, with the typed codec, and moves large
outputs into a content-addressed artifact store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

from executor._codec import JSON_CODEC, PICKLE_CODEC, Codec
from executor._errors import CodecError, FlowDefinitionError
from executor._json import dumps, scalar
from executor._results import ErrorInfo
from executor.state._model import (
    STATE_FORMAT,
    ExecutionState,
    StateCorrupted,
    StateError,
    StateMetadata,
    StateStatus,
    StateSummary,
    StateWriteFailed,
)

logger = logging.getLogger("executor.state")

ARTIFACT_THRESHOLD = 64 * 1024
"""Outputs whose encoded JSON is longer than this (bytes) go to the artifact store."""


class ArtifactMissing(StateCorrupted):
    """An event refers to an artifact the artifact store does not have."""


class ArtifactCorrupted(StateCorrupted):
    """An artifact's bytes do not match the SHA-256 digest they are stored under."""


class ArtifactBackend(Protocol):
    """Content-addressed blobs: the key of a blob is the SHA-256 of its bytes."""

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its SHA-256 hex digest (storing twice is harmless)."""

    def get(self, digest: str) -> bytes:
        """The blob with that digest (raises KeyError when absent)."""


class MemoryArtifactBackend:
    """Artifacts in a dict, for tests and for MemoryStateBackend."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self._blobs[digest] = data
        return digest

    def get(self, digest: str) -> bytes:
        return self._blobs[digest]


class StateStore:
    """Base of the state backends: ``flow.run(store=backend)``.

    Args:
        codec: ``"json"`` (default) or ``"pickle"`` to store values typed JSON
            cannot express. A store opened with ``"json"`` refuses to load pickled
            values: pickle runs code when loaded.
        artifacts: where large outputs go (default: the backend's own).
    """

    location = "the store"

    def __init__(
        self, *, codec: Literal["json", "pickle"] = "json", artifacts: ArtifactBackend | None = None
    ) -> None:
        if codec not in ("json", "pickle"):
            raise ValueError(f"codec must be 'json' or 'pickle', got {codec!r}")
        self.codec: Codec = PICKLE_CODEC if codec == "pickle" else JSON_CODEC
        self.artifacts: ArtifactBackend = artifacts or self._default_artifacts()

    def _default_artifacts(self) -> ArtifactBackend:
        return MemoryArtifactBackend()

    # -- raw primitives (per backend) ----------------------------------------------------

    def _insert(
        self,
        state_id: str,
        flow: str,
        status: str,
        created: float,
        parent: str | None,
        tags: Sequence[str],
        header: str,
    ) -> None:
        raise NotImplementedError

    def _append(self, state_id: str, seq: int, address: str, body: str) -> None:
        raise NotImplementedError

    def _update(self, state_id: str, status: str, updated: float, header: str | None) -> None:
        raise NotImplementedError

    def _read(self, state_id: str) -> tuple[str, str, float, float, str, list[tuple[int, str]]]:
        """``(flow, status, created, updated, header, [(seq, event body), ...])``."""
        raise NotImplementedError

    def _read_header(self, state_id: str) -> str:
        return self._read(state_id)[4]

    def _summaries(self) -> Iterable[StateSummary]:
        raise NotImplementedError

    def _delete(self, state_id: str) -> None:
        raise NotImplementedError

    # -- writing a run ------------------------------------------------------------------

    def create_state(
        self, flow: str, inputs: Mapping[str, Any], metadata: StateMetadata, context: Any
    ) -> str:
        """Persist a new run; returns its state id."""
        state_id = uuid.uuid4().hex
        header = {
            "format": STATE_FORMAT,
            "inputs": self.codec.encode(dict(inputs), f"flow {flow!r} inputs"),
            "metadata": self._metadata_data(metadata),
            "contexts": self._context_data({}, "start", context),
            "pause": {},
        }
        self._insert(
            state_id,
            flow,
            StateStatus.RUNNING.value,
            time.time(),
            metadata.parent_state_id,
            metadata.tags,
            dumps(header),
        )
        return state_id

    def append_event(
        self,
        state_id: str,
        seq: int,
        address: str,
        *,
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
        """Persist one step's end (one transaction: the checkpoint).

        Raises CodecError (naming the address) for an output that cannot be stored.
        """
        # Assembled by hand around the output's JSON, encoded once (the artifact size
        # check and the event share it); keys in sorted order, so the text is what
        # json.dumps(sort_keys=True) would write.
        enc = scalar
        parts = [f'{{"address":{enc(address)},"attempts":{attempts}']
        if awaiting is not None:
            parts.append(f',"awaiting":{enc(awaiting)}')
        if context is not None:
            try:
                parts.append(f',"context":{dumps(self.codec.encode(context, "context"))}')
            except CodecError:
                pass  # a context holding a client: the event keeps no snapshot
        parts.append(f',"digest":{enc(digest)},"ended_at":{enc(ended_at)}')
        if error is not None:
            fields = {"message": error.message, "traceback": error.traceback, "type": error.type}
            parts.append(f',"error":{dumps(fields)}')
        if status in ("completed", "cached", "replayed"):
            parts.append(f',"output":{self._output_text(output, state_id, address)}')
        parts.append(f',"started_at":{enc(started_at)},"status":{enc(status)}}}')
        self._append(state_id, seq, address, "".join(parts))

    def finish_state(
        self,
        state_id: str,
        status: StateStatus,
        *,
        context: Any = None,
        pause: Mapping[str, Any] | None = None,
    ) -> None:
        """Record how the run ended (or paused), with the context as it ended."""
        header = self._header(state_id, self._read_header(state_id))
        self._context_data(header["contexts"], "end", context)
        header["pause"] = dict(pause or {})
        self._update(state_id, status.value, time.time(), dumps(header))

    def reopen_state(self, state_id: str, inputs: Mapping[str, Any]) -> None:
        """Mark a stored run RUNNING again, with the inputs it is resumed with."""
        header = self._header(state_id, self._read_header(state_id))
        header["inputs"] = self.codec.encode(dict(inputs), "resumed inputs")
        header["pause"] = {}
        self._update(state_id, StateStatus.RUNNING.value, time.time(), dumps(header))

    def _output_text(self, output: Any, state_id: str, address: str) -> str:
        text = scalar(self.codec.encode(output, f"{address} output"))
        if len(text) > ARTIFACT_THRESHOLD:
            try:
                digest = self.artifacts.put(text.encode())
            except OSError as error:  # a file artifact store: a full disk, a read-only folder
                path = error.path if isinstance(error, StateWriteFailed) else error.filename
                outcome = (
                    f"the output of {address!r} was not stored (nor its event: the run keeps "
                    f"its earlier events)"
                )
                raise StateWriteFailed.from_os_error(
                    error, path or repr(self.artifacts), state_id, outcome
                ) from error
            except StateError as error:  # an artifact table in a busy or full SQLite file
                raise StateError(
                    f"state {state_id!r}: the output of {address!r} was not stored (nor its "
                    f"event: the run keeps its earlier events): {error}"
                ) from error
            return dumps({"$artifact": digest})
        return text

    def _metadata_data(self, metadata: StateMetadata) -> dict[str, Any]:
        return {
            "tags": list(metadata.tags),
            "description": metadata.description,
            "custom_data": self.codec.encode(dict(metadata.custom_data), "metadata.custom_data"),
            "parent_state_id": metadata.parent_state_id,
        }

    def _context_data(self, contexts: dict[str, Any], moment: str, context: Any) -> dict[str, Any]:
        if context is not None:
            try:
                contexts[moment] = self.codec.encode(context, f"context at {moment}")
            except CodecError:
                contexts.pop(moment, None)  # a context holding a client: no snapshot
        return contexts

    # -- reading ------------------------------------------------------------------------

    def load(self, state_id: str) -> ExecutionState:
        """The stored run ``state_id``.

        Raises:
            StateNotFound: no such state (never stored, or deleted).
            StateCorrupted: damaged data, an unknown format, or a missing artifact;
                the message names the file and the state.
        """
        flow, status, created, updated, header_text, events = self._read(state_id)
        header = self._header(state_id, header_text)
        try:
            metadata_data = header["metadata"]
            metadata = StateMetadata(
                tags=tuple(metadata_data["tags"]),
                description=metadata_data["description"],
                custom_data=self.codec.decode(metadata_data["custom_data"], "custom_data"),
                parent_state_id=metadata_data["parent_state_id"],
            )
            inputs = self.codec.decode(header["inputs"], "inputs")
            contexts = {
                k: self.codec.decode(v, f"context {k}") for k, v in header["contexts"].items()
            }
            state_status = StateStatus(status)
        except (KeyError, TypeError, ValueError) as error:
            raise StateCorrupted(self.location, state_id, f"bad header ({error!r})") from None
        return ExecutionState(
            state_id=state_id,
            flow=flow,
            status=state_status,
            inputs=inputs,
            metadata=metadata,
            # In seq order on every backend: a file keeps events in the order they were
            # appended, which threads running composites may interleave.
            events=tuple(
                self._event(state_id, seq, body)
                for seq, body in sorted(events, key=lambda event: event[0])
            ),
            created_at=created,
            updated_at=updated,
            contexts=contexts,
            pause=dict(header.get("pause") or {}),
        )

    def _header(self, state_id: str, text: str) -> dict[str, Any]:
        try:
            header = json.loads(text)
        except ValueError as error:
            raise StateCorrupted(self.location, state_id, f"unreadable header ({error})") from None
        if not isinstance(header, dict) or header.get("format") != STATE_FORMAT:
            found = header.get("format") if isinstance(header, dict) else None
            raise StateCorrupted(
                self.location,
                state_id,
                f"state format {found!r} is not the format this flowexec reads ({STATE_FORMAT})",
            )
        return header

    def _event(self, state_id: str, seq: int, text: str) -> Any:
        from executor.state._model import StateEvent

        try:
            body = json.loads(text)
            address = body["address"]
            output = body.get("output")
            if isinstance(output, dict) and set(output) == {"$artifact"}:
                output = json.loads(self._artifact(state_id, seq, address, output["$artifact"]))
            error = body.get("error")
            error_info = (
                ErrorInfo(error["type"], error["message"], error["traceback"]) if error else None
            )
            digest, status, attempts = body["digest"], body["status"], body["attempts"]
            started_at, ended_at = body["started_at"], body["ended_at"]
        except StateCorrupted:
            raise
        except (ValueError, KeyError, TypeError) as error:
            raise StateCorrupted(
                self.location, state_id, f"event {seq} is damaged ({error!r})"
            ) from None
        value = context = unreadable = None
        try:
            if "output" in body:
                value = self.codec.decode(output, f"{address} output")
            if "context" in body:
                context = self.codec.decode(body["context"], f"{address} context")
        except CodecError as error:
            # Stored before the code changed (a class renamed, a field removed): the
            # rest of the run still loads, and a resume runs this step again.
            value = context = None
            unreadable = f"{error} (in {self.location}, state {state_id!r}, event {seq})"
            logger.warning(
                "state %s: cannot read the event of %s: %s", state_id, address, unreadable
            )
        return StateEvent(
            seq=seq,
            address=address,
            digest=digest,
            status=status,
            output=value,
            attempts=attempts,
            started_at=started_at,
            ended_at=ended_at,
            error=error_info,
            awaiting=body.get("awaiting"),
            context=context,
            unreadable=unreadable,
        )

    def _artifact(self, state_id: str, seq: int, address: str, digest: str) -> bytes:
        """The artifact ``digest``, checked against its digest: a changed byte is an error."""
        try:
            blob = self.artifacts.get(digest)
        except KeyError:
            raise ArtifactMissing(
                self.location,
                state_id,
                f"event {seq} ({address}) refers to artifact {digest}, which "
                f"the artifact store does not have",
                fix="Restore the artifact store this run was written with, or run the flow again",
            ) from None
        except OSError as error:  # a file artifact store: unreadable, a folder, ...
            raise StateCorrupted(
                self.location,
                state_id,
                f"artifact {digest}, the output of {address} (event {seq}), cannot be "
                f"read ({error})",
                fix="Make the artifact readable, or run the flow again",
            ) from None
        if hashlib.sha256(blob).hexdigest() != digest:
            raise ArtifactCorrupted(
                self.location,
                state_id,
                f"the output of {address} (event {seq}) is artifact {digest}, and that "
                f"artifact's bytes no longer have that SHA-256: it was changed or damaged "
                f"after it was written, so the run is not loaded (its value would be "
                f"wrong). Restore the artifact, or run the flow again",
            )
        return blob

    def list_states(
        self,
        *,
        flow: str | None = None,
        tags: Sequence[str] = (),
        status: StateStatus | str | None = None,
        limit: int | None = None,
    ) -> list[StateSummary]:
        """Stored runs, newest first, filtered by flow, tags (all of them) and status."""
        wanted = StateStatus(status) if status is not None else None
        found = [
            s
            for s in self._summaries()
            if (flow is None or s.flow == flow)
            and set(tags).issubset(s.tags)
            and (wanted is None or s.status is wanted)
        ]
        found.sort(key=lambda s: (s.created_at, s.state_id), reverse=True)
        return found if limit is None else found[:limit]

    def delete_state(self, state_id: str) -> None:
        """Forget a run (its artifacts stay: they may be shared)."""
        self._read(state_id)  # raises StateNotFound for an unknown id
        self._delete(state_id)


def checked_store(store: object) -> StateStore:
    """``store`` itself when it is a state backend; otherwise an error naming it."""
    if not isinstance(store, StateStore):
        raise FlowDefinitionError(
            f"store must be a state backend, got {store!r}; pass one such as "
            f"SQLiteStateBackend('.flowexec/state.db') or MemoryStateBackend()"
        )
    return store
