"""resume_from an address inside a composite: the composite runs again with its
other parts replayed, the address and what follows it run live, strict or not."""

from __future__ import annotations

import pytest

from executor import Flow, ReplayMismatch, StepFailed, StepStatus, loop, map_over, parallel, step

CALLS: list[str] = []


@step
def numbers(n: int) -> list[int]:
    CALLS.append("numbers")
    return list(range(n))


@step
def double(numbers: int) -> int:
    CALLS.append(f"double{numbers}")
    return numbers * 2


@step
def total(each: list[int]) -> int:
    CALLS.append("total")
    return sum(each)


@step
def first(n: int) -> int:
    CALLS.append("first")
    return n + 1


@step
def second(first: int) -> int:
    CALLS.append("second")
    return first * 10


@step
def other(n: int) -> int:
    CALLS.append("other")
    return -n


@step
def after(par: dict) -> int:
    CALLS.append("after")
    return len(par)


@step
def grow(value: int) -> int:
    CALLS.append(f"grow{value}")
    return value + 1


@step
def last(grow: int) -> int:
    CALLS.append("last")
    return grow * 100


def mapped() -> Flow:
    return Flow("items", [numbers, map_over(double, over="numbers", name="each"), total])


def branched() -> Flow:
    inner = Flow("a", [first, second])
    return Flow("par", [parallel("par", {"a": inner, "b": other}), after])


def nested() -> Flow:
    return Flow("subs", [Flow("inner", [first, second]).as_step(), other])


def looped() -> Flow:
    return Flow("loops", [loop(grow, until=lambda v: v >= 3, feed="value"), last])


def statuses(result) -> dict[str, str]:
    return {address: r.status.value for address, r in result.steps.items()}


def resumed(store, flow: Flow, address: str, strict: bool, **inputs):
    first_run = flow.run(store=store, **inputs)
    CALLS.clear()
    return flow.resume(first_run.state_id, store=store, strict=strict, resume_from=address)


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()
    yield
    CALLS.clear()


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@pytest.mark.parametrize("executor", ["sequential", "threaded", "async"])
def test_a_map_item_runs_again_with_what_follows_it(store, strict, executor):
    flow = mapped()
    first_run = flow.run(n=3, store=store, executor=executor)
    CALLS.clear()
    again = flow.resume(
        first_run.state_id,
        store=store,
        strict=strict,
        resume_from="items/each[0]",
        executor=executor,
    )
    assert sorted(CALLS) == ["double0", "total"]
    assert again["total"] == 6 and again["each"] == [0, 2, 4]
    assert statuses(again) == {
        "items/numbers": "replayed",
        "items/each": "completed",
        "items/each[0]": "completed",
        "items/each[1]": "replayed",
        "items/each[2]": "replayed",
        "items/total": "completed",
    }
    assert again.replay_misses == ()  # asked for, not missed
    stored = store.load(again.state_id)
    assert stored.metadata.parent_state_id == first_run.state_id
    assert {a: e.status for a, e in stored.latest().items()} == statuses(again)


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_the_composite_itself_runs_again_whole(store, strict):
    again = resumed(store, mapped(), "items/each", strict, n=3)
    assert CALLS == ["double0", "double1", "double2", "total"]
    assert again.steps["items/numbers"].status is StepStatus.REPLAYED
    assert all(again.steps[f"items/each[{i}]"].status is StepStatus.COMPLETED for i in range(3))


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_a_step_before_a_map_reruns_every_item(store, strict):
    again = resumed(store, mapped(), "items/numbers", strict, n=2)
    assert CALLS == ["numbers", "double0", "double1", "total"]
    assert again.replay_misses == ()


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_a_step_of_a_parallel_branch_runs_again_with_what_follows_it(store, strict):
    again = resumed(store, branched(), "par/par/a/first", strict, n=4)
    assert CALLS == ["first", "second", "after"]  # second: downstream inside the branch
    assert again["par"] == {"a": 50, "b": -4}
    assert statuses(again) == {
        "par/par": "completed",
        "par/par/a": "completed",
        "par/par/a/first": "completed",
        "par/par/a/second": "completed",
        "par/par/b": "replayed",
        "par/after": "completed",
    }


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_a_parallel_branch_runs_again_and_the_other_is_replayed(store, strict):
    again = resumed(store, branched(), "par/par/b", strict, n=4)
    assert CALLS == ["other", "after"]
    assert again.steps["par/par/a"].status is StepStatus.REPLAYED


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_an_inner_step_of_a_sub_flow_runs_again_with_what_follows_it(store, strict):
    again = resumed(store, nested(), "subs/inner/second", strict, n=1)
    assert CALLS == ["second"]
    assert again.steps["subs/inner/first"].status is StepStatus.REPLAYED
    assert again.steps["subs/other"].status is StepStatus.REPLAYED
    CALLS.clear()
    again = resumed(store, nested(), "subs/inner/first", strict, n=1)
    assert CALLS == ["first", "second"]


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_a_loop_iteration_runs_again_with_the_iterations_after_it(store, strict):
    again = resumed(store, looped(), "loops/grow#1", strict, value=0)
    assert CALLS == ["grow1", "grow2", "last"]
    assert again.steps["loops/grow#0"].status is StepStatus.REPLAYED
    assert again["last"] == 300


def test_strict_still_refuses_a_part_that_is_neither_stored_nor_redone(store):
    items = Flow("items", [map_over(double, over="numbers", name="each")])
    first_run = items.run(numbers=[1, 2, 3], store=store)
    with pytest.raises(StepFailed) as info:
        items.resume(
            first_run.state_id,
            store=store,
            inputs={"numbers": [1, 5, 3]},
            strict=True,
            resume_from="items/each[0]",
        )
    cause = info.value.cause
    assert isinstance(cause, ReplayMismatch)
    assert cause.address == "items/each[1]" and cause.reason == "input changed"
