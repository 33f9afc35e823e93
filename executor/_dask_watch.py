"""Whether the Dask tasks a run waits for can still end (``executor="dask"``).

A Dask future reports its end through a callback. When that callback never comes,
a run would wait for it forever: the cluster lost every worker, its scheduler
stopped answering, or the client's connection to the scheduler stalled. The last
one is not hypothetical: when time is frozen (freezegun) in a process that hosts a
Dask client, a Dask comm that sends while the clock is frozen waits for a timer set
on the frozen clock, which the real clock never reaches; from then on the
scheduler's messages no longer arrive, although the scheduler itself has the
results.

So while attempts are out and no outcome has come in for ``DaskTimeouts.check_every``
seconds, the dispatcher asks the scheduler, over a connection of its own and with a bound on the
wait kept in the calling thread, what it knows of them (:meth:`Watch.dead`). A
task counts as unable to end only on evidence, never for taking long (a step that
runs for an hour is "processing" all along; step timeouts bound that), and the
evidence must last a grace period, since Dask's messages cross in flight.

Every other wait on the cluster is bounded here too, in the calling thread:
connecting to a scheduler (:func:`within`), counting its threads (:func:`count_threads`),
and closing what the run opened (:func:`close_within`). The bounds are the run's
:class:`DaskTimeouts` (``dask_timeouts=``), not constants: an adaptive cluster that
scales up from zero may need minutes before its first worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import threading
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, fields
from typing import Any

from executor._clock import Clock
from executor._errors import FlowDefinitionError


@dataclass(frozen=True, kw_only=True)
class DaskTimeouts:
    """How long a run on Dask waits for its cluster before it stops waiting.

    Give it per run as ``dask_timeouts=`` (``flow.run``, ``ExecutorCore``, also with
    ``client.get_executor()`` as the executor); the defaults suit a cluster whose
    workers are up. An adaptive cluster that scales up from zero workers may need a
    longer ``no_workers``::

        flow.run(executor="dask", dask_timeouts=DaskTimeouts(no_workers=600))

    Every value is a number of seconds, finite and above zero.
    """

    check_every: float = 2.0
    """Seconds without any outcome before the scheduler is asked what it knows of
    the tasks out, and between two questions while that lasts."""
    grace: float = 20.0
    """Seconds a task may stay done on the scheduler (or unknown to it, or released)
    while its outcome has not reached this client."""
    no_workers: float = 60.0
    """Seconds a cluster may have no running worker while tasks wait (a nanny
    restarts a dead worker in a few seconds; an adaptive cluster may take longer)."""
    answer: float = 30.0
    """Seconds the scheduler has for each exchange: one question, connecting to it,
    counting its worker threads, closing the run's own client and cluster."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value <= 0
            ):
                raise FlowDefinitionError(
                    f"DaskTimeouts({field.name}={value!r}): {field.name} must be a finite "
                    f"number of seconds above 0, e.g. DaskTimeouts({field.name}="
                    f"{field.default!r})"
                )


DEFAULT_TIMEOUTS = DaskTimeouts()


class Unanswered(Exception):
    """The cluster did not do what the run asked of it in time (or failed to): the
    dispatcher reports it as a :class:`~executor.ClusterError` of each attempt that
    needed it, with this ``problem`` and ``fix``."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def __reduce__(self) -> tuple[type[Unanswered], tuple[str, str]]:
        return (Unanswered, (self.problem, self.fix))


UNREACHABLE_FIX = "Check that the scheduler is running and reachable from this process"


WAITING = frozenset({"waiting", "processing", "queued", "no-worker"})
"""Scheduler states of a task that will still end and be reported."""

STALLED_FIX = (
    "The client's connection to the Dask scheduler has stalled. If a test freezes time "
    "in this process (freezegun), freeze it with ignore=['distributed.', 'tornado.'] so "
    "Dask keeps real time; otherwise see the scheduler's log"
)


class Watch:
    """What the scheduler knows of one dispatcher's tasks, and since when."""

    def __init__(self, client: Callable[[], Any], timeouts: DaskTimeouts) -> None:
        self._client = client
        """The run's client; called only when tasks are out, so it is connected."""
        self._timeouts = timeouts
        self._checked = Clock.monotonic()
        self._suspect: dict[str, float] = {}
        """Key -> when the scheduler was first seen with it done, unknown or released."""
        self._no_workers: float | None = None
        """When the cluster was first seen without a running worker."""

    def due(self) -> float:
        """Seconds until the next check (0: now)."""
        return max(self._checked + self._timeouts.check_every - Clock.monotonic(), 0.0)

    def heard(self) -> None:
        """An outcome came in: the cluster is alive, the next check can wait. A busy
        run never asks; a quiet one asks every ``check_every`` seconds."""
        self._checked = Clock.monotonic()

    def forget(self, key: str) -> None:
        """``key``'s outcome arrived (or was given up): nothing to watch any more."""
        self._suspect.pop(key, None)

    def dead(self, keys: list[str]) -> dict[str, tuple[str, str]]:
        """The keys among ``keys`` whose tasks cannot end: ``key -> (problem, fix)``."""
        now = self._checked = Clock.monotonic()
        if not keys:  # nothing out: nothing to ask, and no worker is missed
            self._no_workers = None
            return {}
        timeouts = self._timeouts
        client = self._client()
        address = scheduler_address(client)
        try:
            states, workers = ask(client, self._questions(client, keys), timeouts.answer)
        except concurrent.futures.TimeoutError:
            problem = f"the Dask scheduler at {address} did not answer within {timeouts.answer:g} s"
            return dict.fromkeys(keys, (problem, UNREACHABLE_FIX))
        except Exception as error:
            kind = type(error).__name__
            problem = f"the Dask scheduler at {address} cannot be asked ({kind}: {error})"
            fix = "Check that the scheduler is running and the client is open"
            return dict.fromkeys(keys, (problem, fix))
        if workers:
            self._no_workers = None
        else:
            since = self._no_workers = self._no_workers or now
            if now - since >= timeouts.no_workers:
                problem = f"the cluster has had no running worker for {now - since:.0f} s"
                fix = (
                    f"Start workers for the scheduler at {address}, or use a cluster that "
                    f"has workers (an adaptive cluster slow to scale up: give the run "
                    f"dask_timeouts=DaskTimeouts(no_workers=...) above "
                    f"{timeouts.no_workers:g} s)"
                )
                return dict.fromkeys(keys, (problem, fix))
        dead = {}
        grace = timeouts.grace
        for key in keys:
            state = states.get(key)
            if state in WAITING:
                self._suspect.pop(key, None)
                continue
            if now - self._suspect.setdefault(key, now) < grace:
                continue
            if state in ("memory", "erred"):
                problem = (
                    f"the scheduler has had its outcome ({state}) for {grace:g} s, but it "
                    f"never reached this client"
                )
            elif state is None or state == "forgotten":
                problem = f"the scheduler has not known the task for {grace:g} s"
            else:
                problem = f"the task has been {state} on the scheduler for {grace:g} s"
            dead[key] = (problem, STALLED_FIX)
        return dead

    @staticmethod
    async def _questions(
        client: Any, keys: list[str]
    ) -> tuple[dict[str, str | None], dict[str, int]]:
        states = await client.scheduler.get_task_status(keys=keys)
        workers = await client.scheduler.ncores_running()
        return states, workers


def scheduler_address(client: Any) -> str:
    """The address of ``client``'s scheduler, for messages."""
    return str(getattr(client.scheduler, "address", "?"))


def ask(client: Any, question: Coroutine[Any, Any, Any], seconds: float) -> Any:
    """The answer to ``question``, asked on the client's event loop and waited for
    here, so the bound holds even when that loop's own timers are broken.

    Raises:
        concurrent.futures.TimeoutError: no answer within ``seconds``.
    """
    future = asyncio.run_coroutine_threadsafe(question, client.loop.asyncio_loop)
    try:
        return future.result(timeout=seconds)
    finally:
        future.cancel()


def count_threads(client: Any, seconds: float) -> int:
    """The cluster's worker threads (at least 1), asked within ``seconds``.

    Raises:
        Unanswered: the scheduler did not answer in time, or could not be asked.
    """
    address = scheduler_address(client)
    what = f"counting the worker threads of the Dask scheduler at {address}"
    try:
        workers = ask(client, client.scheduler.ncores(), seconds)
    except concurrent.futures.TimeoutError:
        raise Unanswered(f"{what}: no answer within {seconds:g} s", UNREACHABLE_FIX) from None
    except Exception as error:
        problem = f"{what} failed ({type(error).__name__}: {error})"
        raise Unanswered(problem, UNREACHABLE_FIX) from error
    return max(int(sum(workers.values())), 1)


def within(seconds: float, what: str, fix: str, make: Callable[[], Any]) -> Any:
    """``make()``'s value, made on a thread of its own and waited for here at most
    ``seconds`` (``distributed.Client(address)`` can wait far longer than its own
    ``timeout`` for a scheduler that accepts connections and never answers).

    A value made after the wait ended is closed, if it can be: nobody uses it.

    Raises:
        Unanswered: ``make`` failed, or took longer than ``seconds``.
    """
    made: list[Any] = []
    failed: list[BaseException] = []
    lock = threading.Lock()
    late = False

    def run() -> None:
        try:
            value = make()
        except BaseException as error:  # reported in the caller's thread
            failed.append(error)
            return
        with lock:
            if not late:
                made.append(value)
                return
        with contextlib.suppress(Exception):
            value.close()

    thread = threading.Thread(target=run, name=f"flowexec {what}", daemon=True)
    thread.start()
    thread.join(seconds)
    with lock:
        if made:
            return made[0]
        if thread.is_alive():
            late = True
            raise Unanswered(f"{what} took longer than {seconds:g} s", fix)
    error = failed[0]
    raise Unanswered(f"{what} failed ({type(error).__name__}: {error})", fix) from error


def close_within(seconds: float, what: str, closable: Any) -> None:
    """Close ``closable`` (a Dask client or cluster), waiting for it at most
    ``seconds`` here; if it does not close in time (a scheduler that no longer
    answers), say so in a warning and go on: the run's result is kept. The close
    goes on, on a daemon thread, which never holds up the end of the process."""
    failed: list[BaseException] = []

    def close() -> None:
        try:
            closable.close(timeout=seconds)  # Dask's own bound, where it holds
        except Exception as error:
            failed.append(error)

    thread = threading.Thread(target=close, name=f"flowexec closing {what}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        problem = f"did not close within {seconds:g} s"
    elif failed:
        problem = f"did not close ({type(failed[0]).__name__}: {failed[0]})"
    else:
        return
    warnings.warn(
        f"flowexec: {what} {problem}; the run's result is complete. Check that the "
        f"scheduler is running, or stop what is left of the cluster yourself; to wait "
        f"longer, give the run dask_timeouts=DaskTimeouts(answer=...)",
        RuntimeWarning,
        stacklevel=3,
    )


def cancel_soon(client: Any, futures: list[Any]) -> None:
    """Ask the scheduler to cancel ``futures`` without waiting for its answer: a
    scheduler that no longer answers must not hold up the end of a run."""
    if futures:
        coroutine = client.cancel(futures, asynchronous=True)
        asyncio.run_coroutine_threadsafe(coroutine, client.loop.asyncio_loop)
