from orders.flow import build_report


def test_enrichment_stubbed_without_the_service(csv_text, flow_mock):
    flow_mock.stub(
        "enrich",
        side_effect=lambda rows: {
            "order": rows["order"],
            "customer": rows["customer"],
            "amount": float(rows["amount"]),
            "country": "xx",
            "tier": "none",
        },
    )
    flow_mock.spy("summary")
    result = build_report(csv_text, review_limit=1000.0)
    assert result["report"].by_country == {"xx": 267.65}
    flow_mock.assert_called("enrich", times=6)
    flow_mock.assert_called("summary", times=1)
    assert flow_mock.calls("summary")[0]["review"] == "approved"
