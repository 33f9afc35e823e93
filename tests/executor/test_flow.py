import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor import Flow, FlowDefinitionError, FlowInputError, StepStatus, step
from executor._plan import stable_topological_order
from tests.executor import steps


def make(name, fn_params, body=lambda **kw: sum(v for v in kw.values() if isinstance(v, int))):
    """A step called ``name`` whose parameters are ``fn_params``."""
    namespace: dict = {}
    exec(f"def {name}({', '.join(fn_params)}): return body(**locals())", {"body": body}, namespace)
    return step(namespace[name])


def test_parameters_wire_steps_inputs_and_context():
    seen = {}

    @step
    def a(x: int, scale: int = 10) -> int:
        return x * scale

    @step
    def b(a: int, context) -> int:
        seen["context"] = context
        return a + 1

    flow = Flow("wired", [b, a])  # declaration order does not matter
    assert [s.name for s in flow.steps] == ["a", "b"]
    assert dict(flow.inputs) == {"scale": False, "x": True}
    assert flow.upstream("b") == ("a",)
    result = flow.run(x=2, context="ctx")
    assert result["b"] == 21
    assert seen["context"] == "ctx"
    assert flow.run({"x": 2, "scale": 1})["b"] == 3


def test_plain_functions_are_wrapped_as_steps():
    def first(n):
        return n + 1

    def second(first):
        return first * 2

    assert Flow("plain", [first, second]).run(n=1)["second"] == 4


def test_duplicate_step_names_are_refused():
    with pytest.raises(FlowDefinitionError, match="two steps are named 'load'"):
        Flow("dup", [steps.load, step(lambda n: n, name="load")])


@pytest.mark.parametrize(
    ("params", "cycle"),
    [
        ({"a": ["a"]}, "a -> a"),
        ({"a": ["b"], "b": ["a"]}, "a -> b -> a"),
        ({"a": ["c"], "b": ["a"], "c": ["b"], "d": ["a"]}, "a -> b -> c -> a"),
    ],
)
def test_cycles_are_refused_and_named(params, cycle):
    flow_steps = [make(name, ups) for name, ups in params.items()]
    with pytest.raises(FlowDefinitionError) as info:
        Flow("loop", flow_steps)
    message = str(info.value)
    assert message.startswith("flow 'loop': dependency cycle: ")
    named = message.rsplit(": ", 1)[1].split(" -> ")
    assert named[0] == named[-1]
    # the same cycle, whichever node it was entered at
    expected = cycle.split(" -> ")[:-1]
    start = expected.index(named[0])
    assert named[:-1] == expected[start:] + expected[:start]


@pytest.mark.parametrize("name", ["", "a/b", "has space", "x[1]", 3])
def test_bad_flow_names_are_refused(name):
    with pytest.raises(FlowDefinitionError, match="flow name"):
        Flow(name, [steps.load])


def test_empty_flow_is_refused():
    with pytest.raises(FlowDefinitionError, match="has no steps"):
        Flow("empty", [])


def test_missing_and_unknown_inputs_are_listed():
    flow = Flow("chain", [make("a", ["x", "y"]), make("b", ["a", "z=1"])])
    with pytest.raises(FlowInputError) as info:
        flow.run(y=1, zz=3, w=2)
    assert info.value.missing == ("x",)
    assert info.value.unknown == ("w", "zz")
    assert "missing required input(s): x" in str(info.value)
    assert "(the flow's inputs are: x, y, z)" in str(info.value)


def test_input_named_like_an_option_goes_in_the_mapping():
    @step
    def scaled(seed: int) -> int:
        return seed * 2

    flow = Flow("opt", [scaled])
    with pytest.raises(FlowInputError, match=r"pass it in the mapping instead: flow.run\(\{'seed'"):
        flow.run()
    assert flow.run({"seed": 4})["scaled"] == 8


def test_input_given_twice_is_an_error():
    with pytest.raises(TypeError, match="n given both in the mapping and as keywords"):
        Flow("c", [steps.load]).run({"n": 1}, n=2)


def test_outputs_prunes_to_what_is_needed():
    calls = []

    def tracked(name, params):
        return make(name, params, body=lambda **kw: calls.append(name) or 1)

    flow = Flow(
        "prune",
        [tracked("a", ["x"]), tracked("b", ["a"]), tracked("c", ["y"]), tracked("d", ["b", "c"])],
    )
    result = flow.run(x=1, outputs=["b"])  # y is not needed, so not required
    assert calls == ["a", "b"]
    assert list(result.steps) == ["prune/a", "prune/b"]
    with pytest.raises(FlowDefinitionError, match="has no step 'nope'"):
        flow.run(x=1, outputs=["nope"])
    assert flow.run(x=1, outputs="a").outputs == {"a": 1}
    with pytest.raises(
        FlowDefinitionError, match="flow 'prune': outputs= is empty; name the steps"
    ):
        flow.run(x=1, outputs=[])


def test_nothing_passed_in_is_mutated():
    flow_steps = [steps.load, steps.double, steps.total]
    inputs = {"n": 3}
    before_steps, before_inputs = list(flow_steps), dict(inputs)
    flow = Flow("chain", flow_steps)
    flow.run(inputs)
    flow.run(inputs, on_failure="continue")
    assert flow_steps == before_steps and inputs == before_inputs


def test_run_order_is_upstream_first_then_declaration_order():
    flow = Flow(
        "order", [make("c", ["a"]), make("b", ["x"]), make("a", ["x"]), make("d", ["c", "b"])]
    )
    assert [s.name for s in flow.steps] == ["b", "a", "c", "d"]
    result = flow.run(x=1)
    assert list(result.steps) == ["order/b", "order/a", "order/c", "order/d"]
    assert all(r.status is StepStatus.COMPLETED for r in result.steps.values())


def test_step_lookup_names_the_known_steps():
    flow = steps.chain_flow()
    assert flow.step("double") is steps.double
    with pytest.raises(FlowDefinitionError, match="its steps are: load, double, total"):
        flow.step("triple")
    assert repr(flow) == "<Flow 'chain': load, double, total>"


def _reference_order(names, upstream):
    """The definition of the stable order: repeatedly place the lowest-declared step
    whose upstream steps are all placed."""
    order: list[str] = []
    left = list(names)
    while left:
        pick = next(n for n in left if all(p in order for p in upstream[n]))
        order.append(pick)
        left.remove(pick)
    return order


@given(st.data())
def test_stable_order_matches_its_definition(data):
    """Both paths (declaration order already valid, or the heap) give the definition's order."""
    size = data.draw(st.integers(1, 12))
    names = [f"s{i}" for i in range(size)]
    rank = data.draw(st.permutations(range(size)))  # a hidden valid order
    upstream = {
        n: data.draw(st.lists(st.sampled_from([m for m in names if rank[int(m[1:])] < rank[i]])))
        if rank[i] > 0
        else []
        for i, n in enumerate(names)
    }
    declared = data.draw(st.permutations(names))
    assert stable_topological_order(declared, upstream) == _reference_order(declared, upstream)
