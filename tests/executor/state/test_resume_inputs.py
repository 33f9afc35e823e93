"""A resume continues a stored run with the inputs it ran with: it may add, not change."""

import pytest

from executor import Flow, FlowInputError, Pause, RunStatus, StepStatus, step
from tests.executor.state import state_steps as ss


def test_a_resume_that_changes_a_stored_input_is_refused_and_writes_nothing(store):
    paused = ss.gated().run(n=3, store=store)
    before = store.load(paused.state_id)
    with pytest.raises(FlowInputError) as info:
        ss.gated().resume(paused.state_id, store=store, inputs={"n": 4, "approval": True})
    assert str(info.value) == (
        "flow 'gated': a resume cannot change stored input(s): n from 3 to 4; "
        f"run {paused.state_id[:12]} ran its steps with the stored values; start a new run "
        "with the new value, or resume as a new run from the first step that reads it, "
        "which keeps this one: resume_from='gated/load' "
        "(on the command line: the same `flowexec states resume` with --from gated/load added)"
    )
    assert info.value.changed == {"n": (3, 4)}
    assert store.load(paused.state_id) == before  # inputs, status, events: as they were


def test_the_same_value_again_and_a_missing_input_are_accepted(store):
    paused = ss.gated().run(n=3, store=store)
    done = ss.gated().resume(paused.state_id, store=store, inputs={"n": 3, "approval": True})
    assert done.status is RunStatus.COMPLETED and done["approve"] == 5
    assert store.load(paused.state_id).inputs == {"n": 3, "approval": True}


def test_a_value_of_another_type_is_a_change(store):
    paused = ss.gated().run(n=3, store=store)
    with pytest.raises(FlowInputError, match=r"n from 3 to 3\.0"):
        ss.gated().resume(paused.state_id, store=store, inputs={"n": 3.0, "approval": True})


@step
def answer(n: int, approval: int | None = None) -> int:
    if approval != 2:  # the first answer is not enough: ask again
        raise Pause("asks twice", awaiting="approval")
    return n


def test_the_input_a_paused_run_awaits_may_be_given_again(store):
    twice = Flow("twice", [answer])
    paused = twice.run(n=1, store=store)
    again = twice.resume(paused.state_id, store=store, inputs={"approval": 1})
    assert again.status is RunStatus.AWAITING and again.awaiting == "approval"
    done = twice.resume(paused.state_id, store=store, inputs={"approval": 2})
    assert done["answer"] == 1
    assert store.load(paused.state_id).inputs == {"n": 1, "approval": 2}


def test_a_changed_input_goes_to_a_new_run_with_resume_from(store):
    first = ss.report().run(n=2, store=store)
    again = ss.report().resume(
        first.state_id, store=store, inputs={"n": 3}, resume_from="report/load"
    )
    assert again["total"] == 0 + 1 + 4
    assert again.state_id != first.state_id
    assert store.load(again.state_id).inputs == {"n": 3}
    assert store.load(first.state_id).inputs == {"n": 2}  # the stored run keeps its record
    assert again.steps["report/load"].status is StepStatus.COMPLETED
