"""Hypothesis strategies for flowexec: values the engine stores, inputs for your steps.

Import it in your own tests::

    from hypothesis import given
    from pytest_flowexec.strategies import codec_values, inputs_for

    @given(inputs_for(my_step))
    def test_my_step_never_fails(inputs):
        my_step(**inputs)

The engine's own types (``StepResult``, ``FlowResult``, ``Retry``, ``CachePolicy``,
``UsageLimits``, ...) are registered with :func:`hypothesis.strategies.register_type_strategy`
through hypothesis' ``hypothesis`` entry point as soon as hypothesis is imported, so
``st.from_type(StepResult)`` and ``st.builds(...)`` over annotated functions just work.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import pathlib
import typing
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from hypothesis import strategies as st

__all__ = [
    "Colour",
    "Level",
    "Point",
    "Sample",
    "addresses",
    "codec_values",
    "inputs_for",
    "register_engine_types",
    "scalars",
]

# Types of this module's own that the value strategy draws instances of: the codec
# rebuilds them by name, and this module is always imported where they are drawn.


class Colour(enum.Enum):
    """A plain enum (members round-trip by value)."""

    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    """An int subclass enum: equal to ints, yet its own type."""

    LOW = 1
    HIGH = 2


class Point(NamedTuple):
    """A namedtuple: a tuple subclass with field names."""

    x: int
    y: int


@dataclasses.dataclass(frozen=True)
class Sample:
    """A dataclass holding any codec value."""

    name: str
    value: Any = None


@functools.cache
def scalars(*, allow_nan: bool = False) -> st.SearchStrategy[Any]:
    """Leaf values of the typed JSON codec, one strategy per type.

    ``allow_nan=False`` by default: ``nan != nan``, so round-trip properties written
    with ``==`` would fail on it (the codec itself stores NaN exactly).
    """
    naive = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30))
    offsets = st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=allow_nan),
        st.text(),
        st.binary(),
        naive,
        st.datetimes(timezones=offsets, min_value=dt.datetime(1, 1, 2)),
        st.dates(),
        st.times(),
        st.decimals(allow_nan=False),
        st.uuids(),
        st.lists(st.text("abcxyz_", min_size=1, max_size=4), max_size=3).map(
            lambda parts: pathlib.PurePosixPath("/".join(parts) or ".")
        ),
        st.sampled_from(Colour),
        st.sampled_from(Level),
    )


def _hashables(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return leaves.filter(lambda v: _is_hashable(v))


def _is_hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def codec_values(*, allow_nan: bool = False, max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Every kind of value the engine stores exactly: scalars, containers nested in
    containers, dicts in every key order (str and non-str keys), sets, tuples,
    namedtuples, dataclasses and enums.

    A value drawn here must come back from a state store, a cache entry, a recording
    or a golden file equal, of the same type, with the same dict order.
    """
    leaves = scalars(allow_nan=allow_nan)

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        keys = st.text(max_size=8)
        return st.one_of(
            st.lists(children, max_size=4),
            st.lists(children, max_size=4).map(tuple),
            st.dictionaries(keys, children, max_size=4),
            st.dictionaries(_hashables(leaves), children, max_size=3),
            st.frozensets(_hashables(leaves), max_size=4),
            st.sets(_hashables(leaves), max_size=4),
            st.builds(Point, st.integers(), st.integers()),
            st.builds(Sample, st.text(max_size=8), children),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


def _names() -> st.SearchStrategy[str]:
    """Names as steps and flows have them: a letter, then letters, digits or ``_``."""
    return st.tuples(
        st.sampled_from("abcdefghijklmnopqrstuvwxyz"), st.text("abcdefghij0123456789_", max_size=7)
    ).map("".join)


def addresses() -> st.SearchStrategy[str]:
    """Step addresses as the engine writes them: ``flow/step``, ``flow/map[3]``, nested."""
    name = _names()
    part = st.tuples(name, st.none() | st.integers(0, 99)).map(
        lambda p: p[0] if p[1] is None else f"{p[0]}[{p[1]}]"
    )
    return st.tuples(name, st.lists(part, min_size=1, max_size=3)).map(
        lambda p: "/".join([p[0], *p[1]])
    )


def inputs_for(target: Any, /, **fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Valid inputs for a step or a flow, drawn from its type hints.

    For a step: every parameter but ``context``. For a flow: its flow inputs (the
    parameters no step produces), typed by the first step that takes each. A
    parameter without a hint gets :func:`codec_values`; a flow input with a default
    is sometimes left out. ``fixed`` pins parameters: to a strategy, or to a value.

    Raises:
        TypeError: ``target`` is neither a step nor a flow, or ``fixed`` names a
            parameter it does not take.
    """
    hints, optional = _parameters(target)
    unknown = sorted(set(fixed) - set(hints))
    if unknown:
        raise TypeError(
            f"inputs_for({_describe(target)}): no parameter(s) {', '.join(unknown)}; "
            f"it takes {', '.join(hints) or 'none'}"
        )
    required: dict[str, st.SearchStrategy[Any]] = {}
    maybe: dict[str, st.SearchStrategy[Any]] = {}
    for name, hint in hints.items():
        chosen = fixed.get(name, _MISSING)
        if chosen is _MISSING:
            strategy = codec_values() if hint is _MISSING else st.from_type(hint)
        elif isinstance(chosen, st.SearchStrategy):
            strategy = chosen
        else:
            strategy = st.just(chosen)
        (maybe if name in optional and name not in fixed else required)[name] = strategy
    return st.fixed_dictionaries(required, optional=maybe)


_MISSING: Any = object()


def _describe(target: Any) -> str:
    return f"{type(target).__name__} {getattr(target, 'name', target)!r}"


def _parameters(target: Any) -> tuple[dict[str, Any], set[str]]:
    """Parameter name -> type hint (or _MISSING), and the names that are optional."""
    from executor import Flow, Step
    from executor._names import CONTEXT_PARAM

    if isinstance(target, Step):
        hints = _hints(target.fn)
        return (
            {p.name: hints.get(p.name, _MISSING) for p in target.params if p.name != CONTEXT_PARAM},
            set(),
        )
    if isinstance(target, Flow):
        found: dict[str, Any] = {}
        for part in target.steps:
            part_hints = _hints(part.fn)
            for param in part.params:
                if param.name in target.inputs and found.get(param.name, _MISSING) is _MISSING:
                    found[param.name] = part_hints.get(param.name, _MISSING)
        ordered = {name: found.get(name, _MISSING) for name in target.inputs}
        return ordered, {name for name, needed in target.inputs.items() if not needed}
    raise TypeError(f"inputs_for needs a step or a Flow, got {target!r}")


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: those parameters get any value
        return {
            name: hint
            for name, hint in getattr(fn, "__annotations__", {}).items()
            if not isinstance(hint, str)
        }


# -- the engine's own types -------------------------------------------------------


def _error_infos() -> st.SearchStrategy[Any]:
    from executor import ErrorInfo

    return st.builds(
        ErrorInfo,
        type=st.sampled_from(["builtins.ValueError", "builtins.KeyError", "app.errors.Boom"]),
        message=st.text(max_size=30),
        traceback=st.text(max_size=60),
    )


@functools.cache
def _step_parts() -> st.SearchStrategy[tuple[Any, ...]]:
    from executor import StepStatus

    return st.tuples(
        st.sampled_from(StepStatus),
        codec_values(max_leaves=3),
        _error_infos(),
        st.integers(0, 5),
        st.floats(1.6e9, 2.0e9),
        st.floats(0, 60),
    )


def _step_result(where: str, parts: tuple[Any, ...]) -> Any:
    from executor import StepResult, StepStatus

    status, output, error, attempts, start, took = parts
    ok = status.ok
    ran = status not in (StepStatus.SKIPPED, StepStatus.CACHED, StepStatus.REPLAYED)
    return StepResult(
        address=where,
        name=where.rsplit("/", 1)[-1].split("[", 1)[0],
        status=status,
        output=output if ok else None,
        error=None if ok or status is StepStatus.PAUSED else error,
        attempts=max(1, attempts) if ran else 0,
        started_at=start if ran else None,
        ended_at=start + took if ran else None,
    )


def _step_results() -> st.SearchStrategy[Any]:
    return st.tuples(addresses(), _step_parts()).map(lambda p: _step_result(*p))


def _flow_results() -> st.SearchStrategy[Any]:
    from executor import FlowResult, RunStatus, StepStatus

    @st.composite
    def build(draw: st.DrawFn) -> FlowResult:
        flow = draw(_names())
        steps = draw(st.lists(_names(), unique=True, min_size=1, max_size=4))
        results = {f"{flow}/{s}": _step_result(f"{flow}/{s}", draw(_step_parts())) for s in steps}
        bad = any(r.status in (StepStatus.FAILED, StepStatus.TIMED_OUT) for r in results.values())
        start = draw(st.floats(1.6e9, 2.0e9))
        return FlowResult(
            flow=flow,
            status=RunStatus.FAILED if bad else RunStatus.COMPLETED,
            steps=results,
            started_at=start,
            ended_at=start + draw(st.floats(0, 600)),
            seed=draw(st.integers(0, 2**63 - 1)),
            usage={"steps": float(len(results))},
        )

    return build()


def _retries() -> st.SearchStrategy[Any]:
    from executor import Retry

    return st.builds(
        Retry,
        attempts=st.integers(1, 10),
        backoff=st.floats(0, 5),
        factor=st.floats(1, 4),
        max_delay=st.none() | st.floats(0, 60),
        jitter=st.floats(0, 1),
    )


def _cache_policies() -> st.SearchStrategy[Any]:
    from executor.cache import CachePolicy

    return st.builds(
        CachePolicy,
        ttl=st.none() | st.floats(0.001, 1e6),
        include_context=st.booleans(),
        codec=st.just("json"),
    )


def _usage_limits() -> st.SearchStrategy[Any]:
    from executor import UsageLimits

    return st.builds(
        UsageLimits,
        max_steps=st.none() | st.integers(0, 10_000),
        max_seconds=st.none() | st.floats(0, 3600),
        counters=st.dictionaries(st.text("abcdefgh", min_size=1, max_size=6), st.floats(0, 1e6)),
    )


def _step_stats() -> st.SearchStrategy[Any]:
    from executor import StepStats

    @st.composite
    def build(draw: st.DrawFn) -> StepStats:
        times = sorted(draw(st.lists(st.floats(0, 100), min_size=3, max_size=3)))
        count = draw(st.integers(0, 1000))
        return StepStats(
            count=count,
            failures=draw(st.integers(0, count)),
            cache_hits=draw(st.integers(0, 1000)),
            cache_misses=draw(st.integers(0, 1000)),
            mean=times[1],
            p50=times[0],
            p95=times[1],
            p99=times[2],
        )

    return build()


def register_engine_types() -> None:
    """Register strategies for the engine's value types with hypothesis.

    Called by hypothesis itself through the ``hypothesis`` entry point; call it
    yourself only where entry points are switched off (``HYPOTHESIS_NO_PLUGINS``).
    """
    from executor import (
        ErrorInfo,
        FlowResult,
        Retry,
        StepResult,
        StepStats,
        UsageLimits,
    )
    from executor.cache import CachePolicy

    registry: Mapping[type, Callable[[], st.SearchStrategy[Any]]] = {
        ErrorInfo: _error_infos,
        StepResult: _step_results,
        FlowResult: _flow_results,
        Retry: _retries,
        CachePolicy: _cache_policies,
        UsageLimits: _usage_limits,
        StepStats: _step_stats,
    }
    for kind, make in registry.items():
        st.register_type_strategy(kind, st.deferred(make))
