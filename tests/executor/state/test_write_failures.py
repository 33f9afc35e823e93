"""Writes the file system refuses (a full disk, a read-only folder, a path through a
regular file) raise StateWriteFailed, never a bare OSError: the message names the run,
the step address, the path, the OS's reason and the fix, and nothing is half-written
(the files keep their previous bytes). The process runs as root in CI, where chmod
does not make a write fail: failures are simulated with monkeypatch, and made real
with a path whose parent is a regular file."""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path

import pytest

from executor import Flow, StepFailed, step
from executor.cache import CacheFileError, SQLiteCache
from executor.state import (
    FileSystemArtifactBackend,
    FileSystemStateBackend,
    SQLiteStateBackend,
    StateError,
    StateMetadata,
    StateStatus,
    StateWriteFailed,
)
from tests.executor.state import state_steps as ss
from tests.executor.state.conftest import append_extra

NO_SPACE = "No space left on device"


def _no_space(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, NO_SPACE)


def _run_files(store: FileSystemStateBackend, state_id: str) -> dict[str, bytes]:
    """Every file of the run's folder, with its bytes (temporary files included)."""
    folder = store.root / state_id
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _says_all(error: StateWriteFailed, state_id: str | None, path: Path, *words: str) -> None:
    text = str(error)
    if state_id is not None:
        assert f"state {state_id!r}" in text and error.state_id == state_id
    assert repr(str(path)) in text and error.path == str(path)
    assert NO_SPACE in text and error.reason == NO_SPACE and error.errno == errno.ENOSPC
    assert "Free some disk space" in text
    for word in words:
        assert word in text


@pytest.fixture
def stored(tmp_path):
    """A filesystem store holding one completed run of ``report``."""
    store = FileSystemStateBackend(tmp_path / "states")
    return store, ss.report().run(n=3, store=store).state_id


def test_a_failed_append_names_the_step_and_leaves_the_events_as_they_were(stored, monkeypatch):
    store, state_id = stored
    before = _run_files(store, state_id)
    monkeypatch.setattr(os, "write", _no_space)
    with pytest.raises(StateWriteFailed) as info:
        append_extra(store, state_id)
    monkeypatch.undo()
    path = store.root / state_id / "events.jsonl"
    _says_all(info.value, state_id, path, "the event of 'report/extra' was not stored")
    assert isinstance(info.value, OSError)  # code that caught the bare OSError still does
    assert _run_files(store, state_id) == before
    assert len(store.load(state_id).events) == 3


def test_a_short_write_is_cut_back_so_no_part_of_the_event_stays(stored, monkeypatch):
    store, state_id = stored
    before = _run_files(store, state_id)
    real_write = os.write

    def half(handle: int, data: bytes) -> int:  # the disk fills up halfway through
        return real_write(handle, data[: len(data) // 2])

    monkeypatch.setattr(os, "write", half)
    with pytest.raises(StateWriteFailed, match="report/extra") as info:
        append_extra(store, state_id)
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC
    assert _run_files(store, state_id) == before
    append_extra(store, state_id)  # the next event lands on a whole line
    assert [e.address for e in store.load(state_id).events][-1] == "report/extra"


@pytest.mark.parametrize("call", ["fsync", "replace"])
def test_a_failed_status_write_keeps_the_previous_state_json(stored, monkeypatch, call):
    store, state_id = stored
    before = _run_files(store, state_id)
    monkeypatch.setattr(os, call, _no_space)
    with pytest.raises(StateWriteFailed) as info:
        store.finish_state(state_id, StateStatus.FAILED)
    monkeypatch.undo()
    path = store.root / state_id / "state.json"
    _says_all(info.value, state_id, path, "its status was not set to 'failed'")
    assert _run_files(store, state_id) == before  # the same bytes, no temporary file left
    assert store.load(state_id).status is StateStatus.COMPLETED


@pytest.mark.parametrize("call", ["fsync", "replace"])
def test_a_run_whose_state_json_cannot_be_written_leaves_no_folder(tmp_path, monkeypatch, call):
    store = FileSystemStateBackend(tmp_path / "states")
    monkeypatch.setattr(os, call, _no_space)
    with pytest.raises(StateWriteFailed) as info:
        store.create_state("report", {"n": 1}, StateMetadata(), None)
    monkeypatch.undo()
    state_id = info.value.state_id
    assert state_id is not None
    path = store.root / state_id / "state.json"
    _says_all(info.value, state_id, path, f"run {state_id!r} of flow 'report' was not stored")
    assert list(store.root.iterdir()) == []
    assert store.list_states() == []


def test_a_store_under_a_regular_file_names_the_file_in_the_way(tmp_path):
    (tmp_path / "notes").write_text("not a folder\n")
    root = tmp_path / "notes" / "states"
    with pytest.raises(StateWriteFailed) as info:
        FileSystemStateBackend(root)
    text = str(info.value)
    assert repr(str(root)) in text and "the state folder was not created" in text
    assert f"{str(tmp_path / 'notes')!r} is a file, not a folder" in text
    assert info.value.errno == errno.ENOTDIR
    assert (tmp_path / "notes").read_text() == "not a folder\n"


@pytest.mark.parametrize("make", [SQLiteStateBackend, SQLiteCache], ids=["state", "cache"])
def test_a_sqlite_file_under_a_regular_file_names_the_file_in_the_way(tmp_path, make):
    (tmp_path / "notes").write_text("not a folder\n")
    path = tmp_path / "notes" / "flowexec" / "file.db"
    expected = StateWriteFailed if make is SQLiteStateBackend else CacheFileError
    with pytest.raises(expected) as info:
        make(path)
    text = str(info.value)
    assert repr(str(path)) in text
    assert f"{str(tmp_path / 'notes')!r} is a file, not a folder" in text
    assert (tmp_path / "notes").read_text() == "not a folder\n"


def test_the_error_crosses_a_process_line_whole(stored, monkeypatch):
    store, state_id = stored
    monkeypatch.setattr(os, "write", _no_space)
    with pytest.raises(StateWriteFailed) as info:
        append_extra(store, state_id)
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is StateWriteFailed and str(back) == str(info.value)
    assert (back.path, back.state_id, back.errno) == (info.value.path, state_id, errno.ENOSPC)


# -- a run whose checkpoint cannot be written --------------------------------------------


@pytest.mark.parametrize("executor", ["sequential", "threaded", "async"])
def test_a_run_whose_checkpoint_fails_stops_naming_the_step_and_stays_resumable(
    tmp_path, monkeypatch, executor
):
    store = FileSystemStateBackend(tmp_path / "states")
    real_write = os.write
    events = []

    def full_after_the_first_event(handle: int, data: bytes) -> int:
        if data.startswith(b'{"seq"'):
            events.append(data)
            if len(events) > 1:
                raise OSError(errno.ENOSPC, NO_SPACE)
        return real_write(handle, data)

    monkeypatch.setattr(os, "write", full_after_the_first_event)
    with pytest.raises(StateWriteFailed) as info:
        ss.report().run(n=3, store=store, executor=executor)
    monkeypatch.undo()
    (summary,) = store.list_states()
    path = store.root / summary.state_id / "events.jsonl"
    _says_all(info.value, summary.state_id, path, "the event of 'report/square' was not stored")
    state = store.load(summary.state_id)  # the checkpoint before the failure loads
    assert state.status is StateStatus.RUNNING
    assert [(e.address, e.status, e.output) for e in state.events] == [
        ("report/load", "completed", [0, 1, 2])
    ]
    assert path.read_bytes() == events[0]  # no part of a later event
    resumed = ss.report().resume(summary.state_id, store=store)  # the disk has room again
    assert resumed["total"] == 5
    assert resumed.steps["report/load"].status.value == "replayed"


def test_a_checkpoint_that_fails_once_fails_its_step(tmp_path, monkeypatch):
    store = FileSystemStateBackend(tmp_path / "states")
    real_write = os.write
    failed = []

    def full_once(handle: int, data: bytes) -> int:
        if b'"address":"report/square"' in data and not failed:
            failed.append(data)
            raise OSError(errno.ENOSPC, NO_SPACE)
        return real_write(handle, data)

    monkeypatch.setattr(os, "write", full_once)
    with pytest.raises(StepFailed) as info:
        ss.report().run(n=3, store=store)
    monkeypatch.undo()
    assert info.value.address == "report/square"
    assert isinstance(info.value.cause, StateWriteFailed)
    assert "the event of 'report/square' was not stored" in str(info.value)
    state = store.load(info.value.result.state_id)
    assert [(e.address, e.status) for e in state.events] == [
        ("report/load", "completed"),
        ("report/square", "failed"),
    ]


@pytest.mark.parametrize("kind", ["sqlite", "files"])
def test_an_artifact_that_cannot_be_written_names_the_run_and_the_step(tmp_path, kind):
    """A real failure: the artifact folder's parent is a regular file."""
    (tmp_path / "notes").write_text("not a folder\n")
    artifacts = FileSystemArtifactBackend(tmp_path / "notes" / "artifacts")
    if kind == "sqlite":
        store = SQLiteStateBackend(tmp_path / "state.db", artifacts=artifacts)
    else:
        store = FileSystemStateBackend(tmp_path / "states", artifacts=artifacts)

    @step
    def small(n: int) -> int:
        return n

    @step
    def large(small: int) -> str:
        return "x" * (100 * 1024)  # over the artifact threshold

    with pytest.raises(StepFailed) as info:
        Flow("blobs", [small, large]).run(n=1, store=store)
    assert info.value.address == "blobs/large"
    assert isinstance(info.value.cause, StateWriteFailed)
    (summary,) = store.list_states()
    text = str(info.value.cause)
    assert f"state {summary.state_id!r}" in text
    assert "the output of 'blobs/large' was not stored" in text
    assert str(tmp_path / "notes" / "artifacts") in text
    assert f"{str(tmp_path / 'notes')!r} is a file, not a folder" in text
    events = store.load(summary.state_id).events  # its failure is stored (it is small)
    assert [(e.address, e.status, e.output) for e in events] == [
        ("blobs/small", "completed", 1),
        ("blobs/large", "failed", None),
    ]


def test_a_sqlite_artifact_that_cannot_be_written_names_the_run_and_the_step(tmp_path):
    store = SQLiteStateBackend(tmp_path / "state.db")
    state_id = store.create_state("f", {}, StateMetadata(), None)

    class FullArtifacts:
        def put(self, data: bytes) -> str:
            raise StateError("state file 'x': database or disk is full; free some disk space")

        def get(self, digest: str) -> bytes:
            raise KeyError(digest)

    store.artifacts = FullArtifacts()
    with pytest.raises(StateError, match="free some disk space") as info:
        store.append_event(
            state_id,
            1,
            "f/large",
            digest=None,
            status="completed",
            output="x" * (100 * 1024),
            attempts=1,
            started_at=None,
            ended_at=None,
            error=None,
        )
    assert f"state {state_id!r}: the output of 'f/large' was not stored" in str(info.value)
    assert store.load(state_id).events == ()


def test_a_cache_write_on_a_full_disk_names_the_entry_and_changes_nothing(tmp_path):
    import sqlite3

    cache = SQLiteCache(tmp_path / "cache.db")
    cache.put("k1", {"value": 1})
    real = cache._connection

    class Full:
        def execute(self, sql: str, *args: object) -> object:
            if sql.startswith("INSERT"):
                raise sqlite3.OperationalError("database or disk is full")
            return real().execute(sql, *args)

    cache._connection = Full  # type: ignore[method-assign]
    with pytest.raises(CacheFileError) as info:
        cache.put("k1", {"value": 2})
    cache._connection = real  # type: ignore[method-assign]
    text = str(info.value)
    assert repr(str(tmp_path / "cache.db")) in text and "entry k1 was not stored" in text
    assert "database or disk is full" in text and "free some disk space" in text
    assert cache.get("k1") == {"value": 1}
    cache.close()


def _sqlite_full(connection: object) -> None:
    """Make the SQLite file 'full' for real: no page may be added to it."""
    import sqlite3

    assert isinstance(connection, sqlite3.Connection)
    (pages,) = connection.execute("PRAGMA page_count").fetchone()
    connection.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_sqlite_file_raises_state_write_failed_naming_run_step_path_and_fix(tmp_path):
    """Real SQLite errors, no monkeypatch: SQLITE_FULL through max_page_count."""
    path = tmp_path / "state.db"
    store = SQLiteStateBackend(path)
    state_id = ss.report().run(n=3, store=store).state_id
    before = store.load(state_id).events
    _sqlite_full(store._connection())
    with pytest.raises(StateWriteFailed) as info:
        store.append_event(
            state_id,
            99,
            "report/extra",
            digest=None,
            status="completed",
            output="x" * 60_000,  # several pages, under the artifact threshold
            attempts=1,
            started_at=None,
            ended_at=None,
            error=None,
        )
    error = info.value
    assert isinstance(error, StateError) and isinstance(error, OSError)
    assert error.errno == errno.ENOSPC and error.path == str(path)
    assert error.state_id == state_id and error.reason == "database or disk is full"
    text = str(error)
    assert f"state {state_id!r}: cannot write {str(path)!r} (database or disk is full)" in text
    assert "the event of 'report/extra' was not stored" in text
    assert "Free some disk space" in text
    assert pickle.loads(pickle.dumps(error)).args == error.args
    assert store.load(state_id).events == before  # nothing half-written
    store.close()


def test_a_run_on_a_full_sqlite_file_stops_and_resumes_once_there_is_room(tmp_path):
    path = tmp_path / "state.db"
    store = SQLiteStateBackend(path)
    ss.report().run(n=3, store=store)
    connection = store._connection()
    _sqlite_full(connection)
    with pytest.raises(StepFailed) as info:
        ss.report().run(n=3000, store=store)  # load's output needs pages the file cannot get
    # Its completion was not stored; its (small) failure was, as on a full file system.
    assert info.value.address == "report/load"
    cause = info.value.cause
    assert isinstance(cause, StateWriteFailed) and cause.errno == errno.ENOSPC
    text = str(cause)
    assert repr(str(path)) in text and "database or disk is full" in text
    assert "the event of 'report/load' was not stored" in text and "Free some disk space" in text
    connection.execute("PRAGMA max_page_count = 1073741823")  # room again
    state_id = info.value.result.state_id
    assert [e.status for e in store.load(state_id).events] == ["failed"]
    assert ss.report().resume(state_id, store=store)["total"] == ss.report().run(n=3000)["total"]
    store.close()


def test_a_read_only_sqlite_file_raises_state_write_failed(tmp_path):
    """Real SQLITE_READONLY (PRAGMA query_only: chmod does not stop root)."""
    path = tmp_path / "state.db"
    store = SQLiteStateBackend(path)
    store._connection().execute("PRAGMA query_only = 1")
    with pytest.raises(StateWriteFailed) as info:
        ss.report().run(n=3, store=store)
    error = info.value
    assert error.errno == errno.EROFS and error.path == str(path)
    assert "attempt to write a readonly database" in str(error)
    assert "was not stored" in str(error) and "Make the file and its folder writable" in str(error)
    assert store.list_states() == []
    store.close()


def test_a_full_sqlite_cache_names_the_entry_and_keeps_the_old_value(tmp_path):
    path = tmp_path / "cache.db"
    cache = SQLiteCache(path)
    cache.put("k1", "small")
    _sqlite_full(cache._connection())
    with pytest.raises(CacheFileError) as info:
        cache.put("k2", "x" * 60_000)
    text = str(info.value)
    assert repr(str(path)) in text and "entry k2 was not stored" in text
    assert "database or disk is full" in text and "free some disk space" in text
    cache._connection().execute("PRAGMA query_only = 1")
    with pytest.raises(CacheFileError, match=r"entry k1 was not deleted.*readonly database"):
        cache.delete("k1")
    assert cache.get("k1") == "small" and cache.get("k2") is None
    cache.close()
