import json

import pytest

TESTS = """
    import decimal
    import pytest
    import app

    @pytest.mark.flow_regression
    def test_report():
        app.many.run(items=["x", "y"], executor="threaded")

    def test_values(flow_regression):
        flow_regression.check({"price": decimal.Decimal("1.25"), "tags": {"b", "a"}, "total": 10.5})
        flow_regression.check([1, 2, 3], name="numbers")
"""


def golden(pytester, name="test_report"):
    return pytester.path / "fixtures" / "regression" / "test_app" / f"{name}.json"


def test_first_run_writes_and_fails_then_passes(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    result = run()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*no golden file yet; wrote fixtures/regression/test_app/test_report.json*"]
    )
    data = json.loads(golden(pytester).read_text())
    assert data["format"] == "flowexec-golden" and data["test"] == "test_app.py::test_report"
    (only,) = data["value"]["runs"]
    assert only["flow"] == "many" and only["status"] == "completed"
    # top-level steps only: nested ones show in their composite's output, so the file
    # is the same whether the map ran, was cached or was replayed
    assert only["steps"] == {"many/shout": {"output": ["X", "Y"]}}
    assert json.loads(golden(pytester, "test_values").read_text())["value"]["tags"] == {
        "$set": ["a", "b"]
    }
    assert golden(pytester, "test_values.numbers").exists()
    result = run()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*3 golden file(s) checked, 0 written, 0 rewritten, 0 unused*"])


def test_mismatch_shows_address_and_path_and_writes_obtained(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run()
    data = json.loads(golden(pytester).read_text())
    data["value"]["runs"][0]["steps"]["many/shout"]["output"][1] = "y"
    golden(pytester).write_text(json.dumps(data))
    pytester.makepyfile(test_app=TESTS.replace('"total": 10.5', '"total": 10.75'))
    result = run()
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "1 difference(s) from fixtures/regression/test_app/test_report.json:" in out
    assert '\n  run 0 many/shout[1]: golden "y", obtained "Y"\n' in out
    assert "value['total']: golden 10.5, obtained 10.75 (off by 0.25)\n" in out
    assert "obtained value is in fixtures/regression/test_app/test_values.obtained.json" in out
    obtained = golden(pytester, "test_values.obtained")
    assert json.loads(obtained.read_text())["value"]["total"] == 10.75
    pytester.makepyfile(test_app=TESTS)
    run("-k", "test_values").assert_outcomes(passed=1)
    assert not obtained.exists()  # a passing check removes the stale obtained file


def test_regen_rewrites_differing_files_and_fails_them(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run()
    before = golden(pytester, "test_values.numbers").read_bytes()
    pytester.makepyfile(test_app=TESTS.replace("[1, 2, 3]", "[1, 2]"))
    result = run("--flow-regen")
    result.assert_outcomes(failed=1, passed=1)
    out = result.stdout.str()
    assert "value[2]: golden 3, obtained - (missing)\n" in out
    assert "--flow-regen rewrote fixtures/regression/test_app/test_values.numbers.json" in out
    assert golden(pytester, "test_values.numbers").read_bytes() != before
    run().assert_outcomes(passed=2)


def test_unused_golden_files_are_listed_and_regen_deletes_them(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run()
    pytester.makepyfile(test_app=TESTS.replace("def test_values", "def test_renamed"))
    run().assert_outcomes(passed=1, failed=1)  # the renamed test writes its file
    result = run()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*flowexec regression*",
            "*2 unused*",
            "  unused: fixtures/regression/test_app/test_values.json",
            "  unused: fixtures/regression/test_app/test_values.numbers.json",
        ]
    )
    # a deselected test's files are not unused: it did not run
    result = run("-k", "test_report")
    assert "unused: fixtures/regression/test_app/test_renamed.json" not in result.stdout.str()
    result = run("--flow-regen")
    result.stdout.fnmatch_lines(["  deleted (--flow-regen): *test_values.json"])
    assert not golden(pytester, "test_values").exists()
    assert golden(pytester, "test_renamed").exists()
    run().stdout.fnmatch_lines(["*3 golden file(s) checked, 0 written, 0 rewritten, 0 unused"])


def test_a_failing_test_keeps_its_files_out_of_the_unused_list(run, pytester):
    pytester.makepyfile(test_app=TESTS)
    run()
    pytester.makepyfile(
        test_app=TESTS.replace(
            "def test_values(flow_regression):",
            "def test_values(flow_regression):\n        assert False",
        )
    )
    result = run()
    result.assert_outcomes(passed=1, failed=1)
    assert "unused:" not in result.stdout.str()


FLOAT_TESTS = """
    import decimal
    import pytest
    from executor import Flow, step

    SCALE = {scale}

    @step
    def measure(n: int) -> dict:
        cost = decimal.Decimal("10.00") * decimal.Decimal(str(SCALE))
        return {{"mean": 2.0 * SCALE, "count": n, "cost": cost}}

    flow = Flow("stats", [measure])

    @pytest.mark.flow_regression(tolerance={{"stats/measure['mean']": 0.01}})
    def test_marker_per_path():
        flow.run(n=3)

    def test_check_rel(flow_regression):
        flow_regression.check(flow.run(n=3)["measure"], tolerance=flow_regression.approx(rel=0.001))
"""


def test_floats_and_decimals_compare_within_tolerance(run, pytester):
    pytester.makepyfile(test_app=FLOAT_TESTS.format(scale=1.0))
    run()
    run().assert_outcomes(passed=2)
    pytester.makepyfile(test_app=FLOAT_TESTS.format(scale=1.0004))
    run().assert_outcomes(passed=1, failed=1)  # the marker's path tolerance does not cover cost
    pytester.makepyfile(test_app=FLOAT_TESTS.format(scale=1.01))
    result = run()
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "run 0 stats/measure['mean']: golden 2.0, obtained 2.02 (off by 0.02" in out
    assert "; tolerance abs=0.01)" in out
    assert (
        "value['cost']: golden 10.000, obtained 10.1000 (off by 0.1000; tolerance rel=0.001)" in out
    )


def test_marker_without_runs_and_clashing_names_say_so(run, pytester):
    pytester.makepyfile(
        test_app="""
        import pytest

        @pytest.mark.flow_regression
        def test_nothing():
            pass

        def test_twice(flow_regression):
            flow_regression.check(1, name="x")
            flow_regression.check(2, name="x")
        """
    )
    result = run()
    result.assert_outcomes(failed=2)
    out = result.stdout.str()  # under xdist the two failures come in either order
    assert "flow_regression marker on test_app.py::test_nothing: the test ran no flow" in out
    assert (
        "two checks in test_app.py::test_twice would share "
        "fixtures/regression/test_app/test_twice.x.json" in out
    )


def test_distinct_ids_get_distinct_files(run, pytester):
    pytester.makepyfile(
        test_app="""
        import pytest

        @pytest.mark.parametrize("key", ["a/b", "a_b", "x" * 300, "x" * 301])
        def test_key(flow_regression, key):
            flow_regression.check(key)
        """
    )
    run().assert_outcomes(failed=4)
    files = sorted(
        p.name for p in (pytester.path / "fixtures" / "regression" / "test_app").iterdir()
    )
    assert len(files) == 4 and "test_key[a_b].json" in files
    assert all(len(name) < 120 for name in files)
    run().assert_outcomes(passed=4)


@pytest.mark.parametrize("extra", [[], ["-p", "no:xdist"]])
def test_regression_summary_stays_out_of_sessions_that_do_not_use_it(pytester, extra):
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    result = pytester.runpytest("-p", "no:cacheprovider", *extra)
    result.assert_outcomes(passed=1)
    assert "flowexec regression" not in result.stdout.str()
