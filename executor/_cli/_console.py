"""Terminal output: the rich console (imported only when a command prints), tables,
and plain formatting of times and durations."""

from __future__ import annotations

import datetime
import io
import sys
from typing import TYPE_CHECKING, TextIO, cast

from executor._errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console


def console(*, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr); colours only on a terminal, no markup
    (style with ``rich.text.Text``)."""
    try:
        from rich.console import Console
    except ImportError:  # a dependency of flowexec, missing from a broken environment
        raise UsageError(
            "flowexec's terminal output needs the 'rich' package (a dependency of flowexec), "
            "which is missing here; install it with: python -m pip install 'rich>=13'"
        ) from None
    # markup=False: what flowexec prints holds user data (inputs, error messages, tags,
    # paths) in which "[red]" or "[b]" is text, not a style to apply and drop.
    out = Console(stderr=stderr, highlight=False, markup=False)
    if not out.is_terminal:
        # Piped into a log or a file: a table is never wrapped, and no line ends in the
        # spaces rich pads a table's title with (diffs and `grep 'x$'` see them).
        stream = sys.stderr if stderr else sys.stdout
        trimmed = cast(TextIO, TrimmedLines(stream))  # rich writes, flushes, asks isatty
        out = Console(file=trimmed, highlight=False, markup=False, width=240)
    return out


class TrimmedLines(io.TextIOBase):
    """A text stream that writes to ``target`` with trailing spaces cut off each line.

    Spaces are held back until the next character shows whether they end a line,
    so text written in pieces is trimmed the same as text written at once.
    """

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._spaces = ""  # spaces written last, not yet known to end a line

    def write(self, text: str) -> int:
        joined = self._spaces + text
        *lines, last = joined.split("\n")
        body = last.rstrip(" ")
        self._spaces = last[len(body) :]
        self._target.write("".join(line.rstrip(" ") + "\n" for line in lines) + body)
        return len(text)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """The target's encoding: rich picks its box characters by it."""
        return getattr(self._target, "encoding", None) or "utf-8"

    def flush(self) -> None:
        self._target.flush()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


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
