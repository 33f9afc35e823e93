"""The concurrent synchronous scheduler: threads, processes and any Executor.

It keeps at most ``width`` steps active, starts the lowest-indexed ready step first
(so the start order is the same on every executor), enforces timeouts from this
thread, and holds retry waits here too, so workers are never blocked by a sleep
and every hook runs in the thread that called ``run``.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError
from typing import Any

from executor._chains import Chains
from executor._clock import Clock
from executor._errors import hide_engine_frame
from executor._executors import Dispatcher, Outcome, Task, attempt
from executor._run import Resolved, RunState

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these


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
    lone_inline = dispatcher.runs_lone_steps_inline
    # When the pool itself runs at most `width` attempts at once, attempts queued in
    # it are not running: hand it every ready step, as ThreadPoolExecutor.map would,
    # so workers never idle waiting for this thread. Not for composites (they run on
    # threads of their own, outside that bound) nor timed steps (a deadline set at
    # hand-over would count time spent waiting in the queue).
    capacity = dispatcher.capacity
    limit = width
    plan = state.plan
    if (
        capacity is not None
        and capacity <= width
        and not plan.has_composites
        and not plan.has_timeouts
    ):
        limit = len(nodes)
    runtime = state.runtime
    # Dask: steps may go to the cluster behind the attempts they wait for (_chains).
    chainer = dispatcher.chainer
    chains = (
        Chains(state, dispatcher, chainer, tokens)
        if chainer is not None and Chains.usable(state)
        else None
    )
    adopted: deque[tuple[int, Outcome]] = deque()  # outcomes in before their adoption

    def push(index: int) -> None:
        """``index`` may start: to the heap, or (chained) taken over where it runs."""
        nonlocal active
        if chains is None or not chains.is_chained(index):
            heapq.heappush(ready, index)
            return
        token, outcome = chains.adopt(index)
        # begin() cannot resolve a chainable step otherwise (no cache, limits, replay).
        inputs = state.begin(nodes[index])
        assert type(inputs) is dict
        step = _Active(index, inputs, Clock.perf_counter())
        step.attempt = 1
        in_flight[token] = step
        if outcome is not None:
            adopted.append((token, outcome))
        elif not state.stopping:  # what may follow it now that its inputs are known
            active += chains.submitted(index, token, limit - active)

    def launch(step: _Active) -> None:
        nonlocal active
        index = step.index
        node = nodes[index]
        step.attempt += 1
        timeout = node.step.timeout
        task: Task | None = None
        if node.step.is_composite:
            call: Callable[[], Any] = functools.partial(
                runtime.run_composite,
                node.step,
                step.inputs,
                state.context_of(index),
                state.addresses[index],
                (*state.order, index),
            )
        else:
            call = task = state.task(node, step.inputs)
        if lone_inline and timeout is None and not (in_flight or ready or waiting):
            # Nothing else runs, waits or can start before this step ends, so a
            # thread hop (~100 us) buys nothing: run it here.
            outcome = attempt(call)
            if outcome.error is None:
                settle(step, outcome.value, None, None)
            else:
                failed(step, outcome.error, None)
            return
        token = next(tokens)
        in_flight[token] = step
        if timeout is not None:
            heapq.heappush(deadlines, (Clock.perf_counter() + timeout, token))
        if task is None:
            # A composite coordinates nested work on the same pool: it gets a thread
            # of its own, never a pool worker (which could starve the pool).
            dispatcher.submit_thread(token, state.addresses[index], call)
        else:
            dispatcher.submit(token, task)
            if chains is not None and not state.stopping:
                active += chains.submitted(index, token, limit - active)

    def settle(
        step: _Active,
        value: Any,
        error: BaseException | None,
        tb: str | None,
        cancelled: bool = False,
    ) -> None:
        nonlocal active
        active -= 1
        node = nodes[step.index]
        if error is None:  # the common case, without finish's dispatch
            ok = state.complete(node, value, step.attempt, step.started, Clock.perf_counter())
        else:
            ok = state.finish(
                node, value, error, step.attempt, step.started, Clock.perf_counter(), tb, cancelled
            )
        if chains is not None:
            if ok:
                chains.ended(step.index)
            else:
                active -= chains.drop(step.index)
        for index in state.release(node, ok):
            push(index)
        for index in state.unpark(node):
            heapq.heappush(ready, index)

    def failed(step: _Active, error: BaseException, tb: str | None) -> None:
        nonlocal active
        if chains is not None:  # what was chained behind this attempt cannot run
            active -= chains.drop(step.index)
        delay = state.retry_delay(nodes[step.index], step.attempt, error)
        if delay is None:
            settle(step, None, error, tb)
            if state.stopping:
                stop()
        elif delay <= 0:
            launch(step)
        else:
            heapq.heappush(waiting, (Clock.perf_counter() + delay, next(tokens), step, error))

    def stop() -> None:
        # Queued attempts are cancelled; running ones are waited for; retries end now.
        nonlocal active
        if chains is not None:
            active -= chains.drop_all()
        for token in list(in_flight):
            if dispatcher.cancel(token):
                step = in_flight.pop(token)
                settle(step, None, CancelledError("the run stopped"), None, cancelled=True)
        while waiting:
            _, _, step, error = heapq.heappop(waiting)
            settle(step, None, error, None)

    while True:
        # Due retries first, then new steps; either may run inline and finish at
        # once, so whether anything is left to wait for is asked only after both.
        now = Clock.perf_counter()
        while waiting and waiting[0][0] <= now:
            launch(heapq.heappop(waiting)[2])
        while ready and active < limit and not state.stopping:
            index = heapq.heappop(ready)
            inputs = state.begin(nodes[index])
            if type(inputs) is not dict:
                if inputs is not Resolved.PARKED:
                    ok = inputs is Resolved.HIT
                    for released in state.release(nodes[index], ok):
                        push(released)
                continue
            active += 1
            launch(_Active(index, inputs, Clock.perf_counter()))
        if not in_flight and not waiting:
            break
        now = Clock.perf_counter()
        while deadlines and deadlines[0][1] not in in_flight:
            heapq.heappop(deadlines)  # that attempt already ended
        wake = min(
            deadlines[0][0] if deadlines else float("inf"),
            waiting[0][0] if waiting else float("inf"),
        )
        if adopted:
            got: tuple[int, Outcome] | None = adopted.popleft()
        else:
            got = dispatcher.next_done(None if wake == float("inf") else max(wake - now, 0.0))
        while got is not None:
            token, outcome = got
            finished = in_flight.pop(token, None)
            if finished is None:
                if chains is not None:
                    chains.hold(token, outcome)  # a chained attempt, ended before adoption
            else:
                if finished.attempt == 1 and outcome.started is not None:
                    finished.started = outcome.started  # when a worker took it up
                if outcome.usage is not None:  # from a worker process
                    outcome = state.absorb(nodes[finished.index], outcome)
                if outcome.error is None:
                    settle(finished, outcome.value, None, None)
                else:
                    failed(finished, outcome.error, outcome.traceback)
            # Take every attempt that has finished meanwhile before going round the
            # loop (deadlines, retries, refilling): one pass serves many completions.
            got = adopted.popleft() if adopted else dispatcher.next_done(0.0)
        now = Clock.perf_counter()
        while deadlines and deadlines[0][0] <= now:
            _, token = heapq.heappop(deadlines)
            expired = in_flight.pop(token, None)
            if expired is not None:
                dispatcher.abandon(token)  # on processes: its worker is terminated
                node = nodes[expired.index]
                failed(expired, state.timeout_error(node, expired.attempt), None)
    state.skip_unstarted()
