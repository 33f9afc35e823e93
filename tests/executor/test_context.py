import dataclasses
import random
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor import (
    ContextConflict,
    FailureStrategy,
    Flow,
    MergeStrategy,
    StepFailed,
    StepStatus,
    parallel,
    step,
)
from executor._context import fields_of, isolated_copy, merge_contexts
from tests.conftest import ALL_EXECUTORS
from tests.executor import composite_steps as cs


@dataclasses.dataclass
class Ctx:
    user: str = "ada"
    a: str | None = None
    b: str | None = None
    shared: str | None = None
    scratchpad: dict = dataclasses.field(default_factory=dict)


def run_branches(strategy, context, executor="threaded", on_failure=FailureStrategy.PROPAGATE):
    flow = Flow(
        "c",
        [
            parallel(
                "marks", {"a": cs.mark_a, "b": cs.mark_b}, merge=strategy, on_failure=on_failure
            )
        ],
    )
    return flow.run(context=context, executor=executor)


def test_branches_work_on_isolated_copies(any_executor):
    context = {"start": 1}
    run_branches(MergeStrategy.NO_MERGE, context, any_executor)
    assert context == {"start": 1}  # what each branch did stayed in its copy


def test_context_update_applies_each_branch_changes(any_executor):
    context = {"user": "ada"}
    flow = Flow(
        "c", [parallel("p", {"x": cs.set_a, "y": cs.set_b}, merge=MergeStrategy.CONTEXT_UPDATE)]
    )
    flow.run(context=context, executor=any_executor)
    assert context == {"user": "ada", "a": "A", "b": "B"}


def test_context_update_on_dataclasses_in_place():
    @step
    def set_a(context):
        context.a = "A"

    @step
    def set_b(context):
        context.b = "B"

    context = Ctx()
    Flow("c", [parallel("p", {"x": set_a, "y": set_b}, merge=MergeStrategy.CONTEXT_UPDATE)]).run(
        context=context
    )
    assert (context.a, context.b, context.user) == ("A", "B", "ada")


@pytest.mark.parametrize("executor", ALL_EXECUTORS)
def test_conflicting_changes_name_field_and_branches(executor):
    flow = Flow(
        "c",
        [
            parallel(
                "p", {"first": cs.clash_a, "second": cs.clash_b}, merge=MergeStrategy.CONTEXT_UPDATE
            )
        ],
    )
    with pytest.raises(StepFailed) as info:
        flow.run(context={"shared": None}, executor=executor)
    cause = info.value.cause
    assert isinstance(cause, ContextConflict)
    assert cause.field == "shared" and cause.branches == ("first", "second")
    assert "branches 'first', 'second' both changed context field 'shared'" in str(cause)


@pytest.mark.parametrize("executor", ["sequential", "threaded", "async"])
def test_documented_except_context_conflict_catches_the_run_error(executor):
    flow = Flow(
        "c",
        [
            parallel(
                "p", {"first": cs.clash_a, "second": cs.clash_b}, merge=MergeStrategy.CONTEXT_UPDATE
            )
        ],
    )
    with pytest.raises(ContextConflict) as info:  # what `except ContextConflict` sees
        flow.run(context={"shared": None}, executor=executor)
    conflict = info.value
    assert (conflict.field, conflict.branches) == ("shared", ("first", "second"))
    assert isinstance(conflict, StepFailed) and conflict.address == "c/p"
    assert conflict.result.steps["c/p"].status is StepStatus.FAILED


def test_same_change_in_two_branches_is_no_conflict():
    @step
    def same_a(context):
        context["shared"] = "same"

    @step
    def same_b(context):
        context["shared"] = "same"

    context = {}
    Flow("c", [parallel("p", {"x": same_a, "y": same_b}, merge=MergeStrategy.CONTEXT_UPDATE)]).run(
        context=context
    )
    assert context == {"shared": "same"}


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (MergeStrategy.NO_MERGE, {}),
        (MergeStrategy.OVERWRITE, {"shared": "B"}),
        (MergeStrategy.KEEP_FIRST, {"shared": "A"}),
    ],
)
def test_overwrite_keep_first_and_no_merge(strategy, expected):
    context = {}
    Flow("c", [parallel("p", {"x": cs.clash_a, "y": cs.clash_b}, merge=strategy)]).run(
        context=context, executor="threaded"
    )
    assert context == expected


def test_scratchpads_are_deep_merged(any_executor):
    context = {"scratchpad": {"seed": {"kept": True}}}
    run_branches(MergeStrategy.MERGE_SCRATCHPAD, context, any_executor)
    assert context["scratchpad"] == {"seed": {"kept": True}, "a": 1, "b": 2}
    assert "a" not in context  # only the scratchpad is merged


def test_a_merge_function_gets_branches_in_declaration_order():
    calls = []

    def merge(parent, branches):
        calls.append(list(branches))
        return {
            **parent,
            "merged": sorted(
                v for b in branches.values() for v in b.values() if isinstance(v, str)
            ),
        }

    context = {}
    run_branches(merge, context)
    assert calls == [["a", "b"]]
    assert context["merged"] == ["from a", "from b"]


def test_ignore_merges_only_branches_that_completed():
    @step
    def breaks(context):
        context["broken"] = True
        raise RuntimeError("no")

    context = {}
    Flow(
        "c",
        [
            parallel(
                "p",
                {"ok": cs.mark_a, "bad": breaks},
                merge=MergeStrategy.CONTEXT_UPDATE,
                on_failure=FailureStrategy.IGNORE,
            )
        ],
    ).run(context=context)
    assert context.get("a") == "from a" and "broken" not in context


def test_context_changes_in_worker_processes_come_back():
    context = {"user": "ada"}
    Flow("c", [cs.mark_a]).run(context=context, executor="parallel")
    assert context["a"] == "from a" and context["user"] == "ada"


# -- the merged context must not depend on which branch finished first --------------

contexts = st.dictionaries(
    st.sampled_from(["a", "b", "c", "scratchpad"]),
    st.integers(0, 3) | st.dictionaries(st.sampled_from(["x", "y"]), st.integers(0, 3)),
    max_size=4,
)


@given(
    parent=contexts,
    branches=st.lists(contexts, min_size=1, max_size=4),
    strategy=st.sampled_from(list(MergeStrategy)),
    finish_order=st.randoms(),
)
def test_merge_is_independent_of_completion_order(parent, branches, strategy, finish_order):
    names = [f"b{i}" for i in range(len(branches))]

    def merged(arrival):
        target = isolated_copy(parent)
        # branches reported in completion order: a dict in that order
        finished = {names[i]: isolated_copy(branches[i]) for i in arrival}
        try:
            merge_contexts(strategy, target, fields_of(parent), finished, names, "f/p")
        except ContextConflict as conflict:
            return ("conflict", conflict.field, conflict.branches)
        return target

    forward = list(range(len(branches)))
    shuffled = forward[:]
    finish_order.shuffle(shuffled)
    assert merged(shuffled) == merged(forward)


def _marker(name, delay):
    def fn(context):
        time.sleep(delay)
        context[name] = name
        context.setdefault("scratchpad", {})[name] = threading.get_ident() and name
        return name

    return step(fn, name=f"mark_{name}")


def test_merge_in_real_runs_is_independent_of_timing():
    results = set()
    for seed in range(6):
        rng = random.Random(seed)
        branches = {n: _marker(n, rng.random() * 0.02) for n in "abc"}
        shared = {}
        Flow("c", [parallel("p", branches, merge=MergeStrategy.MERGE_SCRATCHPAD)]).run(
            context=shared, executor="threaded"
        )
        results.add(repr(sorted(shared.items())))
    assert len(results) == 1
