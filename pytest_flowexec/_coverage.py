"""``--flow-coverage``: which step addresses and composite arms the session's runs reached.

An observer sees every run in the process for the whole session (see
``_step_coverage``); xdist workers hand their data to the controller, which merges,
reports, writes ``--flow-coverage-json`` and applies ``--flow-coverage-fail-under``.

Beside coverage.py: when coverage.py measures the session, code run in ``"parallel"``
worker processes is measured by its multiprocessing support, which saves a worker's
data as the worker exits. Pools are shut down without waiting, so a worker may still
be exiting when pytest-cov combines the data files; before the test loop ends this
plugin waits for such processes, so their lines are in the report.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_flowexec._session_data import SessionData

_CHILD_WAIT = 15.0
"""Seconds to wait, at most, for worker processes to exit and save their coverage."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flowexec-coverage", "flowexec step coverage")
    group.addoption(
        "--flow-coverage",
        action="store_true",
        default=False,
        help="report which step addresses and composite arms ran live, were replayed, "
        "cached or stubbed, or never ran",
    )
    group.addoption(
        "--flow-coverage-json",
        metavar="PATH",
        default=None,
        help="write step coverage as JSON to PATH (implies --flow-coverage)",
    )
    group.addoption(
        "--flow-coverage-fail-under",
        metavar="PCT",
        type=float,
        default=None,
        help="fail the session if step coverage is below PCT percent (implies --flow-coverage)",
    )


class CoverageSession:
    """The session's step coverage, and the observer feeding it while tests run."""

    def __init__(self) -> None:
        from pytest_flowexec._step_coverage import StepCoverage

        self.data = StepCoverage()
        self.stack = contextlib.ExitStack()
        self.observer: Any = None
        self.stragglers = 0
        """Worker processes still alive when coverage.py was about to combine."""

    def to_json(self) -> dict[str, Any]:
        return self.data.to_json()

    def add(self, data: Mapping[str, Any]) -> None:
        self.data.add(data)


SESSION = pytest.StashKey[CoverageSession]()
DATA = SessionData("flowexec_step_coverage", SESSION)


def _enabled(config: pytest.Config) -> bool:
    return bool(
        config.getoption("flow_coverage")
        or config.getoption("flow_coverage_json")
        or config.getoption("flow_coverage_fail_under") is not None
    )


def pytest_configure(config: pytest.Config) -> None:
    if _enabled(config):
        state = config.stash[SESSION] = CoverageSession()
        # registered only when asked for: other sessions pay nothing per test
        config.pluginmanager.register(_Observing(state), "flowexec-coverage-observer")


class _Observing:
    """The per-session and per-test hooks of an enabled step coverage."""

    def __init__(self, state: CoverageSession) -> None:
        self.state = state

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from executor.testing import observe
        from pytest_flowexec._step_coverage import Observer

        self.state.observer = Observer(self.state.data)
        self.state.stack.enter_context(observe(self.state.observer))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        observer = self.state.observer
        if observer is None:
            return (yield)
        from pytest_flowexec.plugin import mock_of

        observer.stubs = mock_of(item)
        try:
            return (yield)
        finally:
            observer.stubs = None


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, Any, Any]:
    # trylast: innermost wrapper, so this runs before pytest-cov's own wrapper
    # stops coverage.py and combines its data files.
    before = _children()
    try:
        return (yield)
    finally:
        stragglers = _await_measured_children(before)
        state = session.config.stash.get(SESSION, None)
        if state is not None:
            state.stragglers = stragglers


def _children() -> set[int | None]:
    """Pids of this process's running child processes (none if multiprocessing was
    never imported: nothing can have started one)."""
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is None:
        return set()
    return {child.pid for child in multiprocessing.active_children()}


def _await_measured_children(before: set[int | None]) -> int:
    """Wait (bounded) for the child processes this session started to exit while
    coverage.py measures this one; returns how many were still running. Children
    that ran before it are not its own: a session run inside a test (pytester) must
    not wait for the outer test's long-lived workers, such as a Dask cluster's."""
    coverage = sys.modules.get("coverage")
    if coverage is None or coverage.Coverage.current() is None:
        return 0
    import multiprocessing
    import time

    deadline = time.monotonic() + _CHILD_WAIT
    children = [c for c in multiprocessing.active_children() if c.pid not in before]
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
    return sum(child.is_alive() for child in children)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(SESSION, None)
    if state is None:
        return
    state.stack.close()
    if DATA.hand_over(config):  # an xdist worker: the controller reports
        return
    target = config.getoption("flow_coverage_json")
    if target is not None:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state.data.to_json(), indent=2, sort_keys=True) + "\n")
    under = config.getoption("flow_coverage_fail_under")
    if under is not None and state.data.percent() < under and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    DATA.take(node)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = DATA.to_report(config)
    if state is None:
        return
    data = state.data
    write = terminalreporter.line
    terminalreporter.section("flowexec step coverage")
    arms_taken = sum(data.arms.values())
    write(
        f"{len(data.reached)}/{len(data.addresses)} step addresses reached, "
        f"{arms_taken}/{len(data.arms)} arms taken: {data.percent():.1f}%"
    )
    if data.addresses:
        width = max(len("address"), *(len(a) for a in data.addresses))
        write(
            f"  {'address':<{width}}  {'live':>5} {'replayed':>8} {'cached':>6} "
            f"{'stubbed':>7} {'never':>5}"
        )
        for address, counts in sorted(data.addresses.items()):
            write(
                f"  {address:<{width}}  {counts['live']:>5} {counts['replayed']:>8} "
                f"{counts['cached']:>6} {counts['stubbed']:>7} {counts['never']:>5}"
            )
    missing = data.missing()
    if missing:
        write("never ran:")
        for entry in missing:
            write(f"  {entry}")
    if state.stragglers:
        write(
            f"note: {state.stragglers} worker process(es) were still running when "
            f"coverage.py combined its data; lines they ran may be missing from it"
        )
    under = config.getoption("flow_coverage_fail_under")
    if under is not None:
        verdict = "FAIL" if data.percent() < under else "ok"
        write(f"{verdict}: step coverage {data.percent():.1f}% (required {under:g}%)")
