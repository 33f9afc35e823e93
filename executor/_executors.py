"""Where step attempts run: inline, on threads, on processes, or on any Executor.

The concurrent synchronous scheduler (``_scheduler``) talks to one
:class:`Dispatcher`: it submits an attempt under a token and later receives
``(token, Outcome)`` in completion order. ``"sequential"`` needs no dispatcher
(``_sequential``); ``"async"`` has its own scheduler on one event loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import multiprocessing
import os
import pickle
import queue
import threading
import traceback
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import (
    CancelledError,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from typing import Any, Protocol

from executor._errors import FlowDefinitionError, RemoteStepError, StepNotPicklable
from executor._step import Step

EXECUTOR_NAMES = ("sequential", "threaded", "async", "parallel")

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
    """How one attempt ended: a value, or an error with its traceback text."""

    __slots__ = ("error", "traceback", "value")

    def __init__(
        self, value: Any = None, error: BaseException | None = None, tb: str | None = None
    ) -> None:
        self.value = value
        self.error = error
        self.traceback = tb


def run_coroutine(awaitable: Awaitable[Any]) -> Any:
    """Run an awaitable to completion from synchronous code, in any thread."""

    async def wait() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    # Called from inside a running loop (e.g. a sync run started by async code):
    # a loop cannot nest, so the coroutine gets a thread and a loop of its own.
    box: list[Outcome] = []
    worker = threading.Thread(target=lambda: box.append(attempt(lambda: asyncio.run(wait()))))
    worker.start()
    worker.join()
    if box[0].error is not None:
        raise box[0].error
    return box[0].value


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

    def submit(self, token: int, address: str, call: Callable[[], Any], timed: bool) -> None:
        """Start ``call`` under ``token``; ``timed`` says the scheduler may abandon it."""

    def next_done(self, timeout: float | None) -> tuple[int, Outcome] | None:
        """The next finished attempt, waiting at most ``timeout`` s (``None``: forever)."""

    def cancel(self, token: int) -> bool:
        """Cancel an attempt that has not started; ``True`` if it never will."""

    def close(self) -> None:
        """Release workers; attempts still running are left to finish on their own."""


class FuturesDispatcher:
    """Any ``concurrent.futures.Executor``: threads, processes, or the user's own.

    For a process pool, each call is pickled here, in the parent, and its result
    in the child, so that a value that cannot cross the process line is reported
    precisely (:class:`StepNotPicklable`) instead of as a broken pool.
    """

    def __init__(self, executor: Executor, *, owned: bool) -> None:
        self._executor = executor
        self._owned = owned
        self._pickled = isinstance(executor, ProcessPoolExecutor)
        self.runs_lone_steps_inline = owned and isinstance(executor, ThreadPoolExecutor)
        self._futures: dict[int, Future[Any]] = {}
        self._done: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._addresses: dict[int, str] = {}

    def submit(self, token: int, address: str, call: Callable[[], Any], timed: bool) -> None:
        if self._pickled:
            try:
                payload = pickle.dumps(call)
            except Exception as error:
                self._futures[token] = failed_future(
                    StepNotPicklable(address, "function, inputs or context", error)
                )
                self._done.put(token)
                return
            self._addresses[token] = address
            future = self._executor.submit(run_pickled, payload)
        else:
            future = self._executor.submit(call)
        self._futures[token] = future
        done = self._done

        def report(_: Future[Any]) -> None:
            done.put(token)

        future.add_done_callback(report)

    def next_done(self, timeout: float | None) -> tuple[int, Outcome] | None:
        try:
            token = self._done.get(timeout=timeout)
        except queue.Empty:
            return None
        future = self._futures.pop(token)
        address = self._addresses.pop(token, None)
        try:
            value = future.result()
        except CancelledError as error:
            return token, Outcome(None, error)
        except Exception as error:
            return token, Outcome(None, error)
        if address is None:
            return token, Outcome(value)
        return token, unpickle_outcome(address, value)

    def cancel(self, token: int) -> bool:
        future = self._futures.get(token)
        return future is not None and future.cancel()

    def close(self) -> None:
        if self._owned:
            self._executor.shutdown(wait=False, cancel_futures=True)


def failed_future(error: BaseException) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_exception(error)
    return future


def run_pickled(payload: bytes) -> bytes:
    """In a worker process: run a pickled call; return its pickled outcome."""
    call: Callable[[], Any] = pickle.loads(payload)
    try:
        value = call()
    except Exception as error:
        tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        try:
            data = pickle.dumps((False, error, tb))
            pickle.loads(data)  # some exceptions pickle but cannot be rebuilt
            return data
        except Exception:
            remote = RemoteStepError(
                f"{type(error).__module__}.{type(error).__qualname__}", str(error), tb
            )
            return pickle.dumps((False, remote, tb))
    try:
        return pickle.dumps((True, value, None))
    except Exception as error:
        return pickle.dumps((False, f"{type(error).__name__}: {error}", None))


def unpickle_outcome(address: str, data: bytes) -> Outcome:
    ok, value, tb = pickle.loads(data)
    if ok:
        return Outcome(value)
    if isinstance(value, str):  # the output itself could not be pickled in the child
        return Outcome(None, StepNotPicklable(address, "output", RuntimeError(value)))
    return Outcome(None, value, tb)


@functools.cache
def default_width(executor: str) -> int:
    """How many steps run at once when ``max_concurrency`` is not given."""
    cpus = os.cpu_count() or 1  # ~10 us a call on Linux: hence the cache
    if executor == "sequential":
        return 1
    if executor == "parallel":
        return cpus
    return min(32, cpus + 4)


def make_dispatcher(executor: str | Executor, width: int) -> Dispatcher:
    """The dispatcher for ``"threaded"``, ``"parallel"`` or an Executor instance."""
    if isinstance(executor, Executor):
        return FuturesDispatcher(executor, owned=False)
    if executor == "threaded":
        return FuturesDispatcher(
            ThreadPoolExecutor(max_workers=width, thread_name_prefix="flowexec"), owned=True
        )
    if executor == "parallel":
        # spawn: the same behaviour on every platform, and safe in a threaded parent.
        context = multiprocessing.get_context("spawn")
        return FuturesDispatcher(
            ProcessPoolExecutor(max_workers=width, mp_context=context), owned=True
        )
    raise FlowDefinitionError(unknown_executor(executor))


def unknown_executor(executor: object) -> str:
    return (
        f"unknown executor {executor!r}; use one of {', '.join(map(repr, EXECUTOR_NAMES))} "
        f"or a concurrent.futures.Executor instance"
    )


def bind_call(
    step_executor: StepExecutor, step: Step[..., Any], inputs: Mapping[str, Any], context: Any
) -> Callable[[], Any]:
    """A picklable zero-argument call performing one attempt."""
    return functools.partial(invoke, step_executor, step, inputs, context)
