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


def _growth(run_short, run_long, short: int, long: int, rounds: int = 5) -> float:
    """Per-step cost of the long run over the short one, in the best of ``rounds``
    rounds that time both in turn. A cost that grows with length (say, quadratic
    work) never shows a flat round; load on the machine can only spoil rounds.

    Timed in CPU time of this process, not wall time: on a loaded machine a short run
    fits in one time slice while a long one is preempted again and again, so wall
    time read the load factor as growth (3.07x once at load average 10, ~0.7x calm).
    """
    clock = time.process_time
    ratios = []
    for _ in range(rounds):
        started = clock()
        run_short()
        short_cost = (clock() - started) / short
        started = clock()
        run_long()
        long_cost = (clock() - started) / long
        ratios.append(long_cost / short_cost)
    return min(ratios)


def test_per_step_cost_does_not_grow_with_run_length():
    core = ExecutorCore()
    short, long = _chain(100), _chain(10_000)
    core.run(short, {"x": 0})
    # Quadratic work would make the long run ~100x costlier per step; allow 3x.
    assert (
        _growth(lambda: core.run(short, {"x": 0}), lambda: core.run(long, {"x": 0}), 100, 10_000)
        < 3
    )


def test_async_per_step_cost_does_not_grow_with_run_length():
    core = ExecutorCore(executor="async")
    short, long = _chain(100), _chain(3_000)
    core.run(short, {"x": 0})
    assert (
        _growth(lambda: core.run(short, {"x": 0}), lambda: core.run(long, {"x": 0}), 100, 3_000) < 3
    )


def test_checkpoint_cost_per_step_does_not_grow_with_run_length(tmp_path):
    """Each checkpoint is one append: the history is never re-serialized."""
    from executor.state import SQLiteStateBackend

    store = SQLiteStateBackend(tmp_path / "state.db")
    core = ExecutorCore()
    short, long = _chain(100), _chain(3_000)
    core.run(short, {"x": 0}, store=store)
    assert (
        _growth(
            lambda: core.run(short, {"x": 0}, store=store),
            lambda: core.run(long, {"x": 0}, store=store),
            100,
            3_000,
        )
        < 3
    )


def _chain_functions(length: int) -> list:
    namespace: dict = {}
    source = ["def s0(x): return x + 1"]
    source += [f"def s{i}(s{i - 1}): return s{i - 1} + 1" for i in range(1, length)]
    exec("\n".join(source), namespace)
    return [namespace[f"s{i}"] for i in range(length)]


def test_building_a_flow_is_linear_in_its_steps():
    """step() per function and Flow() per step cost the same at 30,000 steps as at
    1,000 (a quadratic validation or ordering would be ~30x costlier per step)."""
    short, long = _chain_functions(1_000), _chain_functions(30_000)

    def build(functions):
        return lambda: Flow("built", [step(f) for f in functions])

    assert _growth(build(short), build(long), 1_000, 30_000) < 3


def test_flow_steps_declared_out_of_order_still_build_in_linear_time():
    """The heap path (declaration order is not already a valid order) is linear too."""
    short, long = _chain_functions(1_000), _chain_functions(30_000)
    short_steps = [step(f) for f in reversed(short)]
    long_steps = [step(f) for f in reversed(long)]
    assert Flow("r", short_steps).steps[0].name == "s0"
    assert _growth(lambda: Flow("r", short_steps), lambda: Flow("r", long_steps), 1_000, 30_000) < 3
