"""Stored data is verified and exact: artifacts, code changes, refusals, every backend."""

import datetime as dt
import enum
import json
import logging
import pathlib
import sqlite3
import zoneinfo

import pytest

from executor import CodecError, Flow, step
from executor._codec import JSON_CODEC, MAX_DEPTH
from executor.cache import CachePolicy, MemoryCache, SQLiteCache
from executor.cache._keys import KEY_GENERATOR
from executor.state import (
    ArtifactCorrupted,
    FileSystemStateBackend,
    MemoryStateBackend,
    SQLiteStateBackend,
    StateCorrupted,
)
from executor.testing import encode_value


class Mood(enum.Enum):
    HAPPY = "happy"
    CALM = "calm"


CALLS: list[str] = []


@step
def produce() -> dict:
    CALLS.append("produce")
    return {"total": 100000, "pad": "x" * 70_000}  # > 64 KB: stored as an artifact


@step
def consume(produce: dict) -> int:
    CALLS.append(f"consume {produce['total']}")
    return produce["total"]


@step
def start(n: int) -> int:
    CALLS.append("start")
    return n


@step
def feel(start: int) -> Mood:
    CALLS.append("feel")
    return Mood.HAPPY


@step
def finish(feel: Mood, start: int) -> dict:
    CALLS.append("finish")
    return {"z": f"{feel.value}!", "a": start}  # not in sorted order


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()


STORES = {
    "memory": lambda tmp: MemoryStateBackend(),
    "sqlite": lambda tmp: SQLiteStateBackend(tmp / "state.db"),
    "filesystem": lambda tmp: FileSystemStateBackend(tmp / "states"),
}


def rewrite_events(store, state_id, old: str, new: str):
    """Change the stored text of a run's events, as an edit of the file would."""
    if isinstance(store, MemoryStateBackend):
        row = store._rows[state_id]
        row.events = [(seq, body.replace(old, new)) for seq, body in row.events]
    elif isinstance(store, SQLiteStateBackend):
        with sqlite3.connect(store.path) as connection:
            connection.execute("UPDATE events SET body = replace(body, ?, ?)", (old, new))
    else:
        path = store.root / state_id / "events.jsonl"
        path.write_text(path.read_text().replace(old, new))


# -- artifacts are verified ---------------------------------------------------------------


def flip_artifact_byte(store):
    if isinstance(store, SQLiteStateBackend):
        with sqlite3.connect(store.path) as connection:
            ((digest, data),) = connection.execute("SELECT digest, data FROM artifacts")
            changed = bytes(data).replace(b"100000", b"100001", 1)
            connection.execute("UPDATE artifacts SET data = ? WHERE digest = ?", (changed, digest))
    else:
        (path,) = (store.root / "_artifacts").glob("*/*")
        digest = path.name
        path.write_bytes(path.read_bytes().replace(b"100000", b"100001", 1))
    return digest


@pytest.mark.parametrize("backend", ["sqlite", "filesystem"])
def test_a_changed_artifact_byte_is_refused_on_load_and_on_resume_from(tmp_path, backend):
    store = STORES[backend](tmp_path)
    flow = Flow("art", [produce, consume])
    state_id = flow.run(store=store).state_id
    assert store.load(state_id).latest()["art/produce"].output["total"] == 100000
    digest = flip_artifact_byte(store)
    with pytest.raises(ArtifactCorrupted) as info:
        store.load(state_id)
    message = str(info.value)
    assert isinstance(info.value, StateCorrupted)
    assert "art/produce" in message and digest in message and state_id in message
    CALLS.clear()
    with pytest.raises(StateCorrupted, match=digest):
        flow.resume(state_id, store=store, resume_from="art/consume")
    assert CALLS == []  # the altered value was fed to nothing


# -- code changes after data was stored ----------------------------------------------------


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_cache_entry_that_no_longer_decodes_is_a_miss_with_one_warning(tmp_path, backend, caplog):
    calls = []

    @step(cache=CachePolicy())
    def mood(n: int) -> Mood:
        calls.append(n)
        return Mood.HAPPY

    flow = Flow("moods", [mood])
    cache = MemoryCache() if backend == "memory" else SQLiteCache(tmp_path / "cache.db")
    flow.run(n=1, cache=cache)
    # The Enum member was renamed since the entry was written:
    if backend == "memory":
        ((_, (data, _)),) = cache._entries.items()
        data[0]["$enum"]["value"] = "glad"
    else:
        with sqlite3.connect(tmp_path / "cache.db") as connection:
            connection.execute("UPDATE flowexec_cache SET value = replace(value, 'happy', 'glad')")
    with caplog.at_level(logging.WARNING, logger="executor.cache"):
        assert flow.run(n=1, cache=cache)["mood"] is Mood.HAPPY
    assert calls == [1, 1]  # recomputed
    (warning,) = caplog.records
    message = warning.getMessage()
    assert "'moods/mood'" in message and "no member with value 'glad'" in message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="executor.cache"):
        assert flow.run(n=1, cache=cache)["mood"] is Mood.HAPPY
    assert calls == [1, 1] and caplog.records == []  # the entry was overwritten: a hit


@pytest.mark.parametrize("backend", sorted(STORES))
def test_a_stored_event_that_no_longer_decodes_loads_the_rest_and_resume_reruns_it(
    tmp_path, backend
):
    store = STORES[backend](tmp_path)
    flow = Flow("moods", [start, feel, finish])
    state_id = flow.run(n=3, store=store).state_id
    rewrite_events(store, state_id, '"happy"', '"glad"')  # Mood.HAPPY was renamed since
    state = store.load(state_id)
    assert set(state.unreadable) == {"moods/feel"}
    reason = state.unreadable["moods/feel"]
    assert "moods/feel output" in reason and "no member with value 'glad'" in reason
    assert store.location in reason
    latest = state.latest()
    assert latest["moods/start"].output == 3 and latest["moods/feel"].output is None
    assert not latest["moods/feel"].completed
    CALLS.clear()
    result = flow.resume(state_id, store=store)
    assert result["finish"] == {"z": "happy!", "a": 3}
    assert "feel" in CALLS and "start" not in CALLS
    assert store.load(state_id).unreadable == {}  # the new event supersedes it


# -- exact round trip, or a refusal when written -------------------------------------------


@pytest.mark.parametrize("backend", sorted(STORES))
def test_resumed_runs_return_dicts_in_their_order(tmp_path, backend):
    store = STORES[backend](tmp_path)
    flow = Flow("moods", [start, feel, finish])
    live = flow.run(n=3, store=store)
    assert list(live["finish"]) == ["z", "a"]
    resumed = flow.resume(live.state_id, store=store)
    assert list(resumed["finish"]) == ["z", "a"]
    assert list(store.load(live.state_id).latest()["moods/finish"].output) == ["z", "a"]


def test_cache_keys_stay_order_invariant():
    assert KEY_GENERATOR.key(finish, {"feel": Mood.CALM, "start": 1}) == KEY_GENERATOR.key(
        finish, {"start": 1, "feel": Mood.CALM}
    )
    assert KEY_GENERATOR.key(consume, {"produce": {"a": 1, "b": 2}}) == KEY_GENERATOR.key(
        consume, {"produce": {"b": 2, "a": 1}}
    )


def test_files_stay_sorted_and_carry_the_order_apart():
    text = JSON_CODEC.dumps({"z": 1, "a": {"y": 2, "b": 3}}, indent=2)
    assert json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) == text
    assert json.loads(text) == {
        "$ordered": {
            "keys": ["z", "a"],
            "values": {"a": {"$ordered": {"keys": ["y", "b"], "values": {"b": 3, "y": 2}}}, "z": 1},
        }
    }
    assert json.loads(JSON_CODEC.dumps({"a": 1, "b": 2})) == {"a": 1, "b": 2}  # plain


class Coordinates(tuple):
    pass


class NamedZone(dt.tzinfo):
    def utcoffset(self, when):
        return dt.timedelta(hours=1)

    def dst(self, when):
        return dt.timedelta(0)

    def tzname(self, when):
        return "Somewhere"


class Stamp(dt.datetime):
    pass


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 3, 31, 12, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        dt.datetime(2024, 10, 27, 2, 30, fold=0, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        pathlib.PureWindowsPath(r"C:\data\in.csv"),
        pathlib.PurePosixPath("/data/in.csv"),
        pathlib.Path("data/in.csv"),
    ],
    ids=str,
)
def test_once_lossy_values_come_back_exactly(value):
    back = JSON_CODEC.loads(JSON_CODEC.dumps(value))
    assert type(back) is type(value) and back == value and str(back) == str(value)
    if isinstance(value, dt.datetime):
        assert back.tzinfo is value.tzinfo and back.utcoffset() == value.utcoffset()


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (Coordinates((1, 2)), "subclass of tuple"),
        (Stamp(2024, 1, 1), "subclass of datetime"),
        (dt.datetime(2024, 1, 1, tzinfo=NamedZone()), "would not load back as itself"),
        (dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1), "CET")), "CET"),
        (dt.time(1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")), "ZoneInfo"),
    ],
    ids=["tuple-subclass", "datetime-subclass", "custom-tzinfo", "named-offset", "zoned-time"],
)
def test_values_that_would_come_back_different_are_refused_when_written(value, needle):
    with pytest.raises(CodecError, match=needle) as info:
        JSON_CODEC.encode({"rows": [value]}, "f/load output")
    assert info.value.where == "f/load output['rows'][0]"


@pytest.mark.parametrize("backend", sorted(STORES))
def test_pydantic_models_come_back_with_private_attributes_extras_and_order(tmp_path, backend):
    models = pytest.importorskip("tests.executor.pydantic_models")
    value = models.Order(items=[models.Item(name="a", tags={"z": 1, "a": 2})], note=(1,), x=5)
    value._secret = 7
    store = STORES[backend](tmp_path)

    @step
    def order() -> object:
        return value

    state = store.load(Flow("orders", [order]).run(store=store).state_id)
    back = state.latest()["orders/order"].output
    assert type(back) is models.Order and back == value
    assert back._secret == 7 and back.x == 5 and back.note == (1,)
    assert type(back.items[0]) is models.Item and list(back.items[0].tags) == ["z", "a"]


@pytest.mark.parametrize(
    ("data", "path", "needle"),
    [
        ({"$tuple": "abc"}, "", r"malformed \$tuple value.*expected a list, got str"),
        ({"$bytes": "@@@"}, "", r"malformed \$bytes value"),
        ({"$set": [[1]]}, "", r"malformed \$set value.*unhashable"),
        ({"$datetime": "yesterday"}, "", r"malformed \$datetime value"),
        ({"$datetime": 5}, "", "expected a str, got int"),
        ({"$datetime": "2024-01-01T00:00:00+05:00[Europe/Paris]"}, "", "not an offset of"),
        ({"$datetime": "2024-01-01T00:00:00+00:00[No/Where]"}, "", "No/Where"),
        ({"$enum": "RED"}, "", r"malformed \$enum value.*expected an object"),
        ({"$enum": {"type": f"{__name__}:Mood"}}, "", "missing value"),
        ({"$enum": {"type": f"{__name__}:Mood", "value": "x"}}, "", "no member with value 'x'"),
        ({"$dataclass": {"type": 3, "fields": {}}}, "", "expected a str, got int"),
        ({"$dataclass": {"type": f"{__name__}:Mood", "fields": []}}, "", "is not a dataclass"),
        ({"$decimal": "one"}, "", r"malformed \$decimal value"),
        ({"$uuid": "u"}, "", r"malformed \$uuid value"),
        ({"$dict": [[1]]}, "", "pairs"),
        ({"$ordered": {"keys": ["a", "b"], "values": {"a": 1}}}, "", r"malformed \$ordered"),
        ({"$float": 1}, "", "unknown float"),
        ({"rows": [1, {"$tuple": 1}]}, "['rows'][1]", r"malformed \$tuple"),
        ({"$tuple": [1, {"$bytes": 1}]}, "['$tuple'][1]", r"malformed \$bytes"),
    ],
)
def test_malformed_bodies_are_codec_errors_with_their_path(data, path, needle):
    with pytest.raises(CodecError, match=needle) as info:
        JSON_CODEC.decode(data, "f/load output")
    assert info.value.where == f"f/load output{path}"


def test_a_malformed_body_in_a_store_names_the_file_and_address(tmp_path):
    store = SQLiteStateBackend(tmp_path / "state.db")
    state_id = Flow("moods", [start, feel, finish]).run(n=3, store=store).state_id
    rewrite_events(store, state_id, '"happy"', '{"$bytes": "@@@"}')
    reason = store.load(state_id).unreadable["moods/feel"]
    assert reason.startswith("moods/feel output['$enum']['value']: malformed $bytes value")
    assert str(tmp_path / "state.db") in reason


def deep(levels):
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def recursive():
    value: list = [1]
    value.append({"again": value})
    return value


BAD_VALUES = {
    "10000-deep": (lambda: deep(10_000), "nested more than"),
    "recursive": (recursive, "contains itself"),
    "huge-int": (lambda: 10**5000, "more than 4300 digits"),
    "lone-surrogate": (lambda: {"name": "a\ud800b"}, "lone surrogate"),
    "surrogate-key": (lambda: {"a\udc80": 1}, "lone surrogate"),
}
BACKENDS = {
    **{f"{k} store": (lambda make: lambda tmp: {"store": make(tmp)})(v) for k, v in STORES.items()},
    "memory cache": lambda tmp: {"cache": MemoryCache()},
    "sqlite cache": lambda tmp: {"cache": SQLiteCache(tmp / "cache.db")},
}


@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_unstorable_values_get_one_verdict_in_every_backend(tmp_path, backend, bad):
    make, needle = BAD_VALUES[bad]

    @step(cache=CachePolicy(key=lambda inputs: "k"))
    def emit() -> object:
        return make()

    result = Flow("bad", [emit]).run(on_failure="continue", **BACKENDS[backend](tmp_path))
    error = result.steps["bad/emit"].exception
    assert isinstance(error, CodecError), error
    assert needle in str(error) and error.where.startswith("bad/emit output")


@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
def test_recordings_give_the_same_verdict(bad):
    make, needle = BAD_VALUES[bad]
    with pytest.raises(CodecError, match=needle):
        encode_value(make(), "bad/emit output")


def test_values_at_the_depth_limit_are_stored_everywhere(tmp_path):
    value = deep(MAX_DEPTH - 1)
    for backend in BACKENDS.values():

        @step(cache=CachePolicy(key=lambda inputs: "k"))
        def emit() -> object:
            return value

        assert Flow("ok", [emit]).run(**backend(tmp_path))["emit"] == value


def test_frozen_time_stand_ins_are_stored_as_datetimes():
    import freezegun

    with freezegun.freeze_time("2024-01-01T12:00:00"):
        now, today = dt.datetime.now(dt.timezone.utc), dt.date.today()
        assert type(now).__module__ == "freezegun.api"  # its FakeDatetime
        back_now, back_today = JSON_CODEC.loads(JSON_CODEC.dumps([now, today]))
    assert type(back_now) is dt.datetime and back_now == now
    assert type(back_today) is dt.date and back_today == today
