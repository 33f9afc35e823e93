"""The ``flow_benchmark`` fixture and marker: time flow runs, compare with baselines.

A benchmark warms up, calibrates how many rounds fill its time budget, times each
round (one flow run) with real clocks, and reports min / median / IQR / ops and
which steps took the time. Baselines are JSON under ``.flowexec/benchmarks/``.
Under xdist workers measure side by side and the controller merges and reports
(the figures then include the contention, and the report says so). A benchmark
never runs under a frozen clock or inside replay: it is skipped, saying why.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flowexec._activation import PerTest
from pytest_flowexec._session_data import SessionData

if TYPE_CHECKING:
    from executor import Flow, FlowResult
    from pytest_flowexec import _bench_stats as bench

MARKER = "flow_benchmark"
_DEFAULT_MIN_ROUNDS = 5
_DEFAULT_MAX_ROUNDS = 10_000


class _Clock:
    """Real clocks, bound before any test can freeze time (freezegun rewrites
    module-level references, never class attributes)."""

    perf_counter = time.perf_counter
    time = time.time


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flowexec-benchmark", "flowexec benchmarks")
    group.addoption(
        "--flow-benchmark-only", action="store_true", default=False, help="run only benchmarks"
    )
    group.addoption(
        "--flow-benchmark-skip", action="store_true", default=False, help="skip benchmarks"
    )
    group.addoption(
        "--flow-benchmark-save",
        metavar="NAME",
        default=None,
        help="save the results as the baseline .flowexec/benchmarks/NAME.json",
    )
    group.addoption(
        "--flow-benchmark-compare",
        metavar="NAME",
        default=None,
        help="compare with the baseline .flowexec/benchmarks/NAME.json",
    )
    group.addoption(
        "--flow-benchmark-compare-fail",
        metavar="STAT:AMOUNT",
        action="append",
        default=[],
        help="fail a benchmark slower than the baseline by more than AMOUNT "
        "(median:10%% or min:0.002 seconds); repeatable",
    )
    group.addoption(
        "--flow-benchmark-json", metavar="PATH", default=None, help="write all results to PATH"
    )
    parser.addini(
        "flow_benchmark_max_time",
        "seconds of measured rounds a calibrated benchmark aims for",
        default="0.5",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "flow_benchmark(group=None, rounds=None, warmup=1): a flow benchmark's settings "
        "(rounds=None: calibrated to fill flow_benchmark_max_time)",
    )
    if config.getoption("flow_benchmark_only") and config.getoption("flow_benchmark_skip"):
        raise pytest.UsageError(
            "--flow-benchmark-only and --flow-benchmark-skip exclude each other"
        )
    state = config.stash[SESSION] = BenchmarkSession(thresholds=[])
    save = config.getoption("flow_benchmark_save")
    compare = config.getoption("flow_benchmark_compare")
    fail = config.getoption("flow_benchmark_compare_fail")
    if save is None and compare is None and not fail:
        return  # nothing to check (and nothing imported) in a plain session
    from pytest_flowexec import _bench_stats as bench

    try:
        state.thresholds = [bench.Threshold.parse(t) for t in fail]
        for name in (save, compare):
            if name is not None:
                bench.baseline_path(config.rootpath, name)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    if state.thresholds and compare is None:
        raise pytest.UsageError(
            "--flow-benchmark-compare-fail needs --flow-benchmark-compare=NAME (the baseline)"
        )
    if compare is not None:
        try:
            state.baseline = bench.load(bench.baseline_path(config.rootpath, compare))
        except bench.BaselineError as error:
            raise pytest.UsageError(str(error)) from None


class BenchmarkSession:
    """Results of the session (merged from xdist workers on the controller).

    A plain class, not a dataclass: this module is imported by every session, used or
    not, and a dataclass compiles its methods at import (``python -m benchmarks plugin``).
    """

    def __init__(self, thresholds: list[bench.Threshold]) -> None:
        self.thresholds = thresholds
        self.results: list[bench.Result] = []
        self.workers: set[str] = set()
        self.tracing = False
        self.baseline: dict[str, bench.Result] | None = None

    def to_json(self) -> dict[str, Any]:
        """What an xdist worker hands the controller (named by xdist's worker id)."""
        return {
            "results": [r.to_json() for r in self.results],
            "tracing": self.tracing,
            "worker": os.environ.get("PYTEST_XDIST_WORKER", ""),
        }

    def add(self, data: Mapping[str, Any]) -> None:
        from pytest_flowexec import _bench_stats as bench

        self.results += [bench.Result.from_json(entry) for entry in data["results"]]
        self.tracing = self.tracing or data["tracing"]
        # every worker counts: a benchmark shares the machine with whatever the
        # others run meanwhile, benchmarks or not
        self.workers.add(data["worker"])


SESSION = pytest.StashKey[BenchmarkSession]()
DATA = SessionData("flowexec_benchmarks", SESSION)


def _is_benchmark(item: pytest.Item) -> bool:
    return (
        MARKER in getattr(item, "fixturenames", ()) or item.get_closest_marker(MARKER) is not None
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    only = config.getoption("flow_benchmark_only")
    skip = config.getoption("flow_benchmark_skip")
    if not (only or skip):
        return
    for item in items:
        if _is_benchmark(item) and skip:
            item.add_marker(pytest.mark.skip(reason="flow benchmark (--flow-benchmark-skip)"))
        elif not _is_benchmark(item) and only:
            item.add_marker(pytest.mark.skip(reason="not a flow benchmark (--flow-benchmark-only)"))


def _tracing() -> bool:
    """Whether coverage.py (or a debugger) is tracing: the figures are then slower."""
    import sys

    if sys.gettrace() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)
    return monitoring is not None and monitoring.get_tool(monitoring.COVERAGE_ID) is not None


class FlowBenchmark:
    """The ``flow_benchmark`` fixture: time runs of one flow.

    Example:
        def test_report_speed(flow_benchmark):
            result = flow_benchmark(report, {"day": "2024-01-01"}, executor="threaded")
            assert result["total"] > 0          # the last measured run's result

    Async tests (or code that must await) use :meth:`arun`.
    """

    def __init__(self, item: pytest.Item) -> None:
        self._item = item
        marker = item.get_closest_marker(MARKER)
        options = dict(marker.kwargs) if marker is not None else {}
        unknown = sorted(set(options) - {"group", "rounds", "warmup"})
        if unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: flow_benchmark marker takes group, rounds and warmup, not "
                f"{', '.join(unknown)}"
            )
        self.group: str = str(options.get("group") or "default")
        self.rounds: int | None = options.get("rounds")
        self.warmup: int = int(options.get("warmup", 1))
        if self.rounds is not None and (not isinstance(self.rounds, int) or self.rounds < 1):
            raise pytest.UsageError(f"{item.nodeid}: flow_benchmark rounds must be an int >= 1")
        if self.warmup < 0:
            raise pytest.UsageError(f"{item.nodeid}: flow_benchmark warmup must be >= 0")
        self.max_time = float(item.config.getini("flow_benchmark_max_time"))
        self.result: bench.Result | None = None
        """The figures, once the benchmark ran."""

    def __call__(
        self, flow: Flow, inputs: Mapping[str, Any] | None = None, **run_options: Any
    ) -> FlowResult:
        """Benchmark ``flow.run(**inputs, **run_options)``; return the last measured run."""
        self._refuse_frozen_clock()

        def once() -> tuple[float, FlowResult]:
            start = _Clock.perf_counter()
            result = flow.run(**dict(inputs or {}), **run_options)
            return _Clock.perf_counter() - start, result

        rounds = []
        for _ in range(max(self.warmup, 1)):
            rounds.append(once())
        self._refuse_replay(rounds[-1][1])
        measured = rounds if self.warmup == 0 else []  # no warm-up: the check run counts
        for _ in range(self._rounds(rounds[-1][0]) - len(measured)):
            measured.append(once())
        return self._finish(flow.name, measured)

    async def arun(
        self, flow: Flow, inputs: Mapping[str, Any] | None = None, **run_options: Any
    ) -> FlowResult:
        """Benchmark ``await flow.arun(**inputs, **run_options)`` on the running loop."""
        self._refuse_frozen_clock()

        async def once() -> tuple[float, FlowResult]:
            start = _Clock.perf_counter()
            result = await flow.arun(**dict(inputs or {}), **run_options)
            return _Clock.perf_counter() - start, result

        rounds = [await once() for _ in range(max(self.warmup, 1))]
        self._refuse_replay(rounds[-1][1])
        measured = rounds if self.warmup == 0 else []
        for _ in range(self._rounds(rounds[-1][0]) - len(measured)):
            measured.append(await once())
        return self._finish(flow.name, measured)

    def _rounds(self, estimate: float) -> int:
        if self.rounds is not None:
            return self.rounds
        fitting = int(self.max_time / estimate) if estimate > 0 else _DEFAULT_MAX_ROUNDS
        return max(_DEFAULT_MIN_ROUNDS, min(_DEFAULT_MAX_ROUNDS, fitting))

    def _refuse_frozen_clock(self) -> None:
        if time.perf_counter is not _Clock.perf_counter or time.time is not _Clock.time:
            pytest.skip(
                "flow_benchmark: not measured under a frozen clock (freezegun is active, "
                "e.g. for record/replay); benchmark outside record/replay"
            )

    def _refuse_replay(self, result: FlowResult) -> None:
        from pytest_flowexec._step_coverage import _replayed_by_test

        replayed = [
            r.address
            for r in result.steps.values()
            if r.status.value == "replayed" or _replayed_by_test(r.address)
        ]
        if replayed:
            pytest.skip(
                f"flow_benchmark: not measured inside replay ({replayed[0]} was replayed, "
                f"not run); benchmark outside --flow-replay and the flow_replay marker"
            )

    def _finish(self, flow: str, measured: list[tuple[float, FlowResult]]) -> FlowResult:
        from pytest_flowexec import _bench_stats as bench

        if self.result is not None:
            raise RuntimeError(
                f"{self._item.nodeid}: flow_benchmark was called twice; one benchmark per test"
            )
        times = [seconds for seconds, _ in measured]
        steps = [_step_durations(result) for _, result in measured]
        worker = str(getattr(self._item.config, "workerinput", {}).get("workerid", "main"))
        self.result = bench.Result(
            name=self._item.nodeid,
            group=self.group,
            flow=flow,
            stats=bench.Stats.of(times),
            steps=bench.breakdown(steps),
            warmup=self.warmup,
            worker=worker,
        )
        return measured[-1][1]


def _step_durations(result: FlowResult) -> dict[str, float]:
    from pytest_flowexec import _bench_stats as bench

    durations: dict[str, float] = {}
    for address, step in result.steps.items():
        seconds = step.duration
        if seconds is not None:
            key = bench.step_key(address)
            durations[key] = durations.get(key, 0.0) + seconds
    return durations


BENCHMARK = pytest.StashKey[FlowBenchmark]()


@pytest.fixture
def flow_benchmark(request: pytest.FixtureRequest) -> FlowBenchmark:
    """Time flow runs and report their figures (see docs/benchmarks.md)."""
    PER_TEST.activate(request.config)
    benchmark = FlowBenchmark(request.node)
    request.node.stash[BENCHMARK] = benchmark
    return benchmark


class _Figures:
    """The per-test hook of the fixture (registered when a test sets it up)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        result = yield
        benchmark = item.stash.get(BENCHMARK, None)
        if benchmark is None:
            return result
        if benchmark.result is None:
            pytest.fail(
                f"{item.nodeid} asked for flow_benchmark but never called it: call "
                f"flow_benchmark(flow, inputs) (or await flow_benchmark.arun(...))",
                pytrace=False,
            )
        session = item.config.stash[SESSION]
        session.tracing = session.tracing or _tracing()
        session.results.append(benchmark.result)
        failures = _compare(item.config, session, benchmark.result)
        if failures:
            pytest.fail("\n".join(failures), pytrace=False)
        return result


PER_TEST = PerTest("flowexec-benchmark-figures", _Figures, fixtures=("flow_benchmark",))


def _compare(config: pytest.Config, session: BenchmarkSession, result: bench.Result) -> list[str]:
    """Compare with the baseline (on the process that ran the benchmark: a worker
    fails its own test); the lines go to the report, the failures fail the test."""
    from pytest_flowexec import _bench_stats as bench

    name = config.getoption("flow_benchmark_compare")
    if name is None:
        return []
    assert session.baseline is not None  # loaded in pytest_configure
    before = session.baseline.get(result.name)
    if before is None:
        result.comparison.append(f"not in baseline {name!r}")
        return []
    for statistic in ("min", "median", "iqr"):
        now, then = result.stats.get(statistic), before.stats.get(statistic)
        change = f" ({(now - then) / then * 100:+.1f}%)" if then else ""
        result.comparison.append(
            f"{statistic} {bench.show(statistic, now)} vs {bench.show(statistic, then)}{change}"
        )
    failures = [
        message
        for threshold in session.thresholds
        if (message := threshold.check(result.name, before.stats, result.stats, name)) is not None
    ]
    return failures


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash[SESSION]
    if DATA.hand_over(config):  # an xdist worker: the controller reports and saves
        return
    if not state.results:
        return  # a session without benchmarks does not even import their statistics
    from pytest_flowexec import _bench_stats as bench

    side_by_side = max(1, len(state.workers))
    text = bench.dump(state.results, side_by_side=side_by_side, tracing=state.tracing)
    save = config.getoption("flow_benchmark_save")
    if save is not None:
        _write(bench.baseline_path(config.rootpath, save), text)
    target = config.getoption("flow_benchmark_json")
    if target is not None:
        _write(Path(target), text)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    DATA.take(node)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = DATA.to_report(config)
    if state is None or not state.results:
        return
    from pytest_flowexec import _bench_stats as bench

    write = terminalreporter.line
    terminalreporter.section("flowexec benchmarks")
    notes = []
    if len(state.workers) > 1:
        notes.append(
            f"ran side by side on {len(state.workers)} xdist workers: figures include "
            f"what the other workers ran meanwhile; compare like with like"
        )
    if state.tracing:
        notes.append("coverage.py or a debugger was tracing: figures are slower than plain runs")
    for note in notes:
        write(f"note: {note}")
    by_group: dict[str, list[bench.Result]] = {}
    for result in sorted(state.results, key=lambda r: (r.group, r.stats.median)):
        by_group.setdefault(result.group, []).append(result)
    for group, results in sorted(by_group.items()):
        write(f"group {group}")
        write(f"  {'name':<46} {'rounds':>6} {'min':>10} {'median':>10} {'IQR':>10} {'ops/s':>12}")
        for r in results:
            stats = r.stats
            write(
                f"  {_short(r.name):<46} {stats.rounds:>6} {bench.show('min', stats.min):>10} "
                f"{bench.show('median', stats.median):>10} {bench.show('iqr', stats.iqr):>10} "
                f"{stats.ops:>12,.1f}"
            )
            write(f"    steps (median time in each; overlapping steps add up): {_top_steps(r)}")
            if r.comparison:
                write(f"    vs baseline: {'; '.join(r.comparison)}")
    save = config.getoption("flow_benchmark_save")
    if save is not None:
        write(f"saved baseline {bench.baseline_path(config.rootpath, save)}")


def _short(name: str) -> str:
    return name if len(name) <= 46 else "..." + name[-43:]


def _top_steps(result: bench.Result, shown: int = 4) -> str:
    """The steps that took the time, largest first, with their share of the median run."""
    from pytest_flowexec import _bench_stats as bench

    ranked = sorted(result.steps.items(), key=lambda kv: (-kv[1], kv[0]))
    whole = result.stats.median or 1.0
    parts = [
        f"{key} {bench.show('median', seconds)} ({seconds / whole:.0%})"
        for key, seconds in ranked[:shown]
    ]
    if len(ranked) > shown:
        parts.append(f"+{len(ranked) - shown} more")
    return ", ".join(parts) or "none timed"
