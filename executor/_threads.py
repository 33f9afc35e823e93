"""The ``"threaded"`` executor: the engine's own thread pool and its dispatcher.

``concurrent.futures.ThreadPoolExecutor`` makes a Future, a lock and a callback
per task; for short steps that bookkeeping is most of the cost. Here a task is a
tuple on a queue and its outcome a tuple on the submitting scheduler's queue.
Workers are daemon threads, so a timed-out step that never returns does not keep
the interpreter from exiting. The ``"async"`` driver sends sync steps to the same
pool through a :class:`LoopHandoff`.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from executor._clock import Clock
from executor._errors import hide_engine_frame
from executor._executors import Chainer, Outcome, Task, attempt

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these


class Claimant(Protocol):
    """Whoever submitted a job: asked before it runs, told how it ended."""

    def claim(self, token: int) -> bool:
        """Whether the job ``token`` should still run (it was not cancelled)."""

    def report(self, token: int, outcome: Outcome) -> None:
        """The job ``token`` ended with ``outcome`` (called in the worker thread)."""


_Job = tuple[Claimant, int, Callable[[], Any]]


class WorkerPool:
    """``size`` daemon threads running jobs from one queue, started on first use."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def put(self, job: _Job) -> None:
        if len(self._threads) < self.size:
            self._grow()
        self._jobs.put(job)

    def _grow(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the run's thread pool is closed")
            while len(self._threads) < self.size:
                worker = threading.Thread(
                    target=self._work, name=f"flowexec-{len(self._threads)}", daemon=True
                )
                worker.start()
                self._threads.append(worker)

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is None:
                return
            dispatcher, token, call = job
            if dispatcher.claim(token):
                started = Clock.perf_counter()
                outcome = attempt(call)
                outcome.started = started
                dispatcher.report(token, outcome)

    def close(self) -> None:
        """Stop the workers once the jobs queued so far are done (without waiting)."""
        with self._lock:
            self._closed = True
            for _ in self._threads:
                self._jobs.put(None)


class ThreadDispatcher:
    """A scheduler's window onto the run's :class:`WorkerPool`."""

    runs_lone_steps_inline = True
    chainer: Chainer | None = None

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool
        self.capacity: int | None = pool.size
        self._done: queue.SimpleQueue[tuple[int, Outcome]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started: set[int] = set()
        self._cancelled: set[int] = set()

    def submit(self, token: int, task: Task) -> None:
        self._pool.put((self, token, task))

    def submit_thread(self, token: int, address: str, call: Callable[[], Any]) -> None:
        def run() -> None:
            self.report(token, attempt(call))

        self._started.add(token)
        threading.Thread(target=run, name=f"flowexec {address}", daemon=True).start()

    def claim(self, token: int) -> bool:
        """A worker is about to run ``token``: whether it still should (not cancelled).

        Lock-free unless something was cancelled here (set.add and truth tests are
        atomic under the GIL); with a cancellation about, the lock orders it against
        :meth:`cancel`, so a task either runs or is reported cancelled, never both.
        """
        if not self._cancelled:
            self._started.add(token)
            if not self._cancelled:
                return True
        with self._lock:
            if token in self._cancelled:
                self._cancelled.discard(token)
                self._started.discard(token)
                return False
            self._started.add(token)
            return True

    def report(self, token: int, outcome: Outcome) -> None:
        self._done.put((token, outcome))

    def next_done(self, timeout: float | None) -> tuple[int, Outcome] | None:
        try:
            done = self._done.get(timeout=timeout)
        except queue.Empty:
            return None
        # Started until the scheduler has its outcome: a task that has ended but is
        # not taken yet must not be "cancelled" (it ran; its outcome would be lost).
        self._started.discard(done[0])
        return done

    def cancel(self, token: int) -> bool:
        with self._lock:
            self._cancelled.add(token)  # announce first: a worker's fast path re-checks
            if token in self._started:
                self._cancelled.discard(token)
                return False
            return True

    def abandon(self, token: int) -> None:
        self.cancel(token)  # a running thread cannot be stopped: it ends unobserved

    def close(self) -> None:
        pass  # the pool belongs to the run, which closes it


class LoopHandoff:
    """Runs sync attempts on a :class:`WorkerPool` for code on an event loop.

    ``loop.run_in_executor`` would need a ``ThreadPoolExecutor``, whose threads the
    interpreter joins at exit: one timed-out step that never returns would keep the
    process alive after its main thread ended. The pool's daemon workers do not;
    each outcome comes back to the waiting loop with ``call_soon_threadsafe``.
    """

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self._tokens = itertools.count()
        self._waiting: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Outcome]]] = {}

    def run(self, call: Callable[[], Any]) -> asyncio.Future[Outcome]:
        """Start ``call`` on a worker; the future gets its outcome. Cancelling the
        future before a worker takes the call up means it never runs."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        token = next(self._tokens)
        self._waiting[token] = (loop, future)
        future.add_done_callback(lambda _: self._waiting.pop(token, None))
        self.pool.put((self, token, call))
        return future

    def claim(self, token: int) -> bool:
        return token in self._waiting

    def report(self, token: int, outcome: Outcome) -> None:
        entry = self._waiting.get(token)
        if entry is not None:
            loop, future = entry
            try:
                loop.call_soon_threadsafe(_settle, future, outcome)
            except RuntimeError:  # the loop closed meanwhile: nobody is waiting
                pass


def _settle(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not future.done():
        future.set_result(outcome)
