"""The example flows, replayed from fixtures/recordings in every test run, their whole
results pinned by golden files under fixtures/regression.

Re-record after a deliberate change: python -m pytest tests/examples --flow-record-mode=rewrite
Accept changed results: python -m pytest tests/examples --flow-regen
"""

import pytest

from tests.examples import flows


@pytest.mark.flow_replay
@pytest.mark.flow_regression
@pytest.mark.parametrize("executor", ["sequential", "threaded", "async"])
def test_daily_report(executor):
    audit = flows.Audit(user="ada")
    result = flows.daily_report().run(day="2024-01-01", context=audit, executor=executor)
    assert result["revenue"] == round(sum(result["priced"]), 2)
    assert set(result["checks"]) == {"big", "small"}
    assert audit.scratchpad == {"big": result["checks"]["big"], "small": result["checks"]["small"]}


@pytest.mark.flow_replay
@pytest.mark.flow_regression
def test_shrink():
    assert flows.shrink().run(value=100.0)["halved"] == 6.25


# The example flows, live, through the harness's own determinism check: each executor
# twice, a record -> replay round trip, and other PYTHONHASHSEEDs. ``orders`` stamps the
# time, so the clock is frozen explicitly (the marker never freezes it by itself); a
# frozen clock cannot reach worker processes, so "parallel" is left out here.
@pytest.mark.flow_determinism(
    executors=["sequential", "threaded", "async"], frozen_time="2024-01-01"
)
def test_example_flows_are_deterministic():
    flows.daily_report().run(day="2024-01-01", context=flows.Audit(user="ada"))
    flows.shrink().run(value=100.0)
