"""Order rows -> customer enrichment over HTTP -> statistics -> review -> a report.

The customer service's address comes from the environment, as it would in
production; the flow's inputs are only the data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.request import urlopen

from executor import Flow, FlowResult, Retry, map_over, parallel, step, when

SERVICE_ENV = "ORDERS_CUSTOMER_SERVICE"


@dataclass(frozen=True)
class Report:
    orders: int
    by_country: dict[str, float]
    top_customer: str
    decision: str


@step
def rows(csv_text: str) -> list[dict[str, str]]:
    header, *lines = csv_text.strip().splitlines()
    keys = header.split(",")
    return [dict(zip(keys, line.split(","), strict=True)) for line in lines]


@step(retry=Retry(attempts=2, backoff=0.01, retry_on=(ConnectionError,)), timeout=10.0)
def enrich(rows: dict[str, str]) -> dict[str, Any]:
    """One order row (map_over hands each element in as ``rows``) and its customer."""
    url = f"{os.environ[SERVICE_ENV]}/customers/{rows['customer']}"
    with urlopen(url, timeout=5) as response:
        customer = json.load(response)
    return {
        "order": rows["order"],
        "customer": rows["customer"],
        "amount": float(rows["amount"]),
        "country": customer["country"],
        "tier": customer["tier"],
    }


@step
def totals(enriched: list[dict[str, Any]]) -> dict[str, float]:
    """Amount per country, countries in order of first appearance (not sorted)."""
    by_country: dict[str, float] = {}
    for order in enriched:
        by_country[order["country"]] = round(
            by_country.get(order["country"], 0) + order["amount"], 2
        )
    return by_country


@step
def top(enriched: list[dict[str, Any]]) -> dict[str, Any]:
    best = max(enriched, key=lambda order: order["amount"])
    return {"customer": best["customer"], "amount": best["amount"], "tier": best["tier"]}


def needs_review(stats: dict[str, Any], review_limit: float) -> bool:
    return max(stats["totals"].values()) > review_limit


@step
def manual_review(stats: dict[str, Any]) -> str:
    return f"review {stats['top']['customer']}"


@step
def auto_approve(stats: dict[str, Any]) -> str:
    return "approved"


@step
def summary(rows: list[dict[str, str]], stats: dict[str, Any], review: str) -> dict[str, Any]:
    return {
        "orders": len(rows),
        "by_country": stats["totals"],
        "top": stats["top"],
        "decision": review,
    }


@step
def report(summary: dict[str, Any]) -> Report:
    return Report(
        orders=summary["orders"],
        by_country=summary["by_country"],
        top_customer=summary["top"]["customer"],
        decision=summary["decision"],
    )


orders_flow = Flow(
    "orders",
    [
        rows,
        map_over(enrich, over="rows", name="enriched", max_concurrency=3),
        parallel("stats", {"totals": totals, "top": top}),
        when(needs_review, then=manual_review, otherwise=auto_approve, name="review"),
        summary,
        report,
    ],
)


def build_report(
    csv_text: str, review_limit: float = 100.0, executor: str = "sequential"
) -> FlowResult:
    """What the application calls."""
    return orders_flow.run(csv_text=csv_text, review_limit=review_limit, executor=executor)
