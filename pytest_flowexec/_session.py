"""One test under the plugin: its mode, its runs' taps, its recording, its environment."""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flowexec import _recording as files

if TYPE_CHECKING:
    import pytest

    from executor import StepExecutor
    from executor.testing import RunTap
    from pytest_flowexec._mock import FlowMock

MODES = ("none", "once", "new", "rewrite")
FROZEN_TIME = "2024-01-01T00:00:00+00:00"
_REAL_TIME_MODULES = ["distributed", "tornado"]
"""Modules that keep real time while steps see frozen time: Dask's client machinery
(its event loop, heartbeats and timeouts run in this process)."""
"""Where time stands in a new recording's tests (the recording keeps its own)."""


@dataclass
class Stats:
    """What the plugin did in a session (merged across xdist workers)."""

    recorded: int = 0
    """Step events written to recording files."""
    files_written: int = 0
    replayed: int = 0
    mismatched: int = 0
    unused: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "recorded": self.recorded,
            "files_written": self.files_written,
            "replayed": self.replayed,
            "mismatched": self.mismatched,
            "unused": list(self.unused),
        }

    def add(self, data: Mapping[str, Any]) -> None:
        self.recorded += data["recorded"]
        self.files_written += data["files_written"]
        self.replayed += data["replayed"]
        self.mismatched += data["mismatched"]
        self.unused += data["unused"]


class TestRun:
    """The interceptor installed while one test runs (see executor.testing)."""

    __test__ = False  # not a test class, whatever its name

    def __init__(
        self, item: pytest.Item, mode: str, path: Path | None, mock: FlowMock | None
    ) -> None:
        self.item = item
        self.mode = mode
        self.path = path
        self.mock = mock
        self.taps: list[tuple[str, Any, RunTap]] = []
        self.existing: files.Recording | None = None
        if path is not None and path.exists() and mode in ("once", "new", "replay", "validate"):
            self.existing = files.read(path)
        if mode == "once" and self.existing is None:
            self.action = "record"
        elif mode in ("once", "replay"):
            self.action = "replay"
        elif mode == "rewrite":
            self.action = "record"
        else:
            self.action = mode  # "new", "validate" or "none"
        self.seed = (
            self.existing.seed
            if self.existing is not None
            else int(hashlib.sha256(item.nodeid.encode()).hexdigest()[:8], 16)
        )
        self.frozen_time = self.existing.frozen_time if self.existing else FROZEN_TIME

    # -- the interceptor ----------------------------------------------------------

    def wrap_step_executor(self, step_executor: StepExecutor) -> StepExecutor:
        return self.mock.wrap(step_executor) if self.mock is not None else step_executor

    def tap_run(self, flow: str, inputs: Mapping[str, Any]) -> RunTap | None:
        from executor.testing import RunTap, encode_value

        if self.action == "none":
            return None
        k = len(self.taps)
        replay = self._recorded_run(k, flow)
        if self.action == "record":
            tap = RunTap(record=True)
        elif self.action == "validate":
            tap = RunTap(replay=replay or {}, validating=True, record=False)
        elif self.action == "new":
            tap = RunTap(replay=replay or {}, record=True)
        else:  # replay only: steps are never called
            tap = RunTap(replay=replay or {}, strict=True, record=False, on_mismatch=self._mismatch)
        self.taps.append((flow, encode_value(dict(inputs), f"flow {flow!r} inputs"), tap))
        return tap

    def _recorded_run(self, k: int, flow: str) -> dict[str, Any] | None:
        from executor.testing import RecordedStep, decode_value

        if self.existing is None or k >= len(self.existing.runs):
            return None
        run = self.existing.runs[k]
        if run.flow != flow:
            return None
        # Errors name the file, the run and the address (decoding never runs code).
        where = f"recording {str(self.path)!r}, run {k}:"
        return {
            address: RecordedStep(
                address,
                step["digest"],
                step["status"],
                decode_value(step.get("output"), f"{where} {address} output"),
                step.get("error"),
                decode_value(step["context"], f"{where} {address} context")
                if "context" in step
                else None,
            )
            for address, step in run.steps.items()
        }

    def _mismatch(self, mismatch: Any) -> bool:
        handled = self.item.config.hook.pytest_flowexec_replay_mismatch(
            item=self.item, mismatch=mismatch
        )
        return bool(handled)

    # -- around the test ------------------------------------------------------------

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        """Interception, and for record/replay/validate: frozen time and a seeded random."""
        from executor.testing import intercept

        with contextlib.ExitStack() as stack:
            stack.enter_context(intercept(self))
            if self.action != "none":
                import freezegun

                random.seed(self.seed)
                # The engine's own clocks stay real (executor._clock); the steps see
                # frozen time. real_asyncio: event loops keep real time. A Dask client
                # runs its own event loop (tornado) in this process: frozen, it hangs.
                stack.enter_context(
                    freezegun.freeze_time(
                        self.frozen_time, real_asyncio=True, ignore=_REAL_TIME_MODULES
                    )
                )
            yield

    def finish(self, stats: Stats) -> list[str]:
        """After a passing test: write the recording, count, and list the problems."""
        problems = []
        if self.mock is not None:
            for target in self.mock.unmatched():
                seen = ", ".join(self.mock.seen()) or "none: no flow ran"
                problems.append(
                    f"flow_mock: {target!r} matched no step (steps run in this test: {seen})"
                )
        for _, _, tap in self.taps:
            stats.replayed += len(tap.replayed)
            stats.mismatched += len(tap.mismatches) + (
                len(tap.misses) if self.action == "replay" else 0
            )
        if self.action == "validate":
            for k, (_, _, tap) in enumerate(self.taps):
                for mismatch in tap.mismatches:
                    problems.append(
                        f"run {k}: {mismatch.address} differs from the recording:\n{mismatch.diff}"
                    )
        if self.action in ("replay", "validate") and self.existing is not None:
            used = [set(tap.replayed) | set(tap.recorded) for _, _, tap in self.taps]
            if self.action == "validate":
                used = [set(tap.replay or ()) for _, _, tap in self.taps]
            stats.unused += [f"{self.path}: {entry}" for entry in files.unused(self.existing, used)]
        if self.action in ("record", "new") and self.path is not None and self.taps:
            self._write(stats)
        return problems

    def _write(self, stats: Stats) -> None:
        from executor.testing import encode_value

        assert self.path is not None
        recording = files.Recording(
            test=self.item.nodeid, seed=self.seed, frozen_time=self.frozen_time
        )
        hook = self.item.config.hook
        for k, (flow, inputs, tap) in enumerate(self.taps):
            steps: dict[str, dict[str, Any]] = {}
            if (
                self.action == "new"
                and self.existing is not None
                and k < len(self.existing.runs)
                and self.existing.runs[k].flow == flow
            ):
                steps.update(self.existing.runs[k].steps)
            for address, step in tap.recorded.items():
                event: dict[str, Any] = {"digest": step.digest, "status": step.status}
                if step.completed:
                    event["status"] = "completed"
                    event["output"] = encode_value(step.output, f"{address} output")
                if step.error is not None:
                    event["error"] = step.error
                if step.context is not None:
                    event["context"] = encode_value(step.context, f"{address} context")
                hook.pytest_flowexec_redact_event(
                    item=self.item, run=k, address=address, event=event
                )
                steps[address] = event
            recording.runs.append(files.RecordedRun(flow, inputs, steps))
            stats.recorded += len(tap.recorded)
        if files.write(self.path, recording):
            stats.files_written += 1
