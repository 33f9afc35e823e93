"""ExecutorCore: runs any flow on any executor through one step pipeline."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from operator import index
from types import MappingProxyType
from typing import Any, SupportsIndex

from executor import testing
from executor._async_scheduler import run_async
from executor._clock import Clock
from executor._dask import DaskSession, is_dask_executor, session_of_executor
from executor._dask_watch import DEFAULT_TIMEOUTS, DaskTimeouts
from executor._errors import FlowDefinitionError, hide_engine_frame, run_failure
from executor._executors import (
    EXECUTOR_NAMES,
    StepExecutor,
    call_step,
    run_coroutine,
    run_width,
    unknown_executor,
)
from executor._flow import Flow
from executor._hooks import HookRelay
from executor._limits import UsageLimits, UsageMeter
from executor._nesting import drive_async, drive_sync
from executor._plan import Plan
from executor._recorder import Recorder
from executor._results import FlowResult, RunStatus
from executor._run import ON_FAILURE_CHOICES, RunState
from executor._run_cache import RunCache
from executor._runtime import OnFailure, Runtime
from executor._scheduler import run_sync
from executor._sequential import run_sequential
from executor.cache._backend import CacheBackend
from executor.state._model import StateMetadata, StateStatus
from executor.state._store import StateStore, checked_store

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these


@dataclass(frozen=True)
class RunArgs:
    """What one run was asked to do (the options of ExecutorCore.run, gathered)."""

    flow: Flow
    inputs: Mapping[str, Any] | None
    context: Any = None
    outputs: Sequence[str] | None = None
    on_failure: OnFailure = "stop"
    plugins: tuple[object, ...] = ()
    seed: int | None = None
    cache: CacheBackend | None = None
    limits: UsageLimits | None = None


def _tap(
    flow: Flow,
    inputs: Mapping[str, Any] | None,
    store: StateStore | None = None,
    state_id: str | None = None,
) -> Recorder | None:
    """A recorder for a test harness's tap on this run, when one is installed (with
    a store too, for a run given ``store=``: the store still gets every event)."""
    interceptor = testing.intercepting()
    if interceptor is None:
        return None
    tap = interceptor.tap_run(flow.name, dict(inputs or {}))
    if tap is None:
        return None
    replay = dict(tap.replay) if tap.replay is not None else None
    return Recorder(
        store,
        state_id,
        replay=replay,
        strict=tap.strict,
        validating=tap.validating,
        tap=tap,
        record_replayed=True,
    )


def _copied(value: Any) -> Any:
    """A deep copy of ``value`` where one can be made, else ``value`` itself."""
    import copy

    try:
        return copy.deepcopy(value)
    except Exception:
        return value


SEED_LIMIT = 2**64
"""Seeds are 64-bit: ``0 <= seed < SEED_LIMIT`` (an unseeded run draws 63 bits)."""


def _plugins(flow: Flow, plugins: Sequence[object]) -> tuple[object, ...]:
    """``plugins`` as a tuple; a lone plugin or a string is refused, naming the fix."""
    if isinstance(plugins, (str, bytes)) or not isinstance(plugins, Iterable):
        name = getattr(flow, "name", flow)
        raise FlowDefinitionError(
            f"flow {name!r}: plugins= takes a list of objects with @hookimpl methods, "
            f"got {plugins!r}; pass plugins=[my_plugin]"
        )
    return tuple(plugins)


def _check_seed(flow: str, seed: object) -> None:
    """Refuse a ``seed=`` that is not a 64-bit unsigned integer, naming the fix."""
    fix = (
        "pass an int from 0 to 2**64 - 1 (e.g. seed=1234), or leave seed= out and "
        "read result.seed to repeat a run's retry waits"
    )
    if isinstance(seed, bool) or not isinstance(seed, SupportsIndex):
        raise FlowDefinitionError(f"flow {flow!r}: seed must be an int, got {seed!r}; {fix}")
    if not 0 <= index(seed) < SEED_LIMIT:
        raise FlowDefinitionError(
            f"flow {flow!r}: seed {seed!r} is outside the 64-bit range; {fix}"
        )


_STATE_OF = {
    RunStatus.COMPLETED: StateStatus.COMPLETED,
    RunStatus.FAILED: StateStatus.FAILED,
    RunStatus.PAUSED: StateStatus.PAUSED,
    RunStatus.AWAITING: StateStatus.AWAITING,
}

__all__ = ["ExecutorCore", "OnFailure", "StepExecutor"]


class ExecutorCore:
    """Runs flows: the scheduler, the executor, the step pipeline and the hooks.

    ``Flow.run`` is sugar over this class; build one yourself to reuse settings
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
        dask_client: for ``executor="dask"``: a ``distributed.Client`` to run on
            (left open). Without it and ``dask_address``, each run starts a
            ``LocalCluster`` and closes it at its end (see docs/scaling.md).
        dask_address: for ``executor="dask"``: a scheduler address to connect to
            for each run.
        dask_timeouts: for ``executor="dask"`` (or ``client.get_executor()``): how
            long to wait for the cluster before a step fails with ``ClusterError``
            (a :class:`~executor.DaskTimeouts`; see docs/scaling.md).
    """

    def __init__(
        self,
        *,
        step_executor: StepExecutor | None = None,
        executor: str | Executor = "sequential",
        max_concurrency: int | None = None,
        plugins: Sequence[object] = (),
        cache: CacheBackend | None = None,
        dask_client: Any = None,
        dask_address: str | None = None,
        dask_timeouts: DaskTimeouts | None = None,
    ) -> None:
        if not isinstance(executor, Executor) and executor not in EXECUTOR_NAMES:
            raise FlowDefinitionError(unknown_executor(executor))
        if dask_timeouts is not None and not isinstance(dask_timeouts, DaskTimeouts):
            raise FlowDefinitionError(
                f"dask_timeouts must be an executor.DaskTimeouts, got {dask_timeouts!r}; "
                f"e.g. dask_timeouts=DaskTimeouts(no_workers=300)"
            )
        timeouts = DEFAULT_TIMEOUTS if dask_timeouts is None else dask_timeouts
        if executor == "dask":
            # Checks them (and that Dask is there); connects to nothing.
            DaskSession(dask_client, dask_address, timeouts=timeouts)
        elif dask_client is not None or dask_address is not None:
            raise FlowDefinitionError(
                f'dask_client= and dask_address= are for executor="dask", not {executor!r}'
            )
        elif dask_timeouts is not None and not (
            isinstance(executor, Executor) and is_dask_executor(executor)
        ):
            raise FlowDefinitionError(
                f'dask_timeouts= is for executor="dask" or client.get_executor(), not {executor!r}'
            )
        if max_concurrency is not None and (
            not isinstance(max_concurrency, int)
            or isinstance(max_concurrency, bool)
            or max_concurrency < 1
        ):
            raise FlowDefinitionError(
                f"max_concurrency must be an int >= 1 or None, got {max_concurrency!r}"
            )
        if step_executor is not None and not callable(step_executor):
            raise FlowDefinitionError(
                f"step_executor must be a callable (step, inputs, context) -> output, got "
                f"{step_executor!r}"
            )
        self.step_executor: StepExecutor = call_step if step_executor is None else step_executor
        self.executor = executor
        self.max_concurrency = max_concurrency
        self.plugins = tuple(plugins)
        self.cache = cache
        self.dask_client = dask_client
        self.dask_address = dask_address
        self.dask_timeouts = timeouts

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
        limits: UsageLimits | None = None,
        store: StateStore | None = None,
        metadata: StateMetadata | None = None,
    ) -> FlowResult:
        """Run ``flow`` with ``inputs`` and return its result (see :meth:`Flow.run`).

        Raises:
            StepFailed: a step failed and ``on_failure="stop"``; carries the partial
                result and names the innermost failing address.
            UsageLimitExceeded: the run went over ``limits``; carries the partial
                result and the usage.
            FlowInputError: an input is missing or unknown.
        """
        args = RunArgs(
            flow, inputs, context, outputs, on_failure, _plugins(flow, plugins), seed, cache, limits
        )
        plan = self._check(args)  # before the store is written to
        if testing._capturing():
            self._observed(args)
        return self._execute(args, self._recorder(args, store, metadata), plan)

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
        limits: UsageLimits | None = None,
        store: StateStore | None = None,
        metadata: StateMetadata | None = None,
    ) -> FlowResult:
        """Await a run. On ``"async"`` it runs on the current event loop; other
        executors run in a worker thread so the loop is never blocked."""
        if self.executor != "async":
            import asyncio

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
                limits=limits,
                store=store,
                metadata=metadata,
            )
        args = RunArgs(
            flow, inputs, context, outputs, on_failure, _plugins(flow, plugins), seed, cache, limits
        )
        plan = self._check(args)  # before the store is written to
        if testing._capturing():
            self._observed(args)
        return await self._aexecute(args, self._recorder(args, store, metadata), plan)

    def _observed(self, args: RunArgs) -> None:
        """Tell a harness's :func:`executor.testing.capture_runs` about this run."""
        testing._captured(
            testing.CapturedRun(
                flow=args.flow,
                inputs=_copied(dict(args.inputs or {})),
                context=_copied(args.context),
                executor=self.executor,
                options={
                    "outputs": args.outputs,
                    "on_failure": args.on_failure,
                    "seed": args.seed,
                    "limits": args.limits,
                    "max_concurrency": self.max_concurrency,
                    "step_executor": self.step_executor,
                    "plugins": (*self.plugins, *args.plugins),
                },
            )
        )

    def _recorder(
        self, args: RunArgs, store: StateStore | None, metadata: StateMetadata | None
    ) -> Recorder | None:
        if store is None:
            if metadata is not None:
                raise FlowDefinitionError("metadata= is stored with a run: pass store= too")
            return None
        if metadata is not None and not isinstance(metadata, StateMetadata):
            raise FlowDefinitionError(
                f"flow {args.flow.name!r}: metadata= must be a StateMetadata, got "
                f"{metadata!r}; pass StateMetadata(tags=..., description=..., custom_data=...)"
            )
        state_id = checked_store(store).create_state(
            args.flow.name, dict(args.inputs or {}), metadata or StateMetadata(), args.context
        )
        return _tap(args.flow, args.inputs, store, state_id) or Recorder(store, state_id)

    def _execute(
        self, args: RunArgs, recorder: Recorder | None, plan: Plan | None = None
    ) -> FlowResult:
        """One run, recorded, replayed or validated as ``recorder`` says; ``plan``
        is what :meth:`_check` returned for ``args``, when the caller checked them."""
        if recorder is None:
            recorder = _tap(args.flow, args.inputs)
        if self.executor == "async":
            result: FlowResult = run_coroutine(self._aexecute(args, recorder, plan, own_loop=True))
            return result
        state = self._start(args, recorder, plan)
        runtime = state.runtime
        try:
            if self.executor == "sequential":
                run_sequential(state)
            else:
                dispatcher = runtime.dispatcher(self.executor)
                try:
                    run_sync(state, dispatcher, runtime.width)
                finally:
                    dispatcher.close()
        finally:
            runtime.close()
        return self._end(state)

    async def _aexecute(
        self,
        args: RunArgs,
        recorder: Recorder | None,
        plan: Plan | None = None,
        *,
        own_loop: bool = False,
    ) -> FlowResult:
        state = self._start(args, recorder, plan)
        try:
            runtime = state.runtime
            await run_async(state, runtime.width, runtime.threads(), own_loop=own_loop)
        finally:
            state.runtime.close()
        return self._end(state)

    def _check(self, args: RunArgs) -> Plan:
        """Refuse a run that cannot start (a bad option, a missing or unknown input)
        before anything is written; returns the plan the run will follow."""
        flow, limits, outputs = args.flow, args.limits, args.outputs
        if not isinstance(flow, Flow):
            raise TypeError(f"ExecutorCore.run needs a Flow, got {flow!r}")
        if args.on_failure not in ON_FAILURE_CHOICES:
            raise FlowDefinitionError(
                f"on_failure must be one of {ON_FAILURE_CHOICES}, got {args.on_failure!r}"
            )
        if limits is not None and not isinstance(limits, UsageLimits):
            raise FlowDefinitionError(f"limits must be a UsageLimits, got {limits!r}")
        if args.inputs is not None and not isinstance(args.inputs, Mapping):
            raise FlowDefinitionError(
                f"flow {flow.name!r}: the inputs are a mapping of input names to values, "
                f"got {args.inputs!r}; pass flow.run({{'name': value}}) or flow.run(name=value)"
            )
        if args.seed is not None:
            _check_seed(flow.name, args.seed)
        if args.cache is not None and not isinstance(args.cache, CacheBackend):
            raise FlowDefinitionError(
                f"flow {flow.name!r}: cache= must be a cache backend, got {args.cache!r}; "
                f"pass one such as MemoryCache() or SQLiteCache('.flowexec/cache.db')"
            )
        for plugin in args.plugins:
            if isinstance(plugin, (str, bytes)):
                raise FlowDefinitionError(
                    f"flow {flow.name!r}: plugins= takes objects with @hookimpl methods, "
                    f"got the string {plugin!r}; import the plugin and pass the object "
                    f"itself"
                )
        if isinstance(outputs, str):
            outputs = [outputs]
        elif outputs is not None and not isinstance(outputs, Iterable):
            raise FlowDefinitionError(
                f"flow {flow.name!r}: outputs= takes step names, got {outputs!r}; "
                f"pass a list such as outputs=[{flow.steps[-1].name!r}]"
            )
        plan = flow.plan(outputs)
        flow.check_inputs(plan, args.inputs if args.inputs is not None else {})
        return plan

    def _start(self, args: RunArgs, recorder: Recorder | None, plan: Plan | None) -> RunState:
        if plan is None:
            plan = self._check(args)
        flow = args.flow
        given = MappingProxyType(dict(args.inputs) if args.inputs is not None else {})
        limits = args.limits
        # operator.index: a numpy integer seed reports a plain int
        seed = (
            index(args.seed) if args.seed is not None else int.from_bytes(os.urandom(8), "big") >> 1
        )
        hooks = HookRelay((*self.plugins, *args.plugins, *testing.observers()))
        step_executor = self.step_executor
        interceptor = testing.intercepting()
        if interceptor is not None:
            step_executor = interceptor.wrap_step_executor(step_executor)
        backend = args.cache if args.cache is not None else self.cache
        runtime = Runtime(
            step_executor=step_executor,
            hooks=hooks,
            cache=RunCache(backend, lambda: flow.default_cache),
            meter=UsageMeter(limits),
            seed=seed,
            executor=self.executor,
            width=run_width(self.executor, len(plan.nodes), self.max_concurrency),
            max_concurrency=self.max_concurrency,
            run_composite=drive_sync,
            arun_composite=drive_async,
            recorder=recorder,
            dask=self._dask_session(),
        )
        state = RunState(
            plan,
            given,
            args.context,
            runtime,
            prefix=flow.name + "/",
            on_failure=args.on_failure,
        )
        hooks.flow_start(flow.name, given, seed)
        return state

    def _dask_session(self) -> DaskSession | None:
        """The run's Dask session (which connects when it first sends a step)."""
        executor, timeouts = self.executor, self.dask_timeouts
        if executor == "dask":
            return DaskSession(self.dask_client, self.dask_address, timeouts=timeouts)
        if isinstance(executor, Executor) and is_dask_executor(executor):
            return session_of_executor(executor, timeouts)
        return None

    def _end(self, state: RunState) -> FlowResult:
        if state.recorder is not None and state.recorder.tap is not None:
            state.recorder.tap.mismatches.extend(state.recorder.mismatches)
            state.recorder.tap.misses.extend(state.recorder.replay_misses)
        recorder = state.recorder
        state_id = recorder.state_id if recorder is not None and recorder.persisting else None
        result = state.to_result(Clock.perf_counter(), state_id)
        if state_id is not None:
            assert recorder is not None
            assert recorder.store is not None
            pause: dict[str, Any] = {}
            if state.paused is not None:
                address, signal = state.paused
                pause = {"address": address, "reason": signal.reason, "awaiting": signal.awaiting}
            recorder.store.finish_state(
                state_id, _STATE_OF[result.status], context=state.context, pause=pause
            )
        state.hooks.flow_end(result.flow, result)
        if state.limit_error is not None:
            error = state.limit_error
            error.result = result
            error.usage = dict(result.usage)
            raise error
        if state.first_failure is not None and state.on_failure == "stop":
            failed = result.steps[state.addresses[state.first_failure]]
            cause = failed.exception
            assert cause is not None
            failure = run_failure(failed.address, cause, result, attempts=failed.attempts)
            raise failure from failure.cause
        return result
