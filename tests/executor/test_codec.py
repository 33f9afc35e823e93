import datetime as dt
import decimal
import json
import math
import pathlib
import threading
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor._codec import JSON_CODEC, PICKLE_CODEC, Codec, CodecError, EncodedException
from tests.executor.codec_types import Box, Color, NeedsTwo, Pair, Point


def roundtrip(value, codec=JSON_CODEC):
    return codec.loads(codec.dumps(value))


def same(a, b):
    """Equal, with the same types all the way down (1 != 1.0 != True here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.binary()
    | st.decimals(allow_nan=False)
    | st.uuids()
    | st.datetimes()
    | st.dates()
)
keys = st.text() | st.integers() | st.tuples(st.integers(), st.text())
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(keys, inner, max_size=4)
        | st.frozensets(st.integers() | st.text())
    ),
    max_leaves=20,
)


@given(values)
def test_roundtrip_keeps_values_and_types(value):
    assert same(roundtrip(value), value)


@given(values)
def test_text_is_stable_and_sorted(value):
    text = JSON_CODEC.dumps(value)
    assert JSON_CODEC.dumps(roundtrip(value)) == text
    assert json.dumps(json.loads(text), sort_keys=True, ensure_ascii=False) == text


@given(st.sets(st.integers() | st.text(), max_size=10))
def test_sets_are_written_in_canonical_order(items):
    forward, backward = set(), set()
    for item in sorted(items, key=repr):
        forward.add(item)
    for item in sorted(items, key=repr, reverse=True):
        backward.add(item)
    assert JSON_CODEC.dumps(forward) == JSON_CODEC.dumps(backward)


def test_surrounding_whitespace_is_accepted():
    assert JSON_CODEC.loads('\n  {"a": [1]}\n') == {"a": [1]}


def test_plain_json_stays_plain():
    value = {"name": "a", "nested": {"k": "v"}, "rows": [1, 2.5, None, True]}
    assert json.loads(JSON_CODEC.dumps(value)) == value


@pytest.mark.parametrize(
    "value",
    [
        Color.RED,
        Color.BLUE,
        Point(1.0, 2.0, ("a",)),
        Box(Point(0.0, -0.0), [1, 2]),
        Pair(1, "x"),
        pathlib.Path("data/in.csv"),
        dt.time(12, 30, 1),
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        decimal.Decimal("1.10"),
        uuid.UUID(int=5),
        {1: "int key", (1, 2): "tuple key"},
        {"$ref": "dollar key"},
        float("nan"),
        float("-inf"),
        -0.0,
        (),
        set(),
        frozenset({1}),
    ],
)
def test_roundtrip_of_each_supported_type(value):
    assert same(roundtrip(value), value) or (value != value and roundtrip(value) != value)


def test_exceptions_keep_type_and_message():
    back = roundtrip(ValueError("bad row 7"))
    assert type(back) is ValueError and str(back) == "bad row 7"
    two = roundtrip(NeedsTwo("a", "b"))
    assert type(two) is NeedsTwo and two.args == ("a", "b")


def test_an_exception_whose_type_is_gone_is_refused_by_name():
    data = {"$exception": {"type": "nowhere.module:Gone", "message": "m", "args": ["m"]}}
    with pytest.raises(CodecError, match=r"'nowhere\.module:Gone' is not available"):
        JSON_CODEC.decode(data, "f/s output")


def test_an_exception_that_cannot_be_rebuilt_from_its_args_keeps_type_name_and_message():
    data = {"$exception": {"type": f"{NeedsTwo.__module__}:NeedsTwo", "message": "m", "args": []}}
    back = JSON_CODEC.decode(data)
    assert isinstance(back, EncodedException) and back.type_name.endswith(":NeedsTwo")


def test_unsupported_values_name_path_and_type():
    with pytest.raises(CodecError) as info:
        JSON_CODEC.dumps({"rows": [1, {"lock": threading.Lock()}]}, "f/load output")
    message = str(info.value)
    assert message.startswith("f/load output['rows'][1]['lock']: cannot encode a value of type ")
    assert "lock" in message and "codec='pickle'" in message


def test_pickle_only_when_allowed():
    class Local:
        pass

    with pytest.raises(CodecError):
        JSON_CODEC.dumps(Local())
    value = (threading.Event.__name__, frozenset())
    assert roundtrip(value, PICKLE_CODEC) == value
    text = PICKLE_CODEC.dumps(pathlib.PurePosixPath)  # a type: only pickle expresses it
    with pytest.raises(CodecError, match="pickle is not allowed here"):
        JSON_CODEC.loads(text)
    assert PICKLE_CODEC.loads(text) is pathlib.PurePosixPath


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("", r"not valid JSON \(no value at character 0\)"),
        ("1 2", "extra data at character 1"),
        ('{"$what": 1}', r"unknown tag '\$what'"),
        ('{"$float": "huge"}', "unknown float"),
        ('{"$enum": {"type": "no.such:Thing", "value": 1}}', "'no.such:Thing' is not available"),
    ],
)
def test_bad_input_is_a_clear_error(text, needle):
    with pytest.raises(CodecError, match=needle):
        Codec().loads(text, "state 42")


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"k": Point(threading.Lock(), 1.0)}, "['k'].x"),
        ([Pair(1, threading.Lock())], "[0].right"),
        ({"z": 1, "a": (2, threading.Lock())}, "['a'][1]"),
        ({(1, "\ud800"): 1}, " key (1, '\\ud800')[1]"),
        ([{threading.Lock()}], "[0] item"),
        ({1: [threading.Lock()]}, "[1][0]"),
    ],
    ids=["dataclass-field", "namedtuple-field", "ordered-dict", "dict-key", "set-item", "int-key"],
)
def test_refusals_name_the_path_inside_typed_values(value, path):
    with pytest.raises(CodecError) as info:
        JSON_CODEC.encode(value, "f/s output")
    assert info.value.where == f"f/s output{path}"
