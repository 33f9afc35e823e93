"""``flowexec run`` and ``flowexec states resume``: run a flow, watch it, sum it up.

Both end the same way: a summary table (or the result as typed JSON with
``--json``), a line saying what failed or what a paused run awaits and how to
resume it, and an exit status: 0 completed, 1 failed, 3 paused or awaiting.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from executor._cli._console import console, seconds
from executor._cli._graph import build_graph
from executor._cli._inputs import parse_inputs
from executor._cli._progress import LiveProgress
from executor._cli._report import GRAPH_KEY, TARGET_KEY, missing_target
from executor._cli._store import open_store, resolve_id
from executor._cli._target import load_flow
from executor._cli._timeline import AttemptLog, attempts_folder
from executor._codec import CodecError
from executor._errors import FlowDefinitionError, Pause, StepFailed, UsageError
from executor._flow import Flow
from executor._results import FlowResult, RunStatus, StepStatus
from executor._shown import json_text, shown_data
from executor.state._model import StateMetadata
from executor.state._sqlite import SQLiteStateBackend

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PAUSED = 0, 1, 2, 3


@dataclass(frozen=True)
class RunOptions:
    """How to run: the options ``run`` and ``states resume`` share."""

    executor: str
    max_concurrency: int | None
    json: bool
    debug: bool = False
    """A failed step's verdict carries the step's traceback, not one line."""


def run_command(
    target: str,
    inputs: Sequence[str],
    options: RunOptions,
    store_path: str | None,
    tags: Sequence[str],
) -> int:
    """``flowexec run TARGET -i ...``."""
    flow = load_flow(target)
    given = parse_inputs(inputs)
    flow.check_inputs(flow.plan(), given)
    store = None if store_path is None else open_store(store_path, must_exist=False)
    metadata = StateMetadata(
        tags=tuple(tags),
        custom_data={TARGET_KEY: target, GRAPH_KEY: build_graph(flow).to_data()},
    )

    def start(plugins: list[object]) -> FlowResult:
        return flow.run(
            given,
            executor=options.executor,
            max_concurrency=options.max_concurrency,
            store=store,
            metadata=metadata if store is not None else None,
            plugins=plugins,
        )

    return _execute(flow, target, start, store, options)


def resume_command(
    given_id: str,
    target: str | None,
    inputs: Sequence[str],
    resume_from: str | None,
    options: RunOptions,
    store_path: str,
) -> int:
    """``flowexec states resume ID [TARGET] [--from ADDRESS] [-i ...]``."""
    store = open_store(store_path, must_exist=True)
    state_id = resolve_id(store, given_id)
    state = store.load(state_id)
    if target is None:
        raise UsageError(missing_target("resume", given_id, state))
    flow = load_flow(target)
    if flow.name != state.flow:
        raise UsageError(
            f"flow target {target!r} is flow {flow.name!r}, but state {state_id[:12]} is a run "
            f"of flow {state.flow!r}; give the target of flow {state.flow!r}"
        )
    added = parse_inputs(inputs)

    def start(plugins: list[object]) -> FlowResult:
        try:
            return flow.resume(
                state_id,
                store=store,
                inputs=added,
                resume_from=resume_from,
                executor=options.executor,
                max_concurrency=options.max_concurrency,
                plugins=plugins,
            )
        except FlowDefinitionError as error:
            if resume_from is None:
                raise
            raise UsageError(f"--from {resume_from!r}: {error}") from None

    return _execute(flow, target, start, store, options)


def _execute(
    flow: Flow,
    target: str,
    start: Callable[[list[object]], FlowResult],
    store: SQLiteStateBackend | None,
    options: RunOptions,
) -> int:
    out = console()
    log = AttemptLog()
    plugins: list[object] = [log]
    progress = None
    if out.is_terminal and not options.json:
        progress = LiveProgress(tuple(f"{flow.name}/{s.name}" for s in flow.steps))
        plugins.append(progress)
        progress.start(out)
    try:
        try:
            result = start(plugins)
        except StepFailed as failure:
            if failure.result is None:  # pragma: no cover - the engine always attaches it
                raise
            result = failure.result
    finally:
        if progress is not None:
            progress.stop()
    if store is not None and result.state_id is not None:
        log.save(attempts_folder(store.path), result.state_id)
    if options.json:
        sys.stdout.write(json_text(result_data(result)) + "\n")
    else:
        print_summary(result, out)
    return _verdict(result, store, target, options.debug)


def print_summary(result: FlowResult, out: Any) -> None:
    """The summary table: address, status, attempts, duration; then one line."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"flow {result.flow}: {result.status.value}", title_justify="left")
    table.add_column("address")
    table.add_column("status")
    table.add_column("attempts", justify="right")
    table.add_column("duration", justify="right")
    colours = {"completed": "green", "cached": "blue", "replayed": "magenta", "paused": "yellow"}
    for address, step in result.steps.items():
        colour = colours.get(step.status.value, "red" if not step.ok else "")
        table.add_row(
            address,
            Text(step.status.value, style=colour),
            str(step.attempts),
            seconds(step.duration),
        )
    out.print(table)
    done = sum(1 for s in result.steps.values() if s.ok)
    where = f"; state {result.state_id}" if result.state_id else ""
    out.print(f"{done}/{len(result.steps)} steps ok in {seconds(result.duration)}{where}")


def _verdict(
    result: FlowResult, store: SQLiteStateBackend | None, target: str, debug: bool = False
) -> int:
    sys.stdout.flush()  # the summary first, then the verdict, also in a combined log
    err = sys.stderr
    if result.status is RunStatus.COMPLETED:
        return EXIT_OK
    if result.status in (RunStatus.PAUSED, RunStatus.AWAITING):
        paused = next((a for a, s in result.steps.items() if s.status is StepStatus.PAUSED), "?")
        step = result.steps.get(paused)
        live = step.exception if step is not None else None
        reason = live.reason if isinstance(live, Pause) and live.reason else "no reason given"
        if result.state_id is None or store is None:
            err.write(
                f"flowexec: the run paused at {paused!r} ({reason}), but --no-store kept no "
                f"state to resume; run it again without --no-store\n"
            )
            return EXIT_PAUSED
        command = f"flowexec states resume {result.state_id} {target}"
        if store.path != Path(".flowexec/state.db"):
            command += f" --store {store.path}"
        if result.awaiting:
            command += f" -i {result.awaiting}=VALUE"
            err.write(
                f"flowexec: the run paused at {paused!r} awaiting input {result.awaiting!r} "
                f"({reason}); resume it with: {command}\n"
            )
        else:
            err.write(
                f"flowexec: the run paused at {paused!r} ({reason}); resume it with: {command}\n"
            )
        return EXIT_PAUSED
    failed = result.failed
    if failed:
        first = failed[0]
        error = f"{first.error.type}: {first.error.message}" if first.error else "failed"
        tries = f" after {first.attempts} attempts" if first.attempts > 1 else ""
        if debug and first.error is not None and first.error.traceback:
            err.write(first.error.traceback.rstrip("\n") + "\n")
        err.write(f"flowexec: step {first.address!r} {first.status.value}{tries}: {error}\n")
        if result.state_id:
            err.write(f"flowexec: see it with: flowexec states show {result.state_id}\n")
    else:
        err.write(f"flowexec: the run ended {result.status.value}\n")
    return EXIT_FAILED


def result_data(result: FlowResult) -> dict[str, Any]:
    """The result as plain data (``--json``): outputs in the typed JSON encoding with
    every dict a JSON object in its real order (see ``_values``), steps in run order."""
    outputs: dict[str, Any] = {}
    for name, value in result.outputs.items():
        try:
            outputs[name] = shown_data(value, f"{result.flow}/{name} output")
        except CodecError:
            outputs[name] = {"$unencodable": repr(value)}
    return {
        "flow": result.flow,
        "status": result.status.value,
        "state_id": result.state_id,
        "seed": result.seed,
        "started_at": result.started_at,
        "ended_at": result.ended_at,
        "awaiting": result.awaiting,
        "outputs": outputs,
        "steps": [
            {
                "address": address,
                "name": step.name,
                "status": step.status.value,
                "attempts": step.attempts,
                "duration": step.duration,
                "error": None
                if step.error is None
                else {"type": step.error.type, "message": step.error.message},
            }
            for address, step in result.steps.items()
        ],
    }
