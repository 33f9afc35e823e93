"""Steps for the cache-key property tests, importable in subprocesses (hash seeds)."""

import random

from executor import step
from executor.cache import CachePolicy


@step(cache=CachePolicy())
def fetch(url: str, limit: int, tags: dict[str, list[int]]) -> int:
    return limit


@step(cache=CachePolicy(), version="2")
def versioned(x: int) -> int:
    return x


@step(cache=CachePolicy(key=lambda inputs: inputs["url"]))
def by_url(url: str, timeout: float) -> str:
    return url


@step(cache=CachePolicy(key=lambda inputs: list(inputs["names"])))
def set_order(names: frozenset[str]) -> int:
    return len(names)


@step(cache=CachePolicy(key=lambda inputs: [*inputs["weights"]]))
def dict_order(weights: dict[str, int]) -> int:
    return len(weights)


@step(cache=CachePolicy(key=lambda inputs: hash(inputs["name"])))
def hashed(name: str) -> str:
    return name


@step(cache=CachePolicy(key=lambda inputs: (inputs["n"], random.random())))
def noisy(n: int) -> int:
    return n
