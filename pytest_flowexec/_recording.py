"""Recording files: where a test's recording lives, and what is in it.

    fixtures/recordings/<test module path>/<test name>.json

    {
      "format": "flowexec-recording",
      "version": 2,
      "test": "tests/test_report.py::test_total[eu]",
      "seed": 1234,
      "frozen_time": "2024-01-01T00:00:00+00:00",
      "hypothesis": "6.170.15",
      "runs": [
        {"flow": "report",
         "inputs": {...},
         "steps": {"report/load": {"attempts": 1, "code": "load@source:...",
                                   "digest": "...", "inputs": {...}, "output": [...],
                                   "status": "completed"}}}
      ]
    }

Per step: its code identity (``version=``, or a hash of its source), the digest of
its inputs and the inputs themselves (both after redaction), its status, output or
error ``{"type", "message"}``, its attempts, and the context only where the step
changed it. Composite steps are not kept: their nested steps are, one by one.

Replay must give a test what it saw live, so a step also keeps, where there is
something to keep: ``"status": "cached"`` for a cache hit (``attempts`` 0: the
step was not called, so replay calls no spy and reports a cache hit), ``retries``
(``{"type", "message"}`` of each failed attempt before the last: replay fires
``step_retry`` again), ``usage`` (the counters it reported with ``record_usage``:
replay reports them again, so limits go over where they did live) and
``awaiting`` (for ``"status": "paused"``: replay pauses the run again), and beside
``context`` the ``context_fields`` the step set and the ``context_removed`` keys it
dropped (replay does only that, so what a concurrent step did to the context stays).

These came within version 2, deliberately without a new version: they only add
(an older reader ignores the keys and replays "cached" as a completed step, as
before), and every version-2 file stays readable exactly. Before "cached" a cache
hit was written as ``"status": "completed"`` with ``"attempts": 0``; a step that
was called has at least one attempt, so such an event is read as ``cached``.
Re-recording such a file rewrites that status once; an unchanged run then gives
the same bytes again.

``hypothesis`` is there for a ``@given`` test only: the hypothesis version that drew
its examples, seeded with ``seed`` (see ``_given``).

Keys are sorted and values go through the engine's typed JSON codec, so a file
reads well in a review and re-recording an unchanged run gives the same bytes.
Runs are matched to a test's runs by their order.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flowexec._documents import read_document

FORMAT = "flowexec-recording"
VERSION = 2
"""2: code identity, inputs, attempts and errors per step; no composite events (later
within 2, only adding: "cached", retries, usage, awaiting, context fields; see the
module docstring)."""
MAX_NAME = 120
"""Longer test names are cut and given a hash suffix (file systems limit names)."""


class RecordingError(Exception):
    """A recording file cannot be read: damaged, or of another format or version."""


def default_location(root: Path, recordings_dir: str, module: Path, test_name: str) -> Path:
    """``<root>/<recordings_dir>/<module path without .py>/<sanitized test name>.json``.

    The one place that decides where a recording lives (a hook can override it).
    """
    try:
        relative = module.resolve().relative_to(root.resolve())
    except ValueError:
        relative = Path(module.name)
    return root / recordings_dir / relative.with_suffix("") / file_name(test_name)


def file_name(test_name: str) -> str:
    """A test name as a file name of its own.

    Safe names stay as they are (``test_x[eu].json``). A name with characters a
    file name cannot hold, or longer than :data:`MAX_NAME`, keeps a readable
    prefix plus a stable hash of the whole name, so ``a/b``, ``a_b`` and ``a:b``
    get three files: ``test_x[a_b]~3f9c01d2ab.json``, ``test_x[a_b].json``, ...
    """
    safe = sanitize(test_name)
    if safe == test_name and len(safe) <= MAX_NAME:
        return f"{safe}.json"
    digest = hashlib.sha256(test_name.encode("utf-8")).hexdigest()[:10]
    return f"{safe[:MAX_NAME]}~{digest}.json"


def sanitize(name: str) -> str:
    """A test name with only file-name-safe characters: ``a/b-1`` becomes ``a_b-1``."""
    return re.sub(r"[^A-Za-z0-9_.\-\[\]]", "_", name)


@dataclass
class RecordedRun:
    flow: str
    inputs: Any
    """The run's inputs, codec-encoded."""
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    """address -> {"attempts", "code", "digest", "inputs", "status", "output",
    "error", "context"} (values codec-encoded)."""


@dataclass
class Recording:
    test: str
    seed: int
    frozen_time: str
    runs: list[RecordedRun] = field(default_factory=list)
    hypothesis: str | None = None
    """For a ``@given`` test: the hypothesis version that drew its examples."""

    def to_text(self) -> str:
        data = {
            "format": FORMAT,
            "version": VERSION,
            "test": self.test,
            "seed": self.seed,
            "frozen_time": self.frozen_time,
            "runs": [
                {"flow": run.flow, "inputs": run.inputs, "steps": run.steps} for run in self.runs
            ],
        }
        if self.hypothesis is not None:
            data["hypothesis"] = self.hypothesis
        return (
            json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
        )


def read(path: Path, rerecord: str = "re-record it with --flow-record-mode=rewrite") -> Recording:
    """The recording in ``path`` (raises RecordingError naming the file and how to
    re-record it)."""
    data = read_document(
        path, kind="recording", form=FORMAT, version=VERSION, error=RecordingError, fix=rerecord
    )
    try:
        return Recording(
            test=data["test"],
            seed=data["seed"],
            frozen_time=data["frozen_time"],
            runs=[
                RecordedRun(run["flow"], run["inputs"], dict(run["steps"])) for run in data["runs"]
            ],
            hypothesis=data.get("hypothesis"),
        )
    except (KeyError, TypeError) as error:
        raise RecordingError(f"recording {str(path)!r} is missing {error}; {rerecord}") from None


def write(path: Path, recording: Recording) -> bool:
    """Write atomically; returns whether the file changed (unchanged runs: no write)."""
    text = recording.to_text()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    from executor.testing import temporary_beside  # the umask's mode, not mkstemp's 0600

    handle, temporary = temporary_beside(path)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def unused(recording: Recording, used: Sequence[set[str]]) -> list[str]:
    """Recorded step addresses a test's runs did not use, as ``run k: address``. An
    address inside a used one (a replayed composite's items) counts as used."""
    found = []
    for k, run in enumerate(recording.runs):
        taken = used[k] if k < len(used) else set()
        found += [
            f"run {k}: {address}" for address in sorted(run.steps) if not _covered(address, taken)
        ]
    return found


def _covered(address: str, used: set[str]) -> bool:
    if address in used:
        return True
    return any(address.startswith((outer + "/", outer + "[", outer + "#")) for outer in used)
