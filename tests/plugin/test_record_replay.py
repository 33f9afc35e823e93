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
    assert data["format"] == "flowexec-recording" and data["version"] == 1
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
    result.stdout.fnmatch_lines(["*replayed 5*mismatched 0*unused 0*"])  # many: one composite


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
        ["*run 0: report/parse differs from the recording*", "*report/parse (recorded)*"]
    )


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
    result.stdout.fnmatch_lines(["*unused 3*", "*unused: *test_two_runs.json: run 1: many/shout*"])
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


def test_parametrized_ids_are_sanitized(run, pytester):
    pytester.makepyfile(
        test_app="""
        import pytest
        import app

        @pytest.mark.parametrize("url", ["a/b", "c d"])
        def test_report(url):
            app.report.run(url=url)
    """
    )
    run("--flow-record-mode=once").assert_outcomes(passed=2)
    names = sorted(
        p.name for p in (pytester.path / "fixtures" / "recordings" / "test_app").iterdir()
    )
    assert names == ["test_report[a_b].json", "test_report[c_d].json"]


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
