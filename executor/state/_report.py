"""Reports on stored runs: determinism validation, readable diffs of values."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from executor._shown import json_text, shown_data


@dataclass(frozen=True)
class Mismatch:
    """One address whose output differs from the recorded one."""

    address: str
    recorded: Any
    actual: Any
    diff: str
    """A unified diff of the two values as sorted, indented typed JSON."""


@dataclass(frozen=True)
class DeterminismReport:
    """What ``flow.validate`` found: every step re-run on its recorded inputs."""

    state_id: str
    checked: int
    """Steps whose output was compared."""
    mismatches: tuple[Mismatch, ...]

    @property
    def deterministic(self) -> bool:
        return not self.mismatches


def readable_diff(recorded: Any, actual: Any, address: str) -> str:
    """A unified diff of two values, as indented typed JSON with every dict in its
    real order (an order-only change shows as moved lines; see :mod:`executor._shown`)."""

    def text(value: Any) -> list[str]:
        try:
            shown = json_text(shown_data(value), indent=2)
        except Exception:
            return [repr(value) + "\n"]
        # Every line ends, so a one-line value's -/+ lines do too.
        return [line + "\n" for line in shown.splitlines()]

    return "".join(
        difflib.unified_diff(
            text(recorded), text(actual), f"{address} (recorded)", f"{address} (now)"
        )
    )
