"""SQLiteCache: the embedded persistent cache (e.g. ``.flowexec/cache.db``)."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from executor._errors import FlowError, os_error_fix
from executor._sqlite import FOREIGN_FIX, NOT_OURS, Connections, transient_fix

logger = logging.getLogger("executor.cache")

FORMAT = "2"  # 2: values are JSON of the codec's data (was: codec text)
_PRUNE_EVERY = 256  # puts between deletions of expired rows

_SCHEMA = """
CREATE TABLE IF NOT EXISTS flowexec_cache_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS flowexec_cache (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at REAL
);
CREATE INDEX IF NOT EXISTS flowexec_cache_expiry
    ON flowexec_cache (expires_at) WHERE expires_at IS NOT NULL;
"""


class CacheFileError(FlowError):
    """A cache file cannot be used: not a database, damaged, of another format
    version, or (for a while) locked, read-only or on a full disk. The message names
    the file and what to do.

    A single damaged *entry* in a sound file is not an error: it is a miss, with a
    warning (the step runs again and overwrites it).
    """


class SQLiteCache:
    """A persistent cache in one SQLite file: WAL, safe across threads and processes.

    Expiry is checked when an entry is read; expired rows are deleted every few
    hundred writes, by an indexed delete, so a write costs the same whether the
    cache holds a thousand entries or a hundred thousand.

    Args:
        path: the database file; its folder is created if missing.
        timeout: seconds to wait for another process's write lock.
    """

    def __init__(
        self, path: str | os.PathLike[str] = ".flowexec/cache.db", *, timeout: float = 30.0
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._puts = 0
        self._db = Connections(
            self.path,
            schema=_SCHEMA,
            meta_table="flowexec_cache_meta",
            file_format=FORMAT,
            timeout=timeout,
            fail=lambda problem, error: self._failure(problem, error),
        )
        self._connection = self._db.get
        self._connection()  # fail now, not at the first step, if the file is unusable

    def __repr__(self) -> str:
        return f"<SQLiteCache {str(self.path)!r}>"

    def _failure(self, problem: str, error: sqlite3.Error | OSError | None) -> CacheFileError:
        if isinstance(error, OSError):  # the file's folder cannot be made
            return CacheFileError(
                f"cache file {str(self.path)!r} {problem}; nothing was cached. "
                f"{os_error_fix(error, self.path, 'the cache')}"
            )
        fix = transient_fix(error) if error is not None else None
        if error is None and NOT_OURS in problem:
            fix = FOREIGN_FIX  # not a cache file at all: deleting it may lose someone's data
        elif fix is None:
            # A cache holds nothing that cannot be computed again: starting afresh is safe.
            fix = "delete it (a cache holds nothing that cannot be computed again) or "
            fix += "point SQLiteCache at another path"
        return CacheFileError(f"cache file {str(self.path)!r} {problem}; {fix}")

    @contextmanager
    def _sql(self, doing: str) -> Iterator[sqlite3.Connection]:
        """This thread's connection; an error of the file inside the block becomes a
        CacheFileError naming the file and what to do."""
        try:
            yield self._connection()
        except sqlite3.DatabaseError as error:
            raise self._failure(f"cannot be {doing} ({error})", error) from None

    def get(self, key: str) -> Any:
        """The entry's data; ``None`` when absent, expired, or damaged (with a warning)."""
        with self._sql("read") as connection:
            row = connection.execute(
                "SELECT value, expires_at FROM flowexec_cache WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        text, expires_at = row
        if expires_at is not None and expires_at <= time.time():
            return None
        try:
            value = json.loads(text)
            if value is None:  # put never stores None: "absent" has no entry
                raise ValueError("null")
        except (ValueError, TypeError) as error:  # TypeError: a non-text value
            logger.warning(
                "cache file %r: entry %s is damaged (not JSON data: %s); it counts as a "
                "miss, and the step that uses it runs again and overwrites it",
                str(self.path),
                key,
                error,
            )
            return None
        return value

    def put(self, key: str, value: Any, ttl: float | None = None) -> None:
        now = time.time()
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
        with self._sql(f"written (entry {key} was not stored)") as connection:
            connection.execute(
                "INSERT OR REPLACE INTO flowexec_cache (key, value, expires_at) VALUES (?, ?, ?)",
                (key, text, None if ttl is None else now + ttl),
            )
        with self._lock:
            self._puts += 1
            prune = self._puts % _PRUNE_EVERY == 0
        if prune:
            self.prune(now)

    def prune(self, now: float | None = None) -> int:
        """Delete expired rows; returns how many."""
        with self._sql("pruned") as connection:
            cursor = connection.execute(
                "DELETE FROM flowexec_cache WHERE expires_at IS NOT NULL AND expires_at <= ?",
                (time.time() if now is None else now,),
            )
        return cursor.rowcount

    def delete(self, key: str) -> None:
        with self._sql(f"written (entry {key} was not deleted)") as connection:
            connection.execute("DELETE FROM flowexec_cache WHERE key = ?", (key,))

    def clear(self) -> None:
        with self._sql("cleared") as connection:
            connection.execute("DELETE FROM flowexec_cache")

    def __len__(self) -> int:
        with self._sql("read") as connection:
            (count,) = connection.execute("SELECT COUNT(*) FROM flowexec_cache").fetchone()
        return int(count)

    def close(self) -> None:
        """Close every connection this object opened."""
        self._db.close()
