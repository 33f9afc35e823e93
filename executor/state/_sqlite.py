"""SQLiteStateBackend: the embedded default, ``.flowexec/state.db``.

WAL journal; one transaction per event, so a killed process loses at most the
step it was running. Several processes may write different runs to one file.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from executor._sqlite import (
    DAMAGED_FIX,
    FOREIGN_FIX,
    NOT_OURS,
    Connections,
    refused_write,
    transient_fix,
)
from executor.state._model import (
    StateCorrupted,
    StateError,
    StateNotFound,
    StateStatus,
    StateSummary,
    StateWriteFailed,
)
from executor.state._store import ArtifactBackend, StateStore

FILE_FORMAT = "1"
_SEQ_MASK = (1 << 32) - 1  # the low 32 bits of an event id: its seq within the run

_SCHEMA = """
CREATE TABLE IF NOT EXISTS flowexec_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS states (
    number INTEGER PRIMARY KEY,
    state_id TEXT NOT NULL UNIQUE,
    flow TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    parent_state_id TEXT,
    header TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS state_tags (
    state_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (state_id, tag)
);
-- One integer key per event, (state number << 32) | seq, as the rowid: a single
-- B-tree that grows at its end, so a checkpoint (one insert, one commit) is as
-- cheap as SQLite makes it, and a run's events are one range. The address is
-- inside the body.
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS artifacts (digest TEXT PRIMARY KEY, data BLOB NOT NULL);
"""


class SQLiteArtifactBackend:
    """Artifacts in the same SQLite file as the states."""

    def __init__(self, store: SQLiteStateBackend) -> None:
        self._store = store

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        with self._store._sql(None, f"artifact {digest} was not stored") as connection:
            connection.execute(
                "INSERT OR IGNORE INTO artifacts (digest, data) VALUES (?, ?)", (digest, data)
            )
        return digest

    def get(self, digest: str) -> bytes:
        with self._store._sql(None, f"artifact {digest} was not read") as connection:
            row = connection.execute(
                "SELECT data FROM artifacts WHERE digest = ?", (digest,)
            ).fetchone()
        if row is None:
            raise KeyError(digest)
        return bytes(row[0])


class SQLiteStateBackend(StateStore):
    """States and their events in one SQLite file.

    Args:
        path: the database file (its folder is created if missing).
        codec: ``"json"`` (default) or ``"pickle"``, see :class:`StateStore`.
        artifacts: where large outputs go (default: a table in this file).
        timeout: seconds to wait for another process's write lock.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ".flowexec/state.db",
        *,
        codec: Any = "json",
        artifacts: ArtifactBackend | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.location = f"state file {str(self.path)!r}"
        self.timeout = timeout
        self._numbers: dict[str, int] = {}  # state id -> its row number, for appends
        self._db = Connections(
            self.path,
            schema=_SCHEMA,
            meta_table="flowexec_meta",
            file_format=FILE_FORMAT,
            timeout=timeout,
            fail=lambda problem, error: self._failure(
                error, None, "nothing was read or written", problem
            ),
        )
        self._connection = self._db.get
        super().__init__(codec=codec, artifacts=artifacts)
        self._connection()  # fail now if the file is unusable

    def __repr__(self) -> str:
        return f"<SQLiteStateBackend {str(self.path)!r}>"

    def _default_artifacts(self) -> ArtifactBackend:
        return SQLiteArtifactBackend(self)

    @contextmanager
    def _sql(self, state_id: str | None, outcome: str) -> Iterator[sqlite3.Connection]:
        """This thread's connection; an error of the file inside the block becomes a
        StateError naming the file, the run, ``outcome`` (what did not happen: each
        statement or transaction is rolled back as a whole) and what to do."""
        try:
            yield self._connection()
        except sqlite3.DatabaseError as error:
            raise self._failure(error, state_id, outcome) from None

    def _failure(
        self,
        error: sqlite3.Error | OSError | None,
        state_id: str | None,
        outcome: str,
        problem: str | None = None,
    ) -> StateError:
        if isinstance(error, OSError):  # the file's folder cannot be made
            return StateWriteFailed.from_os_error(error, self.path, state_id, outcome)
        problem = problem or f"unreadable ({error})"
        fix = transient_fix(error) if error is not None else None
        refused = refused_write(error) if error is not None else None
        if fix is not None and refused is not None:  # a full disk, a read-only file
            fix = fix[0].upper() + fix[1:]
            return StateWriteFailed(str(self.path), state_id, outcome, str(error), fix, refused)
        if fix is not None:
            subject = f"state {state_id!r} in {self.location}" if state_id else self.location
            return StateError(f"{subject}: {error}; {outcome}: {fix}")
        if isinstance(error, sqlite3.IntegrityError):  # not damage: a second writer
            return StateError(
                f"state {state_id!r} in {self.location}: {error}; {outcome}: is another "
                f"process writing this run (resuming it twice at once)?"
            )
        if error is None and problem.startswith("has format"):
            fix = "Open it with the flowexec version that wrote it, or move it aside"
        elif error is None and NOT_OURS in problem:
            fix = FOREIGN_FIX[0].upper() + FOREIGN_FIX[1:]
        return StateCorrupted(
            self.location,
            state_id,
            problem,
            outcome=outcome,
            fix=fix or DAMAGED_FIX.replace("FILE", str(self.path)),
        )

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
        with self._sql(None, f"run {state_id!r} was not stored") as connection, connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT INTO states (state_id, flow, status, created_at, updated_at, "
                "parent_state_id, header) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (state_id, flow, status, created, created, parent, header),
            )
            connection.executemany(
                "INSERT OR IGNORE INTO state_tags (state_id, tag) VALUES (?, ?)",
                [(state_id, tag) for tag in tags],
            )

    def _number(self, state_id: str, connection: sqlite3.Connection) -> int:
        number = self._numbers.get(state_id)
        if number is None:
            row = connection.execute(
                "SELECT number FROM states WHERE state_id = ?", (state_id,)
            ).fetchone()
            if row is None:
                raise StateNotFound(state_id, self.location)
            number = self._numbers[state_id] = int(row[0])
        return number

    def _append(self, state_id: str, seq: int, address: str, body: str) -> None:
        # The checkpoint, once per step: a plain try rather than _sql, whose generator
        # and outcome text would be made for every event.
        try:
            connection = self._connection()
            event_id = self._number(state_id, connection) << 32 | seq
            connection.execute("INSERT INTO events (id, body) VALUES (?, ?)", (event_id, body))
        except sqlite3.DatabaseError as error:
            outcome = f"the event of {address!r} was not stored"
            raise self._failure(error, state_id, outcome) from None

    def _update(self, state_id: str, status: str, updated: float, header: str | None) -> None:
        with self._sql(state_id, f"its status was not set to {status!r}") as connection:
            cursor = connection.execute(
                "UPDATE states SET status = ?, updated_at = ?, header = COALESCE(?, header) "
                "WHERE state_id = ?",
                (status, updated, header, state_id),
            )
        if cursor.rowcount == 0:
            raise StateNotFound(state_id, self.location)

    def _read(self, state_id: str) -> tuple[str, str, float, float, str, list[tuple[int, str]]]:
        with self._sql(state_id, "nothing was loaded") as connection:
            row = connection.execute(
                "SELECT flow, status, created_at, updated_at, header FROM states "
                "WHERE state_id = ?",
                (state_id,),
            ).fetchone()
            if row is None:
                raise StateNotFound(state_id, self.location)
            first = self._number(state_id, connection) << 32
            events = connection.execute(
                "SELECT id, body FROM events WHERE id BETWEEN ? AND ? ORDER BY id",
                (first, first | _SEQ_MASK),
            ).fetchall()
        flow, status, created, updated, header = row
        return flow, status, created, updated, header, [(i & _SEQ_MASK, b) for i, b in events]

    def _read_header(self, state_id: str) -> str:
        with self._sql(state_id, "nothing was loaded or changed") as connection:
            row = connection.execute(
                "SELECT header FROM states WHERE state_id = ?", (state_id,)
            ).fetchone()
        if row is None:
            raise StateNotFound(state_id, self.location)
        return str(row[0])

    def _summaries(self) -> Iterable[StateSummary]:
        tags: dict[str, list[str]] = {}
        with self._sql(None, "nothing was listed") as connection:
            # By rowid: the order the run's tags were given in (each stored once).
            found_tags = connection.execute("SELECT state_id, tag FROM state_tags ORDER BY rowid")
            for state_id, tag in found_tags:
                tags.setdefault(state_id, []).append(tag)
            rows = connection.execute(
                "SELECT state_id, flow, status, created_at, updated_at, parent_state_id FROM states"
            ).fetchall()
        found = []
        for sid, flow, status, created, updated, parent in rows:
            try:
                state_status = StateStatus(status)
            except ValueError:
                raise self._failure(
                    None, sid, "nothing was listed", f"unknown status {status!r}"
                ) from None
            found.append(
                StateSummary(
                    state_id=sid,
                    flow=flow,
                    status=state_status,
                    created_at=created,
                    updated_at=updated,
                    tags=tuple(tags.get(sid, ())),
                    parent_state_id=parent,
                )
            )
        return found

    def _delete(self, state_id: str) -> None:
        with self._sql(state_id, "nothing was deleted") as connection, connection:
            connection.execute("BEGIN IMMEDIATE")
            first = self._number(state_id, connection) << 32
            connection.execute(
                "DELETE FROM events WHERE id BETWEEN ? AND ?", (first, first | _SEQ_MASK)
            )
            connection.execute("DELETE FROM state_tags WHERE state_id = ?", (state_id,))
            connection.execute("DELETE FROM states WHERE state_id = ?", (state_id,))
        self._numbers.pop(state_id, None)

    def close(self) -> None:
        """Close every connection this object opened."""
        self._db.close()
