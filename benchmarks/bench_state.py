"""State: the cost of persisting every step, its growth, and resuming a long run."""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import tempfile
import time
from pathlib import Path

from benchmarks._harness import Row, interleaved_medians
from benchmarks.bench_core import chain
from executor import ExecutorCore
from executor.state import (
    FileSystemStateBackend,
    SQLiteStateBackend,
    StateMetadata,
    StateStore,
)

SUITE = "state"


def per_step(lengths: tuple[int, ...] = (100, 1_000, 10_000)) -> list[Row]:
    rows = []
    core = ExecutorCore()
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStateBackend(Path(folder) / "state.db")
        added: dict[int, float] = {}
        floor_db = sqlite3.connect(Path(folder) / "floor.db", isolation_level=None)
        floor_db.execute("PRAGMA journal_mode=WAL")
        floor_db.execute("PRAGMA synchronous=NORMAL")
        floor_db.execute(
            "CREATE TABLE e (s INTEGER, q INTEGER, b TEXT, PRIMARY KEY (s, q)) WITHOUT ROWID"
        )
        body = (
            '{"address":"chain/s1","attempts":1,"digest":"' + "a" * 64 + '","ended_at":'
            '1.5,"output":2,"started_at":1.5,"status":"completed"}'
        )
        counter = itertools.count()

        def inserts(count: int) -> None:
            for _ in range(count):
                floor_db.execute("INSERT INTO e VALUES (1, ?, ?)", (next(counter), body))

        for length in lengths:
            flow = chain(length)
            repeat = 5 if length <= 1_000 else 3
            took, base, floor = interleaved_medians(
                lambda f=flow: core.run(f, {"x": 0}, store=store),
                lambda f=flow: core.run(f, {"x": 0}),
                lambda n=length: inserts(n),
                repeat=repeat,
            )
            added[length] = (took - base) / length * 1e6
            floor_us = floor / length * 1e6
            rows.append(
                Row(
                    SUITE,
                    f"SQLite store, added per step, chain of {length:,}",
                    added[length],
                    "us",
                    floor_us,
                    "bare insert+commit (us)",
                    "<= 60 us",
                    added[length] <= 60,
                )
            )
        longest = max(lengths)
        rows.append(
            Row(
                SUITE,
                f"per step added at {longest:,} vs at {min(lengths)} steps",
                added[longest],
                "us",
                added[min(lengths)],
                f"at {min(lengths)}",
                "flat (<= 1.5x)",
                added[longest] <= 1.5 * added[min(lengths)],
            )
        )

        flow = chain(10_000)
        state_id = core.run(flow, {"x": 0}, store=store).state_id
        times = []
        for _ in range(3):
            started = time.perf_counter()
            result = flow.resume(state_id, store=store)
            times.append(time.perf_counter() - started)
            assert result.steps["chain10000/s9999"].status.value == "replayed"
        took = sorted(times)[1]
        rows.append(
            Row(
                SUITE,
                "resume a completed 10,000-step run (all reused)",
                took,
                "s",
                None,
                "",
                "<= 0.5 s",
                took <= 0.5,
            )
        )
        store.close()
    return rows


def artifact_verification(megabytes: int = 50) -> list[Row]:
    """What checking an artifact's SHA-256 on read adds to loading a large output."""
    rows = []
    output = "x" * (megabytes * 1_000_000)
    with tempfile.TemporaryDirectory() as folder:
        for name, store in (
            ("SQLite", SQLiteStateBackend(Path(folder) / "state.db")),
            ("filesystem", FileSystemStateBackend(Path(folder) / "states")),
        ):
            state_id = store.create_state("big", {}, StateMetadata(), None)
            store.append_event(
                state_id,
                0,
                "big/out",
                digest=None,
                status="completed",
                output=output,
                attempts=1,
                started_at=0.0,
                ended_at=0.0,
                error=None,
            )
            ((_, body),) = store._read(state_id)[5]
            blob = store.artifacts.get(json.loads(body)["output"]["$artifact"])

            def verify(blob: bytes = blob) -> None:
                hashlib.sha256(blob).hexdigest()

            def load(store: StateStore = store, state_id: str = state_id) -> None:
                store.load(state_id)

            check, whole = interleaved_medians(verify, load, repeat=7)
            rows.append(
                Row(
                    SUITE,
                    f"digest check of a {megabytes} MB artifact ({name})",
                    check * 1e3,
                    "ms",
                    whole * 1e3,
                    "the whole load of that run",
                    "a share of the load",
                )
            )
            if isinstance(store, SQLiteStateBackend):
                store.close()
    return rows


def run() -> list[Row]:
    return per_step() + artifact_verification()
