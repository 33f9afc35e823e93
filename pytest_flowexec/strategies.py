"""Hypothesis strategies for flowexec: values the engine stores exactly, inputs for your
steps and flows, and the engine's own types.

Every value :func:`codec_values` draws comes back from a state store, a cache and a
recording as an exact copy: equal, of the same type all the way down, with dicts in
the same insertion order (:func:`exact_copy` checks that). :func:`inputs_for` draws
valid inputs for a step or a flow from its type hints::

    from hypothesis import given
    from pytest_flowexec.strategies import codec_values, exact_copy, inputs_for

    @given(codec_values())
    def test_outputs_survive_the_store(value): ...

    @given(inputs_for(my_step))
    def test_my_step_never_fails(inputs):
        my_step(**inputs)

The engine's own types (``StepResult``, ``FlowResult``, ``Retry``, ``CachePolicy``,
``UsageLimits``, ...) are registered with :func:`hypothesis.strategies.register_type_strategy`
through hypothesis' ``hypothesis`` entry point as soon as hypothesis is imported, so
``st.from_type(StepResult)`` just works.

Needs the ``hypothesis`` extra: ``pip install "flowexec[hypothesis]"``.
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

from pytest_flowexec import _hypothesis
from pytest_flowexec._exact import exact_diff

try:
    from hypothesis import strategies as st
except ModuleNotFoundError as error:  # the [hypothesis] extra is not installed
    raise _hypothesis.missing(__name__, error) from None

__all__ = [
    "SampleColor",
    "SampleLevel",
    "SamplePair",
    "SamplePoint",
    "addresses",
    "codec_values",
    "exact_copy",
    "inputs_for",
    "register_engine_types",
]


class SampleColor(enum.Enum):
    """A plain enum (values of two types)."""

    RED = "red"
    BLUE = 2


class SampleLevel(enum.IntEnum):
    """An int-valued enum: a subclass of int that must come back as itself."""

    LOW = 1
    HIGH = 2


@dataclasses.dataclass(frozen=True)
class SamplePoint:
    """A frozen dataclass holding any stored value."""

    x: Any
    label: str = ""


class SamplePair(NamedTuple):
    """A named tuple: a tuple subclass that must come back as itself."""

    left: Any
    right: Any


def _text() -> st.SearchStrategy[str]:
    # Lone surrogates are not UTF-8: the codec refuses them (tested apart).
    return st.text(st.characters(exclude_categories=["Cs"]), max_size=8)


def _zones() -> st.SearchStrategy[dt.tzinfo]:
    fixed = st.timedeltas(
        min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)
    ).map(lambda offset: dt.timezone(dt.timedelta(minutes=offset // dt.timedelta(minutes=1))))
    return st.timezones() | fixed


def _big_ints() -> st.SearchStrategy[int]:
    # Up to the 4300-digit limit (10**4300 - 1 is the largest int the codec stores).
    magnitudes = st.integers(min_value=64, max_value=14_000).map(lambda bits: 2**bits - 1)
    largest = st.just(10**4300 - 1)
    return st.builds(lambda n, sign: n * sign, magnitudes | largest, st.sampled_from([1, -1]))


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        _big_ints(),
        st.floats(allow_nan=False),
        _text(),
        st.binary(max_size=16),
        st.decimals(allow_nan=False),
        st.uuids(),
        st.datetimes(),
        st.datetimes(timezones=_zones()),
        st.dates(),
        st.times(),
        st.times(timezones=st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=5))])),
        st.builds(pathlib.Path, _text()),
        st.builds(pathlib.PurePosixPath, _text()),
        st.builds(pathlib.PureWindowsPath, _text()),
        st.sampled_from(SampleColor),
        st.sampled_from(SampleLevel),
    )


def _hashables() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(),
        _text(),
        st.booleans(),
        st.tuples(st.integers(), _text()),
        st.frozensets(st.integers(), max_size=3),
        st.sampled_from(SampleColor),
    )


@functools.cache
def codec_values(*, max_leaves: int = 25) -> st.SearchStrategy[Any]:
    """Values of every type the typed codec stores, nested, dicts in any key order.

    Scalars (None, bool, int up to the 4300-digit limit, float, str, bytes,
    Decimal, UUID, datetime naive and zoned, date, time, paths of each flavour,
    enums), containers (list, tuple, set, frozenset, dicts with str keys in any
    insertion order, dicts with other keys or ``"$"`` keys) and typed values
    (dataclasses, named tuples), nested up to ``max_leaves`` leaves.
    """

    def containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.lists(inner, max_size=4),
            st.tuples(inner, inner),
            st.dictionaries(_text(), inner, max_size=5),
            st.dictionaries(_text().map(lambda k: "$" + k), inner, max_size=3),
            st.dictionaries(_hashables(), inner, max_size=3),
            st.sets(_hashables(), max_size=4),
            st.frozensets(_hashables(), max_size=4),
            st.builds(SamplePoint, inner, _text()),
            st.builds(SamplePair, inner, inner),
        )

    return st.recursive(_scalars(), containers, max_leaves=max_leaves)


def exact_copy(a: Any, b: Any) -> bool:
    """Whether ``b`` is an exact copy of ``a``: equal, same types all the way down,
    same dict order.

    Floats compare by bits (``-0.0`` is not ``0.0``; NaN equals NaN), decimals by
    their digits, datetimes and times also by their zone. This is the determinism
    marker's comparison finding no difference: one definition of "exact".
    """
    return not exact_diff(a, b, "a", "b")


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
