import asyncio
import functools
import gc
import inspect
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor import FlowDefinitionError, Retry, Step, StepParam, step
from executor._step import _params_of, known_step_names
from tests.executor import steps


def test_bare_decorator_keeps_the_function_callable():
    @step
    def add(a: int, b: int = 2) -> int:
        return a + b

    assert isinstance(add, Step)
    assert add(1) == 3
    assert add.name == "add"
    assert add.params == (StepParam("a", False), StepParam("b", True))
    assert add.__doc__ is None and add.__name__ == "add"


def test_decorator_with_options():
    @step(name="fetch_rows", retry=3, timeout=2, version="v2", critical=True)
    async def fetch(url: str) -> str:
        return url

    assert fetch.name == "fetch_rows"
    assert fetch.retry == Retry(attempts=3)
    assert fetch.timeout == 2.0
    assert fetch.version == "v2"
    assert fetch.critical is True
    assert fetch.is_async
    assert asyncio.run(fetch("u")) == "u"


def test_step_of_a_step_renames_and_keeps_other_options():
    twin = step(steps.stuck, name="stuck_again")
    assert twin.name == "stuck_again"
    assert twin.timeout == steps.stuck.timeout
    assert twin.fn is steps.stuck.fn
    assert steps.stuck.with_options(timeout=5).timeout == 5.0


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("two words", "not a Python identifier"),
        ("class", "not a Python identifier"),
        ("", "not a Python identifier"),
        ("context", "receives the run context"),
    ],
)
def test_bad_names_are_refused(name, needle):
    with pytest.raises(FlowDefinitionError, match=needle):
        step(lambda: 1, name=name)


def test_parameters_the_engine_cannot_pass_are_refused():
    def star(*rows):
        return rows

    def kw(**rows):
        return rows

    def positional(a, /):
        return a

    for fn, kind in [
        (star, "variadic positional"),
        (kw, "variadic keyword"),
        (positional, "positional-only"),
    ]:
        with pytest.raises(FlowDefinitionError, match=f"'{fn.__code__.co_varnames[0]}' is {kind}"):
            step(fn)


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), "1", True])
def test_bad_timeouts_are_refused(timeout):
    with pytest.raises(FlowDefinitionError, match="timeout must be a positive number"):
        step(lambda: 1, name="f", timeout=timeout)


def test_bad_retry_and_version_are_refused():
    with pytest.raises(FlowDefinitionError, match="retry must be a Retry or an int"):
        step(lambda: 1, name="f", retry="3")  # type: ignore[call-overload]
    with pytest.raises(FlowDefinitionError, match="version must be a str"):
        step(lambda: 1, name="f", version=2)  # type: ignore[call-overload]


def test_module_level_step_pickles_by_reference():
    assert pickle.loads(pickle.dumps(steps.double)) is steps.double


def test_renamed_step_pickles_by_value():
    twin = step(steps.double, name="twice", retry=2)
    copy = pickle.loads(pickle.dumps(twin))
    assert (copy.name, copy.retry, copy.fn) == ("twice", Retry(attempts=2), steps.double.fn)


def test_repr_names_step_and_function():
    assert repr(steps.double) == "<Step 'double' of tests.executor.steps.double>"


_names = st.lists(
    st.sampled_from(["a", "b", "c", "d", "e", "context", "load", "x1"]), unique=True, max_size=6
)


@given(
    positional=_names,
    keyword_only=_names,
    defaults=st.integers(0, 6),
    keyword_defaults=st.sets(st.integers(0, 5)),
    is_async=st.booleans(),
)
def test_plain_function_fast_path_reads_what_inspect_reads(
    positional, keyword_only, defaults, keyword_defaults, is_async
):
    """Step() reads a plain function's parameters from its code object; for every
    shape of signature that gives exactly what inspect.signature gives."""
    keyword_only = [n for n in keyword_only if n not in positional]
    first_default = max(len(positional) - defaults, 0)
    parts = [f"{n}=1" if i >= first_default else n for i, n in enumerate(positional)]
    if keyword_only:
        parts.append("*")
        parts += [f"{n}=2" if i in keyword_defaults else n for i, n in enumerate(keyword_only)]
    namespace: dict = {}
    prefix = "async " if is_async else ""
    exec(f"{prefix}def fn({', '.join(parts)}):\n    local = 1\n    return local", namespace)
    fn = namespace["fn"]
    made = Step(fn)
    assert made.params == _params_of("fn", fn)
    assert made.is_async is inspect.iscoroutinefunction(fn) is is_async


def test_wrapped_and_marked_functions_take_the_general_path():
    def inner(a, b=1):
        return a + b

    @functools.wraps(inner)
    def outer(*args, **kwargs):
        return inner(*args, **kwargs)

    # inspect follows __wrapped__: the step's parameters are inner's.
    assert step(outer).params == (StepParam("a", False), StepParam("b", True))

    def positional_only(a, /):
        return a

    with pytest.raises(FlowDefinitionError, match="positional-only"):
        step(positional_only)


def test_a_pytest_mark_given_a_lone_step_names_the_fix():
    @step
    def same(x: int) -> int:
        return x

    assert getattr(same, "pytestmark", []) == []
    with pytest.raises(FlowDefinitionError) as raised:
        pytest.mark.flow_cache_keys(same)
    assert str(raised.value).endswith(
        "pass the step in a list: @pytest.mark.flow_cache_keys([same])"
    )
    assert pytest.mark.flow_cache_keys([same]).args == ([same],)


def _functions(count: int) -> list:
    namespace: dict = {}
    exec("\n".join(f"def f{i}(a, b=1):\n    return a + b" for i in range(count)), namespace)
    return [namespace[f"f{i}"] for i in range(count)]


def test_step_leaves_one_object_for_the_garbage_collector():
    """Wrapping a plain function leaves the Step itself and nothing else the cyclic
    GC tracks (no closure per call, no weak reference, no parameters until a flow
    reads them): over many steps, GC passes were half of step()'s cost."""
    functions = _functions(2_000)
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        made = [step(f) for f in functions]
        tracked = len(gc.get_objects()) - before
    finally:
        gc.enable()
    # The list holding them is one more; allow a little slack, not 2 per step.
    assert tracked <= len(functions) * 1.1, tracked / len(functions)
    assert made[7].params == (StepParam("a", False), StepParam("b", True))


def test_parameters_are_read_once_on_first_use():
    def add(a, b=2):
        return a + b

    made = step(add)
    assert "params" not in vars(made)  # not read while defining the step
    first = made.params
    assert first == (StepParam("a", False), StepParam("b", True))
    assert made.params is first  # kept on the step
    assert Step.params.__get__(None, Step) is Step.params  # the class keeps its descriptor


def test_renamed_steps_are_known_names_too():
    twin = steps.double.with_options(name="double_for_known_names")
    assert twin.name in known_step_names()
    assert "double" in known_step_names()


def test_noted_names_are_folded_into_a_set_past_a_bound(monkeypatch):
    """step() appends each name to a list (cheap); past a bound the list is folded
    into the set of known names, so it never grows without limit."""
    import executor._step as step_module

    monkeypatch.setattr(step_module, "_NAMES_FOLDED_AT", 10)
    made = [step(f) for f in _functions(25)]
    assert len(step_module._NAMES) <= 10
    assert {s.name for s in made} <= known_step_names()
    assert not step_module._NAMES  # asking folds the rest
