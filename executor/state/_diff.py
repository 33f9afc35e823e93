"""Comparing two stored runs, address by address."""

from __future__ import annotations

from dataclasses import dataclass

from executor._codec import JSON_CODEC
from executor.state._model import ExecutionState
from executor.state._report import readable_diff


@dataclass(frozen=True)
class OutputChange:
    """An address whose output differs between the two runs."""

    address: str
    before: object
    after: object
    diff: str


@dataclass(frozen=True)
class StateDiff:
    """How run ``b`` differs from run ``a``."""

    a: str
    b: str
    outputs_changed: tuple[OutputChange, ...]
    only_in_a: tuple[str, ...]
    """Addresses with an event in ``a`` only."""
    only_in_b: tuple[str, ...]
    status_changed: tuple[tuple[str, str, str], ...]
    """``(address, status in a, status in b)``."""
    inputs_changed: tuple[str, ...]
    """Addresses whose input digest differs, and flow inputs (``inputs.<name>``) that differ."""

    @property
    def same(self) -> bool:
        return not (
            self.outputs_changed
            or self.only_in_a
            or self.only_in_b
            or self.status_changed
            or self.inputs_changed
        )


def diff_states(a: ExecutionState, b: ExecutionState) -> StateDiff:
    """What changed from run ``a`` to run ``b``: per address outputs, statuses and input
    digests, addresses found in one run only, and flow inputs."""
    first, second = a.latest(), b.latest()
    changed, statuses, digests = [], [], []
    for address in sorted(set(first) & set(second)):
        x, y = first[address], second[address]
        if _outcome(x.status) != _outcome(y.status):
            statuses.append((address, x.status, y.status))
        if x.digest != y.digest:
            digests.append(address)
        if x.completed and y.completed and _text(x.output) != _text(y.output):
            changed.append(
                OutputChange(
                    address, x.output, y.output, readable_diff(x.output, y.output, address)
                )
            )
    flow_inputs = [
        f"inputs.{name}"
        for name in sorted(set(a.inputs) | set(b.inputs))
        if _text(a.inputs.get(name)) != _text(b.inputs.get(name))
    ]
    return StateDiff(
        a=a.state_id,
        b=b.state_id,
        outputs_changed=tuple(changed),
        only_in_a=tuple(sorted(set(first) - set(second))),
        only_in_b=tuple(sorted(set(second) - set(first))),
        status_changed=tuple(statuses),
        inputs_changed=tuple(flow_inputs + digests),
    )


def _outcome(status: str) -> str:
    # Computed, answered from a cache, or reused from a recording: the same outcome.
    return "completed" if status in ("completed", "cached", "replayed") else status


def _text(value: object) -> str:
    try:
        return JSON_CODEC.dumps(value)
    except Exception:
        return repr(value)
