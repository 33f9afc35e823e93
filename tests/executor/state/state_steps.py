"""Importable steps and flows for state tests (subprocesses and workers import them)."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from executor import Flow, Pause, map_over, step

MARKS = os.environ.get("FLOWEXEC_TEST_MARKS")


def mark(name: str) -> None:
    """Append ``name`` to the marks file: which steps really ran, across processes."""
    if MARKS:
        with open(MARKS, "a") as file:
            file.write(name + "\n")


@step
def load(n: int) -> list[int]:
    mark("load")
    return list(range(n))


@step
def square(load: list[int]) -> list[int]:
    mark("square")
    return [x * x for x in load]


@step
def total(square: list[int]) -> int:
    mark("total")
    return sum(square)


@step
def approve(total: int, approval: bool | None = None) -> int:
    mark("approve")
    if approval is None:
        raise Pause("needs sign-off", awaiting="approval")
    return total if approval else 0


@step
def shaky(load: list[int], fixed: bool = False) -> int:
    mark("shaky")
    if not fixed:
        raise RuntimeError("not yet")
    return len(load)


@step
def noisy(load: list[int]) -> float:
    return random.random()


@step
def big(n: int) -> str:
    return "x" * (100 * 1024)


@step
def slow_item(items: int) -> int:
    mark(f"item{items}")
    if Path(os.environ.get("FLOWEXEC_TEST_SLOW", "/nonexistent")).exists():
        time.sleep(0.2)
    return items * 10


def report() -> Flow:
    return Flow("report", [load, square, total])


def gated() -> Flow:
    return Flow("gated", [load, square, total, approve])


def fragile() -> Flow:
    return Flow("fragile", [load, shaky])


def items() -> Flow:
    return Flow("items", [map_over(slow_item, name="each")])
