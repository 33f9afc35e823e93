"""The project's example flows: documentation that runs, recorded under fixtures/.

``python -m pytest tests/examples --flow-record-mode=rewrite`` re-records them.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from executor import (
    FailureStrategy,
    Flow,
    MergeStrategy,
    Retry,
    loop,
    map_over,
    parallel,
    step,
)


@dataclass
class Audit:
    """A run context: who asked, and what the branches noted."""

    user: str
    scratchpad: dict = field(default_factory=dict)


@step
def orders(day: str) -> list[dict]:
    """Stands in for a query: random amounts, stamped with the (frozen, in tests) time."""
    rng = random.Random(day)
    return [{"id": i, "amount": rng.randint(5, 500), "at": time.time()} for i in range(6)]


@step(retry=Retry(attempts=3, backoff=0.01))
def price(orders: dict) -> float:
    return round(orders["amount"] * 1.2, 2)


@step
def revenue(priced: list[float]) -> float:
    return round(sum(priced), 2)


@step
def flag_big(priced: list[float], context: Audit) -> int:
    big = [p for p in priced if p > 300]
    context.scratchpad["big"] = len(big)
    return len(big)


@step
def flag_small(priced: list[float], context: Audit) -> int:
    small = [p for p in priced if p < 50]
    context.scratchpad["small"] = len(small)
    return len(small)


@step
def halve(value: float) -> float:
    return round(value / 2, 2)


def daily_report() -> Flow:
    """orders -> price each (map) -> revenue, and two checks in parallel."""
    return Flow(
        "daily_report",
        [
            orders,
            map_over(price, over="orders", name="priced"),
            revenue,
            parallel(
                "checks",
                {"big": flag_big, "small": flag_small},
                merge=MergeStrategy.MERGE_SCRATCHPAD,
                on_failure=FailureStrategy.IGNORE,
            ),
        ],
    )


def shrink() -> Flow:
    """A loop: halve a value until it is below a threshold."""
    return Flow("shrink", [loop(halve, until=lambda v: v < 10, name="halved")])
