"""Nested runs: how the drivers fulfil a composite's SubRun requests.

A composite's program runs in whichever driver met it: from synchronous code
(sequential, threads, processes) through :func:`drive_sync`, on the event loop
through :func:`drive_async`. Each request becomes a RunState of its own at a
longer address, run by the driver of its executor: the run's, or the one the
composite asked for (``map_over(map_executor=...)``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from executor._async_scheduler import run_async
from executor._errors import hide_engine_frame
from executor._executors import run_coroutine, run_width
from executor._run import RunState
from executor._runtime import Program, Runtime, SubRun, SubRunResult
from executor._scheduler import run_sync
from executor._sequential import run_sequential

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these


def drive_sync(runtime: Runtime, program: Program) -> Any:
    """Run a composite's program from synchronous code; returns its output."""
    try:
        request = next(program)
        while True:
            request = program.send(run_sub_sync(runtime, request))
    except StopIteration as stop:
        return stop.value


async def drive_async(runtime: Runtime, program: Program) -> Any:
    """Run a composite's program on the event loop; returns its output."""
    try:
        request = next(program)
        while True:
            request = program.send(await run_sub_async(runtime, request))
    except StopIteration as stop:
        return stop.value


def _state(runtime: Runtime, request: SubRun) -> RunState:
    return RunState(
        request.plan,
        request.inputs,
        request.context,
        runtime,
        prefix=request.prefix,
        order=request.order,
        on_failure=request.on_failure,
        node_contexts=request.node_contexts,
    )


def _ended(runtime: Runtime, state: RunState) -> SubRunResult:
    runtime.add_nested(state.ordered_results(), state.calls())
    return SubRunResult(
        results=[r for r in state.results if r is not None], values=list(state.values)
    )


def run_sub_sync(runtime: Runtime, request: SubRun) -> SubRunResult:
    """A nested run, from synchronous code."""
    state = _state(runtime, request)
    executor = request.executor if request.executor is not None else runtime.executor
    width = request.width or run_width(executor, len(state.nodes), runtime.max_concurrency)
    if executor == "sequential":
        run_sequential(state)
    elif executor == "async":
        run_coroutine(run_async(state, width, runtime.threads()))
    else:
        dispatcher = runtime.dispatcher(executor)
        try:
            run_sync(state, dispatcher, width)
        finally:
            dispatcher.close()
    return _ended(runtime, state)


async def run_sub_async(runtime: Runtime, request: SubRun) -> SubRunResult:
    """A nested run, on the event loop (another executor: on a thread of its own)."""
    executor = request.executor if request.executor is not None else runtime.executor
    if executor != "async":
        return await asyncio.to_thread(run_sub_sync, runtime, request)
    state = _state(runtime, request)
    width = request.width or run_width(executor, len(state.nodes), runtime.max_concurrency)
    await run_async(state, width, runtime.threads())
    return _ended(runtime, state)
