"""Loading stored data never runs code: not on store.load, not on a cache hit.

The payloads are the ones from the field: a type tag naming ``subprocess:Popen``
with ``["touch", path]``, and a tag naming a module on sys.path whose top-level
code has a side effect. (Replay of a recording: tests/plugin/test_replay_safety.py.)
"""

import json
import logging
import sqlite3
import sys
import time

import pytest

from executor import CodecError, Flow, register_type, step
from executor._codec import JSON_CODEC
from executor.cache import CachePolicy, MemoryCache, SQLiteCache
from executor.state import (
    FileSystemStateBackend,
    MemoryStateBackend,
    SQLiteStateBackend,
    StateMetadata,
)

TAGS = ["$dataclass", "$namedtuple", "$exception", "$enum", "$pydantic"]


def popen_payload(tag, path):
    command = ["touch", str(path)]
    return {
        "$dataclass": {"$dataclass": {"type": "subprocess:Popen", "fields": {"args": command}}},
        "$namedtuple": {"$namedtuple": {"type": "subprocess:Popen", "fields": {"args": command}}},
        "$exception": {
            "$exception": {"type": "subprocess:Popen", "message": "m", "args": [command]}
        },
        "$enum": {"$enum": {"type": "subprocess:Popen", "value": command}},
        "$pydantic": {"$pydantic": {"type": "subprocess:Popen", "data": {"args": command}}},
    }[tag]


@pytest.fixture
def side_effect_module(tmp_path, monkeypatch):
    """A module on sys.path that writes a marker file when imported; returns
    (module name, marker path)."""
    name = f"flowexec_side_effect_{tmp_path.name}"
    marker = tmp_path / "imported"
    (tmp_path / f"{name}.py").write_text(
        f"with open({str(marker)!r}, 'w') as file:\n    file.write('ran')\n"
        f"import enum\nclass Thing(enum.Enum):\n    A = 1\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    sys.modules.pop(name, None)


def module_payload(tag, module):
    name = f"{module}:Thing"
    return {
        "$dataclass": {"$dataclass": {"type": name, "fields": {}}},
        "$namedtuple": {"$namedtuple": {"type": name, "fields": {}}},
        "$exception": {"$exception": {"type": name, "message": "m", "args": []}},
        "$enum": {"$enum": {"type": name, "value": 1}},
        "$pydantic": {"$pydantic": {"type": name, "data": {}}},
    }[tag]


def nothing_ran(path):
    time.sleep(0.05)  # a spawned `touch` would have created it by now
    return not path.exists()


STORES = {
    "memory": lambda tmp: MemoryStateBackend(),
    "sqlite": lambda tmp: SQLiteStateBackend(tmp / "state.db"),
    "filesystem": lambda tmp: FileSystemStateBackend(tmp / "states"),
}


def stored_run_with(store, payload):
    """A stored run whose one event holds ``payload`` as its output, as in a file."""
    state_id = store.create_state("f", {}, StateMetadata(), None)
    body = {
        "address": "f/s",
        "attempts": 1,
        "digest": None,
        "ended_at": 0.0,
        "output": payload,
        "started_at": 0.0,
        "status": "completed",
    }
    store._append(state_id, 0, "f/s", json.dumps(body, sort_keys=True))
    return state_id


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize("backend", sorted(STORES))
def test_store_load_never_calls_a_class_a_file_names(tmp_path, backend, tag):
    touched = tmp_path / "touched"
    store = STORES[backend](tmp_path)
    state_id = stored_run_with(store, popen_payload(tag, touched))
    state = store.load(state_id)
    assert nothing_ran(touched)
    reason = state.unreadable["f/s"]
    assert "'subprocess:Popen' is not" in reason and "it was not called" in reason
    assert reason.startswith("f/s output: ")
    assert store.location in reason and state_id in reason


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize("backend", sorted(STORES))
def test_store_load_never_imports_a_module_a_file_names(tmp_path, backend, tag, side_effect_module):
    module, marker = side_effect_module
    store = STORES[backend](tmp_path)
    state_id = stored_run_with(store, module_payload(tag, module))
    state = store.load(state_id)
    assert not marker.exists() and module not in sys.modules
    reason = state.unreadable["f/s"]
    assert f"'{module}:Thing' is not available" in reason
    assert f"import {module!r} before loading" in reason and "register_type" in reason


def test_a_type_from_an_imported_module_or_the_registry_loads(side_effect_module):
    module, marker = side_effect_module
    data = module_payload("$enum", module)
    with pytest.raises(CodecError, match="is not available"):
        JSON_CODEC.decode(data)
    imported = __import__(module)  # the user imports it: now the file may name it
    assert marker.exists()
    assert JSON_CODEC.decode(data) is imported.Thing.A


def test_registered_types_load_where_their_name_cannot_be_walked():
    import dataclasses

    @dataclasses.dataclass
    class Local:
        n: int

    with pytest.raises(CodecError, match=r"cannot be found again by its name.*register_type"):
        JSON_CODEC.encode(Local(1), "f/s output")  # refused when written, not when read
    assert register_type(Local) is Local
    assert JSON_CODEC.loads(JSON_CODEC.dumps(Local(1))) == Local(1)
    with pytest.raises(TypeError, match="takes a class"):
        register_type(Local(1))


def test_a_module_getattr_is_never_called(tmp_path, monkeypatch):
    import types

    module = types.ModuleType("flowexec_lazy_module")
    called = []

    def __getattr__(name):
        called.append(name)
        raise AttributeError(name)

    module.__getattr__ = __getattr__
    monkeypatch.setitem(sys.modules, module.__name__, module)
    data = {"$enum": {"type": "flowexec_lazy_module:Thing", "value": 1}}
    with pytest.raises(CodecError, match="is not available"):
        JSON_CODEC.decode(data)
    assert called == []


@pytest.mark.parametrize("tag", TAGS)
def test_an_sqlite_cache_hit_never_calls_a_class_the_entry_names(tmp_path, tag, caplog):
    touched = tmp_path / "touched"
    calls = []

    @step(cache=CachePolicy())
    def double(n: int) -> int:
        calls.append(n)
        return 2 * n

    flow = Flow("f", [double])
    cache = SQLiteCache(tmp_path / "cache.db")
    flow.run(n=2, cache=cache)
    with sqlite3.connect(tmp_path / "cache.db") as connection:
        connection.execute(
            "UPDATE flowexec_cache SET value = ?", (json.dumps([popen_payload(tag, touched)]),)
        )
    with caplog.at_level(logging.WARNING, logger="executor.cache"):
        assert flow.run(n=2, cache=cache)["double"] == 4
    assert nothing_ran(touched)
    assert calls == [2, 2]  # a miss: recomputed
    (warning,) = caplog.records
    assert "'f/double'" in warning.getMessage() and "subprocess:Popen" in warning.getMessage()


def test_a_memory_cache_hit_never_imports_a_module_the_entry_names(side_effect_module, caplog):
    module, marker = side_effect_module

    @step(cache=CachePolicy())
    def double(n: int) -> int:
        return 2 * n

    flow = Flow("f", [double])
    cache = MemoryCache()
    flow.run(n=2, cache=cache)
    (key,) = cache._entries
    cache.put(key, [module_payload("$dataclass", module)])
    with caplog.at_level(logging.WARNING, logger="executor.cache"):
        assert flow.run(n=2, cache=cache)["double"] == 4
    assert not marker.exists() and module not in sys.modules
