"""FileSystemStateBackend and FileSystemArtifactBackend: plain files in a folder.

    <dir>/<state_id>/state.json     the run's header and status (replaced atomically)
    <dir>/<state_id>/events.jsonl   one event per line, appended (one write each)

An event is committed when its line ends with a newline: a last line without
one is a write cut short by a kill (the step in flight) and is left out, with a
warning; any other damage is an error naming the file. Before the first append to
a run it did not create, a backend cuts such a line off, so that a resumed run's
events never land on the end of it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from executor._newfiles import temporary_beside
from executor.state._model import (
    StateCorrupted,
    StateNotFound,
    StateStatus,
    StateSummary,
    StateWriteFailed,
)
from executor.state._store import ArtifactBackend, StateStore

logger = logging.getLogger("executor.state")

_ROW_FIELDS = ("flow", "status", "created_at", "updated_at", "header")
"""What a run's state.json must hold."""


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = temporary_beside(path)  # the umask's mode, not mkstemp's 0600
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class FileSystemArtifactBackend:
    """Artifacts as files named by their SHA-256, under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
            try:
                write_atomically(path, data)
            except OSError as error:
                raise StateWriteFailed.from_os_error(
                    error, path, None, f"artifact {digest} was not stored"
                ) from error
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self._path(digest).read_bytes()
        except FileNotFoundError:
            raise KeyError(digest) from None


class FileSystemStateBackend(StateStore):
    """Each run a folder of plain files under ``root`` (see the module docstring)."""

    def __init__(
        self,
        root: str | os.PathLike[str] = ".flowexec/states",
        *,
        codec: Any = "json",
        artifacts: ArtifactBackend | None = None,
    ) -> None:
        self.root = Path(root)
        self.location = f"state folder {str(self.root)!r}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StateWriteFailed.from_os_error(
                error, self.root, None, "the state folder was not created"
            ) from error
        self._lock = threading.Lock()
        self._mended: set[str] = set()  # runs whose events file ends with a whole line
        super().__init__(codec=codec, artifacts=artifacts)

    def __repr__(self) -> str:
        return f"<FileSystemStateBackend {str(self.root)!r}>"

    def _default_artifacts(self) -> ArtifactBackend:
        return FileSystemArtifactBackend(self.root / "_artifacts")

    def _folder(self, state_id: str) -> Path:
        if not state_id.isalnum():
            raise StateNotFound(state_id, self.location)
        return self.root / state_id

    def _write_row(self, state_id: str, row: dict[str, Any], outcome: str) -> None:
        text = json.dumps(row, sort_keys=True, ensure_ascii=False)
        path = self._folder(state_id) / "state.json"
        try:
            write_atomically(path, text.encode())  # the old file or the new, never half
        except OSError as error:
            raise StateWriteFailed.from_os_error(error, path, state_id, outcome) from error

    def _read_row(self, state_id: str, outcome: str = "nothing was loaded") -> dict[str, Any]:
        path = self._folder(state_id) / "state.json"
        try:
            row = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise StateNotFound(state_id, self.location) from None
        except ValueError as error:  # not JSON, or not UTF-8
            raise self._damaged(
                path, state_id, f"damaged or truncated ({error})", outcome
            ) from None
        missing = [name for name in _ROW_FIELDS if not isinstance(row, dict) or name not in row]
        if missing:
            raise self._damaged(path, state_id, f"missing field(s) {', '.join(missing)}", outcome)
        return row  # type: ignore[no-any-return]

    def _damaged(self, path: Path, state_id: str, problem: str, outcome: str) -> StateCorrupted:
        return StateCorrupted(
            f"file {str(path)!r}",
            state_id,
            problem,
            outcome=outcome,
            fix=f"Restore the file from a backup, or delete the run's folder "
            f"{str(path.parent)!r} (the rest of {self.location} is unaffected)",
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
        # The events file first: a run is listed once its state.json exists, so a
        # write cut short here leaves no half-made run behind, and the folder, new
        # with the new id, is removed again.
        folder = self._folder(state_id)
        outcome = f"run {state_id!r} of flow {flow!r} was not stored"
        try:
            folder.mkdir(parents=True)
        except OSError as error:
            raise StateWriteFailed.from_os_error(error, folder, state_id, outcome) from error
        try:
            events = folder / "events.jsonl"
            try:
                events.touch()
            except OSError as error:
                raise StateWriteFailed.from_os_error(error, events, state_id, outcome) from error
            row = {
                "flow": flow,
                "status": status,
                "created_at": created,
                "updated_at": created,
                "parent_state_id": parent,
                "tags": list(tags),
                "header": header,
            }
            self._write_row(state_id, row, outcome)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._mended.add(state_id)

    def _append(self, state_id: str, seq: int, address: str, body: str) -> None:
        line = f'{{"seq":{seq},"event":{body}}}\n'.encode()
        path = self._folder(state_id) / "events.jsonl"
        outcome = f"the event of {address!r} was not stored"
        try:
            if state_id not in self._mended:
                self._read_row(state_id, outcome)
                self._mend(state_id, path, address)
            handle = os.open(path, os.O_WRONLY | os.O_APPEND)
            try:
                self._append_line(state_id, handle, line)
            finally:
                os.close(handle)
        except StateWriteFailed:
            raise
        except OSError as error:
            outcome += " (the run keeps its earlier events)"
            where = error.filename or path
            raise StateWriteFailed.from_os_error(error, where, state_id, outcome) from error

    def _append_line(self, state_id: str, handle: int, line: bytes) -> None:
        """Append ``line`` in one write; after a short one (a full disk), cut the part
        that was written off again, so that no part of the line stays behind (a write
        that fails writes nothing).

        Under the lock, so that no other thread's line lands after the part to cut.
        """
        with self._lock:
            written = os.write(handle, line)
            if written != len(line):
                try:
                    os.ftruncate(handle, os.fstat(handle).st_size - written)
                except OSError:
                    self._mended.discard(state_id)  # the next append cuts it off
                raise OSError(errno.ENOSPC, f"only {written} of {len(line)} bytes written")

    def _mend(self, state_id: str, path: Path, address: str) -> None:
        """Cut off a last line without a newline: an event whose write was cut short
        by a kill. Loading leaves it out already; appending after it would glue the
        next event onto it and damage the file for good."""
        with self._lock:
            if state_id in self._mended:
                return
            if not path.is_file():
                raise self._damaged(
                    path,
                    state_id,
                    "the events file is missing",
                    f"the event of {address!r} was not stored",
                )
            with open(path, "r+b") as file:
                size = file.seek(0, os.SEEK_END)
                whole = _end_of_last_line(file, size)
                if whole != size:
                    logger.warning(
                        "state %s: cut off the last event in %s, whose write was cut "
                        "short (the process was killed while writing it); its step runs "
                        "again",
                        state_id,
                        path,
                    )
                    file.truncate(whole)
            self._mended.add(state_id)

    def _update(self, state_id: str, status: str, updated: float, header: str | None) -> None:
        with self._lock:
            row = self._read_row(state_id, f"its status was not set to {status!r}")
            row["status"], row["updated_at"] = status, updated
            if header is not None:
                row["header"] = header
            self._write_row(state_id, row, f"its status was not set to {status!r}")

    def _read(self, state_id: str) -> tuple[str, str, float, float, str, list[tuple[int, str]]]:
        row = self._read_row(state_id)
        path = self._folder(state_id) / "events.jsonl"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise self._damaged(
                path, state_id, "the events file is missing", "nothing was loaded"
            ) from None
        lines = data.split(b"\n")
        if lines[-1]:
            logger.warning(
                "state %s: the last event in %s was cut short (the process was "
                "killed while writing it); it is left out",
                state_id,
                path,
            )
        events = []
        for number, line in enumerate(lines[:-1], start=1):
            try:
                parsed = json.loads(line)
                events.append((int(parsed["seq"]), json.dumps(parsed["event"])))
            except (ValueError, KeyError, TypeError) as error:
                raise self._damaged(
                    path, state_id, f"line {number} is damaged ({error})", "nothing was loaded"
                ) from None
        return (
            row["flow"],
            row["status"],
            row["created_at"],
            row["updated_at"],
            row["header"],
            events,
        )

    def _read_header(self, state_id: str) -> str:
        return str(self._read_row(state_id, "nothing was loaded or changed")["header"])

    def _summaries(self) -> Iterable[StateSummary]:
        found = []
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith("_") or not (folder / "state.json").exists():
                continue
            row = self._read_row(folder.name, "nothing was listed")
            try:
                summary = StateSummary(
                    state_id=folder.name,
                    flow=row["flow"],
                    status=StateStatus(row["status"]),
                    created_at=row["created_at"],
                    updated_at=row["updated_at"],
                    tags=tuple(dict.fromkeys(row.get("tags", ()))),
                    parent_state_id=row.get("parent_state_id"),
                )
            except (ValueError, TypeError) as error:
                raise self._damaged(
                    folder / "state.json", folder.name, f"bad field ({error})", "nothing was listed"
                ) from None
            found.append(summary)
        return found

    def _delete(self, state_id: str) -> None:
        shutil.rmtree(self._folder(state_id), ignore_errors=True)
        self._mended.discard(state_id)


def _end_of_last_line(file: BinaryIO, size: int) -> int:
    """The offset just after the last newline of ``file`` (0 when there is none)."""
    end = size
    while end > 0:
        start = max(0, end - 65536)
        file.seek(start)
        cut = file.read(end - start).rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0
