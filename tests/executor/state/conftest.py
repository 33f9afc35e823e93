import pytest

from executor.state import (
    FileSystemStateBackend,
    MemoryStateBackend,
    SQLiteStateBackend,
    StateStore,
)


@pytest.fixture(params=["sqlite", "files", "memory"])
def store(request, tmp_path):
    """Each state backend in turn, empty (SQLite at the default place, .flowexec/)."""
    if request.param == "sqlite":
        backend = SQLiteStateBackend(tmp_path / ".flowexec" / "state.db")
        yield backend
        backend.close()
    elif request.param == "files":
        yield FileSystemStateBackend(tmp_path / "states")
    else:
        yield MemoryStateBackend()


def append_extra(store: StateStore, state_id: str, seq: int = 99) -> None:
    """Append one completed event at ``report/extra`` (the write tests make fail)."""
    store.append_event(
        state_id,
        seq,
        "report/extra",
        digest=None,
        status="completed",
        output=1,
        attempts=1,
        started_at=None,
        ended_at=None,
        error=None,
    )
