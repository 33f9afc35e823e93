"""The ``flow_regression`` fixture and marker: pin values and flow results in golden files.

A check encodes the value with the engine's typed JSON codec and compares it with
its golden file (see ``_golden``). The first run writes the file and fails saying
so; a difference fails with a diff by step address and path and writes the
obtained value beside the golden file; ``--flow-regen`` rewrites differing files
(and still fails those tests, so a rewrite is never silent). At the end of the
session golden files no test used are listed; under xdist each worker reports what
it used and the controller lists them.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
import pytest

from pytest_flowexec._activation import PerTest
from pytest_flowexec._session_data import SessionData

if TYPE_CHECKING:
    from executor import FlowResult
    from pytest_flowexec import _golden as golden

_lifecycle = pluggy.HookimplMarker("flowexec")
"""``executor.hookimpl`` without importing the engine (same project name)."""
_MAX_SHOWN = 30
"""Differences listed in a failure; the obtained file has them all."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flowexec-regression", "flowexec golden files")
    group.addoption(
        "--flow-regen",
        action="store_true",
        default=False,
        help="rewrite golden files whose value differs (those tests still fail), "
        "and delete golden files no test used",
    )
    parser.addini(
        "flow_regression_dir",
        "where golden files live, relative to the rootdir",
        default="fixtures/regression",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "flow_regression(tolerance=None): check the result of every flow run in the test "
        "against its golden file",
    )
    directory = str(config.getini("flow_regression_dir"))
    session = config.stash[SESSION] = RegressionSession(
        root=config.rootpath,
        directory=directory,
        watching=(config.rootpath / directory).is_dir(),
    )
    if session.watching:
        # registered only where golden files exist: other sessions pay nothing per test
        config.pluginmanager.register(_OutcomeNotes(), "flowexec-regression-outcomes")


class RegressionSession:
    """What golden files a session used, wrote and can vouch for (merged across workers).

    A plain class, not a dataclass: this module is imported by every session, used or
    not, and a dataclass compiles its methods at import (``python -m benchmarks plugin``).
    """

    def __init__(self, root: Path, directory: str, watching: bool = True) -> None:
        self.root = root
        self.directory = directory
        self.watching = watching
        """Whether golden files existed when the session started: only then can some
        be unused, and only then are test outcomes noted (see _OutcomeNotes)."""
        self.used: set[str] = set()
        """Golden files checked, relative to the rootdir (posix)."""
        self.written: list[str] = []
        self.rewritten: list[str] = []
        self.module_dirs: set[str] = set()
        """Golden folders of test modules that ran: unused files are looked for there."""
        self.passed: set[str] = set()
        """Owner keys (golden path without ``.json``) of tests that passed."""
        self.other: set[str] = set()
        """Owner keys of tests that failed, were skipped or deselected: their files stay."""
        self.stopped = False
        self.unused: list[str] = []
        self.deleted = False

    def relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def to_json(self) -> dict[str, Any]:
        return {
            "used": sorted(self.used),
            "written": self.written,
            "rewritten": self.rewritten,
            "module_dirs": sorted(self.module_dirs),
            "passed": sorted(self.passed),
            "other": sorted(self.other),
            "stopped": self.stopped,
        }

    def add(self, data: Mapping[str, Any]) -> None:
        self.used.update(data["used"])
        self.written += data["written"]
        self.rewritten += data["rewritten"]
        self.module_dirs.update(data["module_dirs"])
        self.passed.update(data["passed"])
        self.other.update(data["other"])
        self.stopped = self.stopped or data["stopped"]

    def find_unused(self) -> list[str]:
        """Golden files in the folders of modules that ran that no passing test used."""
        from pytest_flowexec import _golden as golden

        found = []
        for folder in sorted(self.module_dirs):
            base = self.root / folder
            if not base.is_dir():
                continue
            for path in sorted(base.glob("*.json")):
                if path.name.endswith(golden.OBTAINED + ".json"):
                    continue
                relative = self.relative(path)
                if relative in self.used:
                    continue
                keys = [f"{folder}/{name}" for name in golden.owners(path)]
                if any(key in self.other for key in keys):
                    continue  # its test did not pass or did not run: no verdict
                found.append(relative)
        return found


SESSION = pytest.StashKey[RegressionSession]()
DATA = SessionData("flowexec_regression", SESSION)
CHECKER = pytest.StashKey["Regression"]()


def _owner(item: pytest.Item) -> tuple[str, str]:
    """``(golden folder, owner key)`` of a test: its golden path without ``.json``."""
    session = item.config.stash[SESSION]
    path = _location(item, None)
    relative = session.relative(path)
    return relative.rsplit("/", 1)[0], relative[: -len(".json")]


def _location(item: pytest.Item, check: str | None) -> Path:
    from pytest_flowexec import _golden as golden

    session = item.config.stash[SESSION]
    module = Path(str(getattr(item, "path", item.fspath)))
    cls = getattr(item, "cls", None)
    return golden.location(
        session.root,
        session.directory,
        module,
        cls.__name__ if cls is not None else None,
        item.name,
        check,
    )


class _Outcome:
    """One check's outcome (a plain class: see RegressionSession)."""

    __slots__ = ("deferred", "message", "path")

    def __init__(self, path: Path, message: str | None, deferred: bool = False) -> None:
        self.path = path
        self.message = message
        """Why the check failed, or None when it passed."""
        self.deferred = deferred
        """The test fails when it ends (see Regression.pending), not at the check."""


class Regression:
    """The ``flow_regression`` fixture: compare values with their golden files.

    Example:
        def test_report(flow_regression):
            result = report.run(day="2024-01-01")
            flow_regression.check(result)                        # the whole run
            flow_regression.check(result["total"], name="total", tolerance=0.01)
    """

    def __init__(self, item: pytest.Item) -> None:
        self._item = item
        self._session = item.config.stash[SESSION]
        self._unnamed = 0
        self._paths: set[Path] = set()
        self.pending: list[str] = []
        """Failures held until the test ends (new and rewritten files), so that one
        run writes every file of a test."""

    @staticmethod
    def approx(abs: float = 0.0, rel: float = 0.0) -> golden.Tolerance:
        """A tolerance for floats and Decimals: within ``abs`` or within ``rel * |golden|``."""
        from pytest_flowexec import _golden as golden

        return golden.Tolerance(abs=abs, rel=rel)

    def check(self, value: Any, name: str | None = None, tolerance: Any = None) -> None:
        """Compare ``value`` (any codec-encodable value, or a FlowResult: its every step)
        with the golden file ``<test>[.name].json``; raise AssertionError if it differs.

        Args:
            name: names the golden file; unnamed checks are numbered in order
                (``<test>.json``, ``<test>.2.json``, ...).
            tolerance: a number (absolute), :meth:`approx`, or a mapping from path
                patterns (``"report/total"``, ``"value['rows'][*]"``, ``*`` matches
                anything) to either; floats and Decimals within it compare equal.
        """
        __tracebackhide__ = True
        from pytest_flowexec import _golden as golden

        outcome = self._check(value, name, golden.Tolerances(tolerance))
        if outcome.message is not None and not outcome.deferred:
            raise AssertionError(outcome.message)

    def _check(self, value: Any, name: str | None, tolerances: golden.Tolerances) -> _Outcome:
        from pytest_flowexec import _golden as golden
        from pytest_flowexec import _run_diff

        if name is None:
            self._unnamed += 1
            check = None if self._unnamed == 1 else str(self._unnamed)
        else:
            if not name or name.isdigit():
                raise ValueError(
                    f"flow_regression.check: name={name!r} is taken by unnamed checks; "
                    f"name checks with words"
                )
            check = name
        path = _location(self._item, check)
        if path in self._paths:
            raise ValueError(
                f"flow_regression.check: two checks in {self._item.nodeid} would share "
                f"{self._session.relative(path)}; give them distinct names"
            )
        self._paths.add(path)
        relative = self._session.relative(path)
        self._session.used.add(relative)
        encoded, runs = _run_diff.encode(value)
        content = golden.text(self._item.nodeid, encoded)
        obtained = golden.obtained_path(path)
        regen = bool(self._item.config.getoption("flow_regen"))
        if not path.exists():
            golden.write(path, content)
            self._session.written.append(relative)
            return self._defer(
                path,
                f"flow_regression: no golden file yet; wrote {relative}. Review it, commit "
                f"it, and run the test again.",
            )
        kept = golden.read(path)
        differences = list(_run_diff.differences(kept, encoded, runs, tolerances))
        if not differences:
            obtained.unlink(missing_ok=True)  # a stale one from an earlier failure
            return _Outcome(path, None)
        lines = [
            f"flow_regression: {len(differences)} difference(s) from {relative}:",
            *(f"  {difference}" for difference in differences[:_MAX_SHOWN]),
        ]
        if len(differences) > _MAX_SHOWN:
            lines.append(f"  ... and {len(differences) - _MAX_SHOWN} more")
        if regen:
            golden.write(path, content)
            obtained.unlink(missing_ok=True)
            self._session.rewritten.append(relative)
            lines.append(f"--flow-regen rewrote {relative}: review the change and commit it.")
            return self._defer(path, "\n".join(lines))
        else:
            golden.write(obtained, content)
            lines.append(
                f"The obtained value is in {self._session.relative(obtained)}; if the change "
                f"is intended, accept it with --flow-regen."
            )
        return _Outcome(path, "\n".join(lines))

    def _defer(self, path: Path, message: str) -> _Outcome:
        self.pending.append(message)
        return _Outcome(path, message, deferred=True)


# -- the fixture, the marker, and the session -------------------------------------------


@pytest.fixture
def flow_regression(request: pytest.FixtureRequest) -> Regression:
    """Compare values and flow results with golden files (see docs/regression.md)."""
    PER_TEST.activate(request.config)
    return _checker(request.node)


def _checker(item: pytest.Item) -> Regression:
    checker = item.stash.get(CHECKER, None)
    if checker is None:
        checker = item.stash[CHECKER] = Regression(item)
    return checker


class _Runs:
    """Collects the result of every top-level run while a marked test runs."""

    def __init__(self) -> None:
        self.results: list[FlowResult] = []
        self._lock = threading.Lock()

    @_lifecycle
    def flow_end(self, flow: str, result: FlowResult) -> None:
        with self._lock:
            self.results.append(result)


class _Checks:
    """The per-test hook of the marker and the fixture (registered when used)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        marker = item.get_closest_marker("flow_regression")
        if marker is None:
            result = yield
        else:
            result = yield from _check_runs(item, marker)
        checker = item.stash.get(CHECKER, None)
        if checker is not None and checker.pending:
            pytest.fail("\n".join(checker.pending), pytrace=False)
        return result


PER_TEST = PerTest(
    "flowexec-regression-checks",
    _Checks,
    markers=("flow_regression",),
    fixtures=("flow_regression",),
)


def _check_runs(item: pytest.Item, marker: pytest.Mark) -> Generator[None, Any, Any]:
    """Run the test while collecting its runs, then check them as one value."""
    from executor.testing import observe

    runs = _Runs()
    with observe(runs):
        result = yield
    if not runs.results:
        pytest.fail(
            f"flow_regression marker on {item.nodeid}: the test ran no flow; remove the "
            f"marker, or use the flow_regression fixture to check other values",
            pytrace=False,
        )
    from pytest_flowexec import _golden as golden

    tolerances = golden.Tolerances(marker.kwargs.get("tolerance"))
    outcome = _checker(item)._check(runs.results, None, tolerances)
    if outcome.message is not None and not outcome.deferred:
        pytest.fail(outcome.message, pytrace=False)
    return result


class _OutcomeNotes:
    """Notes which tests passed, failed, were skipped or deselected: a golden file
    is unused only if its test passed without checking it, or no longer exists."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if report.when == "call" or report.failed or report.skipped:
            session = item.config.stash[SESSION]
            folder, key = _owner(item)
            session.module_dirs.add(folder)
            if report.when == "call" and report.passed:
                session.passed.add(key)
            else:
                session.other.add(key)
        return report

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            item.config.stash[SESSION].other.add(_owner(item)[1])


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash[SESSION]
    state.stopped = bool(session.shouldstop or session.shouldfail)
    if DATA.hand_over(session.config):  # an xdist worker: the controller reports
        return
    if state.stopped or not state.module_dirs:
        return  # interrupted, or no golden files: nothing to call unused
    state.unused = state.find_unused()
    if state.unused and session.config.getoption("flow_regen"):
        for relative in state.unused:
            (state.root / relative).unlink(missing_ok=True)
        state.deleted = True


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    DATA.take(node)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = DATA.to_report(config)
    if state is None or not (state.used or state.unused):
        return
    terminalreporter.section("flowexec regression")
    terminalreporter.line(
        f"{len(state.used)} golden file(s) checked, {len(state.written)} written, "
        f"{len(state.rewritten)} rewritten, {len(state.unused)} unused"
    )
    verb = "deleted (--flow-regen)" if state.deleted else "unused"
    for relative in state.unused:
        terminalreporter.line(f"  {verb}: {relative}")
    if state.unused and not state.deleted:
        terminalreporter.line("  (delete them, or run with --flow-regen to delete them)")
