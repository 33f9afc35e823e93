"""Engine core: per-step overhead per executor, fan-out, and growth with run length."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor, wait

from benchmarks._harness import Row, paired_medians
from executor import ExecutorCore, Flow, step

SUITE = "core"
REFERENCE_CALL_US = 0.075
"""A plain call on the machine where the issue's targets were set. This machine's
speed drifts, so verdicts are taken in plain-call units measured alongside."""


def chain(length: int, *, is_async: bool = False) -> Flow:
    """s0(x) -> s1(s0) -> ... : trivial steps that add one."""
    namespace: dict[str, object] = {}
    prefix = "async " if is_async else ""
    source = [f"{prefix}def s0(x): return x + 1"]
    source += [f"{prefix}def s{i}(s{i - 1}): return s{i - 1} + 1" for i in range(1, length)]
    exec("\n".join(source), namespace)
    return Flow(f"chain{length}", [step(namespace[f"s{i}"]) for i in range(length)])


def plain_chain(flow: Flow) -> Callable[[], object]:
    fns = [s.fn for s in flow.steps]

    def run() -> object:
        value = 0
        for fn in fns:
            value = fn(value)
        return value

    return run


def plain_async_chain(flow: Flow) -> Callable[[], Awaitable[object]]:
    fns = [s.fn for s in flow.steps]

    async def run() -> object:
        value = 0
        for fn in fns:
            value = await fn(value)
        return value

    return run


def per_step_overhead(length: int = 200) -> list[Row]:
    flow = chain(length)
    core = ExecutorCore()
    took, base = paired_medians(lambda: core.run(flow, {"x": 0}), plain_chain(flow))
    plain = base / length * 1e6
    added = took / length * 1e6 - plain
    rows = [
        Row(
            SUITE,
            f"sequential chain of {length}: added per step",
            added,
            "us",
            plain,
            "plain call (us)",
            "<= 3 us @ 0.075 us/call, i.e. <= 40 calls",
            added / plain <= 3.0 / REFERENCE_CALL_US,
        ),
    ]

    aflow = chain(length, is_async=True)
    acore = ExecutorCore(executor="async")
    plain_async = plain_async_chain(aflow)
    loop = asyncio.new_event_loop()
    try:
        atook, abase = paired_medians(
            lambda: loop.run_until_complete(acore.arun(aflow, {"x": 0})),
            lambda: loop.run_until_complete(plain_async()),
        )
    finally:
        loop.close()
    aadded = (atook - abase) / length * 1e6
    rows.append(
        Row(
            SUITE,
            f"async chain of {length}: added per step (vs plain await)",
            aadded,
            "us",
            plain,
            "plain call (us)",
            "<= 15 us @ 0.075 us/call, i.e. <= 200 calls",
            aadded / plain <= 15.0 / REFERENCE_CALL_US,
        )
    )

    # Sync steps on "async": a chain runs inline on the engine's loop (no thread hop).
    async def plain_sync_in_coroutine() -> object:
        return plain_chain(flow)()

    stook, sbase = paired_medians(
        lambda: acore.run(flow, {"x": 0}), lambda: asyncio.run(plain_sync_in_coroutine())
    )
    sadded = (stook - sbase) / length * 1e6
    rows.append(
        Row(
            SUITE,
            f"async, chain of {length} sync steps: added per step (vs plain calls in a coroutine)",
            sadded,
            "us",
            plain,
            "plain call (us)",
            "<= 15 us @ 0.075 us/call, i.e. <= 200 calls",
            sadded / plain <= 15.0 / REFERENCE_CALL_US,
        )
    )

    tcore = ExecutorCore(executor="threaded")
    ttook, tbase = paired_medians(lambda: tcore.run(flow, {"x": 0}), plain_chain(flow), 7)
    rows.append(
        Row(
            SUITE,
            f"threaded chain of {length}: added per step",
            (ttook - tbase) / length * 1e6,
            "us",
            tbase / length * 1e6,
            "plain call (us)",
        )
    )
    return rows


def fan_out(width: int = 50, seconds: float = 0.05) -> list[Row]:
    namespace: dict[str, object] = {"time": time, "asyncio": asyncio}
    exec(
        "\n".join(f"def w{i}(): time.sleep({seconds}); return {i}" for i in range(width)), namespace
    )
    exec(
        "\n".join(
            f"async def a{i}(): await asyncio.sleep({seconds}); return {i}" for i in range(width)
        ),
        namespace,
    )
    threads = Flow("fan", [step(namespace[f"w{i}"]) for i in range(width)])
    tasks = Flow("afan", [step(namespace[f"a{i}"]) for i in range(width)])

    def bare_threads() -> None:
        with ThreadPoolExecutor(width) as pool:
            wait([pool.submit(time.sleep, seconds) for _ in range(width)])

    async def bare_gather() -> None:
        await asyncio.gather(*(asyncio.sleep(seconds) for _ in range(width)))

    took, base = paired_medians(
        lambda: threads.run(executor="threaded", max_concurrency=width), bare_threads, 7
    )
    atook, abase = paired_medians(
        lambda: tasks.run(executor="async"), lambda: asyncio.run(bare_gather()), 7
    )
    # The same sync steps on "async": worker threads sized by max_concurrency.
    stook, sbase = paired_medians(
        lambda: threads.run(executor="async", max_concurrency=width),
        lambda: threads.run(executor="threaded", max_concurrency=width),
        7,
    )
    return [
        Row(
            SUITE,
            f"fan-out {width} x {seconds}s sleep, threaded",
            took,
            "s",
            base,
            "ThreadPoolExecutor",
            "<= 1.1x",
            took / base <= 1.1,
        ),
        Row(
            SUITE,
            f"fan-out {width} x {seconds}s sleep, async",
            atook,
            "s",
            abase,
            "asyncio.gather",
            "<= 1.1x",
            atook / abase <= 1.1,
        ),
        Row(
            SUITE,
            f"fan-out {width} x {seconds}s sync sleep, async (max_concurrency={width})",
            stook,
            "s",
            sbase,
            '"threaded", same flow',
            "<= 1.1x",
            stook / sbase <= 1.1,
        ),
    ]


def growth(lengths: tuple[int, ...] = (10, 100, 1_000, 10_000), rounds: int = 5) -> list[Row]:
    """Per-step cost at each length, the lengths measured in turn within each round."""
    core = ExecutorCore()
    flows = {n: chain(n) for n in lengths}
    for flow in flows.values():
        core.run(flow, {"x": 0})
    samples: dict[int, list[float]] = {n: [] for n in lengths}
    for _ in range(rounds):
        for n, flow in flows.items():
            started = time.perf_counter()
            core.run(flow, {"x": 0})
            samples[n].append((time.perf_counter() - started) / n)
    costs = {n: statistics.median(s) * 1e6 for n, s in samples.items()}
    rows = [
        Row(SUITE, f"sequential per step at {n} steps", cost, "us", costs[100], "per step at 100")
        for n, cost in costs.items()
    ]
    longest = max(lengths)
    rows.append(
        Row(
            SUITE,
            f"per step at {longest} vs at 100 steps",
            costs[longest],
            "us",
            costs[100],
            "per step at 100",
            "flat (<= 1.5x)",
            costs[longest] <= 1.5 * costs[100],
        )
    )
    return rows


def run() -> list[Row]:
    return per_step_overhead() + fan_out() + growth()
