"""Whether the Dask tasks a run waits for can still end (``executor="dask"``).

A Dask future reports its end through a callback. When that callback never comes,
a run would wait for it forever: the cluster lost every worker, its scheduler
stopped answering, or the client's connection to the scheduler stalled. The last
one is not hypothetical: when time is frozen (freezegun) in a process that hosts a
Dask client, a Dask comm that sends while the clock is frozen waits for a timer set
on the frozen clock, which the real clock never reaches; from then on the
scheduler's messages no longer arrive, although the scheduler itself has the
results.

So while attempts are out and no outcome has come in for :data:`CHECK_EVERY`
seconds, the dispatcher asks the scheduler, over a connection of its own and with a bound on the
wait kept in the calling thread, what it knows of them (:meth:`Watch.dead`). A
task counts as unable to end only on evidence, never for taking long (a step that
runs for an hour is "processing" all along; step timeouts bound that), and the
evidence must last a grace period, since Dask's messages cross in flight.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

from executor._clock import Clock

CHECK_EVERY = 2.0
"""Seconds without any outcome before the scheduler is asked, and between two
questions while that lasts."""
GRACE = 20.0
"""Seconds a task may stay done on the scheduler (or unknown to it, or released)
while its outcome has not reached this client."""
NO_WORKERS_GRACE = 60.0
"""Seconds a cluster may have no running worker while tasks wait (a nanny restarts
a dead worker in a few seconds; an adaptive cluster may take longer to scale up)."""
ANSWER = 30.0
"""Seconds the scheduler has to answer one question."""

WAITING = frozenset({"waiting", "processing", "queued", "no-worker"})
"""Scheduler states of a task that will still end and be reported."""

STALLED_FIX = (
    "The client's connection to the Dask scheduler has stalled. If a test freezes time "
    "in this process (freezegun), freeze it with ignore=['distributed.', 'tornado.'] so "
    "Dask keeps real time; otherwise see the scheduler's log"
)


class Watch:
    """What the scheduler knows of one dispatcher's tasks, and since when."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._checked = Clock.monotonic()
        self._suspect: dict[str, float] = {}
        """Key -> when the scheduler was first seen with it done, unknown or released."""
        self._no_workers: float | None = None
        """When the cluster was first seen without a running worker."""

    def due(self) -> float:
        """Seconds until the next check (0: now)."""
        return max(self._checked + CHECK_EVERY - Clock.monotonic(), 0.0)

    def heard(self) -> None:
        """An outcome came in: the cluster is alive, the next check can wait. A busy
        run never asks; a quiet one asks every ``CHECK_EVERY`` seconds."""
        self._checked = Clock.monotonic()

    def forget(self, key: str) -> None:
        """``key``'s outcome arrived (or was given up): nothing to watch any more."""
        self._suspect.pop(key, None)

    def dead(self, keys: list[str]) -> dict[str, tuple[str, str]]:
        """The keys among ``keys`` whose tasks cannot end: ``key -> (problem, fix)``."""
        now = self._checked = Clock.monotonic()
        address = getattr(self._client.scheduler, "address", "?")
        try:
            states, workers = self._ask(keys)
        except concurrent.futures.TimeoutError:
            problem = f"the Dask scheduler at {address} did not answer within {ANSWER:g} s"
            fix = "Check that the scheduler is running and reachable from this process"
            return dict.fromkeys(keys, (problem, fix))
        except Exception as error:
            kind = type(error).__name__
            problem = f"the Dask scheduler at {address} cannot be asked ({kind}: {error})"
            fix = "Check that the scheduler is running and the client is open"
            return dict.fromkeys(keys, (problem, fix))
        if workers:
            self._no_workers = None
        else:
            since = self._no_workers = self._no_workers or now
            if now - since >= NO_WORKERS_GRACE:
                problem = f"the cluster has had no running worker for {now - since:.0f} s"
                fix = (
                    f"Start workers for the scheduler at {address}, "
                    "or use a cluster that has workers"
                )
                return dict.fromkeys(keys, (problem, fix))
        dead = {}
        for key in keys:
            state = states.get(key)
            if state in WAITING:
                self._suspect.pop(key, None)
                continue
            if now - self._suspect.setdefault(key, now) < GRACE:
                continue
            if state in ("memory", "erred"):
                problem = (
                    f"the scheduler has had its outcome ({state}) for {GRACE:g} s, but it "
                    f"never reached this client"
                )
            elif state is None or state == "forgotten":
                problem = f"the scheduler has not known the task for {GRACE:g} s"
            else:
                problem = f"the task has been {state} on the scheduler for {GRACE:g} s"
            dead[key] = (problem, STALLED_FIX)
        return dead

    def _ask(self, keys: list[str]) -> tuple[dict[str, str | None], dict[str, int]]:
        """The scheduler's state of each key and its running workers, asked on the
        client's event loop and waited for here, so the bound holds even when that
        loop's own timers are broken."""
        client = self._client

        async def ask() -> tuple[dict[str, str | None], dict[str, int]]:
            states = await client.scheduler.get_task_status(keys=keys)
            workers = await client.scheduler.ncores_running()
            return states, workers

        future = asyncio.run_coroutine_threadsafe(ask(), client.loop.asyncio_loop)
        try:
            return future.result(timeout=ANSWER)
        finally:
            future.cancel()


def cancel_soon(client: Any, futures: list[Any]) -> None:
    """Ask the scheduler to cancel ``futures`` without waiting for its answer: a
    scheduler that no longer answers must not hold up the end of a run."""
    if futures:
        coroutine = client.cancel(futures, asynchronous=True)
        asyncio.run_coroutine_threadsafe(coroutine, client.loop.asyncio_loop)
