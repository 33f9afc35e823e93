"""A resumed map_over checkpoints each item as it ends, as fast as the first run.

Timings here are compared with a run measured in the same test, never with a fixed
time: the machine may be loaded.
"""

import asyncio
import threading
import time

import pytest

from executor import Flow, map_over, step
from executor.state import SQLiteStateBackend, StateMetadata

ITEMS = 300
WIDTH = 4
PAUSE = 0.01


class CountingStore(SQLiteStateBackend):
    """Counts the checkpoints written so far (events appended)."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.appended = 0
        self._count_lock = threading.Lock()

    def _append(self, state_id: str, seq: int, address: str, body: str) -> None:
        super()._append(state_id, seq, address, body)
        with self._count_lock:
            self.appended += 1


class Watch:
    """What the items saw: when each ran, and how far checkpoints lagged behind."""

    def __init__(self, store: CountingStore) -> None:
        self.store = store
        self.lock = threading.Lock()
        self.spans: list[tuple[float, float]] = []
        self.ended = 0
        self.lags: list[int] = []
        self.appended_at_start = 0

    def begin(self, item: int) -> float:
        with self.lock:
            # Items that have ended but whose checkpoint is not written yet.
            self.lags.append(self.ended - (self.store.appended - self.appended_at_start))
        return time.perf_counter()

    def end(self, started: float) -> None:
        with self.lock:
            self.spans.append((started, time.perf_counter()))
            self.ended += 1

    def reset(self) -> None:
        self.spans, self.lags, self.ended = [], [], 0
        self.appended_at_start = self.store.appended

    def throughput(self) -> float:
        """Items ended per second, from the first item's start to the last one's end."""
        return len(self.spans) / (max(e for _, e in self.spans) - min(s for s, _ in self.spans))


def items_flow(watch: Watch, is_async: bool) -> Flow:
    if is_async:

        @step
        async def item(items: int) -> int:
            started = watch.begin(items)
            await asyncio.sleep(PAUSE)
            watch.end(started)
            return items * 2

    else:

        @step
        def item(items: int) -> int:
            started = watch.begin(items)
            time.sleep(PAUSE)
            watch.end(started)
            return items * 2

    return Flow("batch", [map_over(item, name="each")])


def killed_copy(store: CountingStore, state_id: str, keep: int) -> str:
    """A new state holding the first ``keep`` checkpoints of ``state_id``: what a run
    killed at that point leaves behind (status RUNNING, the map not ended)."""
    state = store.load(state_id)
    copy = store.create_state(state.flow, state.inputs, StateMetadata(), None)
    for event in state.events[:keep]:
        assert event.address.startswith("batch/each[")
        store.append_event(
            copy,
            event.seq,
            event.address,
            digest=event.digest,
            status=event.status,
            output=event.output,
            attempts=event.attempts,
            started_at=event.started_at,
            ended_at=event.ended_at,
            error=None,
        )
    return copy


@pytest.mark.parametrize(
    ("executor", "is_async", "width"),
    [("threaded", False, WIDTH), ("async", False, None), ("async", True, WIDTH)],
    ids=["threaded", "async-sync-steps", "async-async-steps"],
)
def test_a_resumed_map_checkpoints_each_item_at_full_concurrency(
    executor, is_async, width, tmp_path
):
    store = CountingStore(tmp_path / "state.db")
    watch = Watch(store)
    flow = items_flow(watch, is_async)
    # width None on "async": every item is handed over at once, the thread pool
    # running sync steps bounds how many run.
    run = {"executor": executor, "max_concurrency": width, "store": store}

    ratios = []
    for _ in range(3):  # load on the machine can only spoil a round: judge the best
        watch.reset()
        # The first run, whole: the pace to compare with.
        first_id = flow.run(items=list(range(ITEMS)), **run).state_id
        first = watch.throughput()

        # The same run killed after two thirds of its items, then resumed.
        state_id = killed_copy(store, first_id, keep=ITEMS * 2 // 3)
        watch.reset()
        result = flow.resume(state_id, **run)

        assert result["each"] == [i * 2 for i in range(ITEMS)]
        rerun = len(watch.spans)
        assert rerun == ITEMS - ITEMS * 2 // 3
        # Each item is checkpointed as it ends: the items that have ended and are not
        # stored yet stay few all along (before: every one, until the map ended).
        assert max(watch.lags) < rerun / 4, watch.lags
        assert store.appended - watch.appended_at_start == rerun + 1  # the items, the map
        # As fast as the first run, give or take a loaded machine (before: ~1/3).
        ratios.append(watch.throughput() / first)
        if ratios[-1] > 0.6:
            break
    assert max(ratios) > 0.6, ratios
