"""The comparisons behind flow_determinism, in-process (the sessions are in
test_determinism_marker.py)."""

import copy
import datetime as dt
import math
from decimal import Decimal

import pytest
from hypothesis import given

from executor import Flow, step
from executor.testing import capture_runs
from pytest_flowexec import _determinism as det
from pytest_flowexec._properties_plugin import Tally, _matrix
from pytest_flowexec.strategies import codec_values, exact_copy


def test_exact_diff_is_exact_about_types_order_nan_and_signed_zero():
    assert det.exact_diff({"a": [1, (2,)]}, {"a": [1, (2,)]}, "x", "y") == []
    assert det.exact_diff(math.nan, math.nan, "x", "y") == []
    assert det.exact_diff(1, 1.0, "x", "y") == [": 1 (x) vs 1.0 (y) (types int vs float)"]
    assert det.exact_diff([1], (1,), "x", "y") == [": [1] (x) vs (1,) (y) (types list vs tuple)"]
    assert det.exact_diff(0.0, -0.0, "x", "y") == [": 0.0 (x) vs -0.0 (y)"]
    assert det.exact_diff({"a": 1, "b": 2}, {"b": 2, "a": 1}, "x", "y", " (why)") == [
        ": same items in another order: ['a', 'b'] (x) vs ['b', 'a'] (y) (why)"
    ]
    assert det.exact_diff({"a": {"b": [1, 2]}}, {"a": {"b": [1, 3]}}, "x", "y") == [
        "['a']['b'][1]: 2 (x) vs 3 (y)"
    ]


def test_exact_diff_and_exact_copy_are_one_definition_of_exact():
    # exact_copy (strategies) is exact_diff (the determinism marker) finding nothing:
    # these differences used to count for one and not the other.
    utc, plus_one = dt.timezone.utc, dt.timezone(dt.timedelta(hours=1))
    pairs = [
        (Decimal("1.0"), Decimal("1.00"), [": Decimal('1.0') (x) vs Decimal('1.00') (y)"]),
        (
            dt.datetime(2024, 1, 1, 12, tzinfo=utc),
            dt.datetime(2024, 1, 1, 13, tzinfo=plus_one),
            ["*"],
        ),
        ({1: "a"}, {True: "a"}, [" key 1: 1 (x) vs True (y) (types int vs bool)"]),
        ({1, 2}, {1.0, 2}, ["*"]),
    ]
    for a, b, expected in pairs:
        found = det.exact_diff(a, b, "x", "y")
        assert found and (expected == ["*"] or found == expected), (a, b, found)
        assert not exact_copy(a, b)
        assert exact_copy(a, a) and det.exact_diff(a, a, "x", "y") == []


@given(codec_values())
def test_a_deep_copy_is_exact_by_both(value):
    twin = copy.deepcopy(value)
    assert det.exact_diff(value, twin, "x", "y") == [] and exact_copy(value, twin)


class Opaque:
    """No __eq__ of its own: runs compare what it shows."""

    def __init__(self, n):
        self.n = n

    def __repr__(self):
        return f"Opaque({self.n})"


def test_values_without_eq_compare_by_what_they_show():
    assert det.exact_diff(Opaque(1), Opaque(1), "x", "y") == []
    assert det.exact_diff(Opaque(1), Opaque(2), "x", "y") == [": Opaque(1) (x) vs Opaque(2) (y)"]


@step
def base(n: int) -> dict:
    return {"n": n, "half": n / 2}


@step
def twice(base: dict) -> int:
    return base["n"] * 2


def _captured(flow, **inputs):
    with capture_runs() as runs:
        flow.run(**inputs)
    (run,) = runs
    return run


def test_capture_runs_keeps_the_run_as_asked_for():
    flow = Flow("f", [base, twice])
    context = {"who": "ada"}
    with capture_runs() as outer, capture_runs() as inner:
        flow.run(n=3, context=context, executor="threaded", seed=5)
        context["who"] = "changed after"
    assert len(outer) == len(inner) == 1
    run = outer[0]
    assert run.flow is flow and run.inputs == {"n": 3} and run.executor == "threaded"
    assert run.context == {"who": "ada"}  # copied as the run started
    assert run.options["seed"] == 5 and run.options["on_failure"] == "stop"
    flow.run(n=1)
    assert len(outer) == 1  # closed blocks capture nothing more


def test_a_replay_that_changes_a_value_is_reported(monkeypatch):
    run = _captured(Flow("f", [base, twice]), n=3)
    options = det.Options(executors=("sequential",), runs=1)
    assert _matrix(0, run, None, options, Tally())[0] == []
    import executor.testing

    real = executor.testing.decode_value

    def lossy(data, where="value"):
        value = real(data, where)
        return {**value, "half": 0} if isinstance(value, dict) else value

    monkeypatch.setattr(executor.testing, "decode_value", lossy)
    problems = _matrix(0, run, None, options, Tally())[0]
    assert problems[0] == (
        "flow 'f' (run 0 of the test): replaying a recording of sequential run 1 did not "
        "reproduce it:"
    )
    assert (
        "  f/base['half']: 1.5 (sequential run 1) vs 0 (replay of the recording) "
        "(types float vs int)" in problems
    )
    # the changed value reaches the next step's input digest: a strict replay refuses it
    assert any(line.startswith("  f/twice: ok (sequential run 1) vs failed") for line in problems)


def test_failures_compare_by_error_and_runs_that_stop_are_not_blamed_for_skips():
    @step
    def boom(n: int) -> int:
        raise ValueError(f"bad n {n}")

    @step
    def after(boom: int) -> int:
        return boom

    run = _captured_failing(Flow("g", [boom, after]), n=2)
    options = det.Options(executors=("sequential", "threaded"), runs=2, round_trip=False)
    problems, reference, made = _matrix(0, run, None, options, Tally())
    assert problems == [] and made == 4
    assert reference.steps["g/boom"] == ("failed", "builtins.ValueError: bad n 2")


def _captured_failing(flow, **inputs):
    from executor import StepFailed

    with capture_runs() as runs, pytest.raises(StepFailed):
        flow.run(**inputs)
    return runs[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"runs": 0}, "runs= must be an int >= 1, got 0"),
        ({"executors": "threaded"}, "executors= must be a non-empty list of executor names"),
        ({"inputs": {"n": 1}}, "inputs= must be a hypothesis strategy of input dicts"),
        ({"executor": ["x"]}, "unknown argument(s) executor; it takes executors, frozen_time"),
    ],
)
def test_marker_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        det.Options.parse("t.py::test", kwargs)
