import dataclasses
import json
import sqlite3

import pytest

from executor import (
    Flow,
    FlowDefinitionError,
    ReplayMismatch,
    RunStatus,
    StepFailed,
    StepStatus,
    map_over,
    step,
)
from executor._codec import CodecError
from executor.state import (
    ArtifactMissing,
    FileSystemStateBackend,
    MemoryStateBackend,
    SQLiteStateBackend,
    StateCorrupted,
    StateMetadata,
    StateNotFound,
    StateStatus,
    diff_states,
)
from tests.executor.state import state_steps as ss


@dataclasses.dataclass
class Ctx:
    user: str
    seen: list = dataclasses.field(default_factory=list)


def test_every_step_end_is_persisted(store, any_executor):
    meta = StateMetadata(tags=["nightly", "eu"], description="test run", custom_data={"ticket": 42})
    result = ss.report().run(n=3, store=store, metadata=meta, executor=any_executor)
    state = store.load(result.state_id)
    assert state.state_id == result.state_id and state.flow == "report"
    assert state.status is StateStatus.COMPLETED
    assert state.inputs == {"n": 3}
    assert state.metadata == meta
    assert [(e.address, e.status, e.output) for e in state.events] == [
        ("report/load", "completed", [0, 1, 2]),
        ("report/square", "completed", [0, 1, 4]),
        ("report/total", "completed", 5),
    ]
    assert [e.seq for e in state.events] == [0, 1, 2]
    assert all(len(e.digest) == 64 and e.attempts == 1 for e in state.events)


def test_context_snapshots_are_kept(store):
    @step
    def note(n, context):
        context.seen.append(n)
        return n

    state = store.load(Flow("c", [note]).run(n=7, store=store, context=Ctx("ada")).state_id)
    assert state.contexts["start"] == Ctx("ada", [])
    assert state.contexts["end"] == Ctx("ada", [7])


def test_list_and_delete(store):
    first = ss.report().run(n=1, store=store, metadata=StateMetadata(tags=["a"])).state_id
    second = ss.report().run(n=2, store=store, metadata=StateMetadata(tags=["a", "b"])).state_id
    other = Flow("other", [ss.load]).run(n=1, store=store).state_id
    assert [s.state_id for s in store.list_states(flow="report")] == [second, first]
    assert [s.state_id for s in store.list_states(tags=["b"])] == [second]
    assert [s.state_id for s in store.list_states(limit=1)] == [other]
    assert store.list_states(status="failed") == []
    store.delete_state(first)
    with pytest.raises(StateNotFound, match=f"no state '{first}'"):
        store.load(first)
    with pytest.raises(StateNotFound):
        store.delete_state("0" * 32)


def test_pause_and_resume_with_the_awaited_input(store, monkeypatch, tmp_path):
    marks = tmp_path / "marks"
    monkeypatch.setattr(ss, "MARKS", str(marks))
    paused = ss.gated().run(n=3, store=store)
    assert paused.status is RunStatus.AWAITING and paused.awaiting == "approval"
    assert paused.steps["gated/approve"].status is StepStatus.PAUSED
    state = store.load(paused.state_id)
    assert state.status is StateStatus.AWAITING
    assert state.pause == {
        "address": "gated/approve",
        "reason": "needs sign-off",
        "awaiting": "approval",
    }
    marks.write_text("")
    done = ss.gated().resume(paused.state_id, store=store, inputs={"approval": True})
    assert done.status is RunStatus.COMPLETED and done["approve"] == 5
    assert marks.read_text().split() == ["approve"]  # nothing else was called again
    assert done.steps["gated/total"].status is StepStatus.REPLAYED
    assert store.load(paused.state_id).status is StateStatus.COMPLETED


def test_resume_after_a_failure_runs_only_what_did_not_complete(store, monkeypatch, tmp_path):
    marks = tmp_path / "marks"
    monkeypatch.setattr(ss, "MARKS", str(marks))
    with pytest.raises(StepFailed) as info:
        ss.fragile().run(n=4, store=store)
    state_id = info.value.result.state_id
    assert store.load(state_id).status is StateStatus.FAILED
    marks.write_text("")
    result = ss.fragile().resume(state_id, store=store, inputs={"fixed": True})
    assert result["shaky"] == 4
    assert marks.read_text().split() == ["shaky"]


def test_a_replayed_event_needs_the_same_address_and_inputs(store, monkeypatch, tmp_path):
    marks = tmp_path / "marks"
    monkeypatch.setattr(ss, "MARKS", str(marks))
    first = ss.items().run(items=[1, 2, 3], store=store)
    marks.write_text("")
    # Changed inputs go to a new run (resume_from): [0] is run again as asked.
    again = ss.items().resume(
        first.state_id, store=store, inputs={"items": [1, 5, 3]}, resume_from="items/each[0]"
    )
    assert again["each"] == [10, 50, 30]
    assert marks.read_text().split() == ["item1", "item5"]  # [1] changed: never the old output
    assert "items/each[1]" in again.replay_misses
    assert again.steps["items/each[2]"].status is StepStatus.REPLAYED


def test_strict_replay_names_the_reason(store):
    first = ss.report().run(n=2, store=store)
    with pytest.raises(StepFailed) as info:
        ss.report().resume(
            first.state_id, store=store, inputs={"n": 3}, strict=True, resume_from="report/total"
        )
    cause = info.value.cause
    assert isinstance(cause, ReplayMismatch)
    assert cause.reason == "input changed" and cause.address == "report/load"
    items = ss.items().run(items=[1, 2], store=store)
    renamed = Flow("items", [map_over(ss.slow_item, name="every")])
    with pytest.raises(StepFailed) as info:
        renamed.resume(items.state_id, store=store, strict=True)
    assert info.value.cause.reason == "not recorded"
    assert info.value.cause.nearest == "items/each"
    assert "nearest recorded address: 'items/each'" in str(info.value.cause)


def test_resume_from_reruns_the_address_and_what_follows(store, monkeypatch, tmp_path):
    marks = tmp_path / "marks"
    monkeypatch.setattr(ss, "MARKS", str(marks))
    first = ss.report().run(n=3, store=store)
    marks.write_text("")
    again = ss.report().resume(first.state_id, store=store, resume_from="report/square")
    assert marks.read_text().split() == ["square", "total"]
    assert again.state_id != first.state_id
    assert store.load(again.state_id).metadata.parent_state_id == first.state_id
    assert again.steps["report/load"].status is StepStatus.REPLAYED
    with pytest.raises(Exception, match="has no step 'nope'"):
        ss.report().resume(first.state_id, store=store, resume_from="report/nope")


def test_resume_from_inside_a_composite(store, monkeypatch, tmp_path):
    marks = tmp_path / "marks"
    monkeypatch.setattr(ss, "MARKS", str(marks))
    first = ss.items().run(items=[1, 2, 3], store=store)
    marks.write_text("")
    again = ss.items().resume(first.state_id, store=store, resume_from="items/each[1]")
    assert marks.read_text().split() == ["item2"]
    assert again["each"] == [10, 20, 30]


def test_validate_finds_what_changed_and_nothing_else(store):
    deterministic = ss.report().run(n=3, store=store)
    assert ss.report().validate(deterministic.state_id, store=store).mismatches == ()
    noisy = Flow("noisy", [ss.load, ss.noisy, ss.square, ss.total])
    stored = noisy.run(n=3, store=store)
    report = noisy.validate(stored.state_id, store=store)
    assert report.checked == 4
    assert [m.address for m in report.mismatches] == ["noisy/noisy"]
    assert "noisy/noisy (recorded)" in report.mismatches[0].diff


def test_diff_states(store):
    a = store.load(ss.report().run(n=2, store=store).state_id)
    b = store.load(ss.report().run(n=3, store=store).state_id)
    diff = diff_states(a, b)
    assert [c.address for c in diff.outputs_changed] == [
        "report/load",
        "report/square",
        "report/total",
    ]
    assert "inputs.n" in diff.inputs_changed and "report/load" in diff.inputs_changed
    assert diff_states(a, a).same


def test_large_outputs_go_to_the_artifact_store(store):
    result = Flow("big", [ss.big]).run(n=1, store=store)
    state = store.load(result.state_id)
    assert state.events[0].output == "x" * (100 * 1024)


def test_a_missing_artifact_is_named(tmp_path):
    store = FileSystemStateBackend(tmp_path / "states")
    result = Flow("big", [ss.big]).run(n=1, store=store)
    for blob in (tmp_path / "states" / "_artifacts").rglob("*"):
        if blob.is_file():
            blob.unlink()
    with pytest.raises(ArtifactMissing) as info:
        store.load(result.state_id)
    assert result.state_id in str(info.value) and "big/big" in str(info.value)


def test_unstorable_outputs_fail_the_step_unless_pickle_is_chosen(tmp_path):
    @step
    def odd(n):
        return frozenset({complex(n, 1)})

    store = SQLiteStateBackend(tmp_path / "s.db")
    result = Flow("odd", [odd]).run(n=1, store=store, on_failure="continue")
    failed = result.steps["odd/odd"]
    assert isinstance(failed.exception, CodecError)
    assert "codec='pickle'" in failed.error.message and "odd/odd output" in failed.error.message
    pickled = SQLiteStateBackend(tmp_path / "p.db", codec="pickle")
    state_id = Flow("odd", [odd]).run(n=1, store=pickled).state_id
    assert pickled.load(state_id).events[0].output == frozenset({complex(1, 1)})
    # A store that does not allow pickle never unpickles: the event loads unreadable.
    loaded = SQLiteStateBackend(tmp_path / "p.db").load(state_id)
    assert loaded.events[0].output is None and not loaded.events[0].completed
    assert "pickle is not allowed" in loaded.unreadable["odd/odd"]


def test_damaged_sqlite_files_are_named(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(StateCorrupted, match=r"state file '.*state\.db'"):
        SQLiteStateBackend(path)


def test_damaged_rows_and_unknown_formats_are_named(tmp_path):
    path = tmp_path / "state.db"
    store = SQLiteStateBackend(path)
    state_id = ss.report().run(n=2, store=store).state_id
    with sqlite3.connect(path) as db:
        db.execute("UPDATE events SET body = '{broken' WHERE (id & 4294967295) = 1")
    with pytest.raises(StateCorrupted, match=f"state '{state_id}'.*event 1 is damaged"):
        store.load(state_id)
    with sqlite3.connect(path) as db:
        header = json.loads(db.execute("SELECT header FROM states").fetchone()[0])
        header["format"] = 99
        db.execute("UPDATE states SET header = ?", (json.dumps(header),))
    with pytest.raises(StateCorrupted, match="state format 99"):
        store.load(state_id)


def test_damaged_and_torn_event_files(tmp_path, caplog):
    store = FileSystemStateBackend(tmp_path / "states")
    state_id = ss.report().run(n=2, store=store).state_id
    events = tmp_path / "states" / state_id / "events.jsonl"
    whole = events.read_bytes()
    events.write_bytes(whole + b'{"seq":3,"event":{"addr')  # a write cut short by a kill
    assert len(store.load(state_id).events) == 3
    assert "was cut short" in caplog.text
    events.write_bytes(whole.replace(b'"seq":1', b'"seq":"x', 1))
    with pytest.raises(StateCorrupted, match=f"state '{state_id}'.*line 2 is damaged"):
        store.load(state_id)
    (tmp_path / "states" / state_id / "state.json").write_text('{"flow": "rep')
    with pytest.raises(StateCorrupted, match="damaged or truncated"):
        store.load(state_id)


def test_resume_of_another_flows_state_is_refused(store):
    state_id = ss.report().run(n=1, store=store).state_id
    with pytest.raises(Exception, match="is a run of flow 'report', not of 'items'"):
        ss.items().resume(state_id, store=store)


def test_something_else_given_as_store_is_named():
    flow = ss.report()
    state_id = flow.run(n=1, store=MemoryStateBackend()).state_id
    expected = r"store must be a state backend, got 'state\.db'; pass one such as SQLite"
    with pytest.raises(FlowDefinitionError, match=expected):
        flow.run(n=1, store="state.db")
    with pytest.raises(FlowDefinitionError, match=expected):
        flow.resume(state_id, store="state.db")


def test_event_text_is_sorted_compact_json():
    store = MemoryStateBackend()
    ss.gated().run(n=2, store=store)  # completed and paused events
    with pytest.raises(StepFailed):
        ss.fragile().run(n=2, store=store)  # a failed event with its error
    texts = [body for row in store._rows.values() for _, body in row.events]
    assert len(texts) == 6
    for text in texts:
        assert text == json.dumps(
            json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )


def test_resume_restores_what_reused_steps_did_to_the_context(store):
    attempts = []

    @step
    def remember(n, context):
        context["seen"] = n
        return n

    @step
    def use(remember, context):
        attempts.append(dict(context))
        if len(attempts) == 1:
            raise RuntimeError("first time fails")
        return context["seen"]

    flow = Flow("ctx", [remember, use])
    with pytest.raises(StepFailed) as info:
        flow.run(n=3, context={}, store=store)
    result = flow.resume(info.value.result.state_id, store=store, context={})
    assert result.steps["ctx/remember"].status is StepStatus.REPLAYED
    assert result["use"] == 3 and attempts[-1] == {"seen": 3}
