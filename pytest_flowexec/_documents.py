"""Reading the plugin's versioned JSON files (recordings, golden files) in one way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_document(
    path: Path, *, kind: str, form: str, version: int, error: type[Exception], fix: str
) -> dict[str, Any]:
    """The JSON object in ``path``, checked to be a ``form`` document of ``version``.

    Raises ``error`` naming the file (as a ``kind``, e.g. "recording") and ``fix``.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as problem:
        raise error(f"{kind} {str(path)!r} is not valid JSON ({problem}); {fix}") from None
    if not isinstance(data, dict) or data.get("format") != form:
        raise error(f"{str(path)!r} is not a flowexec {kind}; {fix}")
    if data.get("version") != version:
        raise error(
            f"{kind} {str(path)!r} has format version {data.get('version')!r}; this "
            f"flowexec reads version {version} only: {fix}"
        )
    return data
