import pytest

from executor.cache import MemoryCache, SQLiteCache


@pytest.fixture(params=["memory", "sqlite"])
def backend(request, tmp_path):
    """Each cache backend in turn, empty."""
    if request.param == "memory":
        yield MemoryCache()
        return
    cache = SQLiteCache(tmp_path / "cache.db")
    yield cache
    cache.close()
