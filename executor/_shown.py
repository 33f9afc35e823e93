"""Values as people read them: ordinary JSON, in their real order.

Files keep values in the typed JSON encoding with sorted keys, so that equal values
give equal text; a dict whose keys are not in sorted order is written there as
``{"$ordered": {"keys": [...], "values": {...}}}``. People reading a terminal, a diff
or a report, and programs reading ``flowexec --json``, want the dict itself: JSON
object text keeps its order, so here every such wrapper becomes a plain object with
the keys in the dict's order.
Other types keep their typed form (``{"$tuple": [1, 2]}``, ``{"$date": "..."}``), so
the shown data still decodes, with the codec, to the value exactly.
"""

from __future__ import annotations

import json
from typing import Any

from executor._codec import JSON_CODEC, CodecError


def shown_data(value: Any, where: str = "value") -> Any:
    """``value`` as JSON data: its typed encoding, dicts as objects in their order.

    Raises CodecError for a value the typed encoding cannot hold.
    """
    return _unwrap(JSON_CODEC.encode(value, where))


def shown_text(value: Any) -> str:
    """``value`` as one line of JSON text in its real order; ``repr`` when it has
    no typed encoding (a value a pickle store kept)."""
    try:
        data = shown_data(value)
    except CodecError:
        return repr(value)
    return json_text(data)


def json_text(data: Any, *, indent: int | None = None) -> str:
    """JSON text of ``data`` with its keys in the order they have (never sorted)."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, indent=indent)


def _unwrap(data: Any) -> Any:
    kind = type(data)
    if kind is list:
        return [_unwrap(item) for item in data]
    if kind is not dict:
        return data
    if len(data) == 1 and "$ordered" in data:
        body = data["$ordered"]
        values = body["values"]
        return {key: _unwrap(values[key]) for key in body["keys"]}
    return {key: _unwrap(item) for key, item in data.items()}
