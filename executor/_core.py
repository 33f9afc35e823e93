"""ExecutorCore: runs any flow on any executor through one step pipeline."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from time import perf_counter
from types import MappingProxyType
from typing import Any

from executor._async_scheduler import run_async
from executor._errors import FlowDefinitionError, StepFailed
from executor._executors import (
    EXECUTOR_NAMES,
    StepExecutor,
    call_step,
    default_width,
    make_dispatcher,
    run_coroutine,
    unknown_executor,
)
from executor._flow import Flow
from executor._hooks import HookRelay
from executor._results import FlowResult
from executor._run import ON_FAILURE_CHOICES, OnFailure, RunState
from executor._scheduler import run_sync
from executor._sequential import run_sequential
from executor.cache._backend import CacheBackend

__all__ = ["ExecutorCore", "OnFailure", "StepExecutor"]


class ExecutorCore:
    """Runs flows: the scheduler, the executor, the step pipeline and the hooks.

    ``Flow.run`` is sugar over this class; build one yourself to reuse an executor
    across runs or to inject a ``step_executor`` (how tests replace steps)::

        def fake(step, inputs, context):
            return {"fetch": [1, 2]}.get(step.name) or step.fn(**inputs)

        core = ExecutorCore(step_executor=fake, executor="threaded")
        result = core.run(flow, {"url": "x"})

    Args:
        step_executor: ``(step, inputs, context) -> output``; performs every leaf
            step. The default calls the step's function (awaiting async ones).
        executor: ``"sequential"``, ``"threaded"``, ``"async"``, ``"parallel"``
            (processes), or any ``concurrent.futures.Executor`` (never shut down here).
        max_concurrency: steps that may be active at once; by default 1 for
            sequential, ``min(32, cpus + 4)`` for threads, the cpu count for
            processes, unlimited for async and for a given Executor.
        plugins: objects with ``@hookimpl`` methods, called for every run.
        cache: the cache backend for steps whose policy names none; by default
            each flow's own :attr:`Flow.default_cache`.
    """

    def __init__(
        self,
        *,
        step_executor: StepExecutor | None = None,
        executor: str | Executor = "sequential",
        max_concurrency: int | None = None,
        plugins: Sequence[object] = (),
        cache: CacheBackend | None = None,
    ) -> None:
        if not isinstance(executor, Executor) and executor not in EXECUTOR_NAMES:
            raise FlowDefinitionError(unknown_executor(executor))
        if max_concurrency is not None and (
            not isinstance(max_concurrency, int)
            or isinstance(max_concurrency, bool)
            or max_concurrency < 1
        ):
            raise FlowDefinitionError(
                f"max_concurrency must be an int >= 1 or None, got {max_concurrency!r}"
            )
        self.step_executor: StepExecutor = call_step if step_executor is None else step_executor
        self.executor = executor
        self.max_concurrency = max_concurrency
        self.plugins = tuple(plugins)
        self.cache = cache

    def __repr__(self) -> str:
        return f"<ExecutorCore executor={self.executor!r} max_concurrency={self.max_concurrency}>"

    def run(
        self,
        flow: Flow,
        inputs: Mapping[str, Any] | None = None,
        /,
        *,
        context: Any = None,
        outputs: Sequence[str] | None = None,
        on_failure: OnFailure = "stop",
        plugins: Sequence[object] = (),
        seed: int | None = None,
        cache: CacheBackend | None = None,
    ) -> FlowResult:
        """Run ``flow`` with ``inputs`` and return its result (see :meth:`Flow.run`).

        Raises:
            StepFailed: a step failed and ``on_failure="stop"``; carries the partial result.
            FlowInputError: an input is missing or unknown.
        """
        if self.executor == "async":
            result: FlowResult = run_coroutine(
                self.arun(
                    flow,
                    inputs,
                    context=context,
                    outputs=outputs,
                    on_failure=on_failure,
                    plugins=plugins,
                    seed=seed,
                    cache=cache,
                )
            )
            return result
        state = self._start(flow, inputs, context, outputs, on_failure, plugins, seed, cache)
        if self.executor == "sequential":
            run_sequential(state)
            return self._end(state)
        width = self._width(len(state.nodes))
        dispatcher = make_dispatcher(self.executor, width)
        try:
            run_sync(state, dispatcher, width)
        finally:
            dispatcher.close()
        return self._end(state)

    async def arun(
        self,
        flow: Flow,
        inputs: Mapping[str, Any] | None = None,
        /,
        *,
        context: Any = None,
        outputs: Sequence[str] | None = None,
        on_failure: OnFailure = "stop",
        plugins: Sequence[object] = (),
        seed: int | None = None,
        cache: CacheBackend | None = None,
    ) -> FlowResult:
        """Await a run. On ``"async"`` it runs on the current event loop; other
        executors run in a worker thread so the loop is never blocked."""
        if self.executor != "async":
            return await asyncio.to_thread(
                self.run,
                flow,
                inputs,
                context=context,
                outputs=outputs,
                on_failure=on_failure,
                plugins=plugins,
                seed=seed,
                cache=cache,
            )
        state = self._start(flow, inputs, context, outputs, on_failure, plugins, seed, cache)
        width = self._width(len(state.nodes))
        # Sync steps on "async" run on threads, as many as "threaded" would use. A
        # timed-out sync attempt keeps its thread until it returns (threads cannot be
        # killed), so the pool is not sized down to the step count.
        threads = ThreadPoolExecutor(
            max_workers=self.max_concurrency or default_width("threaded"),
            thread_name_prefix="flowexec",
        )
        try:
            await run_async(state, width, threads)
        finally:
            threads.shutdown(wait=False, cancel_futures=True)
        return self._end(state)

    def _width(self, steps: int) -> int:
        if self.max_concurrency is not None:
            return self.max_concurrency
        if isinstance(self.executor, Executor) or self.executor == "async":
            return max(steps, 1)
        return default_width(self.executor)

    def _start(
        self,
        flow: Flow,
        inputs: Mapping[str, Any] | None,
        context: Any,
        outputs: Sequence[str] | None,
        on_failure: OnFailure,
        plugins: Sequence[object],
        seed: int | None,
        cache: CacheBackend | None,
    ) -> RunState:
        if not isinstance(flow, Flow):
            raise TypeError(f"ExecutorCore.run needs a Flow, got {flow!r}")
        if on_failure not in ON_FAILURE_CHOICES:
            raise FlowDefinitionError(
                f"on_failure must be one of {ON_FAILURE_CHOICES}, got {on_failure!r}"
            )
        if isinstance(outputs, str):
            outputs = [outputs]
        plan = flow.plan(outputs)
        given = MappingProxyType(dict(inputs) if inputs is not None else {})
        flow.check_inputs(plan, given)
        if seed is None:
            seed = int.from_bytes(os.urandom(8), "big") >> 1
        hooks = HookRelay((*self.plugins, *plugins))
        state = RunState(
            plan,
            given,
            context,
            step_executor=self.step_executor,
            hooks=hooks,
            on_failure=on_failure,
            seed=seed,
            cache=_first(cache, self.cache, flow.default_cache if plan.cached else None),
        )
        hooks.flow_start(flow.name, given, seed)
        return state

    def _end(self, state: RunState) -> FlowResult:
        result = state.to_result(perf_counter())
        state.hooks.flow_end(result.flow, result)
        if state.first_failure is not None and state.on_failure == "stop":
            failed = result.steps[state.addresses[state.first_failure]]
            cause = failed.exception
            assert cause is not None
            raise StepFailed(failed.address, cause, result, attempts=failed.attempts) from cause
        return result


def _first(*backends: CacheBackend | None) -> CacheBackend | None:
    # Not ``a or b``: an empty cache has len() 0, so it is falsy.
    return next((b for b in backends if b is not None), None)
