"""The synchronous scheduler: one loop for sequential, threads, processes and Executors.

It keeps at most ``width`` steps active, starts the lowest-indexed ready step first
(so the start order is the same on every executor), enforces timeouts from this
thread, and holds retry waits here too, so workers are never blocked by a sleep
and every hook runs in the thread that called ``run``.
"""

from __future__ import annotations

import heapq
import itertools
import time
from concurrent.futures import CancelledError
from time import perf_counter
from typing import Any

from executor._executors import Dispatcher, InlineDispatcher, bind_call, invoke
from executor._plan import PlanNode
from executor._run import RunState


class _Active:
    """A started step: its inputs and how far its attempts have got."""

    __slots__ = ("attempt", "index", "inputs", "started")

    def __init__(self, index: int, inputs: dict[str, Any], started: float) -> None:
        self.index = index
        self.inputs = inputs
        self.started = started
        self.attempt = 0


def run_sync(state: RunState, dispatcher: Dispatcher, width: int) -> None:
    """Run every node of ``state`` to an end on ``dispatcher``."""
    nodes = state.nodes
    ready = state.plan.roots
    heapq.heapify(ready)
    tokens = itertools.count()
    in_flight: dict[int, _Active] = {}
    deadlines: list[tuple[float, int]] = []
    # (due time, tie-breaker, step, error of the attempt that failed)
    waiting: list[tuple[float, int, _Active, BaseException]] = []
    active = 0
    inline = isinstance(dispatcher, InlineDispatcher)
    step_executor = state.step_executor
    context = state.context

    def launch(step: _Active) -> None:
        node = nodes[step.index]
        step.attempt += 1
        token = next(tokens)
        in_flight[token] = step
        timeout = node.step.timeout
        if timeout is not None:
            heapq.heappush(deadlines, (perf_counter() + timeout, token))
        call = bind_call(step_executor, node.step, step.inputs, context)
        dispatcher.submit(token, state.addresses[step.index], call, timeout is not None)

    def settle(
        step: _Active,
        value: Any,
        error: BaseException | None,
        tb: str | None,
        cancelled: bool = False,
    ) -> None:
        nonlocal active
        active -= 1
        for index in state.finish(
            nodes[step.index],
            value,
            error,
            step.attempt,
            step.started,
            perf_counter(),
            tb,
            cancelled,
        ):
            heapq.heappush(ready, index)

    def failed(step: _Active, error: BaseException, tb: str | None) -> None:
        delay = state.retry_delay(nodes[step.index], step.attempt, error)
        if delay is None:
            settle(step, None, error, tb)
            if state.stopping:
                stop()
        elif delay <= 0:
            launch(step)
        else:
            heapq.heappush(waiting, (perf_counter() + delay, next(tokens), step, error))

    def stop() -> None:
        # Queued attempts are cancelled; running ones are waited for; retries end now.
        for token in list(in_flight):
            if dispatcher.cancel(token):
                step = in_flight.pop(token)
                settle(step, None, CancelledError("the run stopped"), None, cancelled=True)
        while waiting:
            _, _, step, error = heapq.heappop(waiting)
            settle(step, None, error, None)

    while True:
        while ready and active < width and not state.stopping:
            index = heapq.heappop(ready)
            node = nodes[index]
            inputs = state.begin(node)
            if inline and node.step.timeout is None:
                for newly_ready in _run_here(state, node, inputs):
                    heapq.heappush(ready, newly_ready)
                continue
            active += 1
            launch(_Active(index, inputs, perf_counter()))
        if not in_flight and not waiting:
            break
        now = perf_counter()
        while waiting and waiting[0][0] <= now:
            launch(heapq.heappop(waiting)[2])
        while deadlines and deadlines[0][1] not in in_flight:
            heapq.heappop(deadlines)  # that attempt already ended
        wake = min(
            deadlines[0][0] if deadlines else float("inf"),
            waiting[0][0] if waiting else float("inf"),
        )
        got = dispatcher.next_done(None if wake == float("inf") else max(wake - now, 0.0))
        if got is not None:
            token, outcome = got
            finished = in_flight.pop(token, None)
            if finished is not None:
                if outcome.error is None:
                    settle(finished, outcome.value, None, None)
                else:
                    failed(finished, outcome.error, outcome.traceback)
        now = perf_counter()
        while deadlines and deadlines[0][0] <= now:
            _, token = heapq.heappop(deadlines)
            expired = in_flight.pop(token, None)
            if expired is not None:
                dispatcher.cancel(token)
                node = nodes[expired.index]
                failed(expired, state.timeout_error(node, expired.attempt), None)
    state.skip_unstarted()


def _run_here(state: RunState, node: PlanNode, inputs: dict[str, Any]) -> list[int]:
    """Sequential: every attempt runs in this thread, and a retry wait is a sleep,
    since nothing else could run meanwhile. Returns the nodes released."""
    step = node.step
    step_executor = state.step_executor
    context = state.context
    started = perf_counter()
    attempt = 0
    while True:
        attempt += 1
        try:
            if step.is_async:
                value = invoke(step_executor, step, inputs, context)
            else:
                value = step_executor(step, inputs, context)
        except Exception as error:
            delay = state.retry_delay(node, attempt, error)
            if delay is None:
                return state.finish(node, None, error, attempt, started, perf_counter())
            time.sleep(delay)
        else:
            return state.finish(node, value, None, attempt, started, perf_counter())
