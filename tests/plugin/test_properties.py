"""pytest_flowexec.strategies and .properties: the tools downstream projects use to
prove their own steps' cache keys and inputs behave."""

import re
import subprocess
import sys
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor import (
    CachePolicy,
    Flow,
    FlowResult,
    Retry,
    StepResult,
    StepStatus,
    UsageLimits,
    step,
)
from executor.cache import _keys as keys_module
from executor.cache import call_key
from pytest_flowexec.properties import CacheKeyPropertyError, canonical, check_cache_keys
from pytest_flowexec.strategies import codec_values, inputs_for
from tests.plugin import key_steps

# -- strategies -------------------------------------------------------------------


@settings(max_examples=50)
@given(st.from_type(StepResult))
def test_from_type_builds_valid_step_results(result):
    assert isinstance(result, StepResult)
    assert result.address.endswith(result.name) or f"{result.name}[" in result.address
    assert (result.output is None) or result.ok
    if result.status in (StepStatus.FAILED, StepStatus.TIMED_OUT):
        assert result.error is not None and result.attempts >= 1


@settings(max_examples=30)
@given(st.from_type(FlowResult))
def test_from_type_builds_valid_flow_results(result):
    assert all(address.startswith(result.flow + "/") for address in result.steps)
    assert (result.status.value == "failed") == bool(result.failed)
    assert result.ended_at >= result.started_at


@settings(max_examples=30)
@given(st.from_type(Retry), st.from_type(CachePolicy), st.from_type(UsageLimits))
def test_from_type_builds_valid_policies(retry, policy, limits):
    # constructing them ran their validation; a delay is always finite and >= 0
    assert retry.delay(1) >= 0
    assert policy.ttl is None or policy.ttl > 0
    assert all(v >= 0 for v in limits.counters.values())


def test_engine_types_register_through_the_hypothesis_entry_point():
    code = (
        "import sys\n"
        "from hypothesis import strategies as st\n"
        "assert 'pytest_flowexec.strategies' in sys.modules, 'entry point not run'\n"
        "from executor import StepResult\n"
        "print(type(st.from_type(StepResult).example()).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "StepResult"


KINDS = {
    "dict": dict,
    "list": list,
    "tuple": tuple,
    "set": set,
    "frozenset": frozenset,
    "bytes": bytes,
    "str": str,
    "float": float,
    "int": int,
    "bool": bool,
}


def test_codec_values_reach_every_kind_of_value():
    seen: set[str] = set()

    @settings(max_examples=400, database=None)
    @given(codec_values())
    def collect(value):
        stack = [value]
        while stack:
            item = stack.pop()
            seen.add(type(item).__name__)
            if isinstance(item, dict):
                stack += [*item.keys(), *item.values()]
            elif isinstance(item, (list, tuple, set, frozenset)):
                stack += list(item)

    collect()
    wanted = {
        *KINDS,
        "NoneType",
        "datetime",
        "date",
        "time",
        "Decimal",
        "UUID",
        "SampleColor",
        "SampleLevel",
        "SamplePair",
        "SamplePoint",
        "PurePosixPath",
        "PureWindowsPath",
    }
    assert wanted <= seen, f"never drawn: {sorted(wanted - seen)}"


@step
def priced(amount: int, currency: str, rate: float = 1.0, context: dict | None = None) -> float:
    return amount * rate


@step
def report(priced: float, label: str, *, limit: int | None = None) -> str:
    return f"{label}: {priced}"


@settings(max_examples=60)
@given(inputs_for(priced))
def test_inputs_for_a_step_follows_its_hints(inputs):
    assert set(inputs) == {"amount", "currency", "rate"}  # never the context
    assert type(inputs["amount"]) is int and type(inputs["currency"]) is str
    assert isinstance(inputs["rate"], float)


@settings(max_examples=80)
@given(inputs_for(Flow("bill", [priced, report]), currency=st.sampled_from(["EUR", "USD"])))
def test_inputs_for_a_flow_draws_its_flow_inputs(inputs):
    assert (
        {"amount", "currency", "label"}
        <= set(inputs)
        <= {"amount", "currency", "label", "rate", "limit"}
    )
    assert inputs["currency"] in ("EUR", "USD")
    assert type(inputs["label"]) is str


def test_inputs_for_names_a_parameter_it_does_not_take():
    with pytest.raises(
        TypeError, match=r"no parameter\(s\) amout; it takes amount, currency, rate"
    ):
        inputs_for(priced, amout=3)


@settings(max_examples=10)
@given(inputs_for(priced, amount=7, currency=st.just("EUR")))
def test_inputs_for_pins_values_and_strategies(drawn):
    assert drawn["amount"] == 7 and drawn["currency"] == "EUR"


def test_canonical_tells_confusable_values_apart_and_ignores_order():
    assert len({canonical(1), canonical(1.0), canonical(True), canonical("1")}) == 4
    assert canonical([1]) != canonical((1,))
    assert canonical({"a": 1, "b": {2, 3}}) == canonical({"b": {3, 2}, "a": 1})
    assert canonical(0.0) != canonical(-0.0)


# -- check_cache_keys -----------------------------------------------------------------


def test_the_engines_keys_pass_for_typed_steps():
    check_cache_keys(key_steps.fetch, max_examples=40)
    check_cache_keys(key_steps.versioned, max_examples=20)
    check_cache_keys(key_steps.by_url, max_examples=20)  # a key= that ignores timeout


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        # a set's iteration order can change on a deep copy too: either finding is right
        (
            key_steps.set_order,
            "(reordering dicts and sets in the inputs|a deep copy of the inputs gave another key)",
        ),
        (key_steps.dict_order, "reordering dicts and sets in the inputs changed the key"),
        (key_steps.noisy, "the same inputs gave two different keys"),
    ],
    ids=["set order", "dict order", "random"],
)
def test_a_key_function_that_is_not_deterministic_fails_with_both_keys(target, problem):
    with pytest.raises(CacheKeyPropertyError) as caught:
        check_cache_keys(target, hash_seeds=(), max_examples=100)
    message = str(caught.value)
    assert re.search(rf"check_cache_keys\(step {target.name!r}\): {problem}", message)
    assert "  input: {" in message
    assert message.count(" key ") + message.count("key 1:") + message.count("key 2:") >= 2


def test_a_hash_seed_dependent_key_fails_across_processes():
    with pytest.raises(CacheKeyPropertyError) as caught:
        check_cache_keys(key_steps.hashed, max_examples=20)
    message = str(caught.value)
    assert "keys differ in a subprocess with PYTHONHASHSEED=" in message
    assert "key here:" in message and "key there:" in message
    assert "input: {'name': " in message


def test_a_step_that_cannot_travel_is_named_with_the_way_out():
    @step(cache=CachePolicy())
    def local(x: int) -> int:
        return x

    with pytest.raises(
        CacheKeyPropertyError,
        match=r"define the step at module level, or pass "
        r"hash_seeds=\(\) to skip it",
    ):
        check_cache_keys(local, max_examples=5)
    check_cache_keys(local, hash_seeds=(), max_examples=5)


def test_a_key_generator_that_confuses_one_and_one_point_zero_is_caught(monkeypatch):
    import executor.cache

    real = keys_module.call_key

    def careless(step, inputs, context=None, *, address=None):
        loose = {k: float(v) if type(v) in (int, bool) else v for k, v in inputs.items()}
        return real(step, loose, context, address=address)

    # call_key is what the engine keys a call by, and what the checker calls
    monkeypatch.setattr(executor.cache, "call_key", careless)
    with pytest.raises(CacheKeyPropertyError, match="two distinct inputs gave the same key"):
        check_cache_keys(key_steps.versioned, hash_seeds=(), max_examples=50)


def test_keys_that_ignore_the_version_are_caught(monkeypatch):
    @step(cache=CachePolicy(), version="1")
    def fresh(x: int) -> int:  # a new step: no identity cached on it yet
        return x

    monkeypatch.setattr(keys_module, "_prefix", lambda step: b"fixed")
    with pytest.raises(CacheKeyPropertyError, match="changing the step's version= did not change"):
        check_cache_keys(fresh, hash_seeds=(), max_examples=5)


def test_keys_that_ignore_the_source_are_caught(monkeypatch):
    import executor._step as step_module

    @step(cache=CachePolicy())
    def fresh(x: int) -> int:  # a new step: no identity cached on it yet
        return x

    # an identity blind to the function's source: an edited body would keep its keys
    monkeypatch.setattr(step_module.Step, "identity_material", lambda self: b"same")
    with pytest.raises(CacheKeyPropertyError, match="changing the step's source did not change"):
        check_cache_keys(fresh, hash_seeds=(), max_examples=5)


def test_call_key_is_the_key_the_engine_caches_under():
    from executor.cache import MemoryCache

    cache = MemoryCache()
    result = Flow("f", [key_steps.fetch]).run(url="u", limit=3, tags={"a": [1]}, cache=cache)
    assert result.steps["f/fetch"].cache_key == call_key(
        key_steps.fetch, {"url": "u", "limit": 3, "tags": {"a": [1]}}
    )


def test_check_cache_keys_refuses_what_is_not_a_step():
    with pytest.raises(TypeError, match="check_cache_keys needs a @step"):
        check_cache_keys(typing.cast(typing.Any, lambda x: x))
