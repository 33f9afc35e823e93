"""executor.testing.known_step_names / known_addresses: what a stub may name."""

from executor import Flow, map_over, step, when
from executor.testing import known_addresses, known_step_names


@step
def amount(x: int) -> int:
    return x


@step
def alert(amount: int) -> str:
    return f"alert {amount}"


def test_a_whens_own_parts_are_addresses_not_names():
    gated = Flow(
        "gated_known",
        [amount, when(lambda amount: amount > 3, lambda amount: "big", name="gate_known")],
    )
    names = known_step_names()
    assert "amount" in names
    assert "gate_known" not in names  # a composite: never called through a step executor
    assert "predicate" not in names and "then" not in names  # names the engine made up
    assert {"gated_known/amount", "gated_known/gate_known", "gated_known/gate_known/then"} <= (
        known_addresses()
    )
    assert "gated_known/gate_known/otherwise" not in known_addresses()
    assert gated.run(x=5)["gate_known"] == "big"


def test_named_arms_and_map_targets_keep_their_names():
    named = Flow(
        "named_known",
        [
            amount,
            when(lambda amount: True, alert, name="w"),
            map_over(alert, over="amount", name="each_alert"),
        ],
    )
    assert "alert" in known_step_names()
    assert "named_known/w/then" in known_addresses()
    del named  # a flow nobody holds is not listed: nothing can run it
    assert not any(a.startswith("named_known/") for a in known_addresses())
