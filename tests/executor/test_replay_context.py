"""Replaying a step's change to the context does that change only (executor._context.
apply_change with the change executor._recorder.context_change names)."""

from hypothesis import given
from hypothesis import strategies as st

from executor._context import apply_change
from executor._recorder import _field_codes, context_change

KEYS = st.sampled_from("abcde")
VALUES = st.none() | st.integers() | st.text(max_size=3) | st.lists(st.integers(), max_size=2)


@given(
    before=st.dictionaries(KEYS, VALUES),
    sets=st.dictionaries(KEYS, VALUES),
    drops=st.sets(KEYS),
    others=st.dictionaries(st.sampled_from("xyz"), VALUES),
)
def test_a_replayed_change_keeps_what_other_steps_did_meanwhile(before, sets, drops, others):
    after = {k: v for k, v in before.items() if k not in drops}
    after.update(sets)  # what the step did to its context
    changed, fields, removed = context_change(_field_codes(before), _field_codes(after))
    assert changed == (list(after.items()) != list(before.items()))
    if not changed:
        return  # nothing is recorded, nothing is replayed
    now = {**before, **others}  # another step (another thread) changed other keys meanwhile
    apply_change(now, after, fields, removed)
    if fields is None:  # only the order changed: the context comes back whole
        assert list(now.items()) == list(after.items())
    else:
        assert now == {**after, **others}
        assert set(fields) | set(removed) <= set(before) | set(after)


def test_a_context_the_step_found_unknown_comes_back_whole():
    assert context_change(None, {"a": "1"}) == (True, None, ())
    target = {"a": 0, "b": 1}
    apply_change(target, {"b": 2}, None)
    assert target == {"b": 2}


def test_fields_of_a_dataclass_context_are_set_in_place():
    from dataclasses import dataclass

    @dataclass
    class Ctx:
        seen: int = 0
        other: str = ""

    before = Ctx(1, "x")
    after = Ctx(2, "x")
    changed, fields, removed = context_change(_field_codes(before), _field_codes(after))
    assert (changed, fields, removed) == (True, ("seen",), ())
    now = Ctx(1, "changed by another step")
    apply_change(now, after, fields, removed)
    assert now == Ctx(2, "changed by another step")
