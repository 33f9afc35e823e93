"""MemoryStateBackend: states in a dict, for tests and short-lived processes."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from executor.state._model import StateNotFound, StateStatus, StateSummary
from executor.state._store import StateStore


@dataclass
class _Row:
    flow: str
    status: str
    created: float
    updated: float
    parent: str | None
    tags: tuple[str, ...]
    header: str
    events: list[tuple[int, str]] = field(default_factory=list)


class MemoryStateBackend(StateStore):
    """Every state in this process's memory; gone with the object."""

    location = "a MemoryStateBackend"

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self._rows: dict[str, _Row] = {}
        self._lock = threading.Lock()

    def _row(self, state_id: str) -> _Row:
        try:
            return self._rows[state_id]
        except KeyError:
            raise StateNotFound(state_id, self.location) from None

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
        with self._lock:
            self._rows[state_id] = _Row(flow, status, created, created, parent, tuple(tags), header)

    def _append(self, state_id: str, seq: int, address: str, body: str) -> None:
        with self._lock:
            self._row(state_id).events.append((seq, body))

    def _update(self, state_id: str, status: str, updated: float, header: str | None) -> None:
        with self._lock:
            row = self._row(state_id)
            row.status, row.updated = status, updated
            if header is not None:
                row.header = header

    def _read(self, state_id: str) -> tuple[str, str, float, float, str, list[tuple[int, str]]]:
        with self._lock:
            row = self._row(state_id)
            return row.flow, row.status, row.created, row.updated, row.header, list(row.events)

    def _summaries(self) -> Iterable[StateSummary]:
        with self._lock:
            rows = list(self._rows.items())
        return [
            StateSummary(
                state_id=sid,
                flow=r.flow,
                status=StateStatus(r.status),
                created_at=r.created,
                updated_at=r.updated,
                tags=tuple(dict.fromkeys(r.tags)),
                parent_state_id=r.parent,
            )
            for sid, r in rows
        ]

    def _delete(self, state_id: str) -> None:
        with self._lock:
            self._rows.pop(state_id, None)
