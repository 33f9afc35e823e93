""" "Did you mean": the known names closest to a mistyped one, for error messages."""

from __future__ import annotations

from collections.abc import Iterable


def close_names(word: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The names in ``known`` closest to ``word``, best first (at most ``n``).

    ``difflib``'s ratio of at least 0.6, as ``flow_mock`` uses for its targets:
    ``"totl"`` finds ``"total"``, ``"thresold"`` finds ``"threshold"``; a name
    with nothing in common finds nothing.
    """
    import difflib  # only an error needs it: `import executor` stays light

    return difflib.get_close_matches(word, sorted(set(known)), n=n, cutoff=0.6)


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``"did you mean 'total'?"`` (or ``'a' or 'b'``), or ``""`` when nothing is close."""
    near = close_names(word, known)
    return f"did you mean {' or '.join(repr(name) for name in near)}?" if near else ""
