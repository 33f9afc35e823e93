"""Flow inputs from the command line: ``-i key=value`` and ``-i @inputs.json``."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from executor._errors import UsageError


def parse_inputs(items: Sequence[str]) -> dict[str, Any]:
    """One dict of inputs from ``-i`` arguments, in the order given.

    ``key=value`` takes the value as JSON where it parses (``n=4`` is the int 4,
    ``tags=["a"]`` a list) and as a string otherwise (``name=Ada``); ``@file.json``
    reads a JSON object of inputs. A name given twice is an error, not a silent
    override.

    Raises:
        UsageError: naming the malformed argument and the fix.
    """
    inputs: dict[str, Any] = {}
    for item in items:
        given = _from_file(item[1:]) if item.startswith("@") else dict([_pair(item)])
        for key, value in given.items():
            if key in inputs:
                raise UsageError(f"-i {item!r}: input {key!r} is given twice; give each input once")
            inputs[key] = value
    return inputs


def _pair(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key.isidentifier():
        raise UsageError(
            f"-i {item!r}: write NAME=VALUE with NAME a Python identifier (e.g. -i n=4 or "
            f"-i name=Ada), or @FILE.json for a JSON object of inputs"
        )
    try:
        return key, json.loads(raw, parse_float=lambda text: _finite(text, f"-i {item!r}"))
    except UsageError:
        raise
    except ValueError:
        return key, raw


def _finite(text: str, where: str) -> float:
    """A JSON number as a float, refused when a float cannot hold it: ``1e400``
    would silently become infinity."""
    value = float(text)
    if math.isinf(value):
        raise UsageError(
            f"{where}: the number {text} is too large for a float (it would become "
            f'infinity); give a smaller number, or quote it to pass a string ("{text}")'
        )
    return value


def _from_file(name: str) -> dict[str, Any]:
    path = Path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(
            f"-i @{name}: cannot read {str(path)!r} ({error.strerror or error}); give the path "
            f"of a JSON file holding an object of inputs"
        ) from None
    try:
        data = json.loads(text, parse_float=lambda number: _finite(number, f"-i @{name}"))
    except UsageError:
        raise
    except ValueError as error:
        raise UsageError(f"-i @{name}: {str(path)!r} is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise UsageError(
            f"-i @{name}: {str(path)!r} holds a {type(data).__name__}; it must hold a JSON "
            f'object of inputs, e.g. {{"n": 4}}'
        )
    return data
