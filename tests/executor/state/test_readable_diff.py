"""Diffs of values (states diff, validate, the report) read in the dicts' real order."""

from __future__ import annotations

from hypothesis import given, settings

from executor.state._report import readable_diff
from pytest_flowexec.strategies import codec_values


def test_a_changed_value_is_shown_at_its_key_without_codec_wrappers():
    recorded = {"zone": "eu", "totals": {"net": 3, "gross": 4}}
    now = {"zone": "eu", "totals": {"net": 3, "gross": 5}}
    diff = readable_diff(recorded, now, "f/sum")
    assert "$ordered" not in diff  # was: the change sat under "keys"/"values" lists
    assert '     "net": 3,\n-    "gross": 4\n+    "gross": 5\n' in diff


def test_an_order_only_change_shows_as_moved_keys():
    diff = readable_diff({"b": 1, "a": 2}, {"a": 2, "b": 1}, "f/x")
    assert '-  "b": 1,\n-  "a": 2\n+  "a": 2,\n+  "b": 1\n' in diff


def test_types_still_show():
    diff = readable_diff((1, 2), [1, 2], "f/x")
    assert '-  "$tuple": [' in diff and "+[\n" in diff


@settings(max_examples=100, deadline=None)
@given(value=codec_values())
def test_equal_values_give_no_diff(value):
    assert readable_diff(value, value, "f/x") == ""
