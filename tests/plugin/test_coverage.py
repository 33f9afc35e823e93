import json
import os
import sys

import pytest

FLOWS = """
    import pytest
    from executor import Flow, Retry, loop, parallel, step, when

    @step(retry=Retry(attempts=2, backoff=0))
    def first(x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x

    @step
    def big(first: int) -> str:
        return "big"

    @step
    def small(first: int) -> str:
        return "small"

    @step(timeout=5)
    def left(first: int) -> int:
        return 1

    @step
    def right(first: int) -> int:
        return 2

    @step
    def halve(v: float) -> float:
        return v / 2

    flow = Flow("f", [
        first,
        when(lambda first: first > 10, big, small, name="size"),
        parallel("both", {"left": left, "right": right}),
        loop(halve, until=lambda v: v < 1, name="shrink", max_iterations=3, stop_quietly=True),
    ])
"""

TESTS = """
    from flows import flow

    def test_small():
        flow.run(x=3, v=1.5)

    def test_stubbed(flow_mock):
        flow_mock.stub("right", return_value=0)
        flow.run(x=3, v=1.5)
"""

MORE = """
    from flows import flow

    def test_big_and_long_loop():
        flow.run(x=30, v=100.0)

    def test_failing_first():
        import pytest
        from executor import StepFailed
        with pytest.raises(StepFailed):
            flow.run(x=-1, v=1.0)
"""


def coverage_json(pytester):
    return json.loads((pytester.path / "cov.json").read_text())


def test_coverage_reports_how_each_address_ran_and_missing_arms(run, pytester):
    pytester.makepyfile(flows=FLOWS, test_app=TESTS)
    result = run("--flow-coverage", "--flow-coverage-json=cov.json")
    result.assert_outcomes(passed=2)
    data = coverage_json(pytester)
    addresses = data["addresses"]
    assert addresses["f/both/right"] == {
        "live": 1,
        "replayed": 0,
        "cached": 0,
        "stubbed": 1,
        "never": 0,
    }
    assert addresses["f/first"]["live"] == 2 and addresses["f/shrink#*"]["live"] == 2
    assert data["arms"] == {
        "f/both/left": True,
        "f/both/left timeout": False,
        "f/both/right": True,
        "f/first retry": False,
        "f/shrink exit: max_iterations": False,
        "f/shrink exit: until": True,
        "f/size/otherwise": True,
        "f/size/then": False,
    }
    assert data["percent"] == pytest.approx(100 * (8 + 4) / (8 + 8), abs=0.01)
    result.stdout.fnmatch_lines(
        [
            "*flowexec step coverage*",
            "8/8 step addresses reached, 4/8 arms taken: 75.0%",
            "  address * live replayed cached stubbed never",
            "  f/both/right * 1 * 0 * 0 * 1 * 0",
            "never ran:",
            "  f/both/left timeout",
            "  f/first retry",
            "  f/shrink exit: max_iterations",
            "  f/size/then",
        ]
    )


def test_more_tests_take_more_arms_and_fail_under_gates(run, pytester):
    pytester.makepyfile(flows=FLOWS, test_app=TESTS, test_more=MORE)
    result = run("--flow-coverage-json=cov.json")
    result.assert_outcomes(passed=4)
    data = coverage_json(pytester)
    assert data["arms"]["f/size/then"] and data["arms"]["f/first retry"]
    assert data["arms"]["f/shrink exit: max_iterations"]  # 100 -> 12.5 in 3 iterations
    assert data["addresses"]["f/size"]["never"] == 1  # skipped after first failed
    assert not data["arms"]["f/both/left timeout"]  # the one path no test takes
    assert 90 < data["percent"] < 99
    result = run("--flow-coverage-fail-under=99")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["FAIL: step coverage *% (required 99%)"])
    result = run("--flow-coverage-fail-under=50")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["ok: step coverage *% (required 50%)"])


def test_replayed_and_cached_steps_are_counted_as_such(run, pytester):
    pytester.makepyfile(
        flows=FLOWS,
        test_app="""
        import pytest
        from executor import Flow, step
        from executor.cache import CachePolicy, MemoryCache
        from flows import flow

        @step(cache=CachePolicy())
        def square(n: int) -> int:
            return n * n

        def test_cached():
            cached = Flow("c", [square])
            cache = MemoryCache()
            cached.run(n=2, cache=cache)
            cached.run(n=2, cache=cache)

        @pytest.mark.flow_replay
        def test_recorded():
            flow.run(x=3, v=1.5)
        """,
    )
    run("--flow-record-mode=once", "-k", "recorded").assert_outcomes(passed=1)
    result = run("--flow-coverage", "--flow-coverage-json=cov.json")
    result.assert_outcomes(passed=2)
    addresses = coverage_json(pytester)["addresses"]
    assert addresses["c/square"] == {
        "live": 1,
        "replayed": 0,
        "cached": 1,
        "stubbed": 0,
        "never": 0,
    }
    assert addresses["f/first"]["replayed"] == 1 and addresses["f/first"]["live"] == 0


def test_no_flow_coverage_section_unless_asked(run, pytester):
    pytester.makepyfile(flows=FLOWS, test_app=TESTS)
    result = run()
    result.assert_outcomes(passed=2)
    assert "flowexec step coverage" not in result.stdout.str()


PARALLEL_APP = """
    import threading
    import time
    from executor import Flow, step

    def _linger():
        time.sleep(1.5)

    @step
    def only_in_a_worker_process(x: int) -> int:
        # A non-daemon thread keeps the worker process alive after the pool shut
        # down: coverage.py saves the worker's data only as it exits.
        threading.Thread(target=_linger).start()
        doubled = x * 2
        return doubled

    flow = Flow("p", [only_in_a_worker_process])
"""


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["plain", "xdist"])
def test_coverage_py_includes_code_run_in_parallel_worker_processes(pytester, monkeypatch, extra):
    # Under the project's own `--cov` run, coverage settings travel in the environment
    # (subprocess measurement); the inner session must measure by its own config.
    for name in list(os.environ):
        if "COV" in name.upper():
            monkeypatch.delenv(name)
    pytester.makepyfile(
        proc_app=PARALLEL_APP,
        test_app="""
        import proc_app

        def test_parallel():
            assert proc_app.flow.run(x=2, executor="parallel")["only_in_a_worker_process"] == 4
        """,
    )
    pytester.makefile(
        ".toml",
        pyproject="""
        [tool.coverage.run]
        source = ["proc_app"]
        parallel = true
        concurrency = ["thread", "multiprocessing"]
        """,
    )
    result = pytester.runpytest_subprocess(
        *extra,
        "-p",
        "no:cacheprovider",
        "--cov",
        "--cov-report=term-missing",
        "--flow-coverage",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["proc_app.py * 100%*"])
    out = result.stdout.str()
    assert out.index("flowexec step coverage") >= 0 and "coverage: platform" in out
    assert sys.executable  # the subprocess ran this interpreter


def test_a_session_waits_only_for_the_child_processes_it_started(monkeypatch):
    # Measured by coverage.py, a session waits (bounded) for its workers to exit so
    # their data is written. A session run inside a test (pytester) must not wait for
    # the outer test's long-lived children (a session's Dask cluster): 15 s each.
    import multiprocessing
    import time

    import coverage

    from pytest_flowexec import _coverage

    monkeypatch.setattr(coverage.Coverage, "current", staticmethod(lambda: object()))
    monkeypatch.setattr(_coverage, "_CHILD_WAIT", 0.5)
    outer = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(60,))
    outer.start()
    try:
        before = _coverage._children()
        assert outer.pid in before
        started = time.monotonic()
        assert _coverage._await_measured_children(before) == 0
        assert time.monotonic() - started < 0.4  # not waited for
        mine = before - {outer.pid}  # as if it had started in the session
        assert _coverage._await_measured_children(mine) == 1  # its own: waited, counted
    finally:
        outer.kill()
        outer.join()
