import pytest
from orders.flow import Report, build_report


@pytest.mark.parametrize("executor", ["sequential", "threaded", "async"])
def test_report_of_the_day(csv_text, dump, executor):
    result = build_report(csv_text, review_limit=150.0, executor=executor)
    dump(result)
    assert result["report"] == Report(
        orders=6,
        by_country={"se": 48.5, "de": 119.25, "fr": 99.9},
        top_customer="c3",
        decision="approved",
    )
    # == on dicts ignores order; the report's reader does not.
    assert list(result["report"].by_country) == ["se", "de", "fr"]
    assert [a for a in result.steps if a.startswith("orders/enriched[")] == [
        f"orders/enriched[{i}]" for i in range(6)
    ]
    assert "orders/review/otherwise" in result.steps
    assert "orders/stats/totals" in result.steps and "orders/stats/top" in result.steps


def test_large_totals_go_to_review(csv_text, dump):
    result = build_report(csv_text, review_limit=100.0)
    dump(result)
    assert result["report"].decision == "review c3"
    assert "orders/review/then" in result.steps
    assert result["summary"]["top"] == {"customer": "c3", "amount": 99.9, "tier": "bronze"}
    assert list(result["summary"]) == ["orders", "by_country", "top", "decision"]
