"""Hypothesis ``@given`` tests that run flows, recorded and replayed (pytest_flowexec._given).

Every session here keeps hypothesis' own pytest plugin (the conftest's ``run`` leaves it
out of xdist sessions): the behaviour under test is hypothesis' own.
"""

import json

import hypothesis
import pytest

APP = """
from executor import Flow, map_over, step


@step
def region(country: str) -> str:
    return {"DE": "EU-central", "FR": "EU-west"}.get(country, "other")


lookup = Flow("lookup", [map_over(region, over="country", name="regions")])


@step
def double(n: int) -> int:
    return 2 * n


@step
def shout(word: str) -> str:
    return word.upper()


pair = Flow("pair", [double, shout])
"""

TESTS = """
from hypothesis import given, settings, strategies as st

from app import lookup, pair
from pytest_flowexec.strategies import inputs_for


@settings(max_examples=20, deadline=None)
@given(inputs_for(lookup, country=st.lists(st.sampled_from(["DE", "FR", "US"]))))
def test_lookup_len(inputs):
    assert len(lookup.run(**inputs)["regions"]) == len(inputs["country"])


@settings(max_examples=40, deadline=None)
@given(st.integers(), st.text(max_size=5))
def test_pair(n, word):
    assert pair.run(n=n, word=word)["double"] == 2 * n
"""

# Literals hypothesis would mix into draws while this module is imported (by test_other).
OTHER = "BIG = [{}]\nWORDS = [{}]\n".format(
    ", ".join(str(i * 7919) for i in range(200)),
    ", ".join(repr(f"w{i}") for i in range(200)),
)


# Each session here with xdist and hypothesis' plugin takes 15-40 s on a loaded 2-core
# machine, and some tests run three: more than the suite's 120 s per test.
pytestmark = pytest.mark.timeout(400)

# In-process sessions leave out pytest's unraisable-exception plugin: hypothesis
# allocates enough to start a garbage collection, which can meet an object another
# test of the outer suite leaked (a Popen still running) and fail these tests for it.
IN_PROCESS = ("-p", "no:cacheprovider", "-p", "no:unraisableexception")


@pytest.fixture(params=[[], ["-n", "2"]], ids=["plain", "xdist"])
def run(request, pytester):
    """pytest on a project of @given tests: in-process, or with xdist in subprocesses."""
    pytester.makepyfile(app=APP, test_app=TESTS)
    pytester.makeini("[pytest]\n")
    extra = request.param

    def go(*args, subprocess=False):
        if extra or subprocess:
            return pytester.runpytest_subprocess(*extra, "-p", "no:cacheprovider", *args)
        return pytester.runpytest(*IN_PROCESS, *args)

    return go


@pytest.fixture
def plain(pytester):
    """The same project, in-process only: for what xdist cannot change."""
    pytester.makepyfile(app=APP, test_app=TESTS)
    pytester.makeini("[pytest]\n")
    return lambda *args: pytester.runpytest(*IN_PROCESS, *args)


def recording(pytester, name="test_lookup_len"):
    return pytester.path / "fixtures" / "recordings" / "test_app" / f"{name}.json"


def saved_examples(pytester):
    """Files in hypothesis' example database (in the project: .hypothesis/examples)."""
    found = pytester.path / ".hypothesis" / "examples"
    return [p for p in found.rglob("*") if p.is_file()] if found.exists() else []


def test_rerecording_is_byte_identical_and_replays(run, pytester):
    run("--flow-record-mode=rewrite").assert_outcomes(passed=2)
    first = {
        name: recording(pytester, name).read_bytes() for name in ("test_lookup_len", "test_pair")
    }
    data = json.loads(first["test_lookup_len"])
    assert data["hypothesis"] == hypothesis.__version__
    assert len(data["runs"]) > 5  # one run per example
    run("--flow-record-mode=rewrite").assert_outcomes(passed=2)
    for name, text in first.items():
        assert recording(pytester, name).read_bytes() == text, name
    result = run("--flow-replay")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*recorded 0 step(s)*mismatched 0, unused 0*"])


def test_every_recording_mode_draws_the_recorded_examples(plain, pytester):
    plain("--flow-record-mode=once").assert_outcomes(passed=2)  # records
    first = recording(pytester).read_bytes()
    result = plain("--flow-record-mode=once")  # replays
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*recorded 0 step(s)*mismatched 0, unused 0*"])
    result = plain("--flow-record-mode=new")  # replays; nothing new to add
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*(0 file(s) written)*mismatched 0, unused 0*"])
    plain("--flow-validate").assert_outcomes(passed=2)  # same examples, same outputs
    assert recording(pytester).read_bytes() == first


def test_examples_do_not_depend_on_the_session(pytester, monkeypatch):
    """Recorded in-process with one test file under one hash seed; replayed and
    re-recorded with another test file beside it (whose import puts other literals
    in reach of hypothesis), on xdist workers, under other hash seeds."""
    pytester.makepyfile(app=APP, test_app=TESTS, other=OTHER)
    pytester.makeini("[pytest]\n")
    pytester.runpytest(*IN_PROCESS, "--flow-record-mode=rewrite", "test_app.py").assert_outcomes(
        passed=2
    )
    first = recording(pytester, "test_pair").read_bytes()
    pytester.makepyfile(test_other="import other\n\ndef test_other():\n    assert other.BIG\n")
    monkeypatch.setenv("PYTHONHASHSEED", "2")
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "--flow-replay")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*mismatched 0, unused 0*"])
    monkeypatch.setenv("PYTHONHASHSEED", "1")
    pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--flow-record-mode=rewrite"
    ).assert_outcomes(passed=3)
    assert recording(pytester, "test_pair").read_bytes() == first


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (
            {"hypothesis": "6.0.0", "seed": 7},
            "*is a hypothesis @given test: hypothesis 6.0.0 drew the recorded examples, "
            f"and hypothesis {hypothesis.__version__} runs it now, which may draw other "
            "examples from the same seed (7)",
        ),
        ({"seed": 7}, "*seeded with its recording's seed (7) under the same hypothesis*"),
        ({"hypothesis": None, "seed": 7}, "*whose recording names no hypothesis version*"),
    ],
    ids=["upgraded", "same-version", "unversioned"],
)
def test_a_replay_that_no_longer_matches_says_why(plain, pytester, edit, said):
    plain("--flow-record-mode=rewrite").assert_outcomes(passed=2)
    path = recording(pytester, "test_pair")
    data = json.loads(path.read_text())
    data.update(edit)  # another seed: hypothesis draws other examples, as after an upgrade
    if data["hypothesis"] is None:
        del data["hypothesis"]
    path.write_text(json.dumps(data))
    result = plain("--flow-replay", "-k", "test_pair")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "*test_app.py::test_pair: replay no longer matches the recording, from run * "
            "(flow 'pair') on; the first mismatch:",
            "*step 'pair/double': replay mismatch: input changed",
            said,
            "*re-record just this test with: python -m pytest test_app.py::test_pair "
            "--flow-record-mode=rewrite",
        ]
    )
    # the first mismatch, reported as it is: hypothesis shrank nothing, found no flake
    result.stdout.no_fnmatch_line("*Flaky*")
    result.stdout.no_fnmatch_line("*Falsifying example*")
    result.stdout.fnmatch_lines(["*, mismatched 1, unused*"])


def test_a_replayed_failure_is_reported_on_its_recorded_example(run, pytester):
    run("--flow-record-mode=rewrite").assert_outcomes(passed=2)
    pytester.makepyfile(
        test_app=TESTS.replace(
            '== len(inputs["country"])', '== len(inputs["country"]) and len(inputs["country"]) < 3'
        )
    )
    result = run("--flow-replay")
    result.assert_outcomes(failed=1, passed=1)
    recorded = [run["inputs"] for run in json.loads(recording(pytester).read_text())["runs"]]
    first = next(inputs for inputs in recorded if len(inputs["country"]) >= 3)
    result.stdout.fnmatch_lines(["*AssertionError*"])
    assert (
        "Replayed example (as recorded; a replay does not shrink): "
        f"test_lookup_len(inputs={first!r})"
    ) in result.stdout.str()
    result.stdout.no_fnmatch_line("*replay mismatch*")
    result.stdout.no_fnmatch_line("*Flaky*")


FAILING = """
from hypothesis import given, settings, strategies as st

from app import pair


@settings(max_examples=50, deadline=None)
@given(st.integers())
def test_small(n):
    assert pair.run(n=n, word="x")["double"] < 100
"""


def test_a_failing_example_is_found_again_and_nothing_is_recorded(run, pytester, monkeypatch):
    """In subprocesses: hypothesis finds its database beside the directory it was
    imported in, which in-process is this repository."""
    # Under CI (CI=true, as .ci/run sets) hypothesis loads its "ci" profile, which has no
    # example database: this test is about the database, so its sessions run as a
    # developer's would.
    for name in ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "CIRCLECI"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_app=FAILING)
    shown = []
    for _ in range(2):
        result = run("--flow-record-mode=rewrite", subprocess=True)
        result.assert_outcomes(failed=1)
        # hypothesis shrinks as usual while recording: to the smallest failing example
        result.stdout.fnmatch_lines(["*test_small(*", "*n=50,*"])
        shown.append([line for line in result.outlines if "n=" in line])
    assert shown[0] == shown[1]
    assert not recording(pytester, "test_small").exists()  # a failing test writes nothing
    assert saved_examples(pytester) == []  # the example database is off while recording
    run(subprocess=True).assert_outcomes(
        failed=1
    )  # outside a recording mode hypothesis is left alone:
    assert saved_examples(pytester)  # it saves the failure in its database


METHODS = """
import pytest
from hypothesis import given, settings, strategies as st

from app import lookup

COUNTRIES = st.lists(st.sampled_from(["DE", "FR", "US"]))


class TestLookup:
    @settings(max_examples=10, deadline=None)
    @given(COUNTRIES)
    def test_method(self, country):
        assert len(lookup.run(country=country)["regions"]) == len(country)


@pytest.mark.parametrize("k", [1, 2])
@settings(max_examples=10, deadline=None)
@given(COUNTRIES)
def test_parametrized(k, country):
    assert len(lookup.run(country=country * k)["regions"]) == len(country) * k
"""


def test_methods_and_parametrized_tests(plain, pytester):
    pytester.makepyfile(test_app=METHODS)
    plain("--flow-record-mode=rewrite").assert_outcomes(passed=3)
    names = ["TestLookup.test_method", "test_parametrized[1]", "test_parametrized[2]"]
    first = [recording(pytester, name).read_bytes() for name in names]
    plain("--flow-record-mode=rewrite").assert_outcomes(passed=3)
    assert [recording(pytester, name).read_bytes() for name in names] == first
    plain("--flow-replay").assert_outcomes(passed=3)


MACHINE = """
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from app import lookup


class Lookups(RuleBasedStateMachine):
    @rule(country=st.sampled_from(["DE", "FR"]))
    def look(self, country):
        lookup.run(country=[country])


Lookups.TestCase.settings = settings(max_examples=3, stateful_step_count=2, deadline=None)
TestLookups = Lookups.TestCase
"""


def test_a_state_machine_is_left_to_hypothesis(plain, pytester):
    """Not covered: its runTest has no examples to seed; recording it still works."""
    pytester.makepyfile(test_app=MACHINE)
    plain("--flow-record-mode=rewrite").assert_outcomes(passed=1)
    assert "hypothesis" not in json.loads(
        recording(pytester, "Lookups.TestCase.runTest").read_text()
    )


def test_validation_of_other_examples_says_why(plain, pytester):
    plain("--flow-record-mode=rewrite").assert_outcomes(passed=2)
    path = recording(pytester)
    path.write_text(path.read_text().replace('"seed": ', '"seed": 1', 1))  # other examples
    result = plain("--flow-validate", "-k", "test_lookup_len")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "*lookup/regions[[]0] differs from the recording:*",
            "*test_app.py::test_lookup_len is a hypothesis @given test, seeded with its "
            "recording's seed (1*) under the same hypothesis*",
            "*re-record just this test with:*",
        ]
    )
