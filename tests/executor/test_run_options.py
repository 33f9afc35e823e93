"""A run option that cannot work is refused before the run starts, naming the fix."""

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor import ExecutorCore, Flow, FlowDefinitionError, step
from executor.state import MemoryStateBackend

calls: list[int] = []


@step
def g(x: int) -> int:
    calls.append(x)
    return x


flow = Flow("f", [g])

SEED_LIMIT = 2**64


@pytest.mark.parametrize(
    ("seed", "shown", "problem"),
    [
        ("abc", "'abc'", "must be an int"),
        (True, "True", "must be an int"),
        (1.0, "1.0", "must be an int"),
        (None.__class__, "<class 'NoneType'>", "must be an int"),
        (-1, "-1", "outside the 64-bit range"),
        (SEED_LIMIT, str(SEED_LIMIT), "outside the 64-bit range"),
    ],
)
def test_a_bad_seed_is_refused_before_any_step_runs(seed, shown, problem):
    calls.clear()
    with pytest.raises(FlowDefinitionError) as info:
        flow.run(x=1, seed=seed)
    message = str(info.value)
    assert message.startswith("flow 'f': seed")
    assert shown in message and problem in message
    assert "pass an int from 0 to 2**64 - 1" in message
    assert calls == []


def test_a_bad_seed_is_refused_by_arun_and_by_a_stored_run_before_writing():
    store = MemoryStateBackend()
    with pytest.raises(FlowDefinitionError, match="seed must be an int"):
        asyncio.run(flow.arun(x=1, seed="abc"))
    with pytest.raises(FlowDefinitionError, match="seed must be an int"):
        flow.run(x=1, seed="abc", store=store)
    assert store.list_states() == []


@given(st.integers(min_value=0, max_value=SEED_LIMIT - 1))
def test_every_64_bit_seed_runs_and_is_reported(seed):
    assert flow.run(x=1, seed=seed).seed == seed


@given(st.integers().filter(lambda n: not 0 <= n < SEED_LIMIT))
def test_every_seed_outside_64_bits_is_refused(seed):
    with pytest.raises(FlowDefinitionError, match="outside the 64-bit range"):
        flow.run(x=1, seed=seed)


def test_an_integer_like_seed_counts_as_its_int():
    class Index:
        def __index__(self) -> int:
            return 7

    result = flow.run(x=1, seed=Index())
    assert result.seed == 7 and type(result.seed) is int


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"plugins": "my_plugin"}, "plugins= takes a list of objects"),
        ({"plugins": object()}, "plugins= takes a list of objects"),
        ({"plugins": ["my_plugin"]}, "got the string 'my_plugin'"),
        ({"cache": "memory"}, "cache= must be a cache backend, got 'memory'"),
        ({"outputs": 5}, "outputs= takes step names, got 5; pass a list such as outputs=['g']"),
        ({"metadata": {"tag": 1}, "store": MemoryStateBackend()}, "must be a StateMetadata"),
        ({"step_executor": 5}, "step_executor must be a callable"),
    ],
)
def test_other_bad_run_options_are_refused_naming_the_value(options, words):
    calls.clear()
    with pytest.raises(FlowDefinitionError) as info:
        flow.run(x=1, **options)
    assert words in str(info.value)
    assert calls == []


def test_inputs_that_are_not_a_mapping_are_refused():
    with pytest.raises(FlowDefinitionError, match=r"the inputs are a mapping .* got \[1\]"):
        flow.run([1])  # type: ignore[arg-type]
    with pytest.raises(FlowDefinitionError, match=r"the inputs are a mapping .* got \[1\]"):
        ExecutorCore().run(flow, [1])  # type: ignore[arg-type]
