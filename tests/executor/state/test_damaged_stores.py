"""Damaged, truncated or foreign store files: every operation names the file, says
what did not happen and what to do, and raises the project's errors (never a bare
sqlite3 or OS error); the three backends agree."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from executor.state import (
    FileSystemStateBackend,
    SQLiteStateBackend,
    StateCorrupted,
    StateError,
    StateMetadata,
    StateNotFound,
    StateStatus,
    StateWriteFailed,
)
from tests.executor.state import state_steps as ss
from tests.executor.state.conftest import append_extra


def _filled_sqlite_file(path: Path) -> str:
    """A state file holding 41 runs; returns the first run's id."""
    store = SQLiteStateBackend(path)
    state_id = ss.report().run(n=1, store=store).state_id
    for n in range(40):
        ss.report().run(n=n, store=store)
    store.close()
    return state_id


def _damage_table(path: Path, table: str) -> None:
    """Overwrite the root page of ``table`` with garbage (the file header stays intact)."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        (root,) = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()
    db.close()
    data = bytearray(path.read_bytes())
    offset = (root - 1) * page_size
    data[offset : offset + page_size] = b"\xa5" * page_size
    path.write_bytes(bytes(data))


def _names_the_file_and_the_fix(error: BaseException, path: Path, outcome: str) -> None:
    text = str(error)
    assert f"state file {str(path)!r}" in text
    assert outcome in text
    assert "Move the file aside" in text and f"sqlite3 {path} .recover" in text


def test_writes_to_a_damaged_sqlite_file_name_it_and_change_nothing(tmp_path):
    path = tmp_path / "state.db"
    state_id = _filled_sqlite_file(path)
    _damage_table(path, "states")
    before = path.read_bytes()

    store = SQLiteStateBackend(path)  # header and schema intact: it opens
    with pytest.raises(StateCorrupted) as info:
        store.finish_state(state_id, StateStatus.COMPLETED)  # reads the header first
    _names_the_file_and_the_fix(info.value, path, "nothing was loaded or changed")
    assert info.value.state_id == state_id
    with pytest.raises(StateCorrupted) as info:
        store.reopen_state(state_id, {"n": 2})
    _names_the_file_and_the_fix(info.value, path, "nothing was loaded or changed")
    with pytest.raises(StateCorrupted) as info:
        ss.report().run(n=1, store=store)  # a new run: its row cannot be inserted
    _names_the_file_and_the_fix(info.value, path, "was not stored")
    with pytest.raises(StateCorrupted) as info:
        store.create_state("report", {"n": 1}, StateMetadata(tags=("t",)), None)
    _names_the_file_and_the_fix(info.value, path, "was not stored")
    with pytest.raises(StateCorrupted) as info:
        store.delete_state(state_id)
    _names_the_file_and_the_fix(info.value, path, "nothing was loaded")
    store.close()
    assert path.read_bytes() == before  # every failed write was rolled back


def test_appending_to_a_damaged_events_table(tmp_path):
    path = tmp_path / "state.db"
    state_id = _filled_sqlite_file(path)
    _damage_table(path, "events")
    store = SQLiteStateBackend(path)
    with pytest.raises(StateCorrupted) as info:
        append_extra(store, state_id)
    _names_the_file_and_the_fix(info.value, path, "the event of 'report/extra' was not stored")
    # A run on that file stops with the same error, not a bare sqlite3 one.
    with pytest.raises(StateCorrupted, match="was not stored"):
        ss.report().run(n=3, store=store)
    store.close()


def test_a_sqlite_file_truncated_under_an_open_store(tmp_path):
    path = tmp_path / "state.db"
    state_id = _filled_sqlite_file(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    store = SQLiteStateBackend(path)  # opened while the file was whole
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    for operation in (
        store.list_states,
        lambda: store.load(state_id),
        lambda: store.finish_state(state_id, StateStatus.FAILED),
        lambda: ss.report().run(n=1, store=store),
    ):
        with pytest.raises(StateCorrupted, match=re.escape(f"state file {str(path)!r}")):
            operation()
    store.close()
    with pytest.raises(StateCorrupted) as info:  # and opening it again
        SQLiteStateBackend(path)
    _names_the_file_and_the_fix(info.value, path, "nothing was read or written")


def test_a_file_that_is_not_sqlite_names_the_path_and_the_fix(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"this is a text file, not a database\n" * 200)
    with pytest.raises(StateCorrupted) as info:
        SQLiteStateBackend(path)
    text = str(info.value)
    assert "file is not a database" in text and f"state file {str(path)!r}" in text
    assert "nothing was read or written" in text
    # Not the damaged file's fix (.recover): it never was a database; and it is kept.
    assert "move this file aside if it is not needed" in text and ".recover" not in text
    assert path.read_bytes() == b"this is a text file, not a database\n" * 200


def test_a_file_of_another_format_says_which_flowexec_reads_it(tmp_path):
    path = tmp_path / "state.db"
    SQLiteStateBackend(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE flowexec_meta SET value = '99' WHERE name = 'format'")
    db.close()
    with pytest.raises(StateCorrupted, match=r"has format '99'.*flowexec version that wrote it"):
        SQLiteStateBackend(path)


def test_an_unknown_status_in_a_listing_is_named(tmp_path):
    path = tmp_path / "state.db"
    store = SQLiteStateBackend(path)
    state_id = ss.report().run(n=1, store=store).state_id
    with sqlite3.connect(path) as db:
        db.execute("UPDATE states SET status = 'exploded'")
    db.close()
    with pytest.raises(StateCorrupted, match=f"state '{state_id}'.*unknown status 'exploded'"):
        store.list_states()
    store.close()


def test_a_locked_file_is_not_called_damaged(tmp_path):
    path = tmp_path / "state.db"
    store = SQLiteStateBackend(path, timeout=0.05)
    state_id = ss.report().run(n=1, store=store).state_id
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StateError) as info:
            store.create_state("report", {"n": 1}, StateMetadata(), None)
        assert not isinstance(info.value, StateCorrupted)
        assert str(path) in str(info.value) and "database is locked" in str(info.value)
        assert "longer timeout=" in str(info.value)
        with pytest.raises(StateError, match="the event of 'report/extra' was not stored"):
            append_extra(store, state_id)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    append_extra(store, state_id)  # the lock is gone: the same call works
    store.close()


# -- the filesystem backend ---------------------------------------------------------------


def test_damaged_state_json_is_named_by_every_operation(tmp_path):
    root = tmp_path / "states"
    store = FileSystemStateBackend(root)
    state_id = ss.report().run(n=1, store=store).state_id
    row = root / state_id / "state.json"
    fix = f"delete the run's folder {str(row.parent)!r}"
    for damage in (b'{"flow": "rep', b"\xff\xfe not utf-8", b"[1, 2]", b"{}"):
        row.write_bytes(damage)
        fresh = FileSystemStateBackend(root)  # a new process: nothing known yet
        with pytest.raises(StateCorrupted, match="nothing was listed") as info:
            fresh.list_states()
        assert f"file {str(row)!r}" in str(info.value) and fix in str(info.value)
        with pytest.raises(StateCorrupted, match="nothing was loaded"):
            fresh.load(state_id)
        with pytest.raises(StateCorrupted, match="nothing was loaded or changed"):
            fresh.finish_state(state_id, StateStatus.COMPLETED)
        with pytest.raises(StateCorrupted, match="the event of 'report/extra' was not stored"):
            append_extra(fresh, state_id)
        assert row.read_bytes() == damage  # nothing was written over it


def test_a_bad_field_in_state_json_is_named(tmp_path):
    root = tmp_path / "states"
    state_id = ss.report().run(n=1, store=FileSystemStateBackend(root)).state_id
    row = root / state_id / "state.json"
    data = json.loads(row.read_text())
    data["status"] = "exploded"
    row.write_text(json.dumps(data))
    with pytest.raises(StateCorrupted, match=f"state '{state_id}'.*'exploded'"):
        FileSystemStateBackend(root).list_states()


def test_a_missing_events_file_is_named_onappend_extra(tmp_path):
    root = tmp_path / "states"
    state_id = ss.report().run(n=1, store=FileSystemStateBackend(root)).state_id
    events = root / state_id / "events.jsonl"
    events.unlink()
    with pytest.raises(StateCorrupted, match="the events file is missing") as info:
        append_extra(FileSystemStateBackend(root), state_id)
    assert f"file {str(events)!r}" in str(info.value)
    assert "the event of 'report/extra' was not stored" in str(info.value)


def test_a_run_whose_creation_failed_is_not_listed(tmp_path, monkeypatch):
    root = tmp_path / "states"
    store = FileSystemStateBackend(root)

    def no_space(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "touch", no_space)
    with pytest.raises(StateWriteFailed, match=r"No space left.*Free some disk space"):
        store.create_state("report", {"n": 1}, StateMetadata(), None)
    monkeypatch.undo()
    assert store.list_states() == []  # no half-made run (a state.json without events)


# -- all three backends -------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    [
        lambda s: s.load("abc123"),
        lambda s: s.delete_state("abc123"),
        lambda s: s.finish_state("abc123", StateStatus.COMPLETED),
        lambda s: s.reopen_state("abc123", {}),
        lambda s: append_extra(s, "abc123"),
    ],
    ids=["load", "delete", "finish", "reopen", "append"],
)
def test_every_backend_says_not_found_the_same_way(store, operation):
    with pytest.raises(StateNotFound, match=r"no state 'abc123' in .*never stored, or deleted"):
        operation(store)


def test_every_backend_lists_tags_in_the_order_given(store):
    state_id = store.create_state(
        "report", {"n": 1}, StateMetadata(tags=("zeta", "alpha", "zeta")), None
    )
    # The listing: in the order given, each once (SQLite sorted them: alpha, zeta).
    (summary,) = store.list_states()
    assert summary.tags == ("zeta", "alpha")
    assert store.list_states(tags=["alpha", "zeta"]) == [summary]
    assert store.load(state_id).metadata.tags == ("zeta", "alpha", "zeta")  # exactly as given


def test_every_backend_loads_events_in_seq_order(store):
    state_id = store.create_state("report", {"n": 1}, StateMetadata(), None)
    for seq in (2, 0, 1):  # appended out of order, as two threads may do
        append_extra(store, state_id, seq)
    assert [e.seq for e in store.load(state_id).events] == [0, 1, 2]


def test_an_unreadable_artifact_file_is_named(tmp_path):
    root = tmp_path / "states"
    store = FileSystemStateBackend(root)
    state_id = store.create_state("report", {"n": 1}, StateMetadata(), None)
    store.append_event(
        state_id,
        0,
        "report/big",
        digest=None,
        status="completed",
        output="x" * 100_000,  # past the threshold: kept as an artifact
        attempts=1,
        started_at=None,
        ended_at=None,
        error=None,
    )
    (artifact,) = [p for p in (root / "_artifacts").rglob("*") if p.is_file()]
    artifact.unlink()
    artifact.mkdir()  # a folder where the file was: reading it is an OSError
    with pytest.raises(StateCorrupted, match=r"artifact \w+, the output of report/big \(event 0\)"):
        store.load(state_id)
    artifact.rmdir()
    with pytest.raises(StateCorrupted, match="Restore the artifact store"):
        store.load(state_id)
