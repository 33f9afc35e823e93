"""The ``"sequential"`` driver: the plan's nodes, one after another, in this thread.

The plan is topologically sorted with ties broken by declaration order, so walking
it in order is exactly "lowest ready step first", the start order every other
driver uses too. With nothing else able to run, a retry wait is a sleep and a
timeout is a wait on a daemon thread (a stuck step never keeps the process alive).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from executor._clock import Clock
from executor._errors import hide_engine_frame
from executor._executors import Outcome, attempt, call_step, invoke
from executor._limits import _SCOPE, Scope
from executor._plan import PlanNode
from executor._run import Resolved, RunState

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these

_FAILED = Resolved.FAILED  # enum member lookups cost ~0.1 us on 3.11


def run_sequential(state: RunState) -> None:
    """Run every node of ``state`` in plan order."""
    results = state.results
    begin = state.begin
    complete = state.complete
    addresses = state.addresses
    # The common case, a plain sync step run by the default step executor, is
    # called right here: one call, no retry loop unless it fails.
    default_executor = state.step_executor is call_step
    scope = Scope(state.meter, "")  # record_usage reports here; the address moves along
    token = _SCOPE.set(scope)
    try:
        for node in state.nodes:
            if state.stopping:
                break
            if results[node.index] is not None:
                continue  # skipped: an upstream step did not complete
            scope.address = addresses[node.index]
            inputs = begin(node)
            if type(inputs) is not dict:  # resolved without a call: a hit, or refused
                if inputs is _FAILED:
                    state.release(node, False)
                continue
            started = Clock.perf_counter()
            if default_executor and node.direct:
                try:
                    value = node.step.fn(**inputs)
                except Exception as error:
                    failure: Exception | None = error
                else:
                    failure = None
                    if not complete(node, value, 1, started, Clock.perf_counter()):
                        state.release(node, False)
                if failure is not None:  # retried outside the except: a later attempt's
                    # error is not chained to this one (a traceback would show it twice)
                    _retry_or_fail(state, node, inputs, started, failure)
            else:
                _attempts(state, node, inputs, started, 0)
    finally:
        _SCOPE.reset(token)
    state.skip_unstarted()


def _retry_or_fail(
    state: RunState, node: PlanNode, inputs: dict[str, Any], started: float, error: Exception
) -> None:
    delay = state.retry_delay(node, 1, error)
    if delay is None:
        state.finish(node, None, error, 1, started, Clock.perf_counter())
        state.release(node, False)
        return
    time.sleep(delay)
    _attempts(state, node, inputs, started, 1)


def _attempts(
    state: RunState, node: PlanNode, inputs: dict[str, Any], started: float, done: int
) -> None:
    """Attempts ``done + 1``, ``done + 2``, ... of ``node`` until one completes or
    the retry policy gives up."""
    call = _call_of(state, node, inputs)
    attempts = done
    while True:
        attempts += 1
        try:
            if node.step.timeout is None:
                value = call()
            else:
                value = _with_timeout(state, node, call, attempts)
        except Exception as error:
            delay = state.retry_delay(node, attempts, error)
            if delay is None:
                state.finish(node, None, error, attempts, started, Clock.perf_counter())
                state.release(node, False)
                return
            time.sleep(delay)
        else:
            if not state.complete(node, value, attempts, started, Clock.perf_counter()):
                state.release(node, False)
            return


def _call_of(state: RunState, node: PlanNode, inputs: dict[str, Any]) -> Callable[[], Any]:
    """One attempt of ``node`` as a call: a composite's nested run, or the step."""
    index = node.index
    context = state.context_of(index)
    if node.step.is_composite:
        return functools.partial(
            state.runtime.run_composite,
            node.step,
            inputs,
            context,
            state.addresses[index],
            (*state.order, index),
        )
    return functools.partial(invoke, state.step_executor, node.step, inputs, context)


def _with_timeout(state: RunState, node: PlanNode, call: Callable[[], Any], attempts: int) -> Any:
    timeout = node.step.timeout
    assert timeout is not None
    box: list[Outcome] = []
    done = threading.Event()
    address = state.addresses[node.index]
    # Its own scope: the run's moves on to the next step if this one times out.
    scope = Scope(state.meter, address)

    def run() -> None:
        _SCOPE.set(scope)  # a new thread starts with an empty context
        box.append(attempt(call))
        done.set()

    threading.Thread(target=run, name=f"flowexec {address}", daemon=True).start()
    if not done.wait(timeout):
        raise state.timeout_error(node, attempts)
    outcome = box[0]
    if outcome.error is not None:
        raise outcome.error
    return outcome.value
