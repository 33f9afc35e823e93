"""Flows: named DAGs of steps, wired by parameter name and validated when built."""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from executor._errors import FlowDefinitionError, FlowInputError, hide_engine_frame
from executor._names import CONTEXT_PARAM, UNSET
from executor._plan import Plan, build_plan, stable_topological_order
from executor._step import Step, as_step
from executor._suggest import did_you_mean

if TYPE_CHECKING:
    from concurrent.futures import Executor

    # Annotations only: defining a flow loads neither the cache nor the state
    # package (nor the engine); a run that uses them imports them.
    from executor._composites import SubFlowStep
    from executor._core import OnFailure, StepExecutor
    from executor._dask_watch import DaskTimeouts
    from executor._limits import UsageLimits
    from executor._results import FlowResult
    from executor.cache._backend import CacheBackend
    from executor.cache._memory import MemoryCache
    from executor.state._model import StateMetadata
    from executor.state._report import DeterminismReport
    from executor.state._store import StateStore

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these

_FLOW_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_PLAN_MEMO_SIZE = 32

_cache_generation = 0
"""Bumped by :func:`renew_default_caches`: a flow whose default cache belongs to an
older generation starts a new, empty one on its next use."""
_generation_lock = threading.Lock()


_ALIVE_FLOWS: weakref.WeakSet[Flow] = weakref.WeakSet()
"""Every flow built in this process and still referenced (for :func:`known_addresses`)."""


def known_addresses() -> frozenset[str]:
    """The addresses of the steps of every flow alive in this process now, with the
    arms of their ``when`` steps (``f/step``, ``f/check/then``); map items, loop
    iterations and the steps of sub-flows are not listed."""
    found = set()
    for flow in list(_ALIVE_FLOWS):
        for s in flow.steps:
            address = f"{flow.name}/{s.name}"
            found.add(address)
            # By kind, not isinstance: a harness may have re-imported the module.
            if s.is_composite and getattr(s, "kind", None) == "when":
                found.add(f"{address}/then")
                if getattr(s, "otherwise", None) is not None:
                    found.add(f"{address}/otherwise")
    return frozenset(found)


def renew_default_caches() -> None:
    """From now on, every flow's default cache starts empty (see
    :func:`executor.testing.renew_default_caches`)."""
    global _cache_generation
    with _generation_lock:
        _cache_generation += 1


RUN_OPTIONS = frozenset(
    {
        "executor",
        "max_concurrency",
        "step_executor",
        "context",
        "outputs",
        "on_failure",
        "plugins",
        "seed",
        "cache",
        "limits",
        "store",
        "metadata",
        "dask_client",
        "dask_address",
        "dask_timeouts",
    }
)
"""Keyword names :meth:`Flow.run` takes as options; a flow input of one of these
names must be passed in the positional mapping instead."""


class Flow:
    """A named DAG of steps, wired by parameter name.

    A step parameter named like another step receives that step's output (an
    edge); a parameter named ``context`` receives the run context; every other
    parameter is a flow input, required unless the function gives a default.

    Example:
        >>> @step
        ... def load(n: int) -> list[int]:
        ...     return list(range(n))
        >>> @step
        ... def total(load: list[int]) -> int:
        ...     return sum(load)
        >>> Flow("report", [load, total]).run(n=4)["total"]
        6

    Raises:
        FlowDefinitionError: for duplicate step names, a cycle (named), a name that
            is not an identifier, or an empty flow.
    """

    def __init__(self, name: str, steps: Iterable[Step[..., Any] | Callable[..., Any]]) -> None:
        if not isinstance(name, str) or not _FLOW_NAME.fullmatch(name):
            raise FlowDefinitionError(
                f"flow name {name!r} must be non-empty letters, digits, '_', '.' or '-' "
                f"(it starts every step address, e.g. 'report/load')"
            )
        self.name = name
        declared = [as_step(s) for s in steps]
        if not declared:
            raise FlowDefinitionError(f"flow {name!r} has no steps")
        by_name: dict[str, Step[..., Any]] = {}
        for s in declared:
            if s.name in by_name:
                raise FlowDefinitionError(
                    f"flow {name!r}: two steps are named {s.name!r} "
                    f"({by_name[s.name]!r} and {s!r}); give one a different name= "
                    f"(e.g. step(fn, name='{s.name}_2'))"
                )
            by_name[s.name] = s
        # One pass over every parameter: the edges (distinct upstream names, in
        # parameter order) and the flow inputs (required unless every use has a default).
        upstream: dict[str, tuple[str, ...]] = {}
        inputs: dict[str, bool] = {}
        for s in declared:
            edges = []
            names, optional = s._wiring  # no StepParam objects needed to wire a flow
            for param, has_default in zip(names, optional, strict=True):
                if param in by_name:
                    edges.append(param)
                elif param != CONTEXT_PARAM:
                    inputs[param] = inputs.get(param, False) or not has_default
            upstream[s.name] = tuple(dict.fromkeys(edges)) if len(edges) > 1 else tuple(edges)
        try:
            order = stable_topological_order(list(by_name), upstream)
        except FlowDefinitionError as error:
            raise FlowDefinitionError(f"flow {name!r}: {error}") from None
        self._steps: tuple[Step[..., Any], ...] = tuple(by_name[n] for n in order)
        self._by_name = MappingProxyType(by_name)
        self._upstream = upstream
        self._inputs = MappingProxyType(dict(sorted(inputs.items())))
        self._plans: dict[frozenset[str] | None, Plan] = {}
        self._default_cache: MemoryCache | None = None
        self._default_cache_generation = -1
        self._lock = threading.Lock()
        _ALIVE_FLOWS.add(self)

    def __repr__(self) -> str:
        return f"<Flow {self.name!r}: {', '.join(s.name for s in self._steps)}>"

    @property
    def steps(self) -> tuple[Step[..., Any], ...]:
        """The steps in their stable run order (upstream first, then declaration order)."""
        return self._steps

    @property
    def inputs(self) -> Mapping[str, bool]:
        """Flow input names, sorted, each mapped to whether it is required."""
        return self._inputs

    @property
    def default_cache(self) -> MemoryCache:
        """The cache used by this flow's cached steps when neither the step's policy,
        the run nor the core names one: in memory, shared by runs of this flow object
        (a test harness renews it for each test: :func:`executor.testing.renew_default_caches`)."""
        from executor.cache._memory import MemoryCache

        with self._lock:
            if self._default_cache is None or self._default_cache_generation != _cache_generation:
                self._default_cache = MemoryCache()
                self._default_cache_generation = _cache_generation
            return self._default_cache

    def as_step(
        self,
        name: str | None = None,
        inputs: Mapping[str, str] | None = None,
        output: str | None = None,
        **options: Any,
    ) -> SubFlowStep:
        """This flow as a step of another flow.

        Args:
            name: the step's name in the outer flow (default: this flow's name).
            inputs: ``{inner_input: outer_name}`` for inputs named differently
                outside; unmapped inputs keep their names.
            output: the inner step whose output is the step's output (default: the
                last step in run order).
            options: ``retry``, ``timeout``, ``version``, ``critical``, ``cache``.

        Example:
            >>> clean = Flow("clean", [strip, dedupe])            # doctest: +SKIP
            >>> Flow("report", [load, clean.as_step(inputs={"rows": "load"}), total])
            ... # doctest: +SKIP
        """
        from executor._composites import SubFlowStep

        return SubFlowStep(self, name if name is not None else self.name, inputs, output, **options)

    def resume(
        self,
        state_id: str,
        *,
        store: StateStore,
        inputs: Mapping[str, Any] | None = None,
        strict: bool = False,
        resume_from: str | None = None,
        context: Any = UNSET,
        executor: str | Executor = "sequential",
        max_concurrency: int | None = None,
        step_executor: StepExecutor | None = None,
        dask_client: Any = None,
        dask_address: str | None = None,
        dask_timeouts: DaskTimeouts | None = None,
        **options: Any,
    ) -> FlowResult:
        """Continue a stored run: completed steps are reused, not called again.

        A recorded step is reused only when both its address and the digest of its
        inputs match. When they do not (the flow or its inputs changed), the step
        runs again — the default, because a stale recorded output is never a right
        answer — or, with ``strict=True``, fails with ``ReplayMismatch`` saying why.

        Args:
            inputs: inputs to add, e.g. the value a ``Pause`` awaits (given again
                when a step pauses for it again). A stored input keeps its value:
                another one is refused with :class:`FlowInputError`, naming the fix
                (a new run, or ``resume_from=``, which makes one and may change it).
            resume_from: an address to run again from: it, what is inside it, and
                everything downstream of it run; the rest is reused. Inside a
                composite (``"f/each[2]"``, ``"f/par/branch/step"``) the composite runs
                again with its other parts replayed. Makes a new stored run whose
                metadata names this one as ``parent_state_id``.
            context: the run context (default: the stored snapshot, when there is one).
            options: ``outputs``, ``on_failure``, ``plugins``, ``seed``, ``cache``,
                ``limits``, as for :meth:`run`.

        Raises:
            StateNotFound: no such state.
            StateCorrupted: the stored run cannot be read.
            FlowInputError: an input is missing or unknown (a typo in ``inputs=``),
                or would change a stored input; checked before anything is written,
                so the stored run is unchanged.
        """
        from executor._core import ExecutorCore
        from executor._recovery import resume

        core = ExecutorCore(
            executor=executor,
            max_concurrency=max_concurrency,
            step_executor=step_executor,
            dask_client=dask_client,
            dask_address=dask_address,
            dask_timeouts=dask_timeouts,
        )
        return resume(
            core,
            self,
            state_id,
            store,
            inputs,
            strict=strict,
            resume_from=resume_from,
            context=context,
            **options,
        )

    def validate(
        self,
        state_id: str,
        *,
        store: StateStore,
        context: Any = UNSET,
        executor: str | Executor = "sequential",
        step_executor: StepExecutor | None = None,
        **options: Any,
    ) -> DeterminismReport:
        """Run every step again on its recorded inputs and compare with the stored run.

        Each step is fed its upstream steps' *recorded* outputs, so a difference is
        pinned to the step that made it. Caches are bypassed. Returns a report whose
        ``mismatches`` list every address whose output differs, with a diff.
        """
        from executor._core import ExecutorCore
        from executor._recovery import validate

        core = ExecutorCore(executor=executor, step_executor=step_executor)
        return validate(core, self, state_id, store, context=context, **options)

    def step(self, name: str) -> Step[..., Any]:
        """The step called ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            names = [s.name for s in self._steps]
            hint = did_you_mean(name, names) if isinstance(name, str) else ""
            raise FlowDefinitionError(
                f"flow {self.name!r} has no step {name!r}{f' ({hint})' if hint else ''}; "
                f"its steps are: {', '.join(names)}"
            ) from None

    def upstream(self, name: str) -> tuple[str, ...]:
        """Names of the steps whose outputs ``name`` consumes, in parameter order."""
        self.step(name)
        return self._upstream[name]

    def plan(self, outputs: Sequence[str] | None = None) -> Plan:
        """The compiled plan for the whole flow, or only what ``outputs`` need."""
        key = None if outputs is None else frozenset(outputs)
        plan = self._plans.get(key)
        if plan is None:
            plan = build_plan(self.name, self._select(key))
            if len(self._plans) >= _PLAN_MEMO_SIZE:
                self._plans.pop(next(iter(self._plans)))
            self._plans[key] = plan
        return plan

    def _select(self, outputs: frozenset[str] | None) -> tuple[Step[..., Any], ...]:
        if outputs is None:
            return self._steps
        if not outputs:
            raise FlowDefinitionError(
                f"flow {self.name!r}: outputs= is empty; name the steps whose outputs you "
                f"want, or leave outputs= out to run every step"
            )
        for name in sorted(outputs):
            self.step(name)
        needed: set[str] = set()
        todo = list(outputs)
        while todo:
            name = todo.pop()
            if name not in needed:
                needed.add(name)
                todo.extend(self._upstream[name])
        return tuple(s for s in self._steps if s.name in needed)

    def check_inputs(self, plan: Plan, given: Mapping[str, Any]) -> None:
        """Raise :class:`FlowInputError` if ``given`` misses or misnames inputs of ``plan``."""
        missing = plan.required_inputs.difference(given)
        unknown = set(given).difference(self._inputs)
        if missing or unknown:
            raise FlowInputError(
                self.name,
                missing=missing,
                unknown=unknown,
                known=self._inputs,
                reserved=RUN_OPTIONS,
            )

    def run(
        self,
        inputs: Mapping[str, Any] | None = None,
        /,
        *,
        executor: str | Executor = "sequential",
        max_concurrency: int | None = None,
        step_executor: StepExecutor | None = None,
        context: Any = None,
        outputs: Sequence[str] | None = None,
        on_failure: OnFailure = "stop",
        plugins: Sequence[object] = (),
        seed: int | None = None,
        cache: CacheBackend | None = None,
        limits: UsageLimits | None = None,
        store: StateStore | None = None,
        metadata: StateMetadata | None = None,
        dask_client: Any = None,
        dask_address: str | None = None,
        dask_timeouts: DaskTimeouts | None = None,
        **flow_inputs: Any,
    ) -> FlowResult:
        """Run the flow and return its :class:`~executor.FlowResult`.

        Flow inputs come as keywords, or as a mapping passed first (the way to pass
        an input whose name is one of the option names below).

        Args:
            executor: ``"sequential"`` (default), ``"threaded"``, ``"async"``,
                ``"parallel"`` (processes), ``"dask"`` (a Dask cluster, see
                docs/scaling.md), or any ``concurrent.futures.Executor``.
            max_concurrency: how many steps may run at once (see docs/executors.md).
            step_executor: the callable that performs a step; the seam for mocks.
            context: the run context, passed to steps with a ``context`` parameter.
            outputs: run only the steps these outputs need.
            on_failure: ``"stop"`` raises :class:`~executor.StepFailed` at the first
                failure; ``"continue"`` runs everything that does not depend on a
                failed step and returns a FAILED result.
            plugins: objects with :func:`~executor.hookimpl` methods, for this run.
            seed: makes retry jitter reproducible; the result reports the seed used.
            cache: the cache backend for steps whose policy names none (default:
                :attr:`default_cache`).
            limits: a :class:`~executor.UsageLimits` budget for the run.
            store: a state backend: every step's end is persisted as it happens, so
                the run can be resumed, replayed, validated and compared;
                ``result.state_id`` names it.
            metadata: a :class:`~executor.state.StateMetadata` stored with the run.
            dask_client: with ``executor="dask"``: the ``distributed.Client`` to use.
            dask_address: with ``executor="dask"``: a scheduler address to connect to.
            dask_timeouts: with ``executor="dask"``: how long to wait for the cluster
                (:class:`~executor.DaskTimeouts`).

        Raises:
            StepFailed: a step failed and ``on_failure`` is ``"stop"``.
            FlowInputError: an input is missing or unknown.
        """
        from executor._core import ExecutorCore

        core = ExecutorCore(
            executor=executor,
            max_concurrency=max_concurrency,
            step_executor=step_executor,
            dask_client=dask_client,
            dask_address=dask_address,
            dask_timeouts=dask_timeouts,
        )
        return core.run(
            self,
            merge_inputs(self.name, inputs, flow_inputs),
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

    async def arun(
        self,
        inputs: Mapping[str, Any] | None = None,
        /,
        *,
        executor: str | Executor = "async",
        max_concurrency: int | None = None,
        step_executor: StepExecutor | None = None,
        context: Any = None,
        outputs: Sequence[str] | None = None,
        on_failure: OnFailure = "stop",
        plugins: Sequence[object] = (),
        seed: int | None = None,
        cache: CacheBackend | None = None,
        limits: UsageLimits | None = None,
        store: StateStore | None = None,
        metadata: StateMetadata | None = None,
        dask_client: Any = None,
        dask_address: str | None = None,
        dask_timeouts: DaskTimeouts | None = None,
        **flow_inputs: Any,
    ) -> FlowResult:
        """Like :meth:`run`, awaited; the default executor is ``"async"``."""
        from executor._core import ExecutorCore

        core = ExecutorCore(
            executor=executor,
            max_concurrency=max_concurrency,
            step_executor=step_executor,
            dask_client=dask_client,
            dask_address=dask_address,
            dask_timeouts=dask_timeouts,
        )
        return await core.arun(
            self,
            merge_inputs(self.name, inputs, flow_inputs),
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


def merge_inputs(
    flow: str, mapping: Mapping[str, Any] | None, keywords: Mapping[str, Any]
) -> dict[str, Any]:
    """One dict of flow inputs from the positional mapping and the keywords (copied)."""
    if mapping is not None and not isinstance(mapping, Mapping):
        raise FlowDefinitionError(
            f"flow {flow!r}: the inputs are a mapping of input names to values, got "
            f"{mapping!r}; pass flow.run({{'name': value}}) or flow.run(name=value)"
        )
    merged = dict(mapping) if mapping is not None else {}
    twice = sorted(set(merged).intersection(keywords))
    if twice:
        raise TypeError(
            f"flow {flow!r}: input(s) {', '.join(twice)} given both in the mapping and as "
            f"keywords; give each once"
        )
    merged.update(keywords)
    return merged
