"""One test under the plugin: its mode, its runs' taps, its recording, its environment."""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flowexec import _recording as files

if TYPE_CHECKING:
    import pytest

    from executor import StepExecutor
    from executor.testing import RunTap
    from pytest_flowexec._mock import FlowMock

__tracebackhide__ = True
"""pytest leaves the plugin's frames out of a failure: its errors (a stub naming no
step, a recording that cannot be read) say everything in their message."""

FROZEN_TIME = "2024-01-01T00:00:00+00:00"
"""Where time stands in a new recording's tests (the recording keeps its own)."""
REAL_TIME_MODULES = ("distributed.", "tornado.", "hypothesis.internal.conjecture.junkdrawer")
"""Modules that keep real time while steps see frozen time: Dask's client machinery
(its event loop, heartbeats and timeouts run in this process; on a frozen clock a
Dask comm waits for a timer that never fires, and runs on the cluster stall), and
the module of the garbage-collection callback hypothesis installs for the whole
process: patched, that callback ran freezegun's clock in whatever thread collected
garbage (an xdist worker's I/O thread) while the test's thread stopped the freeze,
and freezegun raised IndexError there (a rare "exception ignored" warning, an error
under ``-W error``). That module calls no user code, so no step sees real time.
Dotted, so that a user's module named ``distributed_jobs`` still sees frozen time."""


@dataclass
class Stats:
    """What the plugin did in a session (merged across xdist workers)."""

    tests: int = 0
    """Tests that recorded, replayed or validated (passed or not)."""
    recorded: int = 0
    """Step events written to recording files."""
    files_written: int = 0
    replayed: int = 0
    mismatched: int = 0
    unused: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "tests": self.tests,
            "recorded": self.recorded,
            "files_written": self.files_written,
            "replayed": self.replayed,
            "mismatched": self.mismatched,
            "unused": list(self.unused),
        }

    def add(self, data: Mapping[str, Any]) -> None:
        self.tests += data["tests"]
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
        self.rerecord = (
            f"re-record just this test with: python -m pytest {_quoted(item.nodeid)} "
            f"--flow-record-mode=rewrite"
        )
        if path is not None and path.exists() and mode in ("once", "new", "replay", "validate"):
            self.existing = files.read(path, self.rerecord)
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
        self.hypothesis: str | None = None
        """For a ``@given`` test: the hypothesis version drawing its examples (_given)."""
        self.first_mismatch: Any = None
        """The first ReplayMismatch no hook let run (a ``@given`` test reports it)."""

    # -- the interceptor ----------------------------------------------------------

    def wrap_step_executor(self, step_executor: StepExecutor) -> StepExecutor:
        return self.mock.wrap(step_executor) if self.mock is not None else step_executor

    def tap_run(self, flow: str, inputs: Mapping[str, Any]) -> RunTap | None:
        from executor.testing import RunTap, encode_value, known_addresses, known_step_names

        if self.mock is not None and self.mock.unchecked():  # a typo, before any step
            self.mock.check_targets(known_step_names(), known_addresses(), flow)
        if self.action == "none":
            return None
        k = len(self.taps)
        replay = self._recorded_run(k, flow)
        mock = self.mock
        options: dict[str, Any] = {
            "live": mock.stubbed if mock is not None else None,
            "observe": mock.observe if mock is not None else None,
            "normalize": self._normalizer(),
            "rerecord": self.rerecord,
        }
        if self.action == "record":
            tap = RunTap(record=True, **options)
        elif self.action == "validate":
            tap = RunTap(replay=replay or {}, validating=True, record=False, **options)
        elif self.action == "new":
            tap = RunTap(replay=replay or {}, record=True, **options)
        else:  # replay only: steps are never called
            tap = RunTap(
                replay=replay or {},
                strict=True,
                record=False,
                on_mismatch=self._mismatch,
                **options,
            )
        shown = {name: self._redact("flow_input", flow, name, v) for name, v in inputs.items()}
        self.taps.append((flow, encode_value(shown, f"flow {flow!r} inputs"), tap))
        return tap

    def _redact(self, kind: str, address: str, name: str | None, value: Any) -> Any:
        """``value`` as the redaction hook replaces it (itself when no hook answers)."""
        hook = self.item.config.hook.pytest_flowexec_redact
        if not hook.get_hookimpls():
            return value
        found = hook(item=self.item, kind=kind, address=address, name=name, value=value)
        return value if found is None else found

    def _normalizer(self) -> Callable[[str, str, Any], Any] | None:
        """What the engine digests and records in place of each step input."""
        if not self.item.config.hook.pytest_flowexec_redact.get_hookimpls():
            return None

        def normalize(address: str, name: str, value: Any) -> Any:
            return self._redact("step_input", address, name, value)

        return normalize

    def _recorded_run(self, k: int, flow: str) -> dict[str, Any] | None:
        from executor.testing import RecordedError, RecordedStep, decode_value

        if self.existing is None or k >= len(self.existing.runs):
            return None
        run = self.existing.runs[k]
        if run.flow != flow:
            return None
        # Errors name the file, the run and the address (decoding never runs code).
        where = f"recording {str(self.path)!r}, run {k}:"
        found = {}
        for address, step in run.steps.items():
            error = step.get("error")
            status, attempts = step["status"], step.get("attempts", 1)
            if status == "completed" and attempts == 0:
                status = "cached"  # written before recordings said "cached": no attempt made
            found[address] = RecordedStep(
                address,
                step.get("digest"),
                status,
                decode_value(step.get("output"), f"{where} {address} output"),
                RecordedError(error["type"], error["message"]) if error else None,
                decode_value(step["context"], f"{where} {address} context")
                if "context" in step
                else None,
                attempts=attempts,
                code=step.get("code"),
                inputs=step.get("inputs"),
                context_changed="context" in step,
                context_fields=tuple(step["context_fields"]) if "context_fields" in step else None,
                context_removed=tuple(step.get("context_removed", ())),
                usage=decode_value(step["usage"], f"{where} {address} usage")
                if "usage" in step
                else None,
                awaiting=step.get("awaiting"),
                retries=tuple(
                    RecordedError(retry["type"], retry["message"])
                    for retry in step.get("retries", ())
                ),
            )
        return found

    def _mismatch(self, mismatch: Any) -> bool:
        handled = self.item.config.hook.pytest_flowexec_replay_mismatch(
            item=self.item, mismatch=mismatch
        )
        if not handled and self.first_mismatch is None:
            self.first_mismatch = mismatch
        return bool(handled)

    # -- around the test ------------------------------------------------------------

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        """Interception, and for record/replay/validate: frozen time and a seeded random."""
        from executor.testing import intercept

        with contextlib.ExitStack() as stack:
            stack.enter_context(intercept(self))
            if self.mock is not None:
                from executor.testing import observe

                stack.enter_context(observe(self.mock.observer()))
            if self.action != "none":
                import freezegun

                random.seed(self.seed)
                # The engine's own clocks stay real (executor._clock); the steps see
                # frozen time. real_asyncio: event loops keep real time. A Dask client
                # runs its own event loop (tornado) in this process: frozen, it hangs.
                stack.enter_context(
                    freezegun.freeze_time(
                        self.frozen_time, real_asyncio=True, ignore=list(REAL_TIME_MODULES)
                    )
                )
            yield

    def count(self, stats: Stats) -> None:
        """Count what this test's runs replayed and mismatched (whatever the outcome)."""
        if self.action == "none":
            return
        stats.tests += 1
        for _, _, tap in self.taps:
            stats.replayed += len(tap.replayed)
            stats.mismatched += len(tap.mismatches) + (
                len(tap.misses) if self.action == "replay" else 0
            )

    def finish(self, stats: Stats) -> list[str]:
        """After a passing test: write the recording, count, and list the problems."""
        problems = []
        self.count(stats)
        if self.mock is not None:
            for target in self.mock.unmatched():
                why = (
                    ": it is a composite step, and a stub answers the steps inside it"
                    if self.mock.composite(target)
                    else ""
                )
                problems.append(f"flow_mock: {target!r} matched no step{why}; {self._what_ran()}")
        if self.action == "validate":
            differing = [
                f"run {k}: {mismatch.address} differs from the recording:\n{mismatch.diff}"
                for k, (_, _, tap) in enumerate(self.taps)
                for mismatch in tap.mismatches
            ]
            if differing:
                problems += [*differing, self.rerecord]
        if self.action in ("replay", "validate") and self.existing is not None:
            used = [
                set(tap.replayed) | set(tap.recorded) | tap.passed_through
                for _, _, tap in self.taps
            ]
            if self.action == "validate":
                used = [set(tap.replay or ()) for _, _, tap in self.taps]
            stats.unused += [f"{self.path}: {entry}" for entry in files.unused(self.existing, used)]
        if self.action in ("record", "new") and self.path is not None and self.taps:
            self._write(stats)
        return problems

    def _what_ran(self) -> str:
        """Every address this test's runs reached and how (live, replayed, cached,
        stubbed, never: ``--flow-coverage``'s words)."""
        assert self.mock is not None
        reached = self.mock.reached()
        if reached:
            return f"addresses this test's runs reached: {', '.join(reached)}"
        if self.taps:
            flows = ", ".join(sorted({flow for flow, _, _ in self.taps}))
            return f"flows run in this test: {flows}, none of whose steps matched"
        return "addresses this test's runs reached: none: no flow ran"

    def _write(self, stats: Stats) -> None:
        from executor.testing import encode_value

        assert self.path is not None
        recording = files.Recording(
            test=self.item.nodeid,
            seed=self.seed,
            frozen_time=self.frozen_time,
            hypothesis=self.hypothesis,
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
                event: dict[str, Any] = {
                    "attempts": step.attempts,
                    "code": step.code,
                    "digest": step.digest,
                    "status": step.status,
                }
                if step.inputs is not None:
                    event["inputs"] = step.inputs  # typed-JSON data, redacted already
                if step.completed:
                    event["status"] = "cached" if step.cached else "completed"
                    output = self._redact("output", address, None, step.output)
                    event["output"] = encode_value(output, f"{address} output")
                if step.error is not None:
                    message = self._redact("error", address, None, step.error.message)
                    event["error"] = {"type": step.error.type, "message": message}
                if step.retries:
                    event["retries"] = [
                        {
                            "type": failure.type,
                            "message": self._redact("error", address, None, failure.message),
                        }
                        for failure in step.retries
                    ]
                if step.awaiting is not None:
                    event["awaiting"] = step.awaiting
                if step.usage:
                    event["usage"] = encode_value(dict(step.usage), f"{address} usage")
                if step.context_changed:
                    context = self._redact("context", address, None, step.context)
                    event["context"] = encode_value(context, f"{address} context")
                    if step.context_fields is not None:
                        event["context_fields"] = list(step.context_fields)
                    if step.context_removed:
                        event["context_removed"] = list(step.context_removed)
                hook.pytest_flowexec_redact_event(
                    item=self.item, run=k, address=address, event=event
                )
                steps[address] = event
            recording.runs.append(files.RecordedRun(flow, inputs, steps))
            stats.recorded += len(tap.recorded)
        if files.write(self.path, recording):
            stats.files_written += 1


def _quoted(text: str) -> str:
    """``text`` as one shell word."""
    import shlex

    return shlex.quote(text)
