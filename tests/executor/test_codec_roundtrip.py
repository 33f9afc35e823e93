"""Every supported value comes back exactly from every place flowexec stores it.

One property, every backend: memory, SQLite and filesystem state stores, memory and
SQLite caches (through a real cached run), and recording text. Equal value, same
type all the way down, same dict insertion order.
"""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings

from executor import Flow, step
from executor._codec import JSON_CODEC
from executor.cache import CachePolicy, MemoryCache, SQLiteCache
from executor.state import (
    FileSystemStateBackend,
    MemoryStateBackend,
    SQLiteStateBackend,
    StateMetadata,
)
from pytest_flowexec import _recording
from pytest_flowexec.strategies import codec_values, exact_copy

_COUNTER = itertools.count()

STORES = {
    "memory": lambda root: MemoryStateBackend(),
    "sqlite": lambda root: SQLiteStateBackend(root / "state.db"),
    "filesystem": lambda root: FileSystemStateBackend(root / "states"),
}
CACHES = {
    "memory": lambda root: MemoryCache(),
    "sqlite": lambda root: SQLiteCache(root / "cache.db"),
}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """One folder for every example of the module (hypothesis runs many per test)."""
    return tmp_path_factory.mktemp("roundtrip")


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("backend", sorted(STORES))
@PROPERTY
@given(value=codec_values())
def test_state_stores_give_back_exact_copies(root, backend, value):
    store = STORES[backend](root)
    state_id = store.create_state("f", {"v": value}, StateMetadata(custom_data={"v": value}), None)
    store.append_event(
        state_id,
        0,
        "f/s",
        digest=None,
        status="completed",
        output=value,
        attempts=1,
        started_at=0.0,
        ended_at=0.0,
        error=None,
        context={"v": value},
    )
    loaded = store.load(state_id)
    (event,) = loaded.events
    assert exact_copy(value, event.output)
    assert exact_copy(value, loaded.inputs["v"])
    assert exact_copy(value, loaded.metadata.custom_data["v"])
    assert exact_copy({"v": value}, event.context)


@pytest.mark.parametrize("backend", sorted(CACHES))
@PROPERTY
@given(value=codec_values())
def test_caches_give_back_exact_copies(root, backend, value):
    calls = []
    key = next(_COUNTER)  # a fresh entry per example; the key does not look at the value

    @step(cache=CachePolicy(key=lambda inputs: key))
    def produce(v):
        calls.append(1)
        return v

    flow = Flow("cached", [produce])
    cache = CACHES[backend](root)
    first = flow.run(v=value, cache=cache)["produce"]
    hit = flow.run(v=value, cache=cache)["produce"]
    assert len(calls) == 1  # the second run was a hit
    assert exact_copy(value, first)
    assert exact_copy(value, hit)


@PROPERTY
@given(value=codec_values())
def test_recordings_give_back_exact_copies(root, value):
    recording = _recording.Recording(test="t", seed=1, frozen_time="2024-01-01T00:00:00+00:00")
    data = JSON_CODEC.encode(value, "f/s output")
    recording.runs.append(
        _recording.RecordedRun("f", {"v": data}, {"f/s": {"digest": None, "output": data}})
    )
    path = root / f"recording-{next(_COUNTER)}.json"
    _recording.write(path, recording)
    text = path.read_text(encoding="utf-8")
    back = _recording.read(path).runs[0]
    assert exact_copy(value, JSON_CODEC.decode(back.steps["f/s"]["output"]))
    assert exact_copy(value, JSON_CODEC.decode(back.inputs["v"]))
    # The text is stable: written again, it is the same bytes.
    assert _recording.write(path, _recording.read(path)) is False
    assert path.read_text(encoding="utf-8") == text
