"""``flowexec states list|show|diff|delete|validate``: stored runs, read as data."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from executor._cli._console import console, moment, seconds
from executor._cli._report import missing_target
from executor._cli._store import open_store, resolve_id
from executor._cli._target import load_flow
from executor._cli._timeline import attempts_folder
from executor._errors import CodecError, UsageError
from executor._shown import json_text, shown_data, shown_text
from executor.state._diff import diff_states
from executor.state._model import ExecutionState, StateEvent, StateStatus

EXIT_OK, EXIT_DIFFERENT = 0, 1


def list_command(
    store_path: str,
    flow: str | None,
    tags: Sequence[str],
    status: str | None,
    limit: int | None,
    quiet: bool,
) -> int:
    """``flowexec states list``: newest first; ``-q`` prints the ids only."""
    from rich.table import Table

    store = open_store(store_path, must_exist=True)
    found = store.list_states(flow=flow, tags=tags, status=status, limit=limit)
    if quiet:
        sys.stdout.write("".join(s.state_id + "\n" for s in found))
        return EXIT_OK
    table = Table(title=f"runs in {store.path}", title_justify="left")
    for column in ("id", "flow", "status", "created (UTC)", "tags", "parent"):
        table.add_column(column)
    for s in found:
        table.add_row(
            s.state_id,
            s.flow,
            s.status.value,
            moment(s.created_at),
            ", ".join(s.tags),
            (s.parent_state_id or "")[:12],
        )
    console().print(table)
    return EXIT_OK


def show_command(store_path: str, given_id: str, as_json: bool = False) -> int:
    """``flowexec states show ID``: the run's header, then its events as a table;
    with ``--json``, the whole run as JSON (see :func:`state_data`)."""
    from rich.table import Table

    store = open_store(store_path, must_exist=True)
    state = store.load(resolve_id(store, given_id))
    if as_json:
        sys.stdout.write(json_text(state_data(state)) + "\n")
        return EXIT_OK
    out = console()
    out.print(f"state    {state.state_id}")
    out.print(f"flow     {state.flow}")
    out.print(f"status   {state.status.value}")
    out.print(f"created  {moment(state.created_at)} UTC   updated {moment(state.updated_at)} UTC")
    out.print(f"inputs   {shown_text(dict(state.inputs))}")
    if state.metadata.tags:
        out.print(f"tags     {', '.join(state.metadata.tags)}")
    if state.metadata.parent_state_id:
        out.print(f"parent   {state.metadata.parent_state_id}")
    if state.pause:
        waits = state.pause.get("awaiting")
        extra = f", awaiting input {waits!r}" if waits else ""
        out.print(f"paused   at {state.pause.get('address')!r}{extra}")
    table = Table(title="events", title_justify="left")
    for column in ("seq", "address", "status", "attempts", "duration", "error"):
        table.add_column(column, justify="right" if column in ("seq", "attempts") else "left")
    for event in state.events:
        duration = (
            None
            if event.started_at is None or event.ended_at is None
            else event.ended_at - event.started_at
        )
        error = f"{event.error.type}: {event.error.message}" if event.error else ""
        table.add_row(
            str(event.seq),
            event.address,
            event.status,
            str(event.attempts),
            seconds(duration),
            error,
        )
    out.print(table)
    return EXIT_OK


def state_data(state: ExecutionState) -> dict[str, Any]:
    """A stored run as plain data (``states show --json``): every value (inputs,
    outputs, contexts, custom data) in the typed JSON encoding with each dict a JSON
    object in its real order, so the codec decodes it to the stored value exactly;
    events in seq order. An event has ``output`` only when it holds one (a step that
    returned None has ``"output": null``; a failed step has no ``output``)."""
    where = f"state {state.state_id}"
    return {
        "state_id": state.state_id,
        "flow": state.flow,
        "status": state.status.value,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
        "inputs": _shown(dict(state.inputs), f"{where} inputs"),
        "metadata": {
            "tags": list(state.metadata.tags),
            "description": state.metadata.description,
            "custom_data": _shown(dict(state.metadata.custom_data), f"{where} custom_data"),
            "parent_state_id": state.metadata.parent_state_id,
        },
        "pause": _shown(dict(state.pause), f"{where} pause"),
        "contexts": {
            moment: _shown(context, f"{where} context at {moment}")
            for moment, context in state.contexts.items()
        },
        "events": [_event_data(event) for event in state.events],
    }


def _event_data(event: StateEvent) -> dict[str, Any]:
    data: dict[str, Any] = {
        "seq": event.seq,
        "address": event.address,
        "status": event.status,
        "attempts": event.attempts,
        "started_at": event.started_at,
        "ended_at": event.ended_at,
        "digest": event.digest,
    }
    if event.completed:
        data["output"] = _shown(event.output, f"{event.address} output")
    if event.error is not None:
        error = event.error
        data["error"] = {"type": error.type, "message": error.message, "traceback": error.traceback}
    if event.awaiting is not None:
        data["awaiting"] = event.awaiting
    if event.context is not None:
        data["context"] = _shown(event.context, f"{event.address} context")
    if event.unreadable is not None:
        data["unreadable"] = event.unreadable
    return data


def _shown(value: Any, where: str) -> Any:
    """``value`` as shown data; a value the typed encoding cannot hold (a store opened
    with ``codec="pickle"``) as ``{"$unencodable": repr}``, as ``run --json`` does."""
    try:
        return shown_data(value, where)
    except CodecError:
        return {"$unencodable": repr(value)}


def diff_command(store_path: str, first: str, second: str) -> int:
    """``flowexec states diff A B``: exit 0 when the runs match, 1 when they differ."""
    store = open_store(store_path, must_exist=True)
    a = store.load(resolve_id(store, first, "first state id"))
    b = store.load(resolve_id(store, second, "second state id"))
    diff = diff_states(a, b)
    out = console()
    if diff.same:
        out.print(f"runs {a.state_id[:12]} and {b.state_id[:12]} match")
        return EXIT_OK
    out.print(f"runs {a.state_id[:12]} (a) and {b.state_id[:12]} (b) differ:")
    for name in diff.inputs_changed:
        if name.startswith("inputs."):
            key = name[len("inputs.") :]
            x, y = shown_text(a.inputs.get(key)), shown_text(b.inputs.get(key))
            out.print(f"  input {key}: {x} -> {y}")
        else:
            out.print(f"  {name}: its inputs changed")
    for address, x, y in diff.status_changed:
        out.print(f"  {address}: status {x} -> {y}")
    for address in diff.only_in_a:
        out.print(f"  {address}: only in a")
    for address in diff.only_in_b:
        out.print(f"  {address}: only in b")
    for change in diff.outputs_changed:
        out.print(f"  {change.address}: output changed")
        out.print(change.diff.rstrip("\n"), markup=False)
    return EXIT_DIFFERENT


def delete_command(store_path: str, given_id: str) -> int:
    """``flowexec states delete ID``: the run and its kept attempts."""
    store = open_store(store_path, must_exist=True)
    state_id = resolve_id(store, given_id)
    store.delete_state(state_id)
    (attempts_folder(store.path) / f"{state_id}.json").unlink(missing_ok=True)
    console().print(f"deleted state {state_id}")
    return EXIT_OK


def validate_command(store_path: str, given_id: str, target: str | None) -> int:
    """``flowexec states validate ID [TARGET]``: re-run every step on its recorded
    inputs; exit 0 when every output is the same, 1 listing the ones that differ."""
    store = open_store(store_path, must_exist=True)
    state_id = resolve_id(store, given_id)
    state = store.load(state_id)
    if target is None:
        raise UsageError(missing_target("validate", given_id, state))
    flow = load_flow(target)
    report = flow.validate(state_id, store=store)
    out = console()
    if report.deterministic:
        out.print(
            f"deterministic: {report.checked} steps re-run on their recorded inputs, same outputs"
        )
        return EXIT_OK
    out.print(f"not deterministic: {len(report.mismatches)} of {report.checked} steps differ")
    for mismatch in report.mismatches:
        out.print(f"  {mismatch.address}")
        out.print(mismatch.diff.rstrip("\n"), markup=False)
    return EXIT_DIFFERENT


STATUSES = tuple(s.value for s in StateStatus)
