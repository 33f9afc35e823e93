"""The plugin's per-test hooks are registered only in sessions that use them.

Each process of a session (xdist workers too) writes which of the plugin's per-test
hook objects it registered, so the tests see what a session that does not use the
plugin pays: nothing per test. Using a feature (marker, fixture, option, or a fixture
reached only through ``request.getfixturevalue``) still turns it on.
"""

import json

import pytest

PER_TEST = (
    "flowexec-recording",
    "flowexec-properties-checks",
    "flowexec-regression-checks",
    "flowexec-benchmark-figures",
)

CONFTEST = f"""
import json, os
PER_TEST = {PER_TEST!r}

def pytest_sessionfinish(session):
    config = session.config
    if not hasattr(config, "workerinput") and config.pluginmanager.has_plugin("dsession"):
        return  # the xdist controller runs no test
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    manager = session.config.pluginmanager
    active = [name for name in PER_TEST if manager.get_plugin(name) is not None]
    with open(f"active-{{worker}}.json", "w") as out:
        json.dump(active, out)
"""

PLAIN = """
def test_one():
    assert 1 + 1 == 2

def test_two():
    assert "a".upper() == "A"
"""


def active(pytester) -> set[str]:
    """What any process of the session registered (one file per process)."""
    found: set[str] = set()
    files = list(pytester.path.glob("active-*.json"))
    assert files, "the conftest wrote nothing: the session did not finish"
    for path in files:
        found.update(json.loads(path.read_text()))
    return found


@pytest.fixture
def project(pytester):
    pytester.makeconftest(CONFTEST)
    return pytester


def test_a_session_that_does_not_use_the_plugin_registers_no_per_test_hook(project, run):
    project.makepyfile(test_plain=PLAIN)
    result = run()
    result.assert_outcomes(passed=2)
    assert active(project) == set()


def test_each_feature_is_registered_by_its_own_marker_or_fixture(project, run):
    project.makepyfile(
        test_plain=PLAIN,
        test_mock="""
from app import report

def test_stubbed(flow_mock):
    flow_mock.stub("fetch", {"url": "u", "rows": [1, 2], "at": 0})
    assert report.run(url="u")["parse"] == 3
""",
        test_golden="""
import pytest
from app import report

@pytest.mark.flow_regression
def test_pinned(flow_mock):
    flow_mock.stub("fetch", {"url": "u", "rows": [4], "at": 0})
    report.run(url="u")
""",
    )
    result = run("--flow-regen")
    result.assert_outcomes(passed=3, failed=1)  # the golden file is written: fails once
    assert active(project) == {"flowexec-recording", "flowexec-regression-checks"}


def test_a_fixture_asked_for_by_name_still_applies(project, run):
    # a fixture reached through request.getfixturevalue is not among the test's
    # fixture names at collection: setting it up registers its hooks
    project.makepyfile(
        test_dynamic="""
import pytest
from app import report

@pytest.fixture
def stubbed(request):
    mock = request.getfixturevalue("flow_mock")
    mock.stub("fetch", {"url": "u", "rows": [5, 6], "at": 0})
    return mock

def test_stubbed(stubbed):
    assert report.run(url="u")["parse"] == 11
    stubbed.assert_called("fetch", times=1)
""",
    )
    result = run()
    result.assert_outcomes(passed=1)
    assert active(project) == {"flowexec-recording"}


def test_a_mode_on_the_command_line_turns_recording_on_for_every_test(project, run):
    project.makepyfile(test_plain=PLAIN)
    result = run("--flow-replay")
    result.assert_outcomes(passed=2)
    assert active(project) == {"flowexec-recording"}


@pytest.mark.parametrize(
    "options",
    [
        ["--flow-replay", "--flow-record-mode=rewrite"],
        ["--flow-validate", "--flow-replay"],
        ["--flow-validate", "--flow-record-mode=once"],
    ],
    ids=["replay+rewrite", "validate+replay", "validate+once"],
)
def test_modes_that_exclude_each_other_are_a_usage_error(pytester, options):
    pytester.makepyfile(test_plain=PLAIN)
    result = pytester.runpytest("-p", "no:cacheprovider", *options)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*exclude each other: give one*"])
    assert "passed" not in result.stdout.str()


def test_a_blocked_feature_stays_off_though_a_test_uses_its_marker(project, run):
    project.makepyfile(
        test_golden="""
import pytest
from app import report

@pytest.mark.flow_regression
def test_pinned(flow_mock):
    flow_mock.stub("fetch", {"url": "u", "rows": [4], "at": 0})
    assert report.run(url="u")["parse"] == 4
""",
    )
    result = run("-p", "no:flowexec-regression")
    result.assert_outcomes(passed=1)  # no golden file written, nothing checked
    assert active(project) == {"flowexec-recording"}
    assert not (project.path / "fixtures" / "regression").exists()


def test_ini_modes_that_exclude_each_other_are_a_usage_error(pytester):
    pytester.makepyfile(test_plain=PLAIN)
    pytester.makeini("[pytest]\nflow_replay = true\nflow_record_mode = rewrite\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*flow_replay = true and flow_record_mode = rewrite*"])
    # an option on the command line decides, as documented
    pytester.runpytest("-p", "no:cacheprovider", "--flow-replay").assert_outcomes(passed=2)
