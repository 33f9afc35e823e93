"""The ``"async"`` scheduler: every step a task on one event loop.

Async steps are awaited on the loop; sync steps run on the run's worker threads
(daemons, ``max_concurrency`` of them), or inline when nothing else could overlap
them. A timed-out attempt's task is cancelled. Start order and the pipeline
(``RunState``) are the same as in the synchronous scheduler.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import inspect
from concurrent.futures import CancelledError
from typing import Any

from executor._clock import Clock
from executor._errors import hide_engine_frame
from executor._limits import _SCOPE, Scope
from executor._plan import PlanNode
from executor._run import Resolved, RunState
from executor._threads import LoopHandoff

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these


class _Ended:
    """How a step's attempts ended, handed from its task to the scheduler."""

    __slots__ = ("attempts", "cancelled", "ended", "error", "started", "value")

    def __init__(
        self,
        value: Any,
        error: BaseException | None,
        attempts: int,
        started: float,
        *,
        cancelled: bool = False,
    ) -> None:
        self.value = value
        self.error = error
        self.attempts = attempts
        self.started = started
        self.ended = Clock.perf_counter()
        self.cancelled = cancelled


async def run_async(
    state: RunState, width: int, threads: LoopHandoff, *, own_loop: bool = False
) -> None:
    """Run every node of ``state`` to an end on the running event loop.

    ``own_loop``: the loop is the engine's own and this is the run's top level, so
    when a sync step is the only thing that could run, nothing at all can overlap
    it (nested runs happen inside this level's steps): it is called right here, as
    the other drivers do, instead of paying a thread hop. A step with a timeout
    still goes to a worker, where it can be abandoned. On a caller's loop
    (``arun``), other coroutines could be waiting, so sync steps always go to a
    worker and the loop never blocks.
    """
    loop = asyncio.get_running_loop()
    nodes = state.nodes
    ready = state.plan.roots
    heapq.heapify(ready)
    finished: asyncio.Queue[int] = asyncio.Queue()
    tasks: dict[int, asyncio.Task[_Ended]] = {}
    try:
        while True:
            while ready and len(tasks) < width and not state.stopping:
                index = heapq.heappop(ready)
                inputs = state.begin(nodes[index])
                if type(inputs) is not dict:
                    if inputs is not Resolved.PARKED:
                        ok = inputs is Resolved.HIT
                        for newly_ready in state.release(nodes[index], ok):
                            heapq.heappush(ready, newly_ready)
                    continue
                if not tasks and not ready:
                    # A lone step: nothing else runs or can start until it ends, so
                    # await it here rather than pay for a task and a wake-up.
                    ended = await _attempts(
                        state, nodes[index], inputs, threads, own_task=False, inline=own_loop
                    )
                    break
                node = nodes[index]
                step = node.step
                # A sync step is handed to a worker here, before its task exists: the
                # ready steps all start without waiting for the loop to run each task.
                first = (
                    threads.run(state.task(node, inputs))
                    if not (step.is_async or step.is_composite or step.timeout is not None)
                    else None
                )
                task = loop.create_task(
                    _attempts(state, node, inputs, threads, own_task=True, first=first)
                )
                tasks[index] = task
                task.add_done_callback(functools.partial(_report, finished, index))
                if first is not None:  # a task cancelled before it ran never awaits it
                    task.add_done_callback(functools.partial(_drop, first))
            else:
                if not tasks:
                    break
                index = await finished.get()
                ended = tasks.pop(index).result()
            node = nodes[index]
            ok = state.finish(
                node,
                ended.value,
                ended.error,
                ended.attempts,
                ended.started,
                ended.ended,
                None,
                ended.cancelled,
            )
            for newly_ready in state.release(node, ok):
                heapq.heappush(ready, newly_ready)
            for newly_ready in state.unpark(node):
                heapq.heappush(ready, newly_ready)
            if state.stopping:
                for task in tasks.values():
                    task.cancel()
    except BaseException:
        # The caller cancelled the run (or the loop is going down): take every step with us.
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        raise
    state.skip_unstarted()


def _report(finished: asyncio.Queue[int], index: int, _: asyncio.Task[_Ended]) -> None:
    finished.put_nowait(index)


def _drop(attempt: asyncio.Future[Any], _: asyncio.Task[_Ended]) -> None:
    attempt.cancel()  # no-op once it has an outcome; unstarted, it never runs


async def _attempts(
    state: RunState,
    node: PlanNode,
    inputs: dict[str, Any],
    threads: LoopHandoff,
    *,
    own_task: bool,
    inline: bool = False,
    first: asyncio.Future[Any] | None = None,
) -> _Ended:
    """Every attempt of one step. In its own task, a cancellation is the run stopping
    and ends the step as CANCELLED; awaited inline, it is the caller's and propagates.
    ``first``: the first attempt, already handed to a worker."""
    started = Clock.perf_counter()
    attempt = 0
    while True:
        attempt += 1
        try:
            if first is not None:  # the first attempt, already on a worker
                running, first = first, None
                value = await _outcome(running)
            else:
                value = await _attempt(state, node, inputs, threads, attempt, inline)
        except asyncio.CancelledError:
            if not own_task:
                raise
            return _Ended(None, CancelledError("the run stopped"), attempt, started, cancelled=True)
        except Exception as error:
            delay = state.retry_delay(node, attempt, error)
            if delay is None:
                return _Ended(None, error, attempt, started)
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                if not own_task:
                    raise
                return _Ended(None, error, attempt, started)
        else:
            return _Ended(value, None, attempt, started)


async def _attempt(
    state: RunState,
    node: PlanNode,
    inputs: dict[str, Any],
    threads: LoopHandoff,
    attempt: int,
    inline: bool,
) -> Any:
    step = node.step
    index = node.index
    context = state.context_of(index)
    address = state.addresses[index]
    # record_usage inside the step reports here; a task made below copies this too.
    token = _SCOPE.set(Scope(state.meter, address))
    try:
        awaitable: Any
        if step.is_composite:
            awaitable = state.runtime.arun_composite(
                step, inputs, context, address, (*state.order, index)
            )
        elif step.is_async:
            awaitable = state.step_executor(step, inputs, context)
            if not inspect.isawaitable(awaitable):
                return awaitable  # a step executor (a mock) answered without awaiting
        elif inline and step.timeout is None:
            return state.task(node, inputs)()
        else:
            awaitable = _outcome(threads.run(state.task(node, inputs)))
        if step.timeout is None:
            return await awaitable
        task = asyncio.ensure_future(awaitable)
        try:
            done, _ = await asyncio.wait({task}, timeout=step.timeout)
        finally:
            if not task.done():
                task.cancel()
        if not done:
            raise state.timeout_error(node, attempt)
        return task.result()
    finally:
        _SCOPE.reset(token)


async def _outcome(future: asyncio.Future[Any]) -> Any:
    """The value of a worker's outcome, or its error raised here."""
    outcome = await future
    if outcome.error is not None:
        raise outcome.error
    return outcome.value
