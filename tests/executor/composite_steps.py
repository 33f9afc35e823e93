"""Module-level steps for composite tests (importable, so they run on processes too)."""

from __future__ import annotations

import time

from executor import Flow, record_usage, step


@step
def square(items: int) -> int:
    return items * items


@step
def add(items: int, offset: int = 0) -> int:
    return items + offset


@step
def slow_square(items: int) -> int:
    time.sleep(0.05 if items % 2 else 0.0)
    return items * items


@step
def fails_on_three(items: int) -> int:
    if items == 3:
        raise ValueError("three is not allowed")
    return items


@step
def costly(items: int) -> int:
    record_usage(cost=0.25)
    return items


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step
def total(mapped: list[int]) -> int:
    return sum(mapped)


@step
def increment(value: int) -> int:
    return value + 1


@step
def halve(value: int) -> int:
    return value // 2


@step
def mark_a(context: dict) -> str:
    context["a"] = "from a"
    context.setdefault("scratchpad", {})["a"] = 1
    return "a"


@step
def mark_b(context: dict) -> str:
    context["b"] = "from b"
    context.setdefault("scratchpad", {})["b"] = 2
    return "b"


@step
def clash_a(context: dict) -> str:
    context["shared"] = "A"
    return "a"


@step
def clash_b(context: dict) -> str:
    context["shared"] = "B"
    return "b"


@step
def double_it(items: int) -> int:
    return items * 2


@step
def plus_one(double_it: int) -> int:
    return double_it + 1


def pipeline() -> Flow:
    """A two-step flow used as a map body, a branch and a sub-flow."""
    return Flow("pipe", [double_it, plus_one])


@step
def squared(numbers: int) -> int:
    return numbers * numbers


@step
def pair_up(value_in: int) -> list[int]:
    return [value_in, value_in + 1]


@step
def sum_branches(branches: dict) -> int:
    return sum(branches.values())


@step
def plus_hundred(inner: int) -> int:
    return inner + 100


@step
def where_am_i(items: int) -> int:
    import os

    return os.getpid()


@step
def set_a(context: dict) -> str:
    context["a"] = "A"
    return "a"


@step
def set_b(context: dict) -> str:
    context["b"] = "B"
    return "b"
