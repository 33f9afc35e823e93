"""``-i`` inputs come through exactly, or are refused naming the argument."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


@pytest.mark.parametrize(
    "raw", ["NaN", "Infinity", "-Infinity", "nan", "inf", "-inf", "+Infinity", " NaN "]
)
def test_nan_and_infinity_are_refused_naming_the_input(raw):
    # Before: NaN, Infinity and -Infinity became float NaN and infinities (JSON has
    # neither), and inf/nan the strings "inf" and "nan": a guess either way.
    with pytest.raises(UsageError) as info:
        parse_inputs([f"x={raw}"])
    text = str(info.value)
    assert f"-i 'x={raw}': input 'x' would be {raw.strip()}, which is not a finite number" in text
    assert f"-i 'x=\"{raw}\"'" in text  # the fix: quote it for the string
    assert parse_inputs([f'x="{raw}"']) == {"x": raw}


@pytest.mark.parametrize("raw", ["NaNa", "Infinity5", "1e400x", '{"a": 1, "a": 2} x'])
def test_text_that_is_not_json_stays_text_whatever_it_starts_with(raw):
    assert parse_inputs([f"x={raw}"]) == {"x": raw}  # as for name=Ada


@pytest.mark.parametrize("raw", ["[1, NaN]", '{"a": {"b": -Infinity}}'])
def test_nan_and_infinity_inside_a_value_are_refused(raw, tmp_path):
    constant = "NaN" if "NaN" in raw else "-Infinity"
    with pytest.raises(UsageError, match=rf"input 'x' holds {constant}, which is not a finite"):
        parse_inputs([f"x={raw}"])
    path = tmp_path / "inputs.json"
    path.write_text(f'{{"x": {raw}}}')
    with pytest.raises(UsageError) as info:
        parse_inputs([f"@{path}"])
    assert str(info.value).startswith(f"-i @{path}: the file holds {constant}")


@pytest.mark.parametrize("number", ["1e-400", "0.1000000000000000000001", "9007199254740993.0"])
def test_a_number_a_float_would_round_is_refused(number):
    with pytest.raises(UsageError, match=rf"the number {number} has more precision"):
        parse_inputs([f"n={number}"])
    assert parse_inputs([f'n="{number}"']) == {"n": number}


def test_a_key_given_twice_in_an_inputs_file_is_refused_naming_it_and_the_file(tmp_path):
    # Before: json.loads kept the last value without a word.
    path = tmp_path / "inputs.json"
    path.write_text('{"n": 1, "name": "Ada", "n": 2}')
    with pytest.raises(UsageError) as info:
        parse_inputs([f"@{path}"])
    assert str(info.value) == (
        f"-i @{path}: the key 'n' is given twice in one JSON object (only the last value "
        f"would be kept); give each key once"
    )
    path.write_text('{"config": {"depth": 1, "depth": 2}}')  # nested objects too
    with pytest.raises(UsageError, match=rf"-i @{path}: the key 'depth' is given twice"):
        parse_inputs([f"@{path}"])
    with pytest.raises(UsageError, match=r"-i 'c=\{.*\}': the key 'a' is given twice"):
        parse_inputs(['c={"a": 1, "a": 1}'])


def test_an_inputs_file_that_is_not_utf8_is_a_usage_error(tmp_path):
    path = tmp_path / "inputs.json"
    path.write_bytes(b'{"name": "\xe9"}')
    with pytest.raises(UsageError, match=rf"-i @{path}: .* is not UTF-8 text"):
        parse_inputs([f"@{path}"])


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_comes_through_exactly(number):
    for text in (repr(number), json.dumps(number)):
        (value,) = parse_inputs([f"x={text}"]).values()
        assert type(value) is float and value == number
        assert math.copysign(1, value) == math.copysign(1, number)  # -0.0 stays -0.0


def _file(tmp_path, name: str, data: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return f"@{path}"


def test_a_value_after_an_inputs_file_overrides_it_in_its_place(tmp_path):
    base = _file(tmp_path, "inputs.json", {"n": 4, "threshold": 0.5, "name": "Ada"})
    given = parse_inputs([base, "threshold=0.9"])
    assert given == {"n": 4, "threshold": 0.9, "name": "Ada"}
    assert list(given) == ["n", "threshold", "name"]  # the file's order, not moved to the end


def test_a_second_file_layers_on_the_first_and_a_value_on_both(tmp_path):
    base = _file(tmp_path, "base.json", {"n": 1, "mode": "fast", "depth": 2})
    local = _file(tmp_path, "local.json", {"mode": "slow", "extra": True})
    given = parse_inputs([base, local, "depth=3"])
    assert given == {"n": 1, "mode": "slow", "depth": 3, "extra": True}
    assert list(given) == ["n", "mode", "depth", "extra"]


def test_the_same_name_twice_on_the_command_line_is_still_refused(tmp_path):
    base = _file(tmp_path, "inputs.json", {"threshold": 0.5})
    with pytest.raises(UsageError, match=r"-i 'threshold=0.8': input 'threshold' is given twice"):
        parse_inputs([base, "threshold=0.9", "threshold=0.8"])


def test_a_file_after_a_typed_value_does_not_undo_it_and_says_how_to_order(tmp_path):
    base = _file(tmp_path, "inputs.json", {"threshold": 0.5, "n": 1})
    with pytest.raises(UsageError) as info:
        parse_inputs(["threshold=0.9", base])
    text = str(info.value)
    assert f"-i {base!r}: input 'threshold' is given by -i 'threshold=0.9' before it" in text
    assert f"put -i {base} first, then -i threshold=0.9 overrides it" in text


@given(
    base=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(), max_size=4),
    overrides=st.dictionaries(st.sampled_from(["a", "b", "e"]), st.integers(), max_size=3),
)
def test_file_then_values_is_the_file_updated_by_the_values(tmp_path_factory, base, overrides):
    """The property: -i @file then -i k=v... equals {**file, **values}, file order first."""
    path = tmp_path_factory.mktemp("inputs") / "inputs.json"
    path.write_text(json.dumps(base))
    given = parse_inputs([f"@{path}", *(f"{k}={v}" for k, v in overrides.items())])
    expected = {**base, **overrides}
    assert given == expected and list(given) == list(expected)
