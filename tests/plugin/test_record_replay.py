import json

from tests.plugin.conftest import calls

TESTS = """
    import app

    def test_report():
        assert isinstance(app.report.run(url="https://example.org")["parse"], int)

    def test_two_runs():
        app.report.run(url="a")
        app.many.run(items=["x", "y"], executor="threaded")
"""


def recording(pytester, name="test_report"):
    return pytester.path / "fixtures" / "recordings" / "test_app" / f"{name}.json"


def test_once_records_then_replays_without_calling_steps(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run("--flow-record-mode=once").assert_outcomes(passed=2)
    data = json.loads(recording(pytester).read_text())
    assert data["format"] == "flowexec-recording" and data["version"] == 2
    assert data["test"] == "test_app.py::test_report"
    assert isinstance(data["seed"], int)  # random was seeded with it for the test
    (only,) = data["runs"]
    assert only["flow"] == "report" and only["inputs"] == {"url": "https://example.org"}
    assert sorted(only["steps"]) == ["report/fetch", "report/parse"]
    # A dict not in sorted order keeps its order next to its (sorted) values.
    fetched = only["steps"]["report/fetch"]["output"]["$ordered"]
    assert fetched["keys"] == ["url", "rows", "at"]
    assert fetched["values"]["at"] == 1704067200.0  # time was frozen
    assert [
        r["flow"] for r in json.loads(recording(pytester, "test_two_runs").read_text())["runs"]
    ] == ["report", "many"]
    before = calls(pytester)
    result = run("--flow-replay")
    result.assert_outcomes(passed=2)
    assert calls(pytester) == before  # replay called no step
    # many: its two items (the composite runs again around them)
    result.stdout.fnmatch_lines(["*replayed 6*mismatched 0*unused 0*"])


def test_rerecording_an_unchanged_run_is_byte_identical(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run("--flow-record-mode=rewrite").assert_outcomes(passed=2)
    first = recording(pytester).read_bytes()
    run("--flow-record-mode=rewrite").assert_outcomes(passed=2)
    assert recording(pytester).read_bytes() == first
    assert first.endswith(b"\n") and b'  "format": "flowexec-recording",' in first


def test_replay_mismatch_names_reason_and_nearest(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run("--flow-record-mode=once").assert_outcomes(passed=2)
    pytester.makepyfile(test_app=TESTS.replace("https://example.org", "https://example.com"))
    result = run("--flow-replay", "-k", "test_report")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*replay mismatch: input changed*"])
    recording(pytester, "test_two_runs").unlink()
    result = run("--flow-replay", "-k", "test_two_runs")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*replay mismatch: not recorded*"])


def test_marker_turns_replay_on_for_one_test(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run("--flow-record-mode=once").assert_outcomes(passed=2)
    pytester.makepyfile(
        test_app="""
        import pytest
        import app

        @pytest.mark.flow_replay
        def test_report():
            app.report.run(url="https://example.org")
    """
    )
    before = calls(pytester)
    run().assert_outcomes(passed=1)
    assert calls(pytester) == before


def test_validate_reports_differences_per_address(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run("--flow-record-mode=once").assert_outcomes(passed=2)
    path = recording(pytester)
    data = json.loads(path.read_text())
    data["runs"][0]["steps"]["report/parse"]["output"] = -1
    path.write_text(json.dumps(data))
    result = run("--flow-validate", "-k", "test_report")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*run 0: report/parse differs from the recording*",
            "*report/parse (recorded)*",
            "*re-record just this test with: python -m pytest test_app.py::test_report "
            "--flow-record-mode=rewrite*",
        ]
    )
    assert "pytest_flowexec/" not in result.stdout.str().replace("\\", "/")  # no plugin frames


def test_unused_recorded_events_are_reported_and_dropped_on_rewrite(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run("--flow-record-mode=once").assert_outcomes(passed=2)
    pytester.makepyfile(
        test_app="""
        import app

        def test_two_runs():
            app.report.run(url="a")
    """
    )
    result = run("--flow-replay")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*unused 2*", "*unused: *test_two_runs.json: run 1: many/shout[[]0]*"]
    )
    run("--flow-record-mode=rewrite").assert_outcomes(passed=1)
    data = json.loads(recording(pytester, "test_two_runs").read_text())
    assert [r["flow"] for r in data["runs"]] == ["report"]


def test_hooks_move_recordings_and_redact_events(run, pytester):
    pytester.makeconftest("""
        from pathlib import Path

        def pytest_flowexec_recording_path(item, default):
            return Path(item.config.rootpath) / "elsewhere" / (item.name + ".json")

        def pytest_flowexec_redact_event(item, run, address, event):
            if address == "report/fetch":
                event["output"]["url"] = "<redacted>"
    """)
    pytester.makepyfile(test_app=TESTS)
    run("--flow-record-mode=once").assert_outcomes(passed=2)
    data = json.loads((pytester.path / "elsewhere" / "test_report.json").read_text())
    assert data["runs"][0]["steps"]["report/fetch"]["output"]["url"] == "<redacted>"


def test_ini_keys_and_header(run, pytester):
    pytester.makeini("[pytest]\nflow_record_mode = once\nflow_recordings_dir = recs\n")
    pytester.makepyfile(test_app=TESTS)
    result = run()
    result.assert_outcomes(passed=2)
    assert (pytester.path / "recs" / "test_app" / "test_report.json").exists()
    if not run.xdist:
        result.stdout.fnmatch_lines(["flowexec *: record/replay mode once, recordings in recs"])


def test_every_test_id_gets_its_own_file(run, pytester):
    pytester.makepyfile(
        test_app="""
        import pytest
        import app

        @pytest.mark.parametrize("url", ["a/b", "a_b", "a:b", "c d", "x" * 300])
        def test_report(url):
            assert app.report.run(url=url)["fetch"]["url"] == url
    """
    )
    run("--flow-record-mode=once").assert_outcomes(passed=5)
    folder = pytester.path / "fixtures" / "recordings" / "test_app"
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 5
    assert "test_report[a_b].json" in names  # a safe name stays as it is
    assert all(len(name) <= 140 for name in names)  # 300 characters: cut, hash-suffixed
    tests = sorted(json.loads((folder / name).read_text())["test"] for name in names)
    assert len(set(tests)) == 5
    before = calls(pytester)
    run("--flow-replay").assert_outcomes(passed=5)  # each test finds its own file
    assert calls(pytester) == before
    run("--flow-record-mode=rewrite").assert_outcomes(passed=5)
    assert sorted(p.name for p in folder.iterdir()) == names  # stable names


def test_strict_markers_and_unused_plugin(run, pytester):
    pytester.makepyfile(
        test_plain="""
        import pytest

        @pytest.mark.flow_record("once")
        def test_marked():
            pass

        def test_nothing():
            pass
    """
    )
    run("--strict-markers").assert_outcomes(passed=2)


def test_new_mode_keeps_recorded_steps_and_adds_new_ones(run, pytester):
    pytester.makepyfile(
        test_app="""
        import app

        def test_report():
            app.report.run(url="a")
    """
    )
    run("--flow-record-mode=once").assert_outcomes(passed=1)
    first = json.loads(recording(pytester).read_text())["runs"]
    before = calls(pytester)
    pytester.makepyfile(
        test_app="""
        import app

        def test_report():
            app.report.run(url="a")
            app.many.run(items=["q"])
    """
    )
    run("--flow-record-mode=new").assert_outcomes(passed=1)
    runs = json.loads(recording(pytester).read_text())["runs"]
    assert runs[0] == first[0]  # the recorded run was replayed, kept as it was
    assert runs[1]["flow"] == "many" and "many/shout[0]" in runs[1]["steps"]
    assert calls(pytester) == before  # fetch was not called again


def test_a_conftest_can_let_a_mismatched_step_run(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run("--flow-record-mode=once").assert_outcomes(passed=2)
    pytester.makeconftest("""
        def pytest_flowexec_replay_mismatch(item, mismatch):
            return mismatch.reason == "input changed"   # run those for real
    """)
    pytester.makepyfile(test_app=TESTS.replace("https://example.org", "https://example.com"))
    run("--flow-replay", "-k", "test_report").assert_outcomes(passed=1)
    assert "https://example.com" in calls(pytester)


def test_flow_replay_as_an_ini_key(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run("--flow-record-mode=once").assert_outcomes(passed=2)
    before = calls(pytester)
    pytester.makeini("[pytest]\nflow_replay = true\n")
    run().assert_outcomes(passed=2)
    assert calls(pytester) == before  # replayed: no step called


def test_summary_counts_failed_tests_too(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run("--flow-record-mode=once").assert_outcomes(passed=2)
    pytester.makepyfile(test_app=TESTS.replace('url="a"', 'url="b"'))
    result = run("--flow-replay")
    result.assert_outcomes(passed=1, failed=1)
    # test_report: 2 replayed; test_two_runs stops at its mismatched report/fetch
    result.stdout.fnmatch_lines(["*replayed 2, mismatched 1, unused 0*"])


def test_an_old_recording_asks_to_be_rerecorded(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run("--flow-record-mode=once").assert_outcomes(passed=2)
    path = recording(pytester)
    data = json.loads(path.read_text())
    data["version"] = 1
    path.write_text(json.dumps(data))
    result = run("--flow-replay", "-k", "test_report")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_report.json' has format version 1; this flowexec reads version 2 only: "
            "re-record just this test with: python -m pytest test_app.py::test_report "
            "--flow-record-mode=rewrite*"
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*_recording.py*")


def test_hypothesis_garbage_collection_callback_keeps_the_real_clock(run, pytester):
    # hypothesis installs one GC callback for the whole process; under the plugin's
    # frozen time it must not run freezegun's clock (another thread may collect
    # garbage while this one stops the freeze: freezegun then raised IndexError)
    pytester.makepyfile(
        test_clock="""
import time
from hypothesis.internal.conjecture import junkdrawer
from app import report

REAL = [time.perf_counter]  # in a list: freezegun patches module attributes only

def test_recorded():
    report.run(url="u")
    assert time.perf_counter is not REAL[0]  # the test's own clock is frozen
    assert junkdrawer._perf_counter is REAL[0]  # the callback's is not
"""
    )
    run("--flow-record-mode=rewrite").assert_outcomes(passed=1)
