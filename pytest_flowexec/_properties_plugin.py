"""The ``flow_cache_keys`` and ``flow_determinism`` markers (registered by ``plugin.py``).

Lazy like the rest of the plugin: nothing here imports the engine or hypothesis until a
test carries one of the markers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_flowexec._activation import PerTest
from pytest_flowexec._session_data import SessionData

CHILD_ENV = "FLOWEXEC_DETERMINISM_CHILD"
"""Set in the subprocess that re-runs a test under another PYTHONHASHSEED: where it
writes its runs' outcomes."""
KEY_STEP = "flow_cache_keys_step"
"""The parameter a ``flow_cache_keys`` test is generated over (one test per step)."""


class Tally:
    """What the determinism marker checked in a session (merged across xdist workers).

    A plain class, as the other per-session records of the plugin: a dataclass
    compiles its methods when its module is imported, and this module is imported
    by every session, used or not (``python -m benchmarks plugin``)."""

    def __init__(self) -> None:
        self.flows = 0
        self.runs = 0
        self.notes: list[str] = []

    def to_json(self) -> dict[str, Any]:
        return {"flows": self.flows, "runs": self.runs, "notes": list(self.notes)}

    def add(self, data: Mapping[str, Any]) -> None:
        self.flows += data["flows"]
        self.runs += data["runs"]
        self.notes += data["notes"]


TALLY = pytest.StashKey[Tally]()
DATA = SessionData("flowexec_determinism", TALLY)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "flow_cache_keys([*steps], inputs=None, hash_seeds=(1, 2), max_examples=None): "
        "one generated test per step checking its cache-key properties "
        "(pytest_flowexec.properties.check_cache_keys)",
    )
    config.addinivalue_line(
        "markers",
        "flow_determinism(executors=None, runs=2, inputs=None, max_examples=10, "
        "hash_seeds=(1, 2), seed=None, frozen_time=None, round_trip=True): re-run every "
        "flow the test runs under each executor and fail where the runs differ",
    )
    config.stash[TALLY] = Tally()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("flow_cache_keys")
    if marker is None:
        return
    steps = _marked_steps(marker)
    if not steps:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: flow_cache_keys needs the steps to check, "
            f"e.g. @pytest.mark.flow_cache_keys([fetch, enrich])"
        )
    metafunc.fixturenames.append(KEY_STEP)
    metafunc.parametrize(KEY_STEP, steps, ids=[getattr(s, "name", repr(s)) for s in steps])


def _marked_steps(marker: pytest.Mark) -> list[Any]:
    """The steps a ``flow_cache_keys`` marker names: as arguments, in a list (the form
    one step needs: pytest takes a lone callable argument for the decorated test), or
    as ``steps=``."""
    found: list[Any] = []
    for arg in (*marker.args, marker.kwargs.get("steps", ())):
        found += list(arg) if isinstance(arg, (list, tuple)) else [arg]
    return found


@pytest.fixture
def flow_cache_keys_step(request: pytest.FixtureRequest) -> Any:
    """The step a ``flow_cache_keys`` test checks (the test may take it as a parameter)."""
    return request.param


class _Checks:
    """The per-test hook of both markers (registered when a test carries one)."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        keys = item.get_closest_marker("flow_cache_keys")
        determinism = item.get_closest_marker("flow_determinism")
        if keys is None and determinism is None:
            return (yield)
        if determinism is None:
            result = yield
            assert keys is not None
            _check_keys(item, keys)
            return result
        from executor.testing import capture_runs

        replaying = _replaying(item)  # before the test: a first recording writes its file
        with capture_runs() as observed:
            result = yield
        if keys is not None:
            _check_keys(item, keys)
        _check_determinism(item, determinism, list(observed), replaying)
        return result


PER_TEST = PerTest(
    "flowexec-properties-checks", _Checks, markers=("flow_cache_keys", "flow_determinism")
)


def _check_keys(item: pytest.Item, marker: pytest.Mark) -> None:
    from pytest_flowexec.properties import check_cache_keys

    step = item.callspec.params[KEY_STEP]  # type: ignore[attr-defined]
    options = {k: v for k, v in marker.kwargs.items() if k != "steps"}
    check_cache_keys(step, **options)


def _check_determinism(
    item: pytest.Item, marker: pytest.Mark, observed: list[Any], replaying: bool
) -> None:
    from pytest_flowexec import _determinism as det

    try:
        options = det.Options.parse(item.nodeid, marker.kwargs)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    tally = item.config.stash[TALLY]
    child = os.environ.get(CHILD_ENV)
    from pytest_flowexec.plugin import mock_of

    mock = mock_of(item)
    if child is not None:  # the PYTHONHASHSEED subprocess: one sequential run each
        outcomes = [det.run_once(run, "sequential", "child", mock, options) for run in observed]
        Path(child).write_text("\n".join(det.snapshot(o) for o in outcomes))
        return
    if replaying:
        tally.notes.append(f"{item.nodeid}: not re-run (replay never calls real steps)")
        return
    if not observed:
        raise AssertionError(
            f"flow_determinism: {item.nodeid} ran no flow, so there was nothing to check; "
            f"run the flow inside the test, or remove the marker"
        )
    problems: list[str] = []
    references = []
    for k, run in enumerate(observed):
        found, reference, runs = _check_run(k, run, mock, options, tally)
        problems += found
        references.append(reference)
        tally.flows += 1
        tally.runs += runs
    if not problems and options.hash_seeds:
        problems += _check_hash_seeds(item, options, references)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def _check_run(
    k: int, run: Any, mock: Any, options: Any, tally: Tally
) -> tuple[list[str], Any, int]:
    """Runs of one observed flow run; its problems, its reference outcome, runs made."""
    from pytest_flowexec import _determinism as det

    if options.inputs is None:
        return _matrix(k, run, mock, options, tally)
    import dataclasses

    from hypothesis import HealthCheck, given, settings

    made = 0

    @settings(
        max_examples=options.max_examples,
        deadline=None,
        report_multiple_bugs=False,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(drawn=options.inputs)
    def over_inputs(drawn: dict[str, Any]) -> None:
        nonlocal made
        varied = dataclasses.replace(run, inputs={**run.inputs, **drawn})
        found, _, runs = _matrix(k, varied, mock, options, tally)
        made += runs
        if found:
            raise det.DeterminismError("\n".join(found))

    try:
        over_inputs()
    except det.DeterminismError as error:
        shrunk = [note for note in getattr(error, "__notes__", []) if note.strip()]
        return [str(error), *shrunk], None, made
    # The other hash seeds' subprocesses run the test's own inputs: compare with those.
    reference = det.run_once(run, "sequential", "sequential run 1", mock, options)
    return [], reference, made + 1


def _matrix(k: int, run: Any, mock: Any, options: Any, tally: Tally) -> tuple[list[str], Any, int]:
    """Every executor, ``options.runs`` times; then a record -> replay round trip."""
    from executor import StepNotPicklable
    from pytest_flowexec import _determinism as det

    name = f"flow {run.flow.name!r} (run {k} of the test)"
    outcomes = []
    for executor in options.executors:
        for n in range(options.runs):
            outcome: Any = None
            reason: str | None = None
            try:
                outcome = det.run_once(run, executor, f"{executor} run {n + 1}", mock, options)
            except StepNotPicklable as error:
                reason = str(error)
            else:
                reason = _unpicklable(outcome)
            if reason is not None and executor == "parallel" and not options.explicit_executors:
                tally.notes.append(f"{name}: not re-run on 'parallel' ({reason})")
                break
            if outcome is None:
                raise AssertionError(f"{name}: cannot run on {executor!r}: {reason}")
            outcomes.append(outcome)
    reference = outcomes[0]
    problems: list[str] = []
    for other in outcomes[1:]:
        concurrent = not other.label.startswith("sequential")
        found = det.compare(reference, other, _COMPLETION_ORDER if concurrent else "")
        if found:
            problems.append(f"{name}: {reference.label} and {other.label} differ:")
            problems += [f"  {line}" for line in found[:20]]
            if other.label.startswith("parallel") and (options.seed, options.frozen_time) != (
                None,
                None,
            ):
                problems.append(
                    "  note: seed= and frozen_time= hold in this process only; steps on "
                    "'parallel' run in worker processes and see the real clock and random"
                )
            break
    if not problems and options.round_trip:
        replay = _through_text(reference.recorded)
        replayed = det.run_once(run, "sequential", "replay of the recording", mock, options, replay)
        found = det.compare(reference, replayed, _LOST_ORDER)
        if found:
            problems.append(
                f"{name}: replaying a recording of {reference.label} did not reproduce it:"
            )
            problems += [f"  {line}" for line in found[:20]]
    if problems:
        sources = det.probe_sources(run, mock, options)
        for address in sorted(sources):
            problems.append(f"  likely cause: {address} read {', '.join(sorted(sources[address]))}")
    return problems, reference, len(outcomes) + (1 if options.round_trip else 0)


def _unpicklable(outcome: Any) -> str | None:
    """Why a run could not go to worker processes (a step that cannot be pickled)."""
    for address, (_, error) in outcome.steps.items():
        if isinstance(error, str) and "StepNotPicklable" in error.split(":", 1)[0]:
            return f"{address} cannot be pickled"
    return None


_COMPLETION_ORDER = " (a dict built in completion order on a concurrent executor?)"
_LOST_ORDER = " (the recording did not keep the dict's order)"


def _through_text(recorded: dict[str, Any]) -> dict[str, Any]:
    """The recorded steps as a recording file keeps them: typed JSON text, read back."""
    import dataclasses
    import json

    from executor.testing import decode_value, encode_value

    back = {}
    for address, step in recorded.items():
        text = json.dumps(encode_value(step.output, address), sort_keys=True)
        context = step.context
        if context is not None:
            context = decode_value(json.loads(json.dumps(encode_value(context), sort_keys=True)))
        back[address] = dataclasses.replace(
            step, output=decode_value(json.loads(text), address), context=context
        )
    return back


def _replaying(item: pytest.Item) -> bool:
    """Whether the test's own runs were replayed (then nothing may call real steps)."""
    from pytest_flowexec.plugin import _mode, recording_path

    mode = _mode(item)
    return mode == "replay" or (mode == "once" and recording_path(item).exists())


def _check_hash_seeds(item: pytest.Item, options: Any, references: list[Any]) -> list[str]:
    """Run the test again in subprocesses with other PYTHONHASHSEEDs; compare."""
    from pytest_flowexec import _determinism as det

    config = item.config
    mine = [det.portable(r, "this process") for r in references]
    base = os.environ.get("PYTHONHASHSEED")
    with tempfile.TemporaryDirectory(prefix="flowexec-hashseed-") as folder:
        children = []
        for seed in options.hash_seeds:
            if base is not None and base == str(seed):
                continue
            out = Path(folder) / f"seed{seed}.jsonl"
            env = dict(os.environ, PYTHONHASHSEED=str(seed), **{CHILD_ENV: str(out)})
            env.pop("PYTEST_XDIST_WORKER", None)
            command = [
                sys.executable,
                "-m",
                "pytest",
                item.nodeid,
                "-q",
                "-p",
                "no:cacheprovider",
                "-o",
                "addopts=",
                "--flow-record-mode=none",
                "--rootdir",
                str(config.rootpath),
            ]
            if config.inipath is not None:
                command += ["-c", str(config.inipath)]
            children.append(
                (
                    seed,
                    out,
                    subprocess.Popen(
                        command,
                        cwd=config.rootpath,
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                    ),
                )
            )
        problems: list[str] = []
        for seed, out, child in children:
            printed, _ = child.communicate(timeout=600)
            if child.returncode != 0 or not out.exists():
                tail = printed.decode(errors="replace").strip().splitlines()[-15:]
                problems.append(
                    f"flow_determinism: {item.nodeid} failed when run again with "
                    f"PYTHONHASHSEED={seed} (hash-seed dependent?):\n    " + "\n    ".join(tail)
                )
                continue
            theirs = [
                det.from_snapshot(f"PYTHONHASHSEED={seed}", line)
                for line in out.read_text().splitlines()
            ]
            if len(theirs) != len(mine):
                problems.append(
                    f"flow_determinism: {item.nodeid} ran {len(theirs)} flow(s) under "
                    f"PYTHONHASHSEED={seed} but {len(mine)} here (hash-seed dependent?)"
                )
                continue
            for k, (a, b) in enumerate(zip(mine, theirs, strict=True)):
                found = det.compare(a, b)
                if found:
                    problems.append(
                        f"flow_determinism: run {k} of {item.nodeid} differs under "
                        f"PYTHONHASHSEED={seed}: hash-seed dependent (iterating a set of "
                        f"strings, or using hash() of a str?):"
                    )
                    problems += [f"  {line}" for line in found[:20]]
    return problems


def pytest_sessionfinish(session: pytest.Session) -> None:
    DATA.hand_over(session.config)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    DATA.take(node)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    tally = DATA.to_report(config)
    if tally is None or not (tally.flows or tally.notes):
        return
    terminalreporter.section("flowexec determinism")
    terminalreporter.line(f"checked {tally.flows} flow run(s) with {tally.runs} re-run(s)")
    for note in sorted(tally.notes)[:20]:
        terminalreporter.line(f"  {note}")
