"""Recording file names and mismatch descriptions: properties, without a session."""

import re

from hypothesis import given
from hypothesis import strategies as st

from executor._changes import describe_changes
from pytest_flowexec._recording import MAX_NAME, file_name

ids = st.text(min_size=1, max_size=400)


@given(ids, ids)
def test_distinct_test_ids_get_distinct_file_names(a, b):
    assert (file_name(a) == file_name(b)) == (a == b)


@given(ids)
def test_file_names_are_safe_short_and_stable(test_id):
    name = file_name(test_id)
    assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]~]+\.json", name)
    assert len(name) <= MAX_NAME + len("~0123456789.json")
    assert file_name(test_id) == name


def test_safe_names_stay_readable():
    assert file_name("test_quote[EUR]") == "test_quote[EUR].json"
    assert file_name("test_quote[a/b]").startswith("test_quote[a_b]~")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


@given(st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4))
def test_equal_inputs_describe_no_change(inputs):
    assert describe_changes(inputs, inputs) == ""


@given(
    st.dictionaries(st.sampled_from("abc"), json_values, min_size=1),
    st.dictionaries(st.sampled_from("abc"), json_values, min_size=1),
)
def test_each_changed_parameter_is_named(recorded, current):
    text = describe_changes(recorded, current)
    changed = sorted(
        k
        for k in set(recorded) | set(current)
        if recorded.get(k, ...) != current.get(k, ...)
        or type(recorded.get(k)) is not type(current.get(k))
    )
    assert (text == "") == (not changed)
    if changed:
        assert text.splitlines()[0].startswith(changed[0])
