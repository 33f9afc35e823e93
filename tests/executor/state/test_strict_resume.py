"""A strict resume of a run that failed or paused: the stored step that did not
complete runs again, and what follows it (never stored, it could not run then)."""

from __future__ import annotations

import pytest

from executor import Flow, Pause, RunStatus, StepFailed, StepStatus, map_over, step

CALLS: list[str] = []


@step
def load(n: int) -> list[int]:
    CALLS.append("load")
    return list(range(n))


@step
def shaky(load: list[int], fixed: bool = False) -> int:
    CALLS.append("shaky")
    if not fixed:
        raise RuntimeError("not yet")
    return len(load)


@step
def report(shaky: int) -> str:
    CALLS.append("report")
    return f"{shaky} rows"


@step
def ask(load: list[int], approval: bool | None = None) -> bool:
    CALLS.append("ask")
    if approval is None:
        raise Pause("a person signs off", awaiting="approval")
    return approval


@step
def publish(ask: bool) -> str:
    CALLS.append("publish")
    return "published" if ask else "held"


BROKEN: set[int] = set()  # items that fail: an outside cause, not an input


@step
def item(items: int) -> int:
    CALLS.append(f"item{items}")
    if items in BROKEN:
        raise RuntimeError(f"{items} is not ready")
    return items * 10


@step
def summed(item: list[int]) -> int:
    CALLS.append("summed")
    return sum(item)


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()
    yield
    CALLS.clear()
    BROKEN.clear()


def test_a_failed_step_and_what_follows_it_run_again(store):
    flow = Flow("fragile", [load, shaky, report])
    with pytest.raises(StepFailed) as info:
        flow.run(n=3, store=store)
    CALLS.clear()
    done = flow.resume(info.value.result.state_id, store=store, inputs={"fixed": True}, strict=True)
    assert done.status is RunStatus.COMPLETED and done["report"] == "3 rows"
    assert CALLS == ["shaky", "report"]
    assert done.steps["fragile/load"].status is StepStatus.REPLAYED
    assert done.replay_misses == ()


def test_a_paused_step_and_what_follows_it_run_again(store):
    flow = Flow("gated", [load, ask, publish])
    paused = flow.run(n=2, store=store)
    assert paused.status is RunStatus.AWAITING
    CALLS.clear()
    done = flow.resume(paused.state_id, store=store, inputs={"approval": True}, strict=True)
    assert done["publish"] == "published"
    assert CALLS == ["ask", "publish"]


def test_a_failed_map_item_runs_again_and_the_others_are_replayed(store):
    flow = Flow("items", [map_over(item, name="item"), summed])
    BROKEN.add(3)  # the last item: every other one ran and was stored
    with pytest.raises(StepFailed) as info:
        flow.run(items=[1, 2, 3], store=store)
    BROKEN.clear()
    CALLS.clear()
    done = flow.resume(info.value.result.state_id, store=store, strict=True)
    assert done["summed"] == 60
    assert CALLS == ["item3", "summed"]
    assert done.steps["items/item[0]"].status is StepStatus.REPLAYED


def test_strict_still_refuses_a_changed_input(store):
    flow = Flow("fragile", [load, shaky, report])
    with pytest.raises(StepFailed) as info:
        flow.run(n=3, store=store)
    first = info.value.result.state_id
    with pytest.raises(StepFailed) as info:
        flow.resume(first, store=store, inputs={"n": 4}, strict=True, resume_from="fragile/shaky")
    assert info.value.cause.address == "fragile/load"
    assert info.value.cause.reason == "input changed"
