"""New files get the mode any new file gets: ``0o666`` less the umask.

``tempfile.mkstemp`` makes private files (``0o600``), and an atomic write renames
its temporary file onto the real name, mode and all: recordings people commit and
state other users or processes read came out private, while ``events.jsonl`` and
SQLite files followed the umask. Every file the engine and the plugin create goes
through here instead, so they all follow it (``0o644`` under the usual ``022``).
The kernel applies the umask: it is never read, since reading it means setting
it, for the whole process, for a moment.
"""

from __future__ import annotations

import os
from pathlib import Path

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
_CREATE |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def temporary_beside(path: Path) -> tuple[int, str]:
    """A new empty file in ``path``'s folder, open for writing, to be renamed onto
    ``path``: ``(descriptor, name)`` as ``tempfile.mkstemp`` returns, with the
    umask's mode instead of ``0o600``."""
    for _ in range(100):
        name = os.path.join(path.parent, f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(name, _CREATE, 0o666), name
        except FileExistsError:
            continue  # a name already taken (a 1 in 2**48 chance): draw another
    raise FileExistsError(f"no free temporary name beside {str(path)!r}")


def create_if_missing(path: Path) -> None:
    """Create ``path`` empty if it does not exist (an empty file is an empty SQLite
    database; SQLite gives its -wal and -shm files the database file's mode).

    An existing file is left alone, never opened (it may be read-only); a file
    that cannot be created is left for SQLite to report in its own words.
    """
    if str(path) in ("", ":memory:"):
        return
    try:
        os.close(os.open(path, _CREATE, 0o666))
    except OSError:
        pass  # there already, or not creatable: opening it says which
