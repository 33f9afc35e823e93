"""``-i`` inputs come through exactly, or are refused naming the argument."""

from __future__ import annotations

import json

import pytest

from executor._cli._inputs import parse_inputs
from executor._errors import UsageError


def test_values_keep_their_type_and_order():
    given = parse_inputs(["b=2.5", "a=12345678901234567890123", 'c={"z": 1, "y": [true]}', "d=Ada"])
    assert given == {"b": 2.5, "a": 12345678901234567890123, "c": {"z": 1, "y": [True]}, "d": "Ada"}
    assert list(given) == ["b", "a", "c", "d"] and list(given["c"]) == ["z", "y"]


@pytest.mark.parametrize("number", ["1e400", "-2.5e999"])
def test_a_number_too_large_for_a_float_is_refused_not_made_infinite(number, tmp_path):
    # Before: json.loads turned it into inf (or -inf) without a word.
    with pytest.raises(UsageError, match=rf"-i 'n={number}': the number {number} is too large"):
        parse_inputs([f"n={number}"])
    assert parse_inputs([f'n="{number}"']) == {"n": number}  # quoted: the string
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps({"n": 1}).replace("1", number))
    with pytest.raises(UsageError, match=rf"-i @{path}: the number {number} is too large"):
        parse_inputs([f"@{path}"])
