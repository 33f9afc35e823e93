""" "Did you mean": every error naming an unknown step or input suggests the close names."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor import Flow, FlowDefinitionError, FlowInputError, step
from executor._results import StepOutputMissing
from executor._suggest import close_names, did_you_mean
from executor.state import MemoryStateBackend


@step
def load(source: str, threshold: float = 1.0) -> list[int]:
    return [1, 2]


@step
def total(load: list[int]) -> int:
    return sum(load)


@step
def report(total: int) -> str:
    return str(total)


flow = Flow("etl", [load, total, report])


def test_outputs_with_a_typo_suggests_the_step_and_keeps_the_list():
    with pytest.raises(FlowDefinitionError) as info:
        flow.run(source="x", outputs=["totl"])
    assert str(info.value) == (
        "flow 'etl' has no step 'totl' (did you mean 'total'?); its steps are: load, total, report"
    )


def test_resume_from_a_mistyped_address_suggests_the_step():
    store = MemoryStateBackend()
    state_id = flow.run(source="x", store=store).state_id
    with pytest.raises(FlowDefinitionError, match=r"no step 'totl' \(did you mean 'total'\?\)"):
        flow.resume(state_id, store=store, resume_from="etl/totl")


def test_an_unknown_input_suggests_the_close_input_and_keeps_the_list():
    with pytest.raises(FlowInputError) as info:
        flow.run(source="x", thresold=2)
    assert str(info.value) == (
        "flow 'etl': unknown input(s): thresold (did you mean 'threshold'?) "
        "(the flow's inputs are: source, threshold)"
    )


def test_unknown_inputs_each_get_their_suggestion_or_none():
    with pytest.raises(FlowInputError) as info:
        flow.run(sorce="x", zzz=1)
    message = str(info.value)
    assert "missing required input(s): source" in message
    assert "unknown input(s): sorce (did you mean 'source'?), zzz (the flow's" in message


def test_a_mistyped_output_name_on_a_result_suggests_the_step():
    result = flow.run(source="x")
    with pytest.raises(StepOutputMissing, match=r"no step 'totl' in this run \(did you mean"):
        result["totl"]


def test_nothing_close_suggests_nothing():
    assert did_you_mean("zzz", ["source", "threshold"]) == ""
    assert did_you_mean("totl", ["total", "tool"]) == "did you mean 'total' or 'tool'?"


@given(st.lists(st.text(min_size=1), min_size=1, max_size=8), st.data())
def test_a_known_name_suggests_itself_first_and_only_known_names(known, data):
    word = data.draw(st.sampled_from(known))
    found = close_names(word, known)
    assert found[0] == word
    assert set(found) <= set(known) and len(found) <= 3
