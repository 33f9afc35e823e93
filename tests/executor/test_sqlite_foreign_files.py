"""The SQLite state store and cache never write into a file they did not make.

SQLite takes a file of one byte for an empty database and overwrites it; another
program's SQLite database would get our tables added. Both are refused before
SQLite writes anything, naming the path and the fix; an empty file (``touch``) is
a database-to-be, and a file another process is writing at that moment is waited
for, not refused.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executor.cache import SQLiteCache
from executor.cache._sqlite import CacheFileError
from executor.state import SQLiteStateBackend, StateCorrupted

_HEADER = b"SQLite format 3\x00"
_KINDS = [(SQLiteStateBackend, StateCorrupted), (SQLiteCache, CacheFileError)]


def _refused(kind: type, error: type, path: Path) -> str:
    before = path.read_bytes()
    with pytest.raises(error) as info:
        kind(path)
    assert path.read_bytes() == before  # not a byte changed
    message = str(info.value)
    assert repr(str(path)) in message
    assert "move this file aside" in message
    return message


@pytest.mark.parametrize(("kind", "error"), _KINDS)
@pytest.mark.parametrize("data", [b"x", b"\n", b"\x00", b"S", b"ab"])
def test_a_file_of_one_or_two_bytes_is_refused_and_kept(tmp_path, kind, error, data):
    path = tmp_path / "store.db"
    path.write_bytes(data)
    message = _refused(kind, error, path)
    assert f"file is not a database: it starts with {data!r}" in message


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(min_size=1, max_size=64).filter(lambda d: not d.startswith(_HEADER)))
def test_any_non_empty_file_that_is_not_sqlite_is_refused_and_kept(tmp_path, data):
    path = tmp_path / "state.db"
    path.write_bytes(data)
    # A short prefix of SQLite's header is waited for (it may be being written): briefly.
    with pytest.raises(StateCorrupted):
        SQLiteStateBackend(path, timeout=0.05)
    assert path.read_bytes() == data


@pytest.mark.parametrize(("kind", "error"), _KINDS)
def test_another_programs_database_is_refused_and_not_changed(tmp_path, kind, error):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (name TEXT)")
    connection.close()
    message = _refused(kind, error, path)
    assert "a SQLite database whose tables are users" in message
    with sqlite3.connect(path) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master").fetchall()
    connection.close()
    assert tables == [("users",)]


def test_a_cache_is_not_made_inside_a_state_store(tmp_path):
    path = tmp_path / "state.db"
    SQLiteStateBackend(path).close()
    with pytest.raises(CacheFileError, match="tables are artifacts, events, flowexec_meta"):
        SQLiteCache(path)
    SQLiteStateBackend(path).close()  # still a sound state store


@pytest.mark.parametrize(("kind", "error"), _KINDS)
def test_an_empty_file_becomes_a_database(tmp_path, kind, error):
    path = tmp_path / "store.db"
    path.touch()  # `touch` first, then open: a common way to make the file
    kind(path).close()
    assert path.read_bytes().startswith(_HEADER)


def test_a_file_being_written_by_another_process_is_waited_for(tmp_path):
    real = tmp_path / "real.db"
    SQLiteStateBackend(real).close()
    whole = real.read_bytes()
    path = tmp_path / "state.db"
    path.write_bytes(whole[:5])  # the writer's first bytes are there, the rest not yet

    def finish() -> None:
        time.sleep(0.3)
        path.write_bytes(whole)

    writer = threading.Thread(target=finish)
    writer.start()
    try:
        store = SQLiteStateBackend(path, timeout=30.0)
    finally:
        writer.join()
    assert store.list_states() == []
    store.close()
