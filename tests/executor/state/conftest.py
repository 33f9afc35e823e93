import pytest

from executor.state import FileSystemStateBackend, MemoryStateBackend, SQLiteStateBackend


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
