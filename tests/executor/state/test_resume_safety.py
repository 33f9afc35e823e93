"""Runs stay resumable: after a torn write, a typo in inputs=, damaged files."""

import sqlite3

import pytest

from executor import FlowInputError, RunStatus, StepFailed
from executor.state import (
    FileSystemStateBackend,
    SQLiteStateBackend,
    StateCorrupted,
    StateMetadata,
    StateStatus,
)
from tests.executor.state import state_steps as ss


def test_a_torn_last_line_is_cut_off_before_the_next_append(tmp_path, caplog):
    root = tmp_path / "states"
    with pytest.raises(StepFailed) as failed:
        ss.fragile().run(n=3, store=FileSystemStateBackend(root))
    state_id = failed.value.result.state_id
    events = root / state_id / "events.jsonl"
    whole = events.read_bytes()
    events.write_bytes(whole + b'{"seq":2,"event":{"address":"fragile/sha')  # killed mid-write

    # A new process (a new backend object) resumes it, twice.
    store = FileSystemStateBackend(root)
    with pytest.raises(StepFailed):
        ss.fragile().resume(state_id, store=store)
    assert "cut off the last event" in caplog.text
    assert events.read_bytes().startswith(whole)
    assert events.read_bytes().endswith(b"\n")
    result = ss.fragile().resume(
        state_id, store=FileSystemStateBackend(root), inputs={"fixed": True}
    )
    assert result["shaky"] == 3

    state = FileSystemStateBackend(root).load(state_id)
    assert state.status is StateStatus.COMPLETED
    assert [(e.address, e.status) for e in state.events] == [
        ("fragile/load", "completed"),
        ("fragile/shaky", "failed"),
        ("fragile/shaky", "failed"),
        ("fragile/shaky", "completed"),
    ]
    assert [e.seq for e in state.events] == [0, 1, 2, 3]


def test_a_file_with_only_a_torn_line_is_emptied_before_the_next_append(tmp_path):
    root = tmp_path / "states"
    state_id = FileSystemStateBackend(root).create_state("fragile", {"n": 2}, StateMetadata(), None)
    events = root / state_id / "events.jsonl"
    events.write_bytes(b'{"seq":0,"ev' + b"x" * 100_000)  # longer than one read back
    result = ss.fragile().resume(
        state_id, store=FileSystemStateBackend(root), inputs={"fixed": True}
    )
    assert result["shaky"] == 2
    assert len(FileSystemStateBackend(root).load(state_id).events) == 2


def test_a_typo_in_resumed_inputs_writes_nothing(store):
    paused = ss.gated().run(n=3, store=store)
    before = store.load(paused.state_id)

    with pytest.raises(FlowInputError, match="aproval"):
        ss.gated().resume(paused.state_id, store=store, inputs={"aproval": True})
    with pytest.raises(FlowInputError, match="aproval"):
        ss.gated().resume(
            paused.state_id, store=store, inputs={"aproval": True}, resume_from="gated/total"
        )
    assert store.load(paused.state_id) == before  # inputs, status, events: untouched
    assert len(store.list_states()) == 1  # no new run for resume_from

    done = ss.gated().resume(paused.state_id, store=store, inputs={"approval": True})
    assert done.status is RunStatus.COMPLETED and done["approve"] == 5


def test_a_run_refused_for_its_inputs_stores_nothing(store):
    with pytest.raises(FlowInputError, match="nn"):
        ss.report().run(nn=3, store=store)
    assert store.list_states() == []


def test_list_states_on_an_sqlite_file_damaged_in_the_middle_names_it(tmp_path):
    path = tmp_path / "state.db"
    store = SQLiteStateBackend(path)
    state_id = ss.report().run(n=1, store=store).state_id
    for n in range(40):
        ss.report().run(n=n, store=store)
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'states'").fetchone()
        (pages,) = db.execute("PRAGMA page_count").fetchone()
    assert 1 < root < pages  # a page in the middle of the file, not the header
    data = bytearray(path.read_bytes())
    offset = (root - 1) * page_size
    data[offset : offset + page_size] = b"\xa5" * page_size
    path.write_bytes(bytes(data))

    store = SQLiteStateBackend(path)  # the header and schema are intact: it opens
    with pytest.raises(StateCorrupted, match=r"state file '.*state\.db': unreadable"):
        store.list_states()
    with pytest.raises(StateCorrupted, match=r"state file '.*state\.db'"):
        store.load(state_id)
