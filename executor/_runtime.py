"""What every level of one run shares, and how composites ask for nested runs.

A composite step (parallel, map_over, when, loop, a sub-flow) is a program: a
generator that yields :class:`SubRun` requests and receives :class:`SubRunResult`
answers. Whichever driver runs the composite fulfils each request with a nested
run at a longer address, through the same pipeline: so caching, limits, hooks and
(later) checkpoints apply inside composites as everywhere else.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from executor._errors import Pause, ReplayMismatch, hide_engine_frame
from executor._executors import (
    Dispatcher,
    FuturesDispatcher,
    StepExecutor,
    default_width,
    make_pool,
)
from executor._hooks import HookRelay
from executor._limits import UsageLimitExceeded, UsageMeter
from executor._plan import Plan
from executor._recorder import Recorder
from executor._results import StepResult, StepStatus
from executor._run_cache import RunCache
from executor._threads import LoopHandoff, ThreadDispatcher, WorkerPool

if TYPE_CHECKING:
    from executor._dask import DaskSession
    from executor._step import Step

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these

OnFailure = Literal["stop", "continue"]
_FAILED = StepStatus.FAILED
_STOPS = (Pause, UsageLimitExceeded, ReplayMismatch)
_TIMED_OUT = StepStatus.TIMED_OUT


@dataclass
class SubRun:
    """A composite's request: run ``plan`` nested under the composite."""

    plan: Plan
    inputs: Mapping[str, Any]
    context: Any
    prefix: str
    """Address prefix of the nested nodes, e.g. ``"f/fetch"`` (then labels ``[0]``...)."""
    order: tuple[int, ...] = ()
    """Where the nested results sort: the composite's own key plus a sub-index
    (a loop's iteration), so they follow the composite in a stable order."""
    on_failure: OnFailure = "stop"
    node_contexts: list[Any] | None = None
    """A context per node (parallel branches' isolated copies)."""
    executor: str | Executor | None = None
    """Run the nested nodes on another executor (``map_over(map_executor=...)``)."""
    width: int | None = None
    """At most this many nested nodes at once."""


@dataclass
class SubRunResult:
    """What a nested run did, node by node in plan order."""

    results: list[StepResult]
    values: list[Any]

    @property
    def stop(self) -> BaseException | None:
        """A nested step's signal to stop the whole run (a Pause, a usage limit, a
        strict replay mismatch): a composite passes it on as it is."""
        for result in self.results:
            if isinstance(result.exception, _STOPS):
                return result.exception
        return None

    @property
    def failure(self) -> StepResult | None:
        """The first node (in plan order) that failed or timed out, if any."""
        for result in self.results:
            if result.status is _FAILED or result.status is _TIMED_OUT:
                return result
        return None


Program = Generator[SubRun, SubRunResult, Any]
"""A composite's body: yields nested runs, returns the composite's output."""


class Runtime:
    """The parts of one run that every nesting level and thread shares."""

    def __init__(
        self,
        *,
        step_executor: StepExecutor,
        hooks: HookRelay,
        cache: RunCache,
        meter: UsageMeter,
        seed: int,
        executor: str | Executor,
        width: int,
        max_concurrency: int | None,
        run_composite: Callable[[Runtime, Program], Any],
        arun_composite: Callable[[Runtime, Program], Awaitable[Any]],
        recorder: Recorder | None = None,
        dask: DaskSession | None = None,
    ) -> None:
        self.step_executor = step_executor
        self.hooks = hooks
        self.step_hooks = hooks.has_step_hooks
        self.cache = cache
        self.meter = meter
        self.seed = seed
        self.executor = executor
        self.width = width
        self.max_concurrency = max_concurrency
        self.recorder = recorder
        self.dask = dask
        """The run's Dask client (``executor="dask"``), connected on first use."""
        self._run_composite = run_composite
        self._arun_composite = arun_composite
        self._lock = threading.Lock()
        self._pools: dict[str, Executor] = {}
        self._capacities: dict[str, int] = {}
        self._workers: WorkerPool | None = None
        self._handoff: LoopHandoff | None = None
        self._nested: list[tuple[tuple[int, ...], StepResult]] = []
        self._nested_calls = 0

    # -- composites ----------------------------------------------------------------

    def run_composite(
        self,
        step: Step[..., Any],
        inputs: dict[str, Any],
        context: Any,
        address: str,
        order: tuple[int, ...],
    ) -> Any:
        """Run a composite step from synchronous code; returns its output."""
        return self._run_composite(self, step.program(inputs, context, address, order))

    async def arun_composite(
        self,
        step: Step[..., Any],
        inputs: dict[str, Any],
        context: Any,
        address: str,
        order: tuple[int, ...],
    ) -> Any:
        """Run a composite step on the event loop; returns its output."""
        return await self._arun_composite(self, step.program(inputs, context, address, order))

    # -- executors -----------------------------------------------------------------

    def pool(self, executor: str | Executor) -> Executor:
        """The shared pool for ``executor`` (created on first use, closed with the run)."""
        if isinstance(executor, Executor):
            return executor
        with self._lock:
            found = self._pools.get(executor)
            if found is None:
                width = self.max_concurrency or default_width(executor)
                found = self._pools[executor] = make_pool(executor, width)
                self._capacities[executor] = width
            return found

    def dispatcher(self, executor: str | Executor) -> Dispatcher:
        """A dispatcher over the run's shared pool for ``executor`` (one per nesting
        level): the engine's own worker threads for ``"threaded"``, futures otherwise."""
        if executor == "dask":
            from executor._dask import DaskDispatcher  # only runs on Dask import it

            with self._lock:
                if self.dask is None:  # map_over(map_executor="dask") in another run
                    from executor._dask import DaskSession

                    self.dask = DaskSession()
                session = self.dask
            return DaskDispatcher(session)
        if executor == "threaded":
            return ThreadDispatcher(self.workers())
        if isinstance(executor, Executor):
            from executor._dask import DaskDispatcher, is_dask_executor, session_of_executor

            if executor is self.executor and self.dask is not None:  # get_executor()
                return DaskDispatcher(self.dask)

            given = session_of_executor(executor) if is_dask_executor(executor) else None
            if given is not None:
                return DaskDispatcher(given)
        pool = self.pool(executor)
        capacity = None if isinstance(executor, Executor) else self._capacities[executor]
        return FuturesDispatcher(pool, owned=False, capacity=capacity)

    def workers(self) -> WorkerPool:
        """The run's own worker threads (daemons), ``max_concurrency`` of them (by
        default as many as ``"threaded"`` runs at once), started on first use."""
        with self._lock:
            if self._workers is None:
                self._workers = WorkerPool(self.max_concurrency or default_width("threaded"))
            return self._workers

    def threads(self) -> LoopHandoff:
        """Where sync steps run on ``"async"``: the run's worker threads."""
        workers = self.workers()
        with self._lock:
            if self._handoff is None:
                self._handoff = LoopHandoff(workers)
            return self._handoff

    def close(self) -> None:
        """Release the pools; attempts still running are left to finish on their own.

        A timed-out sync attempt keeps its thread until it returns (threads cannot
        be killed), so pools are shut down without waiting.
        """
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
            workers, self._workers = self._workers, None
            self._handoff = None
        if workers is not None:
            workers.close()
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        if self.dask is not None:
            self.dask.close()

    # -- results of nested runs ------------------------------------------------------

    def add_nested(self, entries: Sequence[tuple[tuple[int, ...], StepResult]], calls: int) -> None:
        """Record the results of a nested run (sorted into place at the end) and the
        step calls it started."""
        with self._lock:
            self._nested.extend(entries)
            self._nested_calls += calls

    def nested_calls(self) -> int:
        with self._lock:
            return self._nested_calls

    def nested(self) -> list[tuple[tuple[int, ...], StepResult]]:
        with self._lock:
            return list(self._nested)
