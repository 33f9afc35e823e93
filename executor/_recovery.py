"""Resume, resume from an address, and validate: runs driven by a stored run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from executor._core import RunArgs, _tap
from executor._errors import FlowDefinitionError, FlowError, FlowInputError, hide_engine_frame
from executor._names import UNSET
from executor._recorder import Recorder
from executor._redo import RedoSet
from executor._results import FlowResult
from executor.state._model import ExecutionState, StateEvent, StateMetadata
from executor.state._report import DeterminismReport
from executor.state._store import StateStore, checked_store

if TYPE_CHECKING:
    from executor._core import ExecutorCore
    from executor._flow import Flow

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these


def _load(flow: Flow, state_id: str, store: StateStore) -> ExecutionState:
    state = checked_store(store).load(state_id)
    if state.flow != flow.name:
        raise FlowError(f"state {state_id!r} is a run of flow {state.flow!r}, not of {flow.name!r}")
    return state


def _context(state: ExecutionState, given: Any) -> Any:
    if given is not UNSET:
        return given
    return state.contexts.get("end", state.contexts.get("start"))


def _reusable(state: ExecutionState) -> dict[str, StateEvent]:
    return {a: e for a, e in state.latest().items() if e.completed}


def resume(
    core: ExecutorCore,
    flow: Flow,
    state_id: str,
    store: StateStore,
    inputs: Mapping[str, Any] | None,
    *,
    strict: bool,
    resume_from: str | None,
    context: Any,
    **options: Any,
) -> FlowResult:
    """See :meth:`Flow.resume`."""
    state = _load(flow, state_id, store)
    if resume_from is None:  # the run goes on in this stored run: its inputs stay
        _refuse_changed_inputs(flow, state, inputs or {})
    merged = {**state.inputs, **(inputs or {})}
    run_context = _context(state, context)
    # Every address's latest event, finished or not: a step that failed or paused
    # is stored, so it runs again (with what follows it), even in strict mode.
    replay = state.latest()
    args = RunArgs(
        flow,
        merged,
        run_context,
        options.pop("outputs", None),
        options.pop("on_failure", "stop"),
        tuple(options.pop("plugins", ())),
        options.pop("seed", None),
        options.pop("cache", None),
        options.pop("limits", None),
    )
    # A typo in inputs= must leave the stored run as it was: checked before writing.
    plan = core._check(args)
    if resume_from is None:
        store.reopen_state(state_id, merged)
        first_seq = max((e.seq for e in state.events), default=-1) + 1
        recorder = Recorder(
            store,
            state_id,
            replay=replay,
            strict=strict,
            record_replayed=False,
            first_seq=first_seq,
            known=tuple(state.latest()),
            redo=RedoSet(()),
        )
    else:
        _check_address(flow, resume_from)
        metadata = StateMetadata(
            tags=state.metadata.tags,
            description=state.metadata.description,
            custom_data=state.metadata.custom_data,
            parent_state_id=state_id,
        )
        new_id = store.create_state(flow.name, merged, metadata, run_context)
        recorder = Recorder(
            store,
            new_id,
            replay=replay,
            strict=strict,
            record_replayed=True,
            known=tuple(state.latest()),
            redo=RedoSet((resume_from,)),
        )
    tapped = _tap(flow, merged, store, recorder.state_id)
    if tapped is not None:  # a test harness records or replays what the stored run lacks
        tapped.reuse(recorder)
        recorder = tapped
    return core._execute(args, recorder, plan)


def _refuse_changed_inputs(flow: Flow, state: ExecutionState, given: Mapping[str, Any]) -> None:
    """Refuse inputs that would rewrite the stored run's: its events were made with
    the stored values, and a run's record must say what its steps ran with. Inputs
    it did not have may be added, and the input a paused run awaits may be given
    (again: a step may pause for a second answer); the same value is fine."""
    awaited = state.pause.get("awaiting")
    changed = {
        name: (state.inputs[name], value)
        for name, value in given.items()
        if name in state.inputs and name != awaited and not _same(state.inputs[name], value)
    }
    if not changed:
        return
    name = sorted(changed)[0]
    readers = [n.step.name for n in flow.plan().nodes if name in {p.name for p in n.step.params}]
    start = f"{flow.name}/{readers[0]}" if readers else None
    new_run = "start a new run with the new value"
    if start is not None:
        new_run += (
            f", or resume as a new run from the first step that reads it, which keeps "
            f"this one: resume_from={start!r} (on the command line: the same `flowexec "
            f"states resume` with --from {start} added)"
        )
    raise FlowInputError(
        flow.name,
        changed=changed,
        fix=f"run {state.state_id[:12]} ran its steps with the stored values; {new_run}",
    )


def _same(stored: Any, given: Any) -> bool:
    """Whether ``given`` is exactly the stored value (type included: 1 is not 1.0)."""
    import json

    from executor._codec import JSON_CODEC

    def text(value: Any) -> str:  # JSON text: 1 and 1.0 differ there, unlike with ==
        return json.dumps(JSON_CODEC.encode(value, "input"))

    try:
        return text(stored) == text(given)
    except Exception:  # a value the typed codec cannot hold: compare it as Python does
        return type(stored) is type(given) and bool(stored == given)


def validate(
    core: ExecutorCore,
    flow: Flow,
    state_id: str,
    store: StateStore,
    *,
    context: Any,
    **options: Any,
) -> DeterminismReport:
    """See :meth:`Flow.validate`."""
    state = _load(flow, state_id, store)
    recorder = Recorder(None, None, replay=_reusable(state), validating=True)
    args = RunArgs(
        flow,
        state.inputs,
        _context(state, context),
        None,
        "continue",
        tuple(options.pop("plugins", ())),
        options.pop("seed", None),
    )
    core._execute(args, recorder)
    return DeterminismReport(
        state_id=state_id, checked=recorder.checked, mismatches=tuple(recorder.mismatches)
    )


def _check_address(flow: Flow, address: str) -> None:
    """Refuse a ``resume_from`` that names no step of ``flow``. What runs again is
    decided as the run goes (see ``executor._redo``): the address, what is inside
    it, the composites around it (their other parts replayed) and what is
    downstream of it, at every level."""
    prefix = flow.name + "/"
    if not address.startswith(prefix):
        raise FlowDefinitionError(
            f"resume_from={address!r} is not an address of flow "
            f"{flow.name!r} (addresses start with {prefix!r})"
        )
    top = address[len(prefix) :]
    for mark in "/[#":
        top = top.split(mark, 1)[0]
    flow.step(top)  # raises, naming the flow's steps, for an unknown step
