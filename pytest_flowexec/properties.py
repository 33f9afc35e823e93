"""Property checks for your own steps: cache keys a cache can rely on.

Example::

    from pytest_flowexec.properties import check_cache_keys

    def test_fetch_rates_cache_keys():
        check_cache_keys(fetch_rates)          # inputs drawn from its type hints

or, one generated test per step, ``@pytest.mark.flow_cache_keys(fetch_rates, enrich)``.

Needs the ``hypothesis`` extra: ``pip install "flowexec[hypothesis]"``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pytest_flowexec import _hypothesis

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ModuleNotFoundError as error:  # the [hypothesis] extra is not installed
    raise _hypothesis.missing(__name__, error) from None

from pytest_flowexec.strategies import inputs_for

__all__ = ["CacheKeyPropertyError", "check_cache_keys"]

DEFAULT_HASH_SEEDS = (1, 2)
"""The ``PYTHONHASHSEED`` values the cross-process property runs subprocesses with."""
_CROSS_PROCESS_SAMPLES = 25
"""How many drawn inputs the subprocesses key again (one subprocess per hash seed)."""


class CacheKeyPropertyError(AssertionError):
    """A cache-key property does not hold for a step; the message shows the inputs
    and the keys that broke it."""


def check_cache_keys(
    step: Any,
    inputs: st.SearchStrategy[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    *,
    hash_seeds: Iterable[int] = DEFAULT_HASH_SEEDS,
    max_examples: int | None = None,
) -> None:
    """Assert that ``step``'s cache keys behave as a cache needs them to.

    For inputs drawn by hypothesis (shrunk to a minimal counterexample on failure):

    - a key is stable: the same inputs, and a deep copy of them, give the same key;
    - dict and set order never matter;
    - distinct inputs give distinct keys, including ``1`` vs ``1.0`` vs ``True``,
      ``[1]`` vs ``(1,)`` and dicts that differ in one nested value (with a
      ``CachePolicy(key=...)``, distinct *key values* give distinct keys);
    - keys change when the step's ``version=`` changes, or, without a version, when
      its source changes;
    - keys are equal in subprocesses started with other ``PYTHONHASHSEED`` values.

    Args:
        step: a ``@step`` (its ``CachePolicy``, if any, is what is checked).
        inputs: a strategy of input dicts; or a dict pinning some parameters (to
            values or strategies); ``None`` draws every parameter from its type hint.
        hash_seeds: the hash seeds of the cross-process check; ``()`` skips it (for a
            step that is not importable at module level).
        max_examples: hypothesis examples; by default the active settings profile's.

    Raises:
        CacheKeyPropertyError: a property does not hold; the message names it, the
            input and the keys.
    """
    from executor import Step

    if not isinstance(step, Step):
        raise TypeError(f"check_cache_keys needs a @step, got {step!r}")
    strategy = _strategy(step, inputs)
    seen: list[dict[str, Any]] = []
    example_settings = settings(
        max_examples=max_examples if max_examples is not None else settings().max_examples,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        deadline=None,
        report_multiple_bugs=False,
    )

    @example_settings
    @given(first=strategy, second=strategy)
    def properties(first: dict[str, Any], second: dict[str, Any]) -> None:
        _check_one(step, first)
        _check_distinct(step, first, second)
        if len(seen) < _CROSS_PROCESS_SAMPLES:
            seen.append(first)

    properties.__qualname__ = f"check_cache_keys[{step.name}]"
    properties()
    _check_identity(step, seen[0] if seen else {})
    seeds = tuple(hash_seeds)
    if seeds and seen:
        _check_across_processes(step, seen, seeds)


def _strategy(
    step: Any, inputs: st.SearchStrategy[Mapping[str, Any]] | Mapping[str, Any] | None
) -> st.SearchStrategy[Any]:
    if inputs is None:
        return inputs_for(step)
    if isinstance(inputs, st.SearchStrategy):
        return inputs.map(dict)
    return inputs_for(step, **inputs)


def _key(step: Any, inputs: Mapping[str, Any]) -> str:
    from executor.cache import call_key

    return call_key(step, inputs)


def _identifying(step: Any, inputs: Mapping[str, Any]) -> Any:
    """What a key must identify: the inputs, or a ``CachePolicy(key=...)``'s value."""
    policy = step.cache
    if policy is not None and policy.key is not None:
        return policy.key(inputs)
    return dict(inputs)


def _fail(step: Any, problem: str, **shown: Any) -> CacheKeyPropertyError:
    lines = [f"check_cache_keys(step {step.name!r}): {problem}"]
    lines += [f"  {name.replace('_', ' ')}: {_short(value)}" for name, value in shown.items()]
    return CacheKeyPropertyError("\n".join(lines))


def _short(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_one(step: Any, inputs: dict[str, Any]) -> None:
    import copy

    key = _key(step, inputs)
    again = _key(step, inputs)
    if again != key:
        raise _fail(
            step, "the same inputs gave two different keys", input=inputs, key_1=key, key_2=again
        )
    shuffled = _reordered(inputs)
    other = _key(step, shuffled)
    if other != key:
        raise _fail(
            step,
            "reordering dicts and sets in the inputs changed the key (dict and set order "
            "must not matter)",
            input=inputs,
            reordered_input=shuffled,
            key_1=key,
            key_2=other,
        )
    copied = copy.deepcopy(inputs)
    if _key(step, copied) != key:
        raise _fail(
            step,
            "a deep copy of the inputs gave another key (does the key depend on object "
            "identity, or on the iteration order of a set?)",
            input=inputs,
            key_1=key,
            key_2=_key(step, copied),
        )
    for where, variant in _confusables(_identifying(step, inputs)):
        if step.cache is not None and step.cache.key is not None:
            from executor.cache import CacheKeyGenerator

            keys = CacheKeyGenerator()
            mine = keys.key_of(step, _identifying(step, inputs), "key")
            theirs = keys.key_of(step, variant, "key")
        else:
            mine, theirs = key, _key(step, variant)
        if mine == theirs:
            raise _fail(
                step,
                f"two distinct inputs gave the same key (they differ at {where})",
                input=inputs,
                other_input=variant,
                key=mine,
            )


def _check_distinct(step: Any, first: dict[str, Any], second: dict[str, Any]) -> None:
    a, b = _identifying(step, first), _identifying(step, second)
    if canonical(a) == canonical(b):
        return
    key_a, key_b = _key(step, first), _key(step, second)
    if key_a == key_b:
        raise _fail(
            step,
            "two distinct inputs gave the same key",
            input=first,
            other_input=second,
            key=key_a,
        )


def _check_identity(step: Any, inputs: dict[str, Any]) -> None:
    from executor.cache import step_identity

    key = _key(step, inputs)
    versioned = step.with_options(version=f"{step.version or ''}+changed")
    if _key(versioned, inputs) == key:
        raise _fail(
            step,
            "changing the step's version= did not change its keys",
            input=inputs,
            key=key,
        )
    if step.version is None and not step.is_composite:
        edited = step._copy()
        edited.fn = _edited(step.fn)
        if step_identity(edited) == step_identity(step) or _key(edited, inputs) == key:
            raise _fail(
                step,
                "changing the step's source did not change its keys (give it version= "
                "or keep its source readable)",
                input=inputs,
                key=key,
            )


def _edited(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A function that behaves like ``fn`` but has other source text."""

    def edited(*args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never called
        return fn(*args, **kwargs)

    return edited


def _check_across_processes(
    step: Any, samples: list[dict[str, Any]], seeds: tuple[int, ...]
) -> None:
    keys = [_key(step, inputs) for inputs in samples]
    try:
        payload = pickle.dumps((step, samples))
    except Exception as error:
        raise _fail(
            step,
            f"the cross-process property needs the step and its inputs to be picklable "
            f"({error}); define the step at module level, or pass hash_seeds=() to skip it",
        ) from None
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    children = []
    for seed in seeds:
        child_env = dict(env, PYTHONHASHSEED=str(seed))
        children.append(
            (
                seed,
                subprocess.Popen(
                    [sys.executable, "-c", _CHILD],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=child_env,
                ),
            )
        )
    answers = [(seed, child, *child.communicate(payload, timeout=120)) for seed, child in children]
    for seed, child, out, err in answers:
        if child.returncode != 0:
            raise _fail(
                step,
                f"a subprocess with PYTHONHASHSEED={seed} could not key the inputs",
                stderr=err.decode(errors="replace")[-2000:],
            )
        theirs = json.loads(out)
        differing = [
            i for i, (mine, other) in enumerate(zip(keys, theirs, strict=True)) if mine != other
        ]
        if differing:
            smallest = min(differing, key=lambda i: len(repr(samples[i])))
            raise _fail(
                step,
                f"keys differ in a subprocess with PYTHONHASHSEED={seed} (the key depends "
                f"on hash(): set iteration order, or hash() of a str?)",
                input=samples[smallest],
                key_here=keys[smallest],
                key_there=theirs[smallest],
                inputs_affected=f"{len(differing)} of {len(keys)}",
            )


_CHILD = """
import json, pickle, sys
from executor.cache import call_key
step, samples = pickle.load(sys.stdin.buffer)
print(json.dumps([call_key(step, inputs) for inputs in samples]))
"""


# -- value helpers ------------------------------------------------------------------


def canonical(value: Any) -> str:
    """A text that is equal for two values exactly when they are the same value of
    the same types, whatever the order of dicts and sets (``1``, ``1.0`` and ``True``
    differ; so do ``[1]`` and ``(1,)``)."""
    kind = type(value)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if isinstance(value, float):
        return f"{name}({'nan' if math.isnan(value) else repr(value)})"
    if isinstance(value, Mapping):
        items = sorted(f"{canonical(k)}:{canonical(v)}" for k, v in value.items())
        return f"{name}{{{','.join(items)}}}"
    if isinstance(value, (set, frozenset)):
        return f"{name}{{{','.join(sorted(canonical(v) for v in value))}}}"
    if isinstance(value, (list, tuple)):
        return f"{name}[{','.join(canonical(v) for v in value)}]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = ",".join(
            f"{f.name}={canonical(getattr(value, f.name))}" for f in dataclasses.fields(value)
        )
        return f"{name}({fields})"
    if isinstance(value, enum.Enum):
        return f"{name}.{value.name}"
    return f"{name}({value!r})"


def _reordered(value: Any) -> Any:
    """``value`` with every dict's items and every set's insertion order reversed."""
    if type(value) is dict:
        return {k: _reordered(v) for k, v in reversed(list(value.items()))}
    if type(value) is list:
        return [_reordered(v) for v in value]
    if type(value) is tuple:
        return tuple(_reordered(v) for v in value)
    if type(value) in (set, frozenset):
        items = sorted(value, key=canonical, reverse=True)
        return type(value)(items)
    return value


def _confusables(value: Any, where: str = "inputs") -> Iterable[tuple[str, Any]]:
    """Variants of ``value`` that a careless key would confuse with it: ``1`` / ``1.0``
    / ``True``, a list / a tuple, and a dict with one nested value changed."""
    for path, variant in _variants(value):
        yield f"{where}{path}", variant


def _variants(value: Any) -> Iterable[tuple[str, Any]]:
    kind = type(value)
    if kind is bool:
        yield "", int(value)
    elif kind is int:
        yield "", float(value) if abs(value) < 2**53 else str(value)
        if value in (0, 1):
            yield "", bool(value)
    elif kind is float and math.isfinite(value) and value == int(value) and abs(value) < 2**53:
        yield "", int(value)
    elif kind is list:
        yield "", tuple(value)
    elif kind is tuple:
        yield "", list(value)
    if kind is dict:
        for k, v in value.items():
            for path, variant in _variants(v):
                yield f"[{k!r}]{path}", {**value, k: variant}
                break  # one variant per entry keeps the check cheap
    elif kind in (list, tuple):
        for i, v in enumerate(value):
            for path, variant in _variants(v):
                changed = list(value)
                changed[i] = variant
                yield f"[{i}]{path}", kind(changed)
                break
