"""Compact, key-sorted JSON text, fast: the C encoder built once, scalars inline.

``json.dumps`` (and ``JSONEncoder.encode`` for anything but a str) builds a new C
encoder on every call, about 1 us; the engine writes several small JSON values per
step (cache keys, checkpoints), so it builds them once here.
"""

from __future__ import annotations

import json
import json.encoder
import math
from collections.abc import Callable
from typing import Any


def _refuse(value: object) -> object:
    raise TypeError(f"not JSON-ready data: {type(value).__qualname__}")


def _sorted_encoder(ascii_only: bool, allow_nan: bool) -> Callable[[Any], str]:
    make = json.encoder.c_make_encoder  # type: ignore[attr-defined]
    strings = json.encoder.encode_basestring_ascii if ascii_only else json.encoder.encode_basestring
    if make is None:  # pragma: no cover - CPython without the _json accelerator
        encoder = json.JSONEncoder(
            sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only, allow_nan=False
        )
        return encoder.encode
    # No cycle check (markers=None): callers pass codec output or checked data.
    iterencode = make(None, _refuse, strings, None, ":", ",", True, False, allow_nan)
    return lambda value: "".join(iterencode(value, 0))


dumps_ascii = _sorted_encoder(ascii_only=True, allow_nan=True)
"""Sorted, compact, ASCII-only JSON (``\\u`` escapes), NaN and infinities written as
``NaN``/``Infinity``: for hashing (cache keys)."""
dumps = _sorted_encoder(ascii_only=False, allow_nan=False)
"""Sorted, compact JSON keeping non-ASCII text readable: for files people read."""
_string = json.encoder.encode_basestring


def scalar(value: Any) -> str:
    """JSON for None, a str, an int or a finite float, without the encoder machinery."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return str(_string(value))
    if kind is int:
        return str(value)
    if kind is float and math.isfinite(value):
        return repr(value)
    return dumps(value)
