"""What changed between a step's recorded inputs and its current ones, in words.

A replay mismatch is only useful when it says *what* changed: each changed
parameter, the path inside it, the recorded and the current value. Values are
compared as Python values (decoded from the recording), walking into dicts, lists
and tuples; short values are shown inline, long ones as a line diff.
"""

from __future__ import annotations

import difflib
import pprint
from collections.abc import Mapping
from typing import Any

SHORT = 60
"""Values whose text is at most this long are shown inline."""
MAX_CHANGES = 8
"""Changes listed in full; more are counted."""
MAX_DIFF_LINES = 20


def describe_changes(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> str:
    """One line (or a short diff) per changed parameter path; ``""`` when equal.

    Example:
        >>> print(describe_changes({"url": "a", "n": 1}, {"url": "b", "n": 1}))
        url: recorded 'a', now 'b'
    """
    changes: list[tuple[str, Any, Any]] = []
    for name in sorted(set(recorded) | set(current)):
        _walk(name, recorded.get(name, _MISSING), current.get(name, _MISSING), changes)
    lines: list[str] = []
    for path, old, new in changes[:MAX_CHANGES]:
        lines += _describe(path, old, new)
    if len(changes) > MAX_CHANGES:
        lines.append(f"... and {len(changes) - MAX_CHANGES} more change(s)")
    return "\n".join(lines)


class _Missing:
    def __repr__(self) -> str:
        return "<absent>"


_MISSING: Any = _Missing()


def _walk(path: str, old: Any, new: Any, out: list[tuple[str, Any, Any]]) -> None:
    if old == new and type(old) is type(new):
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            _walk(f"{path}[{key!r}]", old.get(key, _MISSING), new.get(key, _MISSING), out)
        return
    if (
        isinstance(old, (list, tuple))
        and type(old) is type(new)
        and len(old) == len(new)  # a length change is shown whole
    ):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            _walk(f"{path}[{index}]", a, b, out)
        return
    out.append((path, old, new))


def _text(value: Any) -> str:
    return "<absent>" if value is _MISSING else repr(value)


def _describe(path: str, old: Any, new: Any) -> list[str]:
    if isinstance(old, str) and isinstance(new, str):
        if "\n" not in old and "\n" not in new:  # one line: show where they part
            start = max(0, _common_prefix(old, new) - SHORT // 3)
            return [f"{path}: recorded {_excerpt(old, start)}, now {_excerpt(new, start)}"]
        before, after = repr(old), repr(new)
    else:
        before, after = _text(old), _text(new)
    if len(before) <= SHORT and len(after) <= SHORT:
        return [f"{path}: recorded {before}, now {after}"]
    diff = list(
        difflib.unified_diff(
            _lines(old), _lines(new), f"{path} (recorded)", f"{path} (now)", lineterm=""
        )
    )
    if len(diff) > MAX_DIFF_LINES:
        diff = [*diff[:MAX_DIFF_LINES], f"... ({len(diff) - MAX_DIFF_LINES} more diff lines)"]
    return [f"{path}: changed:", *("  " + line for line in diff)]


def _common_prefix(a: str, b: str) -> int:
    size = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        size += 1
    return size


def _excerpt(text: str, start: int) -> str:
    """``text`` from ``start``, at most SHORT characters, ``...`` where cut."""
    piece = text[start : start + SHORT]
    head = "..." if start > 0 else ""
    tail = "..." if start + SHORT < len(text) else ""
    return f"{head}{piece!r}{tail}"


def _lines(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.splitlines() or [""]
    if value is _MISSING:
        return ["<absent>"]
    return pprint.pformat(value, width=80, sort_dicts=False).splitlines()
