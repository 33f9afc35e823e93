"""The engine's own process pool (``"parallel"``): one that can be replaced.

A thread cannot be stopped, but a process can: when a step running on a worker
process times out, the engine terminates the pool's workers and starts a new pool
for what follows, so a hung step neither holds a worker for the rest of the run
nor keeps the interpreter from exiting (``concurrent.futures`` joins its workers
at exit), and no worker outlives the run.

``ProcessPoolExecutor`` cannot terminate one worker alone: when one dies it
terminates the others and fails their calls with ``BrokenProcessPool``. So the
other attempts running at that moment are interrupted too; the dispatcher sends
them again to the new pool (see ``FuturesDispatcher``), where they start over
(not counted as a failed attempt: they did not fail).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

from executor._errors import hide_engine_frame

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these


class ProcessPool(Executor):
    """A ``spawn`` process pool ``width`` workers wide, replaced by :meth:`retire`."""

    def __init__(self, width: int) -> None:
        self.width = width
        self._lock = threading.Lock()
        self._pool = self._new_pool()
        self.generation = 0
        """How many times the pool was replaced; a call sent to an older pool and
        failed with ``BrokenProcessPool`` was interrupted by a replacement."""

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn: the same behaviour on every platform, and safe in a threaded parent.
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(max_workers=self.width, mp_context=context)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self.submit_counted(fn, *args, **kwargs)[0]

    def submit_counted(self, fn: Callable[..., Any], /, *args: Any) -> tuple[Future[Any], int]:
        """Submit to the current pool; returns the future and the pool's generation."""
        with self._lock:
            return self._pool.submit(fn, *args), self.generation

    def retire(self, generation: int) -> None:
        """Terminate the workers of pool ``generation`` (an abandoned attempt runs in
        one of them) and start a new pool, unless that pool was replaced already."""
        with self._lock:
            if generation != self.generation:
                return
            old = self._pool
            self._pool = self._new_pool()
            self.generation += 1
        _terminate(old)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            pool = self._pool
        pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Kill ``pool``'s workers now. Its manager thread sees them die, fails their
    calls with ``BrokenProcessPool`` and reaps them (no zombie, no orphan)."""
    # The workers are only reachable through this private attribute (CPython 3.8+);
    # there is no public way to stop a running call.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.kill()
    # Calls still queued there fail with BrokenProcessPool too (and are sent again):
    # cancel_futures would make them CancelledError, which means "the run stopped".
    pool.shutdown(wait=False)
