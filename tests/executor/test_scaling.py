"""Complexity properties of the run loop: generous margins, no absolute times."""

import time

from executor import ExecutorCore, Flow, step


def _chain(length: int) -> Flow:
    first = step(lambda x: x + 1, name="s0")
    wired = [first]
    for i in range(1, length):
        namespace: dict = {}
        exec(f"def s{i}(s{i - 1}): return s{i - 1} + 1", namespace)
        wired.append(step(namespace[f"s{i}"]))
    return Flow(f"chain{length}", wired)


def _per_step(core: ExecutorCore, flow: Flow, length: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        result = core.run(flow, {"x": 0})
        best = min(best, time.perf_counter() - started)
    assert result[f"s{length - 1}"] == length
    return best / length


def test_per_step_cost_does_not_grow_with_run_length():
    core = ExecutorCore()
    short, long = _chain(100), _chain(10_000)
    short_cost = _per_step(core, short, 100)
    long_cost = _per_step(core, long, 10_000)
    # Quadratic work would make the long run ~100x costlier per step; allow 3x for noise.
    assert long_cost < 3 * short_cost, (short_cost, long_cost)


def test_async_per_step_cost_does_not_grow_with_run_length():
    core = ExecutorCore(executor="async")
    short, long = _chain(100), _chain(3_000)
    assert _per_step(core, long, 3_000) < 3 * _per_step(core, short, 100)


def test_checkpoint_cost_per_step_does_not_grow_with_run_length(tmp_path):
    """Each checkpoint is one append: the history is never re-serialized."""
    from executor.state import SQLiteStateBackend

    store = SQLiteStateBackend(tmp_path / "state.db")
    core = ExecutorCore()

    def per_step(flow, length):
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            core.run(flow, {"x": 0}, store=store)
            best = min(best, time.perf_counter() - started)
        return best / length

    short, long = _chain(100), _chain(3_000)
    assert per_step(long, 3_000) < 3 * per_step(short, 100)
