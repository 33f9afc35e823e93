"""Opening the state store a command names, and finding a state by id or prefix."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from executor._errors import UsageError
from executor.state._model import StateError, StateNotFound, StateWriteFailed
from executor.state._sqlite import SQLiteStateBackend

DEFAULT_STORE = ".flowexec/state.db"


def open_store(path: str, *, must_exist: bool) -> SQLiteStateBackend:
    """The SQLite state store at ``path``.

    Args:
        must_exist: for commands that read runs: a missing file is an error rather
            than a new empty store.

    Raises:
        UsageError: no store there (when it must exist), a folder, or a file that is
            not a flowexec store.
    """
    file = Path(path)
    if file.is_dir():
        raise UsageError(
            f"--store {path!r} is a folder; give the store's file, e.g. --store {DEFAULT_STORE}"
        )
    if must_exist and not file.is_file():
        raise UsageError(
            f"--store {path!r}: no state store there (looked in {Path.cwd()}); run a flow with "
            f"`flowexec run FILE.py:FLOW` first, or pass --store PATH of an existing store"
        )
    try:
        return SQLiteStateBackend(file)
    except StateWriteFailed:  # the file system refused it: not a usage error (exit 1)
        raise
    except StateError as error:  # names the file, the problem and the fix already
        raise UsageError(f"--store {path!r}: {error}") from None
    except (sqlite3.Error, OSError) as error:
        raise UsageError(
            f"--store {path!r} cannot be opened as a flowexec state store ({error}); pass "
            f"--store with another path, or move that file away"
        ) from None


def resolve_id(store: SQLiteStateBackend, given: str, what: str = "state id") -> str:
    """The full state id for ``given``: an id, or a unique prefix of one (like git).

    Raises:
        UsageError: no state matches, or the prefix matches several.
    """
    try:
        store.load(given)
        return given
    except StateNotFound:
        pass
    matches = (
        [s.state_id for s in store.list_states() if s.state_id.startswith(given)] if given else []
    )
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UsageError(
            f"{what} {given!r} is ambiguous: it starts {len(matches)} runs "
            f"({', '.join(m[:12] for m in matches[:4])}...); give more characters"
        )
    raise UsageError(
        f"{what} {given!r}: no such run in {store.path}; list the runs with "
        f"`flowexec states list` (or pass --store PATH)"
    )
