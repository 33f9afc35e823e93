"""Terminal output: the rich console (imported only when a command prints), tables,
and plain formatting of times and durations."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from executor._errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console


def console(*, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr); colours only on a terminal."""
    try:
        from rich.console import Console
    except ImportError:  # a dependency of flowexec, missing from a broken environment
        raise UsageError(
            "flowexec's terminal output needs the 'rich' package (a dependency of flowexec), "
            "which is missing here; install it with: python -m pip install 'rich>=13'"
        ) from None
    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal:
        out.width = 240  # piped into a log or a file: a table is never wrapped
    return out


def seconds(value: float | None) -> str:
    """A duration for people: ``12 ms``, ``3.40 s``, ``—`` when unknown."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def moment(timestamp: float) -> str:
    """A wall-clock time in UTC, to the second: ``2026-11-22 04:30:51``."""
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
