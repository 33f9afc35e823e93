"""Hooks a downstream conftest.py can implement to customize the flowexec plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.hookspec(firstresult=True)
def pytest_flowexec_recording_path(item: pytest.Item, default: Path) -> Path | None:
    """Where ``item``'s recording lives; return a path to move it (first answer wins)."""


def pytest_flowexec_redact_event(
    item: pytest.Item, run: int, address: str, event: dict[str, Any]
) -> None:
    """Change ``event`` in place before it is written to a recording (e.g. remove a
    secret from ``event["output"]``). ``event`` holds ``digest``, ``status`` and,
    for a completed step, ``output`` as typed-JSON data."""


@pytest.hookspec(firstresult=True)
def pytest_flowexec_replay_mismatch(item: pytest.Item, mismatch: Any) -> bool | None:
    """A step cannot be replayed (``mismatch.reason``: not recorded, input changed).
    Return True to run the step for real instead of failing the test."""
