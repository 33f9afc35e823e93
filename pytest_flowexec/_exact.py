"""What "exactly the same value" means, once, for the whole plugin.

The determinism marker compares re-runs with :func:`exact_diff` and says where they
part; ``strategies.exact_copy`` (a stored value came back as itself) is
:func:`exact_diff` finding nothing, so the two can never mean different things.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import math
from typing import Any


def exact_diff(
    a: Any, b: Any, label_a: str, label_b: str, order_note: str = "", path: str = ""
) -> list[str]:
    """Where ``a`` and ``b`` differ, as ``path: a (label_a) vs b (label_b)`` lines.

    Exact: types must match all the way down (``1`` is not ``1.0``, nor ``True``, as a
    value or a dict key), dict order must match, NaN equals NaN, ``-0.0`` is not
    ``0.0``, decimals compare by their digits (``1.0`` is not ``1.00``), datetimes and
    times also by their zone, set members by their types too. A value whose class has
    no ``__eq__`` of its own compares by its ``repr``.
    """

    def line(note: str) -> list[str]:
        return [f"{path}: {note}"]

    def both(x: Any, y: Any, extra: str = "") -> list[str]:
        return line(f"{_short(x)} ({label_a}) vs {_short(y)} ({label_b}){extra}")

    if type(a) is not type(b):
        return both(a, b, f" (types {type(a).__name__} vs {type(b).__name__})")
    if isinstance(a, dict):
        if a.keys() != b.keys():
            gone = [k for k in a if k not in b]
            new = [k for k in b if k not in a]
            return line(f"keys only in {label_a}: {gone!r}; keys only in {label_b}: {new!r}")
        found: list[str] = []
        for key in a:
            found += exact_diff(a[key], b[key], label_a, label_b, order_note, f"{path}[{key!r}]")
        if found:
            return found
        if list(a) != list(b):
            return line(
                f"same items in another order: {list(a)!r} ({label_a}) vs {list(b)!r} "
                f"({label_b}){order_note}"
            )
        for key, other in zip(a, b, strict=True):  # equal keys, in order: of one type?
            found += exact_diff(key, other, label_a, label_b, order_note, f"{path} key {key!r}")
        return found
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return both(a, b, f" (lengths {len(a)} vs {len(b)})")
        found = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found += exact_diff(x, y, label_a, label_b, order_note, f"{path}[{i}]")
        return found
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        found = []
        for field in dataclasses.fields(a):
            found += exact_diff(
                getattr(a, field.name),
                getattr(b, field.name),
                label_a,
                label_b,
                order_note,
                f"{path}.{field.name}",
            )
        return found
    return [] if _same_leaf(a, b) else both(a, b)


def _same_leaf(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b``, of one type and no container, are exactly the same."""
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, decimal.Decimal):
        return str(a) == str(b)
    if isinstance(a, (dt.datetime, dt.time)):
        return a == b and str(a.tzinfo) == str(b.tzinfo) and a.utcoffset() == b.utcoffset()
    if isinstance(a, (set, frozenset)):
        return a == b and {type(x) for x in a} == {type(x) for x in b}
    try:
        equal = bool(a == b)
    except Exception:
        equal = False
    if not equal and getattr(type(a), "__eq__", None) is object.__eq__:
        equal = repr(a) == repr(b)  # no __eq__ of its own: compare what it shows
    return equal


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
