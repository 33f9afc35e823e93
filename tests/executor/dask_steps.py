"""Module-level steps for the Dask tests: importable by the cluster's workers.

Steps that must leave a trace across processes write to files named by their
inputs (``log``: a path), since nothing else is shared with a worker process.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from executor import Flow, Retry, step
from executor.cache import CachePolicy


def _note(log: str, line: str) -> None:
    with open(log, "a") as out:
        out.write(line + "\n")


@step
def stamp0(n: int) -> list[float]:
    return [time.time()]


@step
def stamp1(stamp0: list[float]) -> list[float]:
    return [*stamp0, time.time()]


@step
def stamp2(stamp1: list[float]) -> list[float]:
    return [*stamp1, time.time()]


@step
def stamp3(stamp2: list[float]) -> list[float]:
    return [*stamp2, time.time()]


def stamp_chain() -> Flow:
    return Flow("stamps", [stamp0, stamp1, stamp2, stamp3])


@step(cache=CachePolicy())
def cached_stamp2(stamp1: list[float]) -> list[float]:
    return [*stamp1, time.time()]


@step
def after_cached(cached_stamp2: list[float]) -> list[float]:
    return [*cached_stamp2, time.time()]


def cached_stamp_chain() -> Flow:
    return Flow("cstamps", [stamp0, stamp1, cached_stamp2, after_cached])


@step
def root(n: int) -> int:
    return n


def _interval(seconds: float) -> tuple[float, float, int]:
    started = time.time()
    time.sleep(seconds)
    return (started, time.time(), os.getpid())


@step
def nap_a(root: int) -> tuple[float, float, int]:
    return _interval(0.3)


@step
def nap_b(root: int) -> tuple[float, float, int]:
    return _interval(0.3)


@step
def nap_c(root: int) -> tuple[float, float, int]:
    return _interval(0.3)


def fan_out() -> Flow:
    return Flow("fan", [root, nap_a, nap_b, nap_c])


crit_a = step(nap_a, name="crit_a", critical=True)
crit_b = step(nap_b, name="crit_b", critical=True)


def critical_pair() -> Flow:
    return Flow("crit", [root, crit_a, crit_b])


@step
def item_pid(items: int) -> tuple[int, int]:
    if items == 3:
        raise ValueError("item 3 is bad")
    return (items * items, os.getpid())


@step(retry=Retry(attempts=3, backoff=0.01, factor=2.0, jitter=0.5))
def flaky(log: str) -> int:
    """Fails twice, then succeeds: the attempts are counted in the file ``log``."""
    _note(log, "attempt")
    attempts = len(Path(log).read_text().split())
    if attempts < 3:
        raise ConnectionError(f"attempt {attempts} failed")
    return attempts


@step
def counted(log: str) -> str:
    _note(log, "counted")
    return log


@step
def killable(counted: str) -> int:
    """Its first call writes its pid and sleeps, to be killed there by the test."""
    marker = Path(counted + ".pid")
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(30)
    return 7


def killed_worker_flow(chained: bool) -> Flow:
    """``killable`` behind ``counted``: chained on the cluster, or (with a cache
    policy, so the client looks its key up first) sent once ``counted`` is in."""
    last = killable if chained else killable.with_options(cache=CachePolicy())
    return Flow("survive", [counted, last])


@step
def fails_once(counted: str) -> int:
    """Fails while ``counted + '.fail'`` exists: the resume test removes it."""
    if Path(counted + ".fail").exists():
        raise RuntimeError("not yet")
    return 1


def resumable_flow() -> Flow:
    return Flow("resumable", [counted, fails_once])


@step(retry=Retry(attempts=3, backoff=0.01))
def flaky_mid(counted: str) -> int:
    """Fails on its first two attempts (counted in ``counted + '.mid'``)."""
    _note(counted + ".mid", "attempt")
    attempts = len(Path(counted + ".mid").read_text().split())
    if attempts < 3:
        raise ConnectionError(f"attempt {attempts} failed")
    return attempts


@step
def after_mid(flaky_mid: int, counted: str) -> int:
    _note(counted, "after")
    return flaky_mid * 10


@step
def broken(counted: str) -> int:
    raise ValueError("broken for good")


@step
def after_broken(broken: int, counted: str) -> int:
    _note(counted, "after")
    return broken


def retried_chain() -> Flow:
    return Flow("retried", [counted, flaky_mid, after_mid])


def broken_chain() -> Flow:
    return Flow("broken", [counted, broken, after_broken])


@step(cache=CachePolicy())
def cached_fetch(items: int, log: str) -> int:
    _note(log, str(items))
    time.sleep(0.05)  # long enough for the duplicates to be in flight together
    return items * 10
