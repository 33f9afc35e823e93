"""Hooks a downstream conftest.py can implement to customize the flowexec plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.hookspec(firstresult=True)
def pytest_flowexec_recording_path(item: pytest.Item, default: Path) -> Path | None:
    """Where ``item``'s recording lives; return a path to move it (first answer wins)."""


@pytest.hookspec(firstresult=True)
def pytest_flowexec_redact(
    item: pytest.Item, kind: str, address: str, name: str | None, value: Any
) -> Any:
    """Replace a value before it is matched or written to a recording: return the
    replacement, or ``None`` to keep ``value`` (first answer wins).

    Called for every value a recording holds: ``kind`` is ``"flow_input"`` (``address``
    is the flow's name, ``name`` the input's), ``"step_input"`` (``name`` is the
    parameter), ``"output"``, ``"context"`` or ``"error"`` (a failed step's message;
    ``name`` is ``None``). Step inputs are
    digested and matched after this hook, so a replaced secret or volatile value
    (a random port, a temporary path) neither reaches the file nor breaks replay.
    When replaying, the hook sees recorded (already replaced) values: return the
    same placeholder for them.
    """


def pytest_flowexec_redact_event(
    item: pytest.Item, run: int, address: str, event: dict[str, Any]
) -> None:
    """Change ``event`` in place just before it is written (typed-JSON data). Prefer
    :func:`pytest_flowexec_redact`: it also covers inputs and context and keeps
    digests matching; changing ``event["inputs"]`` here makes replay mismatch."""


@pytest.hookspec(firstresult=True)
def pytest_flowexec_replay_mismatch(item: pytest.Item, mismatch: Any) -> bool | None:
    """A step cannot be replayed (``mismatch.reason``: not recorded, input changed,
    code changed since recording; ``mismatch.detail`` says what changed). Return
    True to run the step for real instead of failing the test."""
