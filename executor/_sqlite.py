"""One SQLite file opened the way every flowexec store opens it.

A connection per thread (sqlite3 connections must not be shared across threads
without care), autocommit (each statement its own transaction unless a store opens
one), WAL with ``synchronous=NORMAL`` (safe from corruption, no fsync per commit),
the store's schema, and a format check so an old or foreign file is refused up front.
"""

from __future__ import annotations

import errno
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from executor._errors import os_error_reason
from executor._newfiles import create_if_missing


class Connections:
    """Per-thread connections to one SQLite file.

    Args:
        path: the file (its folder is created if missing).
        schema: SQL run on every new connection (``CREATE ... IF NOT EXISTS``).
        meta_table: a table ``(name TEXT PRIMARY KEY, value TEXT)`` in ``schema``
            that holds the file's format under ``'format'``.
        file_format: the format this code reads and writes.
        fail: makes the error for an unusable file from a description of the problem
            and the error behind it: sqlite3's, the OS's when the file's folder cannot
            be made, None for a foreign format.
        timeout: seconds to wait for another process's write lock.
    """

    def __init__(
        self,
        path: Path,
        *,
        schema: str,
        meta_table: str,
        file_format: str,
        fail: Callable[[str, sqlite3.Error | OSError | None], Exception],
        timeout: float,
    ) -> None:
        self.path = path
        self._schema = schema
        self._meta = meta_table
        self._format = file_format
        self._fail = fail
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a path through a regular file, a read-only folder
            raise fail(f"cannot be created ({os_error_reason(error)})", error) from error
        create_if_missing(path)  # by us, with the umask's mode (SQLite caps it at 0644)

    def get(self) -> sqlite3.Connection:
        """This thread's connection (opened, set up and checked on first use)."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        # SQLite writes a new file's header in one write of a whole page: a partial
        # header is seen for microseconds, if ever, so a second is ample (and a stray
        # one-byte "S" file is not waited on for the whole lock timeout).
        problem = foreign_contents(self.path, wait=min(self._timeout, 1.0))
        if problem is not None:
            raise self._fail(f"cannot be opened ({problem})", None)
        try:
            connection = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.DatabaseError as error:
            raise self._fail(f"cannot be opened ({error})", error) from None
        try:
            tables = [
                name
                for (name,) in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            if tables and self._meta not in tables:
                # Another program's database (or another flowexec file: a cache is
                # not a state store): adding our tables to it would change it.
                connection.close()
                shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
                problem = f"{NOT_OURS} for this: a SQLite database whose tables are {shown}"
                raise self._fail(f"cannot be opened ({problem})", None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(self._schema)
            connection.execute(
                f"INSERT OR IGNORE INTO {self._meta} (name, value) VALUES ('format', ?)",
                (self._format,),
            )
            (found,) = connection.execute(
                f"SELECT value FROM {self._meta} WHERE name = 'format'"
            ).fetchone()
        except sqlite3.DatabaseError as error:
            connection.close()
            raise self._fail(f"cannot be opened ({error})", error) from None
        if found != self._format:
            connection.close()
            raise self._fail(f"has format {found!r}, this flowexec reads {self._format!r}", None)
        self._local.connection = connection
        with self._lock:
            self._all.append(connection)
        return connection

    def close(self) -> None:
        """Close every connection opened so far."""
        with self._lock:
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()
        self._local = threading.local()


_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file

NOT_OURS = "not a file flowexec made"
"""Begins the problem told about a file that is not a database, or another program's
database: one that flowexec must not write into (its fix is :data:`FOREIGN_FIX`)."""

FOREIGN_FIX = (
    "give a path where no file is (or an empty one), or move this file aside if it is "
    "not needed: flowexec never writes into a file it did not make"
)
"""What to do about a file that is not a SQLite database at all."""


def foreign_contents(path: Path, *, wait: float) -> str | None:
    """Why the file at ``path`` must not be opened as a database, or ``None``.

    SQLite itself refuses most files that are not databases, but takes a file of one
    byte for an empty database and overwrites it: every non-empty file that does not
    start with SQLite's header is refused here, before SQLite writes anything. An
    empty file is a database-to-be (``create_if_missing`` makes one, so can ``touch``).
    A file shorter than the header whose bytes begin it may be one another process is
    writing at this moment: it is read again for up to ``wait`` seconds before it is
    refused. A file that cannot be read is left for SQLite to report in its own words.
    """
    if str(path) in ("", ":memory:"):
        return None
    deadline = time.monotonic() + wait
    while True:
        try:
            with open(path, "rb") as file:
                head = file.read(len(_HEADER))
        except OSError:
            return None  # missing, a folder, unreadable: SQLite says which
        if not head or head == _HEADER:
            return None
        if not _HEADER.startswith(head) or time.monotonic() >= deadline:
            return f"{NOT_OURS}: file is not a database: it starts with {head!r}"
        time.sleep(0.01)


# Errors that say nothing about the file's contents: what to do about each, and for
# those that are a write the file system refused, the errno that says so. Any other
# DatabaseError (SQLITE_CORRUPT, SQLITE_NOTADB, a table missing) means the file is
# damaged or not one of ours.
_NOT_DAMAGE = (
    (
        "SQLITE_BUSY",
        "database is locked",
        "another process held its write lock longer "
        "than the timeout; pass a longer timeout=, or stop the other process",
        None,
    ),
    (
        "SQLITE_LOCKED",
        "database table is locked",
        "another connection holds a lock on it; close it and try again",
        None,
    ),
    (
        "SQLITE_READONLY",
        "readonly database",
        "make the file and its folder writable (flowexec cannot write to it)",
        errno.EROFS,
    ),
    ("SQLITE_FULL", "database or disk is full", "free some disk space and try again", errno.ENOSPC),
    (
        "SQLITE_IOERR",
        "disk I/O error",
        "the disk or file system failed; check them and try again",
        errno.EIO,
    ),
    (
        "SQLITE_CANTOPEN",
        "unable to open database file",
        "check that the file and its folder exist and are readable and writable",
        None,
    ),
    (
        "SQLITE_PERM",
        "access permission denied",
        "make the file and its folder readable and writable",
        errno.EACCES,
    ),
)


def _not_damage(error: sqlite3.Error) -> tuple[str, int | None] | None:
    name = getattr(error, "sqlite_errorname", "")  # Python 3.11+
    text = str(error)
    for code, message, fix, refused in _NOT_DAMAGE:
        if name == code or name.startswith(code + "_") or (not name and message in text):
            return fix, refused
    return None


def transient_fix(error: sqlite3.Error) -> str | None:
    """What to do about an error that does not mean the file is damaged (a lock held
    too long, a read-only file, a full disk); ``None`` when it means the file is
    damaged, not a database, or not one of ours."""
    found = _not_damage(error)
    return None if found is None else found[0]


def refused_write(error: sqlite3.Error) -> int | None:
    """The errno of a write the file system (or SQLite on its behalf) refused: a
    read-only file, a full disk, an I/O error; ``None`` for any other error."""
    found = _not_damage(error)
    return None if found is None else found[1]


DAMAGED_FIX = (
    "Move the file aside (or restore it from a backup) and run again, which starts a "
    "new file; `sqlite3 FILE .recover` may rescue what it holds"
)
"""What to do about a damaged SQLite file (``FILE`` stands for its path)."""
