"""Every file the engine writes gets the mode the umask gives new files, as any
other file in the project does (0644 under the usual umask 022)."""

import os
import stat
from pathlib import Path

import pytest

from executor import Flow, step
from executor.cache import CachePolicy, SQLiteCache
from executor.state import FileSystemStateBackend, SQLiteStateBackend
from tests.executor.state import state_steps as ss


@pytest.fixture(params=[0o022, 0o007], ids=["umask022", "umask007"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_filesystem_store_files_follow_the_umask(umask, tmp_path):
    root = tmp_path / "states"
    store = FileSystemStateBackend(root)
    state_id = Flow("big", [ss.big]).run(n=1, store=store).state_id  # an artifact too
    artifacts = [p for p in (root / "_artifacts").rglob("*") if p.is_file()]
    files = [root / state_id / "state.json", root / state_id / "events.jsonl", *artifacts]
    assert len(artifacts) == 1
    assert {str(p.relative_to(root)): oct(mode(p)) for p in files} == {
        str(p.relative_to(root)): oct(0o666 & ~umask) for p in files
    }


def test_sqlite_state_and_cache_files_follow_the_umask(umask, tmp_path):
    @step(cache=CachePolicy())
    def cached(n: int) -> int:
        return n + 1

    store = SQLiteStateBackend(tmp_path / "state.db")
    cache = SQLiteCache(tmp_path / "cache.db")
    Flow("f", [cached]).run(n=1, store=store, cache=cache)
    files = sorted(tmp_path.glob("*.db*"))  # with their -wal and -shm files, still open
    assert {p.name for p in files} >= {"state.db", "state.db-wal", "cache.db", "cache.db-wal"}
    assert {p.name: oct(mode(p)) for p in files} == {p.name: oct(0o666 & ~umask) for p in files}
    store.close()
    cache.close()
