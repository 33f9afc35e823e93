"""Where step attempts run: inline, on threads, on processes, on any Executor, on Dask.

The concurrent synchronous scheduler (``_scheduler``) talks to one
:class:`Dispatcher`: it submits an attempt under a token and later receives
``(token, Outcome)`` in completion order. ``"sequential"`` needs no dispatcher
(``_sequential``); ``"async"`` has its own scheduler on one event loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import pickle
import queue
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import (
    CancelledError,
    Executor,
    Future,
    ProcessPoolExecutor,
)
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from executor._errors import (
    FlowDefinitionError,
    RemoteStepError,
    StepNotPicklable,
    hide_engine_frame,
)
from executor._limits import _SCOPE, Collector, Scope, UsageMeter, scoped
from executor._processes import ProcessPool
from executor._step import Step

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these

EXECUTOR_NAMES = ("sequential", "threaded", "async", "parallel", "dask")

StepExecutor = Callable[[Step[..., Any], Mapping[str, Any], Any], Any]
"""``(step, inputs, context) -> output``: performs one leaf step. The seam for mocks."""


def call_step(step: Step[..., Any], inputs: Mapping[str, Any], context: Any) -> Any:
    """The default step executor: call the step's function with its inputs.

    ``inputs`` already holds the context under ``"context"`` when the step asks
    for it; the separate ``context`` argument is for step executors that want it.
    For an async step this returns the coroutine; the engine awaits it.
    """
    return step.fn(**inputs)


class Outcome:
    """How one attempt ended: a value, or an error with its traceback text. From a
    worker process it also brings back the usage the step reported and, for a step
    that takes the context, the context as the step left it."""

    __slots__ = ("context", "error", "started", "traceback", "usage", "value")

    def __init__(
        self, value: Any = None, error: BaseException | None = None, tb: str | None = None
    ) -> None:
        self.value = value
        self.error = error
        self.traceback = tb
        self.usage: dict[str, float] | None = None
        self.context: Any = None
        self.started: float | None = None
        """When a worker of the engine's pool took the attempt up (perf_counter)."""


class Task(Scope):
    """One attempt of one step, ready to run here or to be sent to a process. It is
    also the usage scope of its attempt (``address`` and ``meter``): one object less
    per call."""

    __slots__ = ("context", "inputs", "returns_context", "step", "step_executor")

    def __init__(
        self,
        address: str,
        step_executor: StepExecutor,
        step: Step[..., Any],
        inputs: Mapping[str, Any],
        context: Any,
        meter: UsageMeter,
        returns_context: bool,
    ) -> None:
        self.address = address
        self.step_executor = step_executor
        self.step = step
        self.inputs = inputs
        self.context = context
        self.meter = meter
        self.returns_context = returns_context

    def __call__(self) -> Any:
        """Run in this process: ``record_usage`` reports straight to the run's meter."""
        token = _SCOPE.set(self)
        try:
            out = self.step_executor(self.step, self.inputs, self.context)
            if self.step.is_async and inspect.isawaitable(out):
                return run_coroutine(out)
            return out
        finally:
            _SCOPE.reset(token)

    def payload(self) -> bytes:
        """The attempt pickled for a worker process (the meter stays here)."""
        return pickle.dumps(
            (
                self.address,
                self.step_executor,
                self.step,
                self.inputs,
                self.context if self.returns_context else None,
                self.returns_context,
            )
        )


def run_coroutine(awaitable: Awaitable[Any]) -> Any:
    """Run an awaitable to completion from synchronous code, in any thread.

    Its error is raised here with the awaitable's own frames: not from inside
    asyncio's loop, and not chained to the check for a running loop below (a
    step's traceback shows the step, not "RuntimeError: no running event loop").
    """

    async def wait() -> Outcome:
        try:
            return Outcome(await awaitable)
        except Exception as error:
            return Outcome(None, error)

    try:
        asyncio.get_running_loop()
        running = True
    except RuntimeError:
        running = False
    if not running:  # outside the except: code run there would chain to its error
        outcome = _run_on_new_loop(wait())
    else:
        # Called from inside a running loop (e.g. a sync run started by async code):
        # a loop cannot nest, so the coroutine gets a thread and a loop of its own.
        box: list[Outcome] = []
        worker = threading.Thread(
            target=lambda: box.append(attempt(lambda: _run_on_new_loop(wait())))
        )
        worker.start()
        worker.join()
        outcome = box[0] if box[0].error is not None else box[0].value
    if outcome.error is not None:
        raise outcome.error
    return outcome.value


def _run_on_new_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """``asyncio.run`` without its SIGINT handler: with that handler installed, every
    step of a run cost ~5x more (measured: 200-step chain on "async", 32 against
    6 us a step). Ctrl-C still ends the run: KeyboardInterrupt propagates from the
    loop, and the tasks left are cancelled and awaited here, as asyncio.run does."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        try:
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def invoke(
    step_executor: StepExecutor, step: Step[..., Any], inputs: Mapping[str, Any], context: Any
) -> Any:
    """One attempt of ``step``, from synchronous code: awaits async steps."""
    out = step_executor(step, inputs, context)
    if step.is_async and inspect.isawaitable(out):
        return run_coroutine(out)
    return out


def attempt(call: Callable[[], Any]) -> Outcome:
    """Run ``call`` and capture how it ended."""
    try:
        return Outcome(call())
    except Exception as error:
        return Outcome(None, error)


class Dispatcher(Protocol):
    """Runs attempts and hands back their outcomes in completion order."""

    runs_lone_steps_inline: bool
    """Whether a step that could not overlap anything may run in the scheduler's
    thread instead (true for the engine's own thread pool only: a process pool or
    a user's executor was chosen for where it runs code)."""
    capacity: int | None
    """How many attempts the executor runs at once, when known (the engine's own
    pools); ``None`` for an executor of the user's."""
    chainer: Chainer | None
    """Where a step may be submitted before its upstream steps end (Dask: their
    futures are its arguments); ``None``: every step is submitted once it is ready."""

    def submit(self, token: int, task: Task) -> None:
        """Start ``task`` under ``token``."""

    def submit_thread(self, token: int, address: str, call: Callable[[], Any]) -> None:
        """Run ``call`` on a thread of its own (a composite step coordinating nested
        work: it must not hold a pool worker while it waits for the pool)."""

    def next_done(self, timeout: float | None) -> tuple[int, Outcome] | None:
        """The next finished attempt, waiting at most ``timeout`` s (``None``: forever)."""

    def cancel(self, token: int) -> bool:
        """Cancel an attempt that has not started; ``True`` if it never will."""

    def abandon(self, token: int) -> None:
        """Give up on an attempt that ran out of time: cancel it, or stop it where
        it runs when the executor can (a process); its outcome is never reported."""

    def close(self) -> None:
        """Release workers; attempts still running are left to finish on their own."""


class Chainer(Protocol):
    """A dispatcher that can start an attempt behind attempts still running."""

    def submit_after(self, token: int, task: Task, upstream: list[tuple[str, int]]) -> None:
        """Start ``task`` under ``token`` once the attempts ``upstream`` names (its
        ``(parameter, token)`` pairs) have ended, their outputs as those parameters.
        ``task.inputs`` holds the other inputs. If an upstream attempt fails, the
        outcome reported for ``token`` is meaningless: the caller drops it."""

    def follows(self, token: int) -> bool:
        """Whether an attempt can be submitted behind ``token``'s (it has, or will
        have, a task of its own whose output can be named)."""

    def release(self, token: int) -> None:
        """The caller is done with ``token``'s attempt: nothing will be chained behind
        it any more (its outcome was taken, or it was dropped)."""


class FuturesDispatcher:
    """Any ``concurrent.futures.Executor``: threads, processes, or the user's own.

    For a process pool, each call is pickled here, in the parent, and its result
    in the child, so that a value that cannot cross the process line is reported
    precisely (:class:`StepNotPicklable`) instead of as a broken pool. On the
    engine's own pool (:class:`ProcessPool`) an abandoned attempt's process is
    terminated, and the calls that replacing the pool interrupted are sent again.
    """

    runs_lone_steps_inline = False  # a process pool or a user's executor: keep to it
    chainer: Chainer | None = None

    def __init__(self, executor: Executor, *, owned: bool, capacity: int | None = None) -> None:
        from executor._dask import is_dask_executor  # distributed is not imported

        self._executor = executor
        self._owned = owned
        self.capacity = capacity
        # Dask's client.get_executor() (when its client is not in view, so the run
        # cannot go to the Dask dispatcher) sends calls to other processes too. Dask
        # names a task by its arguments unless told it is impure: a retry, the same
        # payload again, would get the failed attempt's result back.
        dask = is_dask_executor(executor)
        self._pickled = dask or isinstance(executor, (ProcessPoolExecutor, ProcessPool))
        self._extra: dict[str, Any] = {"pure": False} if dask else {}
        self._processes = executor if isinstance(executor, ProcessPool) else None
        self._futures: dict[int, Future[Any]] = {}
        self._done: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._pickled_tasks: dict[int, Task] = {}
        self._generations: dict[int, int] = {}  # token -> the ProcessPool generation
        self._abandoned: set[int] = set()

    def submit(self, token: int, task: Task) -> None:
        if self._pickled:
            try:
                payload = task.payload()
            except Exception as error:
                what = "function, inputs or context"
                self._track(token, failed_future(StepNotPicklable(task.address, what, error)))
                return
            self._pickled_tasks[token] = task
            if self._processes is not None:
                future, self._generations[token] = self._processes.submit_counted(
                    run_pickled, payload
                )
                self._track(token, future)
            else:
                self._track(token, self._executor.submit(run_pickled, payload, **self._extra))
        else:
            self._track(token, self._executor.submit(task))

    def submit_thread(self, token: int, address: str, call: Callable[[], Any]) -> None:
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()

        def run() -> None:
            try:
                future.set_result(call())
            except BaseException as error:
                future.set_exception(error)

        self._track(token, future)
        threading.Thread(target=run, name=f"flowexec {address}", daemon=True).start()

    def _track(self, token: int, future: Future[Any]) -> None:
        self._futures[token] = future
        done = self._done

        def report(_: Future[Any]) -> None:
            done.put(token)

        future.add_done_callback(report)

    def next_done(self, timeout: float | None) -> tuple[int, Outcome] | None:
        due = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                left = None if due is None else max(due - time.monotonic(), 0.0)
                token = self._done.get(timeout=left)
            except queue.Empty:
                return None
            future = self._futures.pop(token)
            task = self._pickled_tasks.pop(token, None)
            generation = self._generations.pop(token, None)
            try:
                value = future.result()
            except CancelledError as error:
                return token, Outcome(None, error)
            except BrokenProcessPool as error:
                if token in self._abandoned:
                    self._abandoned.discard(token)
                    return token, Outcome(None, error)  # nobody waits for it any more
                if (
                    task is not None
                    and self._processes is not None
                    and generation is not None
                    and generation < self._processes.generation
                ):
                    self.submit(token, task)  # interrupted by a replacement: again
                    continue
                return token, Outcome(None, pool_broke(error))
            except Exception as error:
                return token, Outcome(None, error)
            self._abandoned.discard(token)
            if task is None:
                return token, Outcome(value)
            return token, unpickle_outcome(task.address, value, task.returns_context)

    def cancel(self, token: int) -> bool:
        future = self._futures.get(token)
        return future is not None and future.cancel()

    def abandon(self, token: int) -> None:
        if self.cancel(token):
            return
        generation = self._generations.get(token)
        if self._processes is not None and generation is not None:
            self._abandoned.add(token)
            self._processes.retire(generation)

    def close(self) -> None:
        if self._owned:
            self._executor.shutdown(wait=False, cancel_futures=True)


POOL_BROKE_CAUSES = (
    "a worker process ended before its step did. Likely causes: a script that runs "
    'processes without `if __name__ == "__main__":` around the run (each worker imports '
    "the script, so the run would start again inside it: put the run under that guard, "
    "see docs/usage.md, Executors); or a worker killed by the system (out of memory: "
    "lower max_concurrency or what a step holds at once) or by a signal"
)


def pool_broke(error: BrokenProcessPool) -> BrokenProcessPool:
    """``error`` with the likely causes said: Python's message names none of them."""
    explained = BrokenProcessPool(f"{str(error).rstrip('.')}: {POOL_BROKE_CAUSES}")
    explained.__cause__ = error.__cause__  # the worker's traceback, when Python has it
    return explained


def failed_future(error: BaseException) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_exception(error)
    return future


def run_pickled(payload: bytes) -> bytes:
    """In a worker process: run a pickled attempt; return its pickled outcome, with
    the usage it reported and (if the step takes it) the context it left."""
    return run_unpickled(*pickle.loads(payload))


def run_unpickled(
    address: str,
    step_executor: StepExecutor,
    step: Step[..., Any],
    inputs: Mapping[str, Any],
    context: Any,
    returns_context: bool,
) -> bytes:
    """In a worker process: run one attempt; return its pickled outcome."""
    if returns_context:  # the step's "context" input is this very object
        inputs = {**inputs, "context": context}
    collector = Collector()
    try:
        value = scoped(
            collector, address, functools.partial(invoke, step_executor, step, inputs, context)
        )
    except Exception as error:
        tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        _note_step_frames(error)
        try:
            data = pickle.dumps((False, error, tb, collector.amounts, None))
            pickle.loads(data)  # some exceptions pickle but cannot be rebuilt
            return data
        except Exception:
            kind = type(error)
            remote = RemoteStepError(f"{kind.__module__}.{kind.__qualname__}", str(error), tb)
            return pickle.dumps((False, remote, tb, collector.amounts, None))
    try:
        return pickle.dumps(
            (True, value, None, collector.amounts, context if returns_context else None)
        )
    except Exception as error:
        return pickle.dumps(
            (False, f"{type(error).__name__}: {error}", None, collector.amounts, None)
        )


def _note_step_frames(error: BaseException) -> None:
    """Add the step's own frames to ``error`` as a note (Python 3.11+): a traceback
    stays in the worker process, a note pickles with the error, so the parent's
    report (pytest's too) still shows the line of the step that raised."""
    add_note = getattr(error, "add_note", None)
    if add_note is None:
        return
    frames = [
        (frame, line)
        for frame, line in traceback.walk_tb(error.__traceback__)
        if frame.f_globals.get("__tracebackhide__") is not hide_engine_frame
    ]
    if frames:
        lines = traceback.StackSummary.extract(iter(frames)).format()
        add_note("In the worker process (most recent call last):\n" + "".join(lines).rstrip())


def unpickle_outcome(
    address: str, data: bytes, returns_context: bool, where: str = "a process executor"
) -> Outcome:
    ok, value, tb, usage, context = pickle.loads(data)
    if ok:
        outcome = Outcome(value)
        if returns_context:
            outcome.context = context
    elif isinstance(value, str):  # the output itself could not be pickled in the child
        error = StepNotPicklable(address, "output", RuntimeError(value), where)
        outcome = Outcome(None, error)
    else:
        outcome = Outcome(None, value, tb)
    outcome.usage = usage
    return outcome


@functools.cache
def default_width(executor: str) -> int:
    """How many steps run at once when ``max_concurrency`` is not given."""
    cpus = os.cpu_count() or 1  # ~10 us a call on Linux: hence the cache
    if executor == "sequential":
        return 1
    if executor == "parallel":
        return cpus
    return min(32, cpus + 4)


def run_width(executor: str | Executor, steps: int, max_concurrency: int | None) -> int:
    """How many steps of one plan may be active at once on ``executor``."""
    if max_concurrency is not None:
        return max_concurrency
    if isinstance(executor, Executor) or executor in ("async", "dask"):
        return max(steps, 1)  # the executor (or Dask's scheduler) places the work
    return default_width(executor)


def make_pool(executor: str, width: int) -> Executor:
    """A new process pool for ``"parallel"``, ``width`` workers wide (``"threaded"``
    has the engine's own worker pool, in ``_threads``)."""
    if executor == "parallel":
        return ProcessPool(width)
    raise FlowDefinitionError(unknown_executor(executor))


def unknown_executor(executor: object) -> str:
    return (
        f"unknown executor {executor!r}; use one of {', '.join(map(repr, EXECUTOR_NAMES))} "
        f"or a concurrent.futures.Executor instance"
    )
