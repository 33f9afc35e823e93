"""The flowexec pytest plugin: ``flow_mock`` and deterministic record/replay.

Registered through the ``pytest11`` entry point ``flowexec``. It stays thin and
lazy: the engine, the mock and the recording code are imported only when a test uses
them, the per-test hook is registered only in sessions that need it (``_activation``),
session state lives in ``config.stash``, and xdist workers hand their summary to the
controller.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flowexec import hookspecs
from pytest_flowexec._activation import PerTest, activate_used
from pytest_flowexec._session_data import SessionData

if TYPE_CHECKING:
    from pytest_flowexec._mock import FlowMock
    from pytest_flowexec._session import Stats

MODES = ("none", "once", "new", "rewrite")


def _new_stats() -> Stats:
    from pytest_flowexec._session import Stats

    return Stats()


STATS = pytest.StashKey["Stats"]()
MOCK = pytest.StashKey["FlowMock"]()
"""The test's ``flow_mock``, however it was asked for (a parameter, another fixture,
``request.getfixturevalue``): ``item.funcargs`` holds only the first two."""
SESSION_MODES = pytest.StashKey[tuple[str | None, bool, str]]()
DATA = SessionData("flowexec", STATS, _new_stats)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flowexec", "flowexec record/replay")
    group.addoption(
        "--flow-record-mode",
        choices=MODES,
        default=None,
        help="none (default): no recording; once: record when a test has no "
        "recording, else replay it; new: replay and add new steps; "
        "rewrite: record every test afresh",
    )
    group.addoption(
        "--flow-replay",
        action="store_true",
        default=None,
        help="replay only: steps are never called; a step missing from the "
        "recording or whose inputs changed fails the test",
    )
    group.addoption(
        "--flow-validate",
        action="store_true",
        default=False,
        help="call the real steps and compare every output with the recording",
    )
    parser.addini("flow_record_mode", "default for --flow-record-mode", default="none")
    parser.addini("flow_replay", "default for --flow-replay", type="bool", default=False)
    parser.addini(
        "flow_recordings_dir",
        "where recordings live, relative to the rootdir",
        default="fixtures/recordings",
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)
    # Golden files, benchmarks and step coverage are plugins of their own (options,
    # fixtures, hooks), registered with this one.
    from pytest_flowexec import _benchmark, _coverage, _regression

    pluginmanager.register(_regression, "flowexec-regression")
    pluginmanager.register(_benchmark, "flowexec-benchmark")
    pluginmanager.register(_coverage, "flowexec-coverage")


def pytest_configure(config: pytest.Config) -> None:
    from pytest_flowexec import _properties_plugin

    if not config.pluginmanager.is_registered(_properties_plugin):
        config.pluginmanager.register(_properties_plugin, "flowexec-properties")
    config.addinivalue_line(
        "markers",
        "flow_replay: replay this test's flow runs from its recording; steps are never called",
    )
    config.addinivalue_line(
        "markers",
        "flow_record(mode): record/replay this test's flow runs in mode once, new or rewrite",
    )
    given = [
        option
        for option, value in (
            ("--flow-replay", config.getoption("flow_replay")),
            ("--flow-validate", config.getoption("flow_validate")),
            ("--flow-record-mode", config.getoption("flow_record_mode") is not None),
        )
        if value
    ]
    if len(given) > 1:
        # each asks for another thing (replay only, call and compare, record): one
        # silently winning would let someone believe they re-recorded when nothing was
        raise pytest.UsageError(
            f"{' and '.join(given)} exclude each other: give one (--flow-record-mode=rewrite "
            f"re-records, --flow-replay replays only, --flow-validate calls the real steps "
            f"and compares)"
        )
    mode = config.getoption("flow_record_mode") or config.getini("flow_record_mode")
    if mode not in MODES:
        raise pytest.UsageError(f"flow_record_mode must be one of {', '.join(MODES)}, got {mode!r}")
    forced, ini_replay, default = _session_modes(config)
    if forced not in (None, "none") or ini_replay or default != "none":
        RECORDING.activate(config)  # every test records, replays or validates


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: Sequence[pytest.Item]) -> None:
    from pytest_flowexec import _benchmark, _properties_plugin, _regression

    features = [RECORDING]
    for name, module in (
        ("flowexec-properties", _properties_plugin),
        ("flowexec-regression", _regression),
        ("flowexec-benchmark", _benchmark),
    ):
        if config.pluginmanager.get_plugin(name) is module:  # not blocked with -p no:NAME
            features.append(module.PER_TEST)
    activate_used(config, items, features)


def _session_modes(config: pytest.Config) -> tuple[str | None, bool, str]:
    """What the options and ini say for every test, read once a session: the mode the
    command line forces (or None), whether the ini turns replay on, the default."""
    found = config.stash.get(SESSION_MODES, None)
    if found is None:
        forced: str | None = None
        if config.getoption("flow_validate"):
            forced = "validate"
        elif config.getoption("flow_replay"):
            forced = "replay"
        elif config.getoption("flow_record_mode") is not None:
            forced = str(config.getoption("flow_record_mode"))
        default = str(config.getoption("flow_record_mode") or config.getini("flow_record_mode"))
        found = config.stash[SESSION_MODES] = (forced, bool(config.getini("flow_replay")), default)
    return found


def _mode(item: pytest.Item) -> str:
    """The test's mode. Precedence: --flow-validate, --flow-replay, an explicit
    --flow-record-mode (so marked tests can be re-recorded), the markers, the ini."""
    forced, ini_replay, default = _session_modes(item.config)
    if forced is not None:
        return forced
    if ini_replay or item.get_closest_marker("flow_replay") is not None:
        return "replay"
    marker = item.get_closest_marker("flow_record")
    if marker is not None:
        mode = marker.args[0] if marker.args else marker.kwargs.get("mode", "once")
        if mode not in MODES:
            raise pytest.UsageError(
                f"{item.nodeid}: flow_record mode must be one of {', '.join(MODES)}, got {mode!r}"
            )
        return str(mode)
    return default


def recording_path(item: pytest.Item) -> Path:
    """Where ``item``'s recording lives: the default location, or a hook's answer."""
    module = Path(str(getattr(item, "path", item.fspath)))
    name = item.name
    parent = getattr(item, "cls", None)
    if parent is not None:
        name = f"{parent.__name__}.{name}"
    from pytest_flowexec._recording import default_location

    default = default_location(
        item.config.rootpath, item.config.getini("flow_recordings_dir"), module, name
    )
    chosen = item.config.hook.pytest_flowexec_recording_path(item=item, default=default)
    return Path(chosen) if chosen is not None else default


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Each test starts with empty default caches, before its fixtures run: a cached
    # step that ran in an earlier test must not be a hit here (results would depend on
    # test order and on how xdist splits the tests). No flow exists until the engine
    # is imported, so a session that never imports it pays nothing.
    if "executor._flow" in sys.modules:
        from executor.testing import renew_default_caches

        renew_default_caches()


class _Recording:
    """The per-test hook of record/replay and ``flow_mock`` (registered when used)."""

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        # trylast: innermost, nearest the test, as when it was a module-level hook
        mode = _mode(item)
        mock = mock_of(item)
        if mode == "none" and mock is None:
            return (yield)  # the plugin stays out of tests that do not use it
        from pytest_flowexec._recording import RecordingError
        from pytest_flowexec._session import TestRun

        try:
            test = TestRun(item, mode, recording_path(item) if mode != "none" else None, mock)
        except RecordingError as error:
            pytest.fail(str(error), pytrace=False)
        from pytest_flowexec._given import given_examples, validation_note

        stats = DATA.get(item.config)
        try:
            with test.environment(), given_examples(item, test):  # @given: fixed examples
                result = yield
        except BaseException:
            test.count(stats)  # a failed test's replays and mismatches count too
            raise
        problems = test.finish(stats)
        if problems:
            raise AssertionError("\n".join([*problems, *validation_note(test)]))
        return result


RECORDING = PerTest(
    "flowexec-recording",
    _Recording,
    markers=("flow_replay", "flow_record"),
    fixtures=("flow_mock",),
)


@pytest.fixture
def flow_mock(request: pytest.FixtureRequest) -> FlowMock:
    """Stub or spy on steps of every flow the test runs (see docs/testing.md)."""
    from pytest_flowexec._mock import FlowMock

    RECORDING.activate(request.config)
    mock = request.node.stash[MOCK] = FlowMock()
    return mock


def mock_of(item: pytest.Item) -> FlowMock | None:
    """The test's ``flow_mock``, if it set one up."""
    return item.stash.get(MOCK, None)


def pytest_report_header(config: pytest.Config) -> str:
    from importlib.metadata import version  # not the engine: importing it costs ~0.2 s

    __version__ = version("flowexec")
    if config.getoption("flow_validate"):
        mode = "validate"
    elif config.getoption("flow_replay") or config.getini("flow_replay"):
        mode = "replay"
    else:
        mode = config.getoption("flow_record_mode") or config.getini("flow_record_mode")
    return (
        f"flowexec {__version__}: record/replay mode {mode}, recordings in "
        f"{config.getini('flow_recordings_dir')}"
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    DATA.hand_over(session.config)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    DATA.take(node)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    stats = DATA.to_report(config)
    if stats is None or not (stats.tests or stats.unused or stats.files_written):
        return
    terminalreporter.section("flowexec")
    terminalreporter.line(
        f"recorded {stats.recorded} step(s) ({stats.files_written} file(s) written), "
        f"replayed {stats.replayed}, mismatched {stats.mismatched}, "
        f"unused {len(stats.unused)}"
    )
    for entry in sorted(stats.unused)[:20]:
        terminalreporter.line(f"  unused: {entry}")
    if len(stats.unused) > 20:
        terminalreporter.line(f"  ... and {len(stats.unused) - 20} more")
