"""RedoSet: which addresses a resume_from runs again (properties over nested addresses)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from executor._redo import Redo, RedoSet

names = st.sampled_from(["a", "b", "ab", "each", "x1"])
parts = st.one_of(
    names.map(lambda n: "/" + n),
    st.integers(0, 12).map(lambda i: f"[{i}]"),
)
tails = st.lists(parts, min_size=0, max_size=4).map("".join)
addresses = st.tuples(names, tails).map(lambda t: "f/" + t[0] + t[1])


@given(addresses, tails)
def test_the_address_and_everything_inside_it_run_whole(root, tail):
    assert RedoSet([root]).kind(root + tail) is Redo.WHOLE


@given(addresses)
def test_every_composite_around_it_runs_around(root):
    redo = RedoSet([root])
    for position, char in enumerate(root):
        if char in "/[" and position > 1:
            assert redo.kind(root[:position]) is Redo.AROUND


@given(addresses, addresses)
def test_an_unrelated_address_is_replayed(root, other):
    related = (
        other == root
        or other.startswith((root + "/", root + "["))
        or root.startswith((other + "/", other + "["))
    )
    assert (RedoSet([root]).kind(other) is not None) == related


def test_a_name_that_only_starts_like_the_root_is_not_inside_it():
    redo = RedoSet(["f/each[1]"])
    assert redo.kind("f/each[10]") is None
    assert redo.kind("f/eachx") is None
    assert redo.kind("f/each[0]") is None


def test_later_loop_iterations_run_whole_earlier_ones_are_replayed():
    redo = RedoSet(["f/loop#2/inner"])
    assert redo.kind("f/loop#1") is None
    assert redo.kind("f/loop#2") is Redo.AROUND
    assert redo.kind("f/loop#2/other") is None
    assert redo.kind("f/loop#3") is Redo.WHOLE
    assert redo.kind("f/loop#11/inner") is Redo.WHOLE
    assert redo.kind("f/loop") is Redo.AROUND


def test_an_added_address_runs_whole_from_then_on():
    redo = RedoSet(["f/a"])
    assert redo.kind("f/b[3]") is None
    redo.add("f/b")
    assert redo.kind("f/b[3]") is Redo.WHOLE
