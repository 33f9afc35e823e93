"""executor="dask" against raw Dask on the same LocalCluster (2 workers x 1 thread).

Per-task overhead: a 200-step chain (each step feeds the next) and a 200-step
fan-out (independent steps) vs ``client.submit`` of the same functions, and a map
of 1,000 trivial items vs ``client.map``. The raw baselines gather every result to
the client, as a flow does (every step's output is in its result).

And what a run that sends nothing costs on Dask (every step a cache hit, as every
step replays under ``pytest --flow-replay``): measured with no client anywhere, it
starts no cluster, so it costs what the same run costs on threads.
"""

from __future__ import annotations

import time

from benchmarks._harness import Row, interleaved_medians
from executor import CachePolicy, Flow, map_over, step
from executor.cache import MemoryCache

SUITE = "dask"
LENGTH = 200
ITEMS = 1000


def inc(x: int) -> int:
    return x + 1


def _define_steps() -> None:
    """Module-level steps c1..c199 (c_i takes c_{i-1}) and f0..f199 (each takes x),
    so that workers import them by reference, as they would a user's module."""
    namespace = globals()
    for i in range(1, LENGTH):
        exec(f"def c{i}(c{i - 1}): return c{i - 1} + 1", namespace)
        namespace[f"c{i}"] = step(namespace[f"c{i}"])
    for i in range(LENGTH):
        exec(f"def f{i}(x): return x + {i}", namespace)
        namespace[f"f{i}"] = step(namespace[f"f{i}"])


@step
def c0(x: int) -> int:
    return x + 1


@step
def bump(items: int) -> int:
    return items + 1


@step(cache=CachePolicy())
def kept_load(x: int) -> list[int]:
    return [x, x + 1]


@step(cache=CachePolicy())
def kept_sum(kept_load: list[int]) -> int:
    return sum(kept_load)


_define_steps()
CHAIN = Flow("chain", [globals()[f"c{i}"] for i in range(LENGTH)])
FAN = Flow("fan", [globals()[f"f{i}"] for i in range(LENGTH)])
MAP = Flow("mapped", [map_over(bump)])
KEPT = Flow("kept", [kept_load, kept_sum])


def run() -> list[Row]:
    try:
        import distributed
    except ImportError:
        print('dask suite skipped: pip install "flowexec[dask]"')
        return []
    rows = [_nothing_sent()]  # before any client exists: a run would find it
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.wait_for_workers(2)
        return rows + _measure(client)


def _nothing_sent() -> Row:
    cache = MemoryCache()
    KEPT.run(x=1, executor="threaded", cache=cache)

    def on(executor: str):
        return lambda: KEPT.run(x=1, executor=executor, cache=cache)

    took, base = interleaved_medians(on("dask"), on("threaded"), repeat=15)
    return Row(
        SUITE,
        "all-cached 2-step run on dask (no client), per run",
        took * 1e6,
        "us",
        base * 1e6,
        "the same run on threaded",
        "<= 1.5x",
        took / base <= 1.5,
    )


def _measure(client) -> list[Row]:
    def raw_chain() -> None:
        futures = [client.submit(inc, 0, pure=False)]
        for _ in range(LENGTH - 1):
            futures.append(client.submit(inc, futures[-1], pure=False))
        client.gather(futures)

    def raw_fan() -> None:
        client.gather([client.submit(inc, i, pure=False) for i in range(LENGTH)])

    def raw_map() -> None:
        client.gather(client.map(inc, range(ITEMS), pure=False))

    def ours(flow: Flow, **inputs):
        return lambda: flow.run(executor="dask", dask_client=client, **inputs)

    rows = []
    cases = [
        ("chain", ours(CHAIN, x=0), raw_chain, LENGTH, "client.submit chain", "<= 1.2x"),
        ("fan-out", ours(FAN, x=0), raw_fan, LENGTH, "client.submit each", "<= 1.2x"),
        ("map", ours(MAP, items=list(range(ITEMS))), raw_map, ITEMS, "client.map", ""),
    ]
    assert CHAIN.run(x=0, executor="dask", dask_client=client)[f"c{LENGTH - 1}"] == LENGTH
    for name, subject, baseline, count, base_name, target in cases:
        started = time.perf_counter()
        took, base = interleaved_medians(subject, baseline, repeat=7)
        label = {
            "chain": f"{LENGTH}-step chain on dask, per step",
            "fan-out": f"{LENGTH}-step fan-out on dask, per step",
            "map": f"map_over {ITEMS:,} trivial items on dask, per item",
        }[name]
        rows.append(
            Row(
                SUITE,
                label,
                took / count * 1e6,
                "us",
                base / count * 1e6,
                base_name,
                target,
                took / base <= 1.2 if target else None,
            )
        )
        print(f"  ({name}: measured in {time.perf_counter() - started:.1f} s)", flush=True)
    return rows
