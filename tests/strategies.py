"""Hypothesis strategies for values flowexec stores exactly, and an exactness check.

Every value :func:`codec_values` draws comes back from a state store, a cache and
a recording as an exact copy: equal, of the same type all the way down, with
dicts in the same insertion order (:func:`exact_copy` checks that). Use them to
test that what your steps return survives a resume, a cache hit or a replay::

    from hypothesis import given
    from tests.strategies import codec_values, exact_copy

    @given(codec_values())
    def test_outputs_survive_the_store(value): ...

It lives with the tests for now: hypothesis is a dev dependency, and the shipped
packages import only declared ones (tests/test_distribution.py). Issue 11 may ship
it to users behind an extra.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import math
import pathlib
from typing import Any, NamedTuple

from hypothesis import strategies as st

__all__ = [
    "SampleColor",
    "SampleLevel",
    "SamplePair",
    "SamplePoint",
    "codec_values",
    "exact_copy",
]


class SampleColor(enum.Enum):
    """A plain enum (values of two types)."""

    RED = "red"
    BLUE = 2


class SampleLevel(enum.IntEnum):
    """An int-valued enum: a subclass of int that must come back as itself."""

    LOW = 1
    HIGH = 2


@dataclasses.dataclass(frozen=True)
class SamplePoint:
    """A frozen dataclass holding any stored value."""

    x: Any
    label: str = ""


class SamplePair(NamedTuple):
    """A named tuple: a tuple subclass that must come back as itself."""

    left: Any
    right: Any


def _text() -> st.SearchStrategy[str]:
    # Lone surrogates are not UTF-8: the codec refuses them (tested apart).
    return st.text(st.characters(exclude_categories=["Cs"]), max_size=8)


def _zones() -> st.SearchStrategy[dt.tzinfo]:
    fixed = st.timedeltas(
        min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)
    ).map(lambda offset: dt.timezone(dt.timedelta(minutes=offset // dt.timedelta(minutes=1))))
    return st.timezones() | fixed


def _big_ints() -> st.SearchStrategy[int]:
    # Up to the 4300-digit limit (10**4300 - 1 is the largest int the codec stores).
    magnitudes = st.integers(min_value=64, max_value=14_000).map(lambda bits: 2**bits - 1)
    largest = st.just(10**4300 - 1)
    return st.builds(lambda n, sign: n * sign, magnitudes | largest, st.sampled_from([1, -1]))


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        _big_ints(),
        st.floats(allow_nan=False),
        _text(),
        st.binary(max_size=16),
        st.decimals(allow_nan=False),
        st.uuids(),
        st.datetimes(),
        st.datetimes(timezones=_zones()),
        st.dates(),
        st.times(),
        st.times(timezones=st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=5))])),
        st.builds(pathlib.Path, _text()),
        st.builds(pathlib.PurePosixPath, _text()),
        st.builds(pathlib.PureWindowsPath, _text()),
        st.sampled_from(SampleColor),
        st.sampled_from(SampleLevel),
    )


def _hashables() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(),
        _text(),
        st.booleans(),
        st.tuples(st.integers(), _text()),
        st.frozensets(st.integers(), max_size=3),
        st.sampled_from(SampleColor),
    )


def codec_values(*, max_leaves: int = 25) -> st.SearchStrategy[Any]:
    """Values of every type the typed codec stores, nested, dicts in any key order.

    Scalars (None, bool, int up to the 4300-digit limit, float, str, bytes,
    Decimal, UUID, datetime naive and zoned, date, time, paths of each flavour,
    enums), containers (list, tuple, set, frozenset, dicts with str keys in any
    insertion order, dicts with other keys or ``"$"`` keys) and typed values
    (dataclasses, named tuples), nested up to ``max_leaves`` leaves.
    """

    def containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.lists(inner, max_size=4),
            st.tuples(inner, inner),
            st.dictionaries(_text(), inner, max_size=5),
            st.dictionaries(_text().map(lambda k: "$" + k), inner, max_size=3),
            st.dictionaries(_hashables(), inner, max_size=3),
            st.sets(_hashables(), max_size=4),
            st.frozensets(_hashables(), max_size=4),
            st.builds(SamplePoint, inner, _text()),
            st.builds(SamplePair, inner, inner),
        )

    return st.recursive(_scalars(), containers, max_leaves=max_leaves)


def exact_copy(a: Any, b: Any) -> bool:
    """Whether ``b`` is an exact copy of ``a``: equal, same types, same dict order.

    Floats compare by bits (``-0.0`` is not ``0.0``; NaN equals NaN), datetimes
    and times also by their zone.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, decimal.Decimal):
        return str(a) == str(b)
    if isinstance(a, (dt.datetime, dt.time)):
        return a == b and str(a.tzinfo) == str(b.tzinfo) and a.utcoffset() == b.utcoffset()
    if isinstance(a, dict):
        return list(a) == list(b) and all(
            exact_copy(k, j) and exact_copy(a[k], b[j]) for k, j in zip(a, b, strict=True)
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(exact_copy(x, y) for x, y in zip(a, b, strict=True))
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return all(
            exact_copy(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    if isinstance(a, (set, frozenset)):
        return a == b and {type(x) for x in a} == {type(x) for x in b}
    return bool(a == b)
