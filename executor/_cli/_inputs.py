"""Flow inputs from the command line: ``-i key=value`` and ``-i @inputs.json``.

Inputs come through exactly or are refused: JSON has no NaN or infinity, a float
cannot hold every number (``1e400``, ``1e-400``, ``0.1000000000000000000001``), and
a JSON object that names a key twice would keep only the last value. Each of those
is a UsageError naming the argument and the fix, never a guess.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from executor._errors import UsageError

_NOT_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
"""Spellings float() reads as NaN or infinity (compared lowercased)."""


def parse_inputs(items: Sequence[str]) -> dict[str, Any]:
    """One dict of inputs from ``-i`` arguments, in the order given.

    ``key=value`` takes the value as JSON where it parses (``n=4`` is the int 4,
    ``tags=["a"]`` a list) and as a string otherwise (``name=Ada``); ``@file.json``
    reads a JSON object of inputs.

    A later ``-i`` overrides an input an earlier ``@file.json`` gave (``-i @base.json
    -i threshold=0.9``: a file of defaults, one changed; a second file layers on the
    first); the input keeps its place in the order. Any other repeat is an error, not
    a silent override: a name given twice as ``key=value`` is most likely a slip, and
    a file after a ``key=value`` would undo what was typed on purpose.

    Raises:
        UsageError: naming the malformed argument and the fix.
    """
    inputs: dict[str, Any] = {}
    origin: dict[str, str] = {}  # input name -> the -i argument that gave it
    for item in items:
        given = _from_file(item[1:]) if item.startswith("@") else dict([_pair(item)])
        for key, value in given.items():
            earlier = origin.get(key)
            if earlier is not None and not earlier.startswith("@"):
                if item.startswith("@"):
                    raise UsageError(
                        f"-i {item!r}: input {key!r} is given by -i {earlier!r} before it; "
                        f"a file does not override a value typed on purpose: put -i {item} "
                        f"first, then -i {earlier} overrides it"
                    )
                raise UsageError(f"-i {item!r}: input {key!r} is given twice; give each input once")
            inputs[key] = value
            origin[key] = item
    return inputs


def _pair(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key.isidentifier():
        raise UsageError(
            f"-i {item!r}: write NAME=VALUE with NAME a Python identifier (e.g. -i n=4 or "
            f"-i name=Ada), or @FILE.json for a JSON object of inputs"
        )
    where = f"-i {item!r}"
    if raw.strip().lower() in _NOT_FINITE:
        # Not JSON, and not a string the user meant either: float() reads it as a number
        # the state store and recordings could not hold.
        raise UsageError(
            f"{where}: input {key!r} would be {raw.strip()}, which is not a finite number "
            f"(JSON has no NaN or infinity, so the run could not be stored or replayed "
            f"exactly); give a finite number, or quote it to pass the string: "
            f"-i '{key}=\"{raw}\"'"
        )
    try:
        return key, _loads(raw, where, f"input {key!r}")
    except UsageError:
        raise
    except ValueError:  # not JSON: the text itself, as for name=Ada
        return key, raw


def _loads(text: str, where: str, what: str) -> Any:
    """JSON ``text`` as values, refusing what would not come through exactly.

    The refusal waits until the whole text has parsed: ``NaNa`` or ``1e400x`` is not
    JSON at all, so ``-i name=NaNa`` is the string, as ``-i name=Ada`` is.
    """
    problems: list[str] = []

    def exact_float(number: str) -> float:
        value = float(number)
        if math.isinf(value):
            problems.append(
                f"{where}: the number {number} is too large for a float (it would become "
                f'infinity); give a smaller number, or quote it to pass a string ("{number}")'
            )
        elif Decimal(repr(value)) != Decimal(number):
            problems.append(
                f"{where}: the number {number} has more precision than a float holds (it "
                f"would become {value!r}); give {value!r} if that is what you mean, or "
                f'quote it to pass a string ("{number}")'
            )
        return value

    def no_constant(name: str) -> float:
        problems.append(
            f"{where}: {what} holds {name}, which is not a finite number (JSON has no NaN "
            f"or infinity, so the run could not be stored or replayed exactly); give a "
            f'finite number, or quote it to pass a string ("{name}")'
        )
        return math.nan

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in pairs:
            if key in found:
                problems.append(
                    f"{where}: the key {key!r} is given twice in one JSON object (only the "
                    f"last value would be kept); give each key once"
                )
            found[key] = value
        return found

    data = json.loads(
        text, parse_float=exact_float, parse_constant=no_constant, object_pairs_hook=unique
    )
    if problems:
        raise UsageError(problems[0])
    return data


def _from_file(name: str) -> dict[str, Any]:
    path = Path(name)
    where = f"-i @{name}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(
            f"{where}: cannot read {str(path)!r} ({error.strerror or error}); give the path "
            f"of a JSON file holding an object of inputs"
        ) from None
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{where}: {str(path)!r} is not UTF-8 text ({error.reason} at byte "
            f"{error.start}); save it as UTF-8 JSON"
        ) from None
    try:
        data = _loads(text, where, "the file")
    except UsageError:
        raise
    except ValueError as error:
        raise UsageError(f"{where}: {str(path)!r} is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise UsageError(
            f"{where}: {str(path)!r} holds a {type(data).__name__}; it must hold a JSON "
            f'object of inputs, e.g. {{"n": 4}}'
        )
    return data
