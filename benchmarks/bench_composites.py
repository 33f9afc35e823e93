"""Composites: map_over of many trivial items and a wide parallel, vs a bare pool."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait

from benchmarks._harness import Row, interleaved_medians
from executor import Flow, map_over, parallel, step

SUITE = "composites"


@step
def bump(items: int) -> int:
    return items + 1


def map_trivial(count: int = 1000, workers: int = 8) -> list[Row]:
    flow = Flow("mapped", [map_over(bump, max_concurrency=workers)])
    items = list(range(count))

    def bare() -> None:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(bump.fn, items))

    rows = []
    for executor in ("threaded", "sequential"):
        took, base = interleaved_medians(
            lambda e=executor: flow.run(items=items, executor=e, max_concurrency=workers),
            bare,
            repeat=9,
        )
        per_item = (took / count) * 1e6
        rows.append(
            Row(
                SUITE,
                f"map_over {count:,} trivial items, {executor}, per item",
                per_item,
                "us",
                base / count * 1e6,
                f"ThreadPoolExecutor({workers}).map",
                "<= 1.2x" if executor == "threaded" else "",
                took / base <= 1.2 if executor == "threaded" else None,
            )
        )
    return rows


def wide_parallel(width: int = 50, seconds: float = 0.05) -> list[Row]:
    namespace: dict[str, object] = {"time": time}
    exec(
        "\n".join(f"def w{i}(): time.sleep({seconds}); return {i}" for i in range(width)), namespace
    )
    branches = {f"b{i}": step(namespace[f"w{i}"]) for i in range(width)}
    flow = Flow("wide", [parallel("branches", branches)])

    def bare() -> None:
        with ThreadPoolExecutor(width) as pool:
            wait([pool.submit(time.sleep, seconds) for _ in range(width)])

    took, base = interleaved_medians(
        lambda: flow.run(executor="threaded", max_concurrency=width), bare, repeat=7
    )
    return [
        Row(
            SUITE,
            f"parallel of {width} branches x {seconds}s sleep, threaded",
            took,
            "s",
            base,
            f"ThreadPoolExecutor({width})",
            "<= 1.2x",
            took / base <= 1.2,
        )
    ]


def run() -> list[Row]:
    return map_trivial() + wide_parallel()
