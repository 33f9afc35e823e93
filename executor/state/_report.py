"""Reports on stored runs: determinism validation, readable diffs of values."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from executor._codec import JSON_CODEC


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
    """A unified diff of two values, as sorted and indented typed JSON."""

    def text(value: Any) -> list[str]:
        try:
            return [
                line + "\n"  # every line ends, so a one-line value's -/+ lines do too
                for line in json.dumps(
                    JSON_CODEC.encode(value), sort_keys=True, indent=2, ensure_ascii=False
                ).splitlines()
            ]
        except Exception:
            return [repr(value) + "\n"]

    return "".join(
        difflib.unified_diff(
            text(recorded), text(actual), f"{address} (recorded)", f"{address} (now)"
        )
    )
