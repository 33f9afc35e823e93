import json

import pytest

BENCHMARKS = """
    import asyncio
    import pytest
    from executor import Flow, map_over, step

    @step
    def load(n: int) -> list:
        return list(range(n))

    @step
    def load_item(load: int) -> int:
        return load * 2

    @step
    def total(each: list) -> int:
        return sum(each)

    flow = Flow("calc", [load, map_over(load_item, over="load", name="each"), total])

    @pytest.mark.flow_benchmark(group="calc", rounds=7, warmup=2)
    def test_sync(flow_benchmark):
        assert flow_benchmark(flow, {"n": 3}, executor="threaded")["total"] == 6

    def test_async(flow_benchmark):
        assert asyncio.run(flow_benchmark.arun(flow, {"n": 2}))["total"] == 2

    @pytest.mark.flow_benchmark(rounds=5)
    def test_third(flow_benchmark):
        flow_benchmark(flow, {"n": 1})

    @pytest.mark.flow_benchmark(rounds=5)
    def test_fourth(flow_benchmark):
        flow_benchmark(flow, {"n": 1})

    def test_not_a_benchmark():
        pass
"""

NAMES = [
    "test_app.py::test_async",
    "test_app.py::test_fourth",
    "test_app.py::test_sync",
    "test_app.py::test_third",
]


def results(path):
    return json.loads(path.read_text())


def test_benchmarks_report_figures_steps_and_write_json(run, pytester):
    pytester.makepyfile(test_app=BENCHMARKS)
    result = run("--flow-benchmark-json=out.json")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [
            "*flowexec benchmarks*",
            "group calc",
            "  name * rounds * min * median * IQR * ops/s",
            "  test_app.py::test_sync * 7 *s *s *s *",
            "    steps (median time in each*): calc/*",
        ]
    )
    data = results(pytester.path / "out.json")
    assert data["format"] == "flowexec-benchmarks" and data["machine"]["cpu_count"] >= 1
    assert [b["name"] for b in data["benchmarks"]] == NAMES
    sync = data["benchmarks"][2]
    assert sync["group"] == "calc" and sync["warmup"] == 2 and sync["stats"]["rounds"] == 7
    stats = sync["stats"]
    assert stats["min"] <= stats["median"] <= stats["max"] and stats["iqr"] >= 0
    assert stats["ops"] == pytest.approx(1 / stats["mean"])
    assert set(sync["steps"]) == {"calc/load", "calc/each", "calc/each[*]", "calc/total"}
    calibrated = data["benchmarks"][0]["stats"]["rounds"]
    assert 5 <= calibrated <= 10_000  # rounds chosen to fill the time budget
    if run.xdist:
        assert data["side_by_side"] == 2
        result.stdout.fnmatch_lines(["note: ran side by side on 2 xdist workers*"])
        assert {b["worker"] for b in data["benchmarks"]} == {"gw0", "gw1"}
    else:
        assert data["side_by_side"] == 1 and "side by side" not in result.stdout.str()


def test_only_and_skip_select_benchmarks(run, pytester):
    pytester.makepyfile(test_app=BENCHMARKS)
    run("--flow-benchmark-only").assert_outcomes(passed=4, skipped=1)
    result = run("--flow-benchmark-skip", "-rs")
    result.assert_outcomes(passed=1, skipped=4)
    result.stdout.fnmatch_lines(["*flow benchmark (--flow-benchmark-skip)*"])
    assert "flowexec benchmarks" not in result.stdout.str()


def test_save_then_compare_fails_naming_benchmark_statistic_figures_threshold(run, pytester):
    pytester.makepyfile(test_app=BENCHMARKS)
    run("--flow-benchmark-save=base").assert_outcomes(passed=5)
    saved = pytester.path / ".flowexec" / "benchmarks" / "base.json"
    data = results(saved)
    assert data["machine"]["python"].startswith("CPython") or data["machine"]["python"]
    assert [b["name"] for b in data["benchmarks"]] == NAMES
    # The comparison is made deterministic by editing the baseline, never by timing:
    # test_sync's baseline median becomes 1 ns (any run is slower), the others 1 hour.
    for entry in data["benchmarks"]:
        entry["stats"]["median"] = 1e-9 if entry["name"].endswith("test_sync") else 3600.0
    saved.write_text(json.dumps(data))
    result = run(
        "--flow-benchmark-compare=base",
        "--flow-benchmark-compare-fail=median:10%",
        "-k",
        "test_sync or test_third",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "benchmark test_app.py::test_sync: median * against 1 ns in baseline 'base' "
            "(+*% slower); threshold median:10%",
            "*vs baseline: min * vs *; median * vs 1 ns (+*%); iqr*",
        ]
    )


def test_benchmark_options_refuse_nonsense(run, pytester):
    pytester.makepyfile(test_app=BENCHMARKS)
    result = run("--flow-benchmark-compare=base", "--flow-benchmark-compare-fail=fastest:10%")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*STAT:PERCENT% or STAT:SECONDS*min, max, mean, median*"])
    result = run("--flow-benchmark-compare-fail=median:5%")
    result.stderr.fnmatch_lines(["*--flow-benchmark-compare-fail needs --flow-benchmark-compare*"])
    result = run("--flow-benchmark-compare=missing")
    assert result.ret != 0
    result.stderr.fnmatch_lines(
        ["*no benchmark baseline*missing.json*; save one first with --flow-benchmark-save=missing"]
    )


def test_no_benchmark_under_a_frozen_clock_or_replay(run, pytester):
    pytester.makepyfile(
        test_app=BENCHMARKS
        + """
    import freezegun

    def test_frozen(flow_benchmark):
        with freezegun.freeze_time("2024-01-01"):
            flow_benchmark(flow, {"n": 1})

    def test_never_called(flow_benchmark):
        pass
    """
    )
    result = run("-rs", "-k", "frozen or never")
    result.assert_outcomes(skipped=1, failed=1)
    out = result.stdout.str()
    assert "flow_benchmark: not measured under a frozen clock (freezegun is active" in out
    assert "test_app.py::test_never_called asked for flow_benchmark but never called it" in out
    run("--flow-record-mode=once", "-k", "test_third").assert_outcomes(skipped=1)
    result = run("--flow-replay", "-k", "test_third", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*not measured under a frozen clock*record/replay*"])
