"""Module-level steps shared by tests: importable, hence runnable on process executors."""

from __future__ import annotations

import asyncio
import os
import threading
import time

from executor import Flow, step
from executor.cache import CachePolicy


@step
def load(n: int) -> list[int]:
    return list(range(n))


@step
def double(load: list[int]) -> list[int]:
    return [2 * x for x in load]


@step
async def adouble(load: list[int]) -> list[int]:
    await asyncio.sleep(0)
    return [2 * x for x in load]


@step
def total(double: list[int]) -> int:
    return sum(double)


@step
def where(load: list[int]) -> int:
    return os.getpid()


@step
def boom(load: list[int]) -> int:
    raise ValueError(f"bad batch of {len(load)}")


@step(timeout=0.2)
def stuck(load: list[int]) -> int:
    time.sleep(3)
    return 0


@step(timeout=0.2)
async def astuck(load: list[int]) -> int:
    await asyncio.sleep(3)
    return 0


@step
async def aboom(load: list[int]) -> int:
    await asyncio.sleep(0)
    raise ValueError(f"bad async batch of {len(load)}")


@step
def unpicklable_output(load: list[int]) -> object:
    return threading.Lock()


class Unpicklable(Exception):
    """An exception whose pickled form cannot be rebuilt."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(a)
        self.b = b


@step
def raises_odd(load: list[int]) -> int:
    raise Unpicklable("odd failure", "extra")


def chain_flow() -> Flow:
    return Flow("chain", [load, double, total])


def fake_double(step, inputs, context):  # a module-level step executor (picklable)
    if step.name == "double":
        return [-1]
    return step.fn(**inputs)


CACHED = CachePolicy()


@step(cache=CACHED)
def slow_square(x: int) -> int:
    return x * x


@step(cache=CACHED)
def falsy(x: int) -> object:
    return None if x == 0 else 0


@step(cache=CACHED)
def cached_boom(x: int) -> int:
    raise ValueError(f"no square for {x}")
