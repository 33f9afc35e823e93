"""The ``"sequential"`` driver: the plan's nodes, one after another, in this thread.

The plan is topologically sorted with ties broken by declaration order, so walking
it in order is exactly "lowest ready step first", the start order every other
driver uses too. With nothing else able to run, a retry wait is a sleep and a
timeout is a wait on a daemon thread (a stuck step never keeps the process alive).
"""

from __future__ import annotations

import threading
import time
from time import perf_counter
from typing import Any

from executor._executors import Outcome, attempt, bind_call, call_step, invoke
from executor._plan import PlanNode
from executor._run import RunState


def run_sequential(state: RunState) -> None:
    """Run every node of ``state`` in plan order."""
    results = state.results
    begin = state.begin
    complete = state.complete
    # The common case, a sync step without timeout run by the default step
    # executor, is called right here: one call, no retry loop unless it fails.
    default_executor = state.step_executor is call_step
    for node in state.nodes:
        if state.stopping:
            break
        if results[node.index] is not None:
            continue  # skipped: an upstream step did not complete
        inputs = begin(node)
        if type(inputs) is not dict:  # resolved without a call (a cache hit)
            if not state.ended_ok(node.index):
                state.release(node, False)
            continue
        step = node.step
        started = perf_counter()
        if default_executor and not step.is_async and step.timeout is None:
            try:
                value = step.fn(**inputs)
            except Exception as error:
                _retry_or_fail(state, node, inputs, started, error)
            else:
                if not complete(node, value, 1, started, perf_counter()):
                    state.release(node, False)
        else:
            _attempts(state, node, inputs, started, 0)
    state.skip_unstarted()


def _retry_or_fail(
    state: RunState, node: PlanNode, inputs: dict[str, Any], started: float, error: Exception
) -> None:
    delay = state.retry_delay(node, 1, error)
    if delay is None:
        state.finish(node, None, error, 1, started, perf_counter())
        state.release(node, False)
        return
    time.sleep(delay)
    _attempts(state, node, inputs, started, 1)


def _attempts(
    state: RunState, node: PlanNode, inputs: dict[str, Any], started: float, done: int
) -> None:
    """Attempts ``done + 1``, ``done + 2``, ... of ``node`` until one completes or
    the retry policy gives up."""
    step = node.step
    attempts = done
    while True:
        attempts += 1
        try:
            if step.timeout is None:
                value = invoke(state.step_executor, step, inputs, state.context)
            else:
                value = _with_timeout(state, node, inputs, attempts)
        except Exception as error:
            delay = state.retry_delay(node, attempts, error)
            if delay is None:
                state.finish(node, None, error, attempts, started, perf_counter())
                state.release(node, False)
                return
            time.sleep(delay)
        else:
            if not state.complete(node, value, attempts, started, perf_counter()):
                state.release(node, False)
            return


def _with_timeout(state: RunState, node: PlanNode, inputs: dict[str, Any], attempts: int) -> Any:
    timeout = node.step.timeout
    assert timeout is not None
    call = bind_call(state.step_executor, node.step, inputs, state.context)
    box: list[Outcome] = []
    done = threading.Event()

    def run() -> None:
        box.append(attempt(call))
        done.set()

    address = state.addresses[node.index]
    threading.Thread(target=run, name=f"flowexec {address}", daemon=True).start()
    if not done.wait(timeout):
        raise state.timeout_error(node, attempts)
    outcome = box[0]
    if outcome.error is not None:
        raise outcome.error
    return outcome.value
