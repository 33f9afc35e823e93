"""One benchmark of an example flow, run in every test run as a smoke test.

It asserts what the run computed and that figures were produced, never a time:
under ``-n 2 --cov`` the figures include coverage tracing and a busy neighbour.
"""

import pytest

from tests.examples import flows


@pytest.mark.flow_benchmark(group="examples", rounds=3)
def test_daily_report_benchmark(flow_benchmark):
    audit = flows.Audit(user="ada")
    result = flow_benchmark(
        flows.daily_report(), {"day": "2024-01-01"}, context=audit, executor="threaded"
    )
    assert result["revenue"] == round(sum(result["priced"]), 2)
    figures = flow_benchmark.result
    assert figures.stats.rounds == 3
    assert {"daily_report/orders", "daily_report/priced[*]"} <= set(figures.steps)
