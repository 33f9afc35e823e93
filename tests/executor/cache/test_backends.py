import subprocess
import sys
import threading

import pytest
from freezegun import freeze_time

from executor import FlowDefinitionError
from executor.cache import CacheBackend, CacheFileError, MemoryCache, SQLiteCache


def test_backends_follow_the_protocol(backend):
    assert isinstance(backend, CacheBackend)
    assert backend.get("k") is None
    backend.put("k", '"v"')
    assert backend.get("k") == '"v"'
    backend.put("k", '"w"')
    assert backend.get("k") == '"w"' and len(backend) == 1
    backend.delete("k")
    assert backend.get("k") is None
    backend.put("a", "1")
    backend.clear()
    assert len(backend) == 0


def test_ttl_is_enforced_on_read(backend):
    with freeze_time("2026-11-21 12:00:00") as clock:
        backend.put("short", "1", ttl=10)
        backend.put("forever", "2")
        clock.tick(9.9)
        assert backend.get("short") == "1"
        clock.tick(0.2)
        assert backend.get("short") is None
        assert backend.get("forever") == "2"


def test_concurrent_threads_lose_nothing(backend):
    def write(tag):
        for i in range(200):
            backend.put(f"{tag}-{i}", str(i))

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(backend) == 800
    assert backend.get("3-199") == "199"


def test_memory_cache_reads_race_writes_evictions_and_deletes_safely():
    """Hits take no lock: reads racing puts that evict, deletes and clears must only
    ever see an entry's own value or a miss, never an error or a stale size."""
    cache = MemoryCache(max_entries=16)
    errors: list[BaseException] = []
    stop = threading.Event()

    def read():
        try:
            while not stop.is_set():
                for i in range(64):
                    found = cache.get(f"k{i}")
                    assert found is None or found == str(i)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    def churn():
        for round_ in range(300):
            for i in range(64):
                cache.put(f"k{i}", str(i), ttl=None if i % 2 else 60)
            cache.delete(f"k{round_ % 64}")
            if round_ % 50 == 0:
                cache.clear()

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    churn()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert len(cache) <= 16


def test_memory_cache_evicts_least_recently_used():
    cache = MemoryCache(max_entries=2)
    cache.put("a", "1")
    cache.put("b", "2")
    assert cache.get("a") == "1"  # a is now the most recent
    cache.put("c", "3")
    assert cache.get("b") is None and cache.get("a") == "1" and cache.get("c") == "3"
    with pytest.raises(FlowDefinitionError, match="max_entries must be an int >= 1"):
        MemoryCache(max_entries=0)


def test_sqlite_persists_and_prunes_expired_rows(tmp_path):
    path = tmp_path / "sub" / "cache.db"
    with freeze_time("2026-11-21 12:00:00") as clock:
        first = SQLiteCache(path)
        first.put("old", "1", ttl=1)
        first.put("keep", "2")
        first.close()
        clock.tick(5)
        second = SQLiteCache(path)
        assert second.get("keep") == "2"
        assert len(second) == 2
        assert second.prune() == 1
        assert len(second) == 1
        second.close()


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "shared.db"
    SQLiteCache(path).close()
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.executor.cache.writer", str(path), tag, "300"]
        )
        for tag in ("a", "b")
    ]
    assert [w.wait(timeout=60) for w in writers] == [0, 0]
    cache = SQLiteCache(path)
    assert len(cache) == 600
    assert cache.get("b-299") == '"b value 299"'


def test_a_file_that_is_not_a_cache_is_named(tmp_path):
    bad = tmp_path / "cache.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(
        CacheFileError,
        match=r"cache file '.*cache\.db' cannot be opened \(.*file is not a database.*move this",
    ):
        SQLiteCache(bad)


def test_another_format_version_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "cache.db"
    SQLiteCache(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE flowexec_cache_meta SET value = '99' WHERE name = 'format'")
    with pytest.raises(CacheFileError, match="has format '99'"):
        SQLiteCache(path)


def test_values_are_json_ready_data_and_reads_are_copies(backend):
    value = [{"rows": [1, 2.5, "x", True, None]}, {"$tuple": [1, 2]}]
    backend.put("k", value)
    first = backend.get("k")
    assert first == value
    if isinstance(backend, MemoryCache):
        # memory hands back what it holds; the engine decodes into fresh objects
        from executor._codec import JSON_CODEC

        decoded = JSON_CODEC.decode(first[0])
        decoded["rows"].append("mutated")
        assert backend.get("k") == value
