"""A damaged cache entry is a miss with one warning; a damaged or foreign cache file
is an error naming the file and the fix. The same on every backend."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from executor import Flow, StepFailed, StepStatus, step
from executor.cache import CacheFileError, CachePolicy, SQLiteCache

CALLS: list[int] = []


@step(cache=CachePolicy())
def double(n: int) -> dict[str, int]:
    CALLS.append(n)
    return {"n": n, "double": 2 * n}


def _flow() -> Flow:
    return Flow("twice", [double])


def _overwrite_sqlite_entry(cache: SQLiteCache, key: str, text: str) -> None:
    with sqlite3.connect(cache.path) as db:
        db.execute("UPDATE flowexec_cache SET value = ? WHERE key = ?", (text, key))
    db.close()


def _cache_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "executor.cache"]


def test_an_entry_that_is_not_json_is_a_miss_with_one_warning(tmp_path, caplog):
    cache = SQLiteCache(tmp_path / "cache.db")
    first = _flow().run(n=3, cache=cache)
    key = first.steps["twice/double"].cache_key
    _overwrite_sqlite_entry(cache, key, '{"n": 3, "dou')  # a torn or damaged body
    assert cache.get(key) is None  # straight from the backend: a miss too

    caplog.clear()
    CALLS.clear()
    with caplog.at_level(logging.WARNING, logger="executor.cache"):
        again = _flow().run(n=3, cache=cache)
    assert again.steps["twice/double"].status is StepStatus.COMPLETED and CALLS == [3]
    assert again["double"] == {"n": 3, "double": 6}
    (warning,) = _cache_warnings(caplog)  # exactly one, naming the entry and the file
    assert key in warning and str(tmp_path / "cache.db") in warning and "miss" in warning
    # The step's output overwrote the damaged entry: the next run is a hit.
    assert _flow().run(n=3, cache=cache).steps["twice/double"].status is StepStatus.CACHED
    cache.close()


@pytest.mark.parametrize(
    "stored",
    ["abc", {"n": 3}, [1, 2], [], 7],
    ids=["string", "object", "two-items", "empty", "number"],
)
def test_an_entry_not_written_by_the_engine_is_a_miss_not_a_wrong_value(backend, stored, caplog):
    first = _flow().run(n=3, cache=backend)
    key = first.steps["twice/double"].cache_key
    backend.put(key, stored)  # e.g. another tool wrote to the file, or a bug did

    caplog.clear()
    CALLS.clear()
    with caplog.at_level(logging.WARNING, logger="executor.cache"):
        again = _flow().run(n=3, cache=backend)
    # Before: a stored "abc" came back as the output "a" (its first character).
    assert again["double"] == {"n": 3, "double": 6} and CALLS == [3]
    (warning,) = _cache_warnings(caplog)
    assert "'twice/double'" in warning and key in warning and "not a cached value" in warning
    if isinstance(backend, SQLiteCache):
        assert str(backend.path) in warning


def test_a_json_null_entry_is_a_miss_with_a_warning(tmp_path, caplog):
    cache = SQLiteCache(tmp_path / "cache.db")
    key = _flow().run(n=3, cache=cache).steps["twice/double"].cache_key
    _overwrite_sqlite_entry(cache, key, "null")
    with caplog.at_level(logging.WARNING, logger="executor.cache"):
        assert cache.get(key) is None
    (warning,) = _cache_warnings(caplog)
    assert key in warning and "damaged" in warning
    cache.close()


def _damage_the_cache_table(cache: SQLiteCache) -> None:
    path = cache.path
    cache.close()
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO flowexec_cache (key, value) VALUES (?, ?)",
            [(f"k{i}", '"' + "x" * 200 + '"') for i in range(200)],
        )
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        roots = db.execute(  # the table and its indexes
            "SELECT rootpage FROM sqlite_master WHERE tbl_name = 'flowexec_cache'"
        ).fetchall()
    db.close()
    data = bytearray(path.read_bytes())
    for (root,) in roots:
        data[(root - 1) * page_size : root * page_size] = b"\xa5" * page_size
    path.write_bytes(bytes(data))


def test_a_damaged_cache_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "cache.db"
    _damage_the_cache_table(SQLiteCache(path))
    cache = SQLiteCache(path)  # header and schema intact: it opens
    for operation in (
        lambda: cache.get("k1"),
        lambda: cache.put("k1", [1]),
        lambda: cache.delete("k1"),
        lambda: len(cache),
    ):
        with pytest.raises(CacheFileError) as info:
            operation()
        assert f"cache file {str(path)!r}" in str(info.value)
        assert "malformed" in str(info.value) and "delete it" in str(info.value)
    # In a run, the step that uses the cache fails with that error, naming the file.
    with pytest.raises(StepFailed) as failed:
        _flow().run(n=1, cache=cache)
    assert isinstance(failed.value.cause, CacheFileError)
    assert str(path) in str(failed.value)
    cache.close()


def test_a_locked_cache_file_says_so(tmp_path):
    path = tmp_path / "cache.db"
    cache = SQLiteCache(path, timeout=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(CacheFileError, match=r"database is locked.*longer timeout="):
            cache.put("k", [1])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    cache.put("k", [1])
    assert cache.get("k") == [1]
    cache.close()
