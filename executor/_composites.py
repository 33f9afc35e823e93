"""Composite steps: parallel branches, map over items, conditionals, loops, sub-flows.

A composite is a :class:`~executor.Step` whose "call" is a program of nested runs
(see ``_runtime``): it is scheduled, retried, timed out, cached and recorded like
any step, and everything inside it gets its own address under the composite's:

    parallel  flow/name/<branch>[/<step>]      map_over  flow/name[i][/<step>]
    when      flow/name/then|otherwise[/...]   loop      flow/name#k[/<step>]
    sub-flow  flow/name/<step>
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from executor._context import (
    MergeFunction,
    MergeStrategy,
    fields_of,
    isolated_copy,
    merge_contexts,
)
from executor._errors import (
    FlowDefinitionError,
    FlowError,
    LoopLimitReached,
    Pause,
    ReplayMismatch,
    StepFailed,
    hide_engine_frame,
)
from executor._limits import UsageLimitExceeded
from executor._names import CONTEXT_PARAM
from executor._plan import Plan, independent_plan, item_plan
from executor._results import StepResult
from executor._retry import Retry
from executor._runtime import Program, SubRun
from executor._step import Step, StepParam, _check_name, unlisted
from executor.cache._policy import CachePolicy

if TYPE_CHECKING:
    from executor._flow import Flow

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these


class FailureStrategy(enum.Enum):
    """What a parallel or map step does when one of its branches or items fails."""

    PROPAGATE = "propagate"
    """Fail at the first failure and cancel what has not finished."""
    IGNORE = "ignore"
    """Finish everything; failed ones appear in the output as their StepResult."""


def inner_error(failure: StepResult) -> BaseException:
    """The error a composite fails with when a nested step failed: a usage limit as
    it is (it must stop the whole run), otherwise StepFailed naming the inner address."""
    cause = failure.exception
    if isinstance(cause, (UsageLimitExceeded, Pause, ReplayMismatch)):
        return cause
    if cause is None:
        message = failure.error.message if failure.error else failure.status.value
        cause = FlowError(message)
    return StepFailed(failure.address, cause, attempts=failure.attempts)


def _union_params(
    parts: Sequence[Step[..., Any]], extra: Sequence[StepParam] = ()
) -> tuple[StepParam, ...]:
    """Every parameter any part takes; optional only if optional wherever it appears."""
    merged: dict[str, bool] = {}
    for part in parts:
        for param in part.params:
            merged[param.name] = merged.get(param.name, True) and param.has_default
    for param in extra:
        merged[param.name] = merged.get(param.name, True) and param.has_default
    return tuple(StepParam(name, has_default) for name, has_default in merged.items())


def _target(
    obj: Step[..., Any] | Flow | Callable[..., Any], name: str, *, listed: bool = True
) -> Step[..., Any]:
    """A branch, body or map target as a step; a lambda takes the composite's label
    (``listed=False``: a label the engine chose, not a step name a stub may use)."""
    from executor._flow import Flow

    if isinstance(obj, Flow):
        return obj.as_step(name)
    if isinstance(obj, Step):
        return obj
    own = getattr(obj, "__name__", "")
    if own.isidentifier():
        return Step(obj, name=own)
    return Step(obj, name=name) if listed else unlisted(obj, name)


class CompositeStep(Step[..., Any]):
    """A step made of other steps. Subclasses give ``program``, ``parts`` and ``kind``."""

    is_composite = True
    _listed = False  # never called through the step executor: no name to stub
    kind = "composite"

    def __init__(
        self,
        name: str,
        params: tuple[StepParam, ...],
        *,
        retry: Retry | int | None,
        timeout: float | None,
        version: str | None,
        critical: bool,
        cache: CachePolicy | None,
    ) -> None:
        super().__init__(
            self._standalone,
            name=name,
            retry=retry,
            timeout=timeout,
            version=version,
            critical=critical,
            cache=cache,
            params=params,
        )

    def _standalone(self, **inputs: Any) -> Any:
        """Called as a plain function: run it alone, sequentially, and return its output."""
        from executor._flow import Flow

        context = inputs.pop(CONTEXT_PARAM, None)
        result = Flow(self.name, [self]).run(inputs, context=context)
        return result[self.name]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {', '.join(p.name for p in self.parts)}>"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its state (a leaf Step is rebuilt from its function instead),
        # minus its own bound method (rebuilt) and what caching derived and kept on
        # it (a SHA-256 hasher cannot be pickled; the copy works its own out).
        state = {
            k: v
            for k, v in self.__dict__.items()
            if k not in _REBUILT and not k.startswith("_flowexec")
        }
        return (_rebuild_composite, (type(self), state))

    @property
    def parts(self) -> tuple[Step[..., Any], ...]:
        """The steps this composite runs."""
        raise NotImplementedError

    def program(
        self, inputs: dict[str, Any], context: Any, address: str, order: tuple[int, ...]
    ) -> Program:
        """The composite's body: yields nested runs, returns its output."""
        raise NotImplementedError(type(self).__name__)

    def identity_material(self) -> bytes:
        from executor.cache._keys import step_identity

        parts = "\n".join(step_identity(p) for p in self.parts)
        return f"{self.kind}\n{self.options_text()}\n{parts}".encode()

    def options_text(self) -> str:
        """The options that change what the composite computes (for its cache identity)."""
        return ""

    def _copy(self) -> CompositeStep:
        twin = super()._copy()
        assert isinstance(twin, CompositeStep)
        twin.fn = twin._standalone  # called directly, the copy runs itself
        return twin


_REBUILT = frozenset({"fn", "__wrapped__"})
"""A composite's attributes that are its own ``_standalone`` method."""


def _rebuild_composite(kind: type[CompositeStep], state: dict[str, Any]) -> CompositeStep:
    twin = object.__new__(kind)
    twin.__dict__.update(state)
    twin.fn = twin.__wrapped__ = twin._standalone  # called directly, the copy runs itself
    return twin


class SubFlowStep(CompositeStep):
    """A flow used as a step of another flow (``Flow.as_step``)."""

    kind = "subflow"

    def __init__(
        self,
        flow: Flow,
        name: str,
        inputs: Mapping[str, str] | None = None,
        output: str | None = None,
        **options: Any,
    ) -> None:
        mapping = dict(inputs or {})
        unknown = sorted(set(mapping).difference(flow.inputs))
        if unknown:
            raise FlowDefinitionError(
                f"sub-flow step {name!r}: flow {flow.name!r} has no input(s) "
                f"{', '.join(unknown)} (its inputs are: {', '.join(flow.inputs) or 'none'})"
            )
        self.flow = flow
        self.mapping = {inner: mapping.get(inner, inner) for inner in flow.inputs}
        self.output = output if output is not None else flow.steps[-1].name
        flow.step(self.output)  # names a step of the inner flow, or raises
        params = [
            StepParam(self.mapping[inner], not required) for inner, required in flow.inputs.items()
        ]
        if any(p.name == CONTEXT_PARAM for s in flow.steps for p in s.params):
            params.append(StepParam(CONTEXT_PARAM, False))
        super().__init__(name, _union_params((), params), **_options(options))

    @property
    def parts(self) -> tuple[Step[..., Any], ...]:
        return self.flow.steps

    def options_text(self) -> str:
        return f"{sorted(self.mapping.items())} -> {self.output}"

    def program(
        self, inputs: dict[str, Any], context: Any, address: str, order: tuple[int, ...]
    ) -> Program:
        given = {inner: inputs[outer] for inner, outer in self.mapping.items() if outer in inputs}
        plan = self.flow.plan()
        result = yield SubRun(plan, given, context, prefix=address + "/", order=(*order, 0))
        if result.stop is not None:
            raise result.stop
        failure = result.failure
        if failure is not None:
            raise inner_error(failure)
        index = next(n.index for n in plan.nodes if n.step.name == self.output)
        return result.values[index]


class ParallelStep(CompositeStep):
    """Branches that run at once, each on its own copy of the context."""

    kind = "parallel"

    def __init__(
        self,
        name: str,
        branches: Mapping[str, Any],
        *,
        on_failure: FailureStrategy,
        merge: MergeStrategy | MergeFunction,
        **options: Any,
    ) -> None:
        if not branches:
            raise FlowDefinitionError(f"parallel step {name!r} has no branches")
        self.branch_names = tuple(branches)
        for branch in self.branch_names:
            _check_label(name, branch, "branch")
        self.branches = tuple(_target(target, branch) for branch, target in branches.items())
        if not isinstance(on_failure, FailureStrategy):
            raise FlowDefinitionError(
                f"parallel step {name!r}: on_failure must be a FailureStrategy, got {on_failure!r}"
            )
        if not isinstance(merge, MergeStrategy) and not callable(merge):
            raise FlowDefinitionError(
                f"parallel step {name!r}: merge must be a MergeStrategy or a function "
                f"(parent, branch_contexts) -> parent, got {merge!r}"
            )
        self.on_failure = on_failure
        self.merge = merge
        self._plan = independent_plan(
            name,
            [
                (target, branch, ())
                for branch, target in zip(self.branch_names, self.branches, strict=True)
            ],
        )
        super().__init__(name, _union_params(self.branches), **_options(options))

    @property
    def parts(self) -> tuple[Step[..., Any], ...]:
        return self.branches

    def options_text(self) -> str:
        return f"{self.branch_names}"

    def program(
        self, inputs: dict[str, Any], context: Any, address: str, order: tuple[int, ...]
    ) -> Program:
        names = self.branch_names
        copies = None if context is None else [isolated_copy(context) for _ in names]
        before = None if context is None else fields_of(context)
        stop = self.on_failure is FailureStrategy.PROPAGATE
        result = yield SubRun(
            self._plan,
            inputs,
            context,
            prefix=address + "/",
            order=(*order, 0),
            on_failure="stop" if stop else "continue",
            node_contexts=copies,
        )
        if result.stop is not None:
            raise result.stop
        failure = result.failure
        if stop and failure is not None:
            raise inner_error(failure)
        outputs: dict[str, Any] = {}
        finished: dict[str, Any] = {}
        for i, branch in enumerate(names):
            ended = result.results[i]
            if ended.ok:
                outputs[branch] = result.values[i]
                if copies is not None:
                    finished[branch] = copies[i]
            else:
                outputs[branch] = ended
        if context is not None:
            merge_contexts(self.merge, context, before, finished, names, address)
        return outputs


class MapStep(CompositeStep):
    """One step (or flow) run once per element of a list."""

    kind = "map"

    def __init__(
        self,
        target: Step[..., Any],
        over: str,
        name: str,
        *,
        max_concurrency: int | None,
        on_failure: FailureStrategy,
        map_executor: Any,
        **options: Any,
    ) -> None:
        if over not in {p.name for p in target.params}:
            raise FlowDefinitionError(
                f"map step {name!r}: {target.name!r} has no parameter {over!r} to receive "
                f"each element; name it in over= (its parameters: "
                f"{', '.join(p.name for p in target.params) or 'none'})"
            )
        if max_concurrency is not None and (
            not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            raise FlowDefinitionError(
                f"map step {name!r}: max_concurrency must be an int >= 1, got {max_concurrency!r}"
            )
        if not isinstance(on_failure, FailureStrategy):
            raise FlowDefinitionError(
                f"map step {name!r}: on_failure must be a FailureStrategy, got {on_failure!r}"
            )
        self.target = target
        self.over = over
        self.max_concurrency = max_concurrency
        self.on_failure = on_failure
        self.map_executor = map_executor
        params = tuple(StepParam(p.name, False) if p.name == over else p for p in target.params)
        super().__init__(name, params, **_options(options))

    @property
    def parts(self) -> tuple[Step[..., Any], ...]:
        return (self.target,)

    def options_text(self) -> str:
        return f"over={self.over}"

    def program(
        self, inputs: dict[str, Any], context: Any, address: str, order: tuple[int, ...]
    ) -> Program:
        items = inputs[self.over]
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
            raise TypeError(
                f"step {address!r}: map_over needs a list in {self.over!r}, got "
                f"{type(items).__qualname__}"
            )
        plan = item_plan(self.name, self.target, self.over, items)
        given = {k: v for k, v in inputs.items() if k != self.over}
        stop = self.on_failure is FailureStrategy.PROPAGATE
        result = yield SubRun(
            plan,
            given,
            context,
            prefix=address,
            order=(*order, 0),
            on_failure="stop" if stop else "continue",
            executor=self.map_executor,
            width=self.max_concurrency,
        )
        if result.stop is not None:
            raise result.stop
        failure = result.failure
        if stop and failure is not None:
            raise inner_error(failure)
        return [result.values[i] if ended.ok else ended for i, ended in enumerate(result.results)]


class WhenStep(CompositeStep):
    """Run ``then`` or ``otherwise`` depending on a predicate wired like a step."""

    kind = "when"

    def __init__(
        self,
        predicate: Callable[..., Any],
        then: Step[..., Any],
        otherwise: Step[..., Any] | None,
        name: str,
        **options: Any,
    ) -> None:
        # The predicate is never called as a step (its value picks the arm): a name
        # the engine gives it is no name to stub.
        self.predicate = (
            predicate if isinstance(predicate, Step) else unlisted(predicate, "predicate")
        )
        if self.predicate.is_async:
            raise FlowDefinitionError(f"when step {name!r}: the predicate must be a sync function")
        self.then = then
        self.otherwise = otherwise
        branches = [b for b in (then, otherwise) if b is not None]
        self._plans = {
            label: independent_plan(name, [(target, label, ())])
            for label, target in (("then", then), ("otherwise", otherwise))
            if target is not None
        }
        super().__init__(name, _union_params([self.predicate, *branches]), **_options(options))

    @property
    def parts(self) -> tuple[Step[..., Any], ...]:
        return tuple(p for p in (self.predicate, self.then, self.otherwise) if p is not None)

    def options_text(self) -> str:
        return f"otherwise={self.otherwise is not None}"

    def program(
        self, inputs: dict[str, Any], context: Any, address: str, order: tuple[int, ...]
    ) -> Program:
        wired = {
            p.name: context if p.name == CONTEXT_PARAM else inputs[p.name]
            for p in self.predicate.params
            if p.name == CONTEXT_PARAM or p.name in inputs
        }
        taken = "then" if self.predicate.fn(**wired) else "otherwise"
        plan = self._plans.get(taken)
        if plan is None:
            return None
        result = yield SubRun(plan, inputs, context, prefix=address + "/", order=(*order, 0))
        if result.stop is not None:
            raise result.stop
        failure = result.failure
        if failure is not None:
            raise inner_error(failure)
        return result.values[0]


class LoopStep(CompositeStep):
    """Run ``body`` again and again, feeding its output back, until ``until`` says so."""

    kind = "loop"

    def __init__(
        self,
        body: Step[..., Any],
        until: Callable[[Any], bool],
        name: str,
        *,
        max_iterations: int,
        feed: str | None,
        stop_quietly: bool,
        **options: Any,
    ) -> None:
        fed = [p.name for p in body.params if p.name != CONTEXT_PARAM]
        if feed is None:
            if len(fed) != 1:
                raise FlowDefinitionError(
                    f"loop step {name!r}: {body.name!r} takes {len(fed)} parameters "
                    f"({', '.join(fed) or 'none'}); say which one receives the previous "
                    f"output with feed="
                )
            feed = fed[0]
        elif feed not in fed:
            raise FlowDefinitionError(
                f"loop step {name!r}: feed={feed!r} is not a parameter of {body.name!r} "
                f"(its parameters: {', '.join(fed) or 'none'})"
            )
        if not isinstance(max_iterations, int) or max_iterations < 1:
            raise FlowDefinitionError(
                f"loop step {name!r}: max_iterations must be an int >= 1, got {max_iterations!r}"
            )
        if not callable(until):
            raise FlowDefinitionError(f"loop step {name!r}: until must be callable")
        self.body = body
        self.until = until
        self.feed = feed
        self.max_iterations = max_iterations
        self.stop_quietly = stop_quietly
        super().__init__(name, body.params, **_options(options))

    @property
    def parts(self) -> tuple[Step[..., Any], ...]:
        return (self.body,)

    def options_text(self) -> str:
        return f"feed={self.feed} max={self.max_iterations}"

    def program(
        self, inputs: dict[str, Any], context: Any, address: str, order: tuple[int, ...]
    ) -> Program:
        current = dict(inputs)
        last: Any = None
        for k in range(self.max_iterations):
            plan = _single(self.name, self.body, f"#{k}")
            result = yield SubRun(plan, current, context, prefix=address, order=(*order, k))
            if result.stop is not None:
                raise result.stop
            failure = result.failure
            if failure is not None:
                raise inner_error(failure)
            last = result.values[0]
            if self.until(last):
                return last
            current[self.feed] = last
        if self.stop_quietly:
            return last
        raise LoopLimitReached(address, self.max_iterations, last)


def _single(name: str, target: Step[..., Any], label: str) -> Plan:
    return independent_plan(name, [(target, label, ())])


def _check_label(composite: str, label: object, what: str) -> None:
    try:
        _check_name(label)
    except FlowDefinitionError:
        raise FlowDefinitionError(
            f"{composite!r}: {what} name {label!r} must be an identifier (it becomes part of "
            f"step addresses)"
        ) from None


_OPTION_NAMES = ("retry", "timeout", "version", "critical", "cache")


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options).difference(_OPTION_NAMES))
    if unknown:
        raise TypeError(
            f"unexpected option(s) {', '.join(unknown)}; composites take {', '.join(_OPTION_NAMES)}"
        )
    return {
        "retry": options.get("retry"),
        "timeout": options.get("timeout"),
        "version": options.get("version"),
        "critical": bool(options.get("critical", False)),
        "cache": options.get("cache"),
    }


# -- the public constructors ------------------------------------------------------------


def parallel(
    name: str,
    branches: Mapping[str, Step[..., Any] | Flow | Callable[..., Any]],
    *,
    on_failure: FailureStrategy = FailureStrategy.PROPAGATE,
    merge: MergeStrategy | MergeFunction = MergeStrategy.NO_MERGE,
    **options: Any,
) -> ParallelStep:
    """A step that runs ``branches`` at once; its output is ``{branch: output}`` in
    declaration order.

    Each branch (a step or a flow) is wired by name like any step and works on its
    own copy of the context; ``merge`` folds the copies back (see
    :class:`MergeStrategy`). Addresses: ``flow/name/<branch>[/<step>]``.

    Args:
        on_failure: ``PROPAGATE`` fails the step at the first branch failure and
            cancels the others; ``IGNORE`` finishes every branch, reports a failed
            one as its StepResult in the output, and merges only successful ones.
        options: ``retry``, ``timeout``, ``version``, ``critical``, ``cache``.
    """
    return ParallelStep(name, branches, on_failure=on_failure, merge=merge, **options)


def map_over(
    target: Step[..., Any] | Flow | Callable[..., Any],
    over: str = "items",
    *,
    name: str | None = None,
    max_concurrency: int | None = None,
    on_failure: FailureStrategy = FailureStrategy.PROPAGATE,
    map_executor: Any = None,
    **options: Any,
) -> MapStep:
    """A step that runs ``target`` once per element of the list named ``over``.

    ``over`` names a flow input or an upstream step's output; each run gets one
    element as its parameter ``over``, the other parameters wired as usual.
    Outputs come in input order; addresses ``flow/name[i]``.

    Args:
        name: the step's name (default: the target's).
        max_concurrency: elements at once (default: the executor's width).
        on_failure: as for :func:`parallel`; with ``IGNORE`` a failed element's
            output is its StepResult.
        map_executor: run the elements on another executor than the flow's, e.g.
            ``"parallel"`` for CPU-bound elements.
    """
    from executor._flow import Flow

    label = (
        name
        if name is not None
        else (
            target.name if isinstance(target, (Flow, Step)) else getattr(target, "__name__", "map")
        )
    )
    inner = _target(target, label)
    return MapStep(
        inner,
        over,
        label,
        max_concurrency=max_concurrency,
        on_failure=on_failure,
        map_executor=map_executor,
        **options,
    )


def when(
    predicate: Callable[..., Any],
    then: Step[..., Any] | Flow | Callable[..., Any],
    otherwise: Step[..., Any] | Flow | Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    **options: Any,
) -> WhenStep:
    """A step that runs ``then`` when ``predicate`` is true, else ``otherwise``.

    The predicate's parameters are wired by name like a step's (flow inputs,
    upstream outputs, ``context``). The output is the branch's output (``None``
    when the predicate is false and there is no ``otherwise``); the branch taken
    shows in the addresses: ``flow/name/then`` or ``flow/name/otherwise``.
    """
    own = getattr(predicate, "__name__", "")
    label = name if name is not None else (f"when_{own}" if own.isidentifier() else "when")
    return WhenStep(
        predicate,
        _target(then, "then", listed=False),
        None if otherwise is None else _target(otherwise, "otherwise", listed=False),
        label,
        **options,
    )


def loop(
    body: Step[..., Any] | Flow | Callable[..., Any],
    until: Callable[[Any], bool],
    *,
    max_iterations: int = 100,
    feed: str | None = None,
    name: str | None = None,
    stop_quietly: bool = False,
    **options: Any,
) -> LoopStep:
    """A step that runs ``body`` until ``until(output)`` is true.

    Each iteration's output is fed back into the body's parameter ``feed``
    (default: its only parameter); the first iteration takes it from the flow like
    any input. The loop's output is the last iteration's. Iterations are addressed
    ``flow/name#k``. Reaching ``max_iterations`` raises :class:`LoopLimitReached`
    unless ``stop_quietly=True``.
    """
    from executor._flow import Flow

    label = (
        name
        if name is not None
        else (body.name if isinstance(body, (Flow, Step)) else getattr(body, "__name__", "loop"))
    )
    return LoopStep(
        _target(body, label),
        until,
        label,
        max_iterations=max_iterations,
        feed=feed,
        stop_quietly=stop_quietly,
        **options,
    )
