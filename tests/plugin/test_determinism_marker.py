"""The flow_determinism and flow_cache_keys markers, through real pytest sessions."""

import pytest

APP = """
import random
import time

from executor import Flow, map_over, step
from executor.cache import CachePolicy


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step
def square(numbers: int) -> int:
    return numbers * numbers


@step
def total(squares: list[int]) -> dict:
    return {"sum": sum(squares), "count": len(squares)}


steady = Flow("steady", [numbers, map_over(square, over="numbers", name="squares"), total])


@step
def stamp(n: int) -> float:
    return time.time() + n


clocky = Flow("clocky", [stamp])


@step
def draw(n: int) -> float:
    return random.random() * n


dicey = Flow("dicey", [draw])


@step
def tags(n: int) -> list[str]:
    return list({f"tag{i}" for i in range(n)})


hashy = Flow("hashy", [tags])


@step
def note(numbers: int, context: dict) -> int:
    # later items end first on a concurrent executor: 50 ms apart, so that a loaded
    # machine starting the threads late does not end them in order anyway
    time.sleep(0.05 * (4 - numbers))
    context.setdefault("seen", {})[numbers] = True
    return numbers


noted = Flow("noted", [numbers, map_over(note, over="numbers", name="notes")])


@step
def sometimes(n: int) -> float:
    return time.time() if n >= 4 else float(n)


moody = Flow("moody", [sometimes])


@step(cache=CachePolicy())
def fetch(url: str, limit: int) -> int:
    return limit


@step(cache=CachePolicy(key=lambda inputs: list(inputs["names"])))
def by_names(names: set[str]) -> int:
    return len(names)
"""


def _session(pytester, extra):
    pytester.makepyfile(app=APP)
    pytester.makeini("[pytest]\n")

    def go(*args):
        return pytester.runpytest_subprocess(*extra, "-p", "no:cacheprovider", *args)

    return go


@pytest.fixture(params=[[], ["-n", "2"]], ids=["plain", "xdist"])
def session(request, pytester):
    """Run pytest on a project with the app module, in a subprocess, with and without
    xdist: for the features whose results travel from workers to the controller."""
    return _session(pytester, request.param)


@pytest.fixture
def plain(pytester):
    """The same, without xdist (each session costs seconds: the rest run once)."""
    return _session(pytester, [])


def test_a_deterministic_flow_passes_and_the_summary_counts_runs(session, pytester):
    pytester.makepyfile(
        test_it="""
        import pytest
        import app

        @pytest.mark.flow_determinism(executors=["sequential", "threaded", "async"], runs=2)
        def test_steady():
            assert app.steady.run(n=4)["total"] == {"sum": 14, "count": 4}
            app.steady.run(n=2)
        """
    )
    result = session()
    result.assert_outcomes(passed=1)
    # 2 flow runs x (3 executors x 2 runs + 1 replay)
    result.stdout.fnmatch_lines(
        ["*flowexec determinism*", "checked 2 flow run(s) with 14 re-run(s)"]
    )


def test_a_step_reading_the_clock_is_named_with_both_values(session, pytester):
    pytester.makepyfile(
        test_it="""
        import pytest
        import app

        @pytest.mark.flow_determinism(executors=["sequential"], hash_seeds=())
        def test_clock():
            app.clocky.run(n=1)
        """
    )
    result = session()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*flow 'clocky' (run 0 of the test): sequential run 1 and sequential run 2 differ:",
            "*clocky/stamp: * (sequential run 1) vs * (sequential run 2)",
            "*likely cause: clocky/stamp read the clock (time.time; pass the time in as an "
            "input, or frozen_time=)",
        ]
    )


def test_unseeded_random_is_named_and_not_reseeded_between_runs(session, pytester):
    pytester.makepyfile(
        test_it="""
        import pytest
        import app

        @pytest.mark.flow_determinism(executors=["sequential"], hash_seeds=())
        def test_dice():
            app.dicey.run(n=3)

        @pytest.mark.flow_determinism(executors=["sequential"], hash_seeds=(), seed=7,
                                      frozen_time="2024-01-01")
        def test_fixed_on_purpose():
            app.dicey.run(n=3)
            app.clocky.run(n=3)
        """
    )
    # record mode seeds random and freezes time for the test body: the marker's own
    # runs must still see the randomness
    result = session("--flow-record-mode=rewrite")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        ["*likely cause: dicey/draw read the global random generator*", "*FAILED*test_dice*"]
    )


def test_hash_seed_dependence_is_found_in_a_subprocess(session, pytester):
    pytester.makepyfile(
        test_it="""
        import pytest
        import app

        @pytest.mark.flow_determinism(executors=["sequential"], runs=1, hash_seeds=(1, 2, 3))
        def test_tags():
            app.hashy.run(n=8)
        """
    )
    result = session()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*run 0 of test_it.py::test_tags differs under PYTHONHASHSEED=*: hash-seed "
            "dependent (iterating a set of strings, or using hash() of a str?):",
            "*hashy/tags[[]*]: 'tag*' (this process) vs 'tag*' (PYTHONHASHSEED=*)",
        ]
    )


def test_a_dict_built_in_completion_order_is_named(session, pytester):
    pytester.makepyfile(
        test_it="""
        import pytest
        import app

        @pytest.mark.flow_determinism(executors=["sequential", "threaded"], runs=1,
                                      hash_seeds=())
        def test_noted():
            app.noted.run(n=4, context={})
        """
    )
    result = session()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*sequential run 1 and threaded run 1 differ:",
            "*context?'seen'?: same items in another order: [[]0, 1, 2, 3[]] (sequential run 1)"
            " vs * (threaded run 1) (a dict built in completion order on a concurrent executor?)",
        ]
    )


def test_generated_inputs_shrink_to_the_smallest_failing_one(session, pytester):
    pytester.makepyfile(
        test_it="""
        import pytest
        from hypothesis import strategies as st
        import app

        @pytest.mark.flow_determinism(
            executors=["sequential"], hash_seeds=(), max_examples=50,
            inputs=st.fixed_dictionaries({"n": st.integers(0, 100)}),
        )
        def test_moody():
            app.moody.run(n=1)
        """
    )
    result = session()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*moody/sometimes: * (sequential run 1) vs * (sequential run 2)", "*drawn={'n': 4}*"]
    )


def test_replayed_tests_are_not_re_run(plain, pytester):
    pytester.makepyfile(
        test_it="""
        import pytest
        import app

        @pytest.mark.flow_determinism(executors=["sequential"])
        def test_clock():
            app.clocky.run(n=1)
        """
    )
    plain("--flow-record-mode=rewrite")  # fails (the clock) but writes the recording
    result = plain("--flow-replay")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*test_it.py::test_clock: not re-run (replay never calls real steps)"]
    )


def test_stubs_hold_in_the_re_runs(plain, pytester):
    pytester.makepyfile(
        test_it="""
        import pytest
        import app

        @pytest.mark.flow_determinism(executors=["sequential", "threaded"], hash_seeds=())
        def test_stubbed_clock(flow_mock):
            flow_mock.stub("stamp", 1.5)
            assert app.clocky.run(n=1)["stamp"] == 1.5
        """
    )
    plain().assert_outcomes(passed=1)


def test_misuse_is_named(plain, pytester):
    pytester.makepyfile(
        test_it="""
        import pytest
        import app

        @pytest.mark.flow_determinism
        def test_nothing():
            pass

        @pytest.mark.flow_determinism(executor=["sequential"])
        def test_typo():
            app.steady.run(n=1)
        """,
        test_keys_misuse="""
        import pytest
        import app

        @pytest.mark.flow_cache_keys
        def test_no_steps():
            pass
        """,
    )
    result = plain("test_it.py")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*test_nothing ran no flow, so there was nothing to check*"])
    assert "flow_determinism got unknown argument(s) executor; it takes" in result.stdout.str()
    result = plain("test_keys_misuse.py")
    assert "test_no_steps: flow_cache_keys needs the steps to check" in result.stdout.str()
    assert result.ret != 0
    assert result.ret != 0


def test_a_lone_step_in_the_cache_keys_marker_is_refused_with_the_fix(session, pytester):
    # pytest takes a lone callable mark argument for the object to decorate: the test
    # became step(test) and crashed in the step's code (fetch) or, for a step that
    # returns its argument (same), passed having checked nothing.
    pytester.makepyfile(
        test_crashed="""
        import pytest
        import app

        @pytest.mark.flow_cache_keys(app.fetch)
        def test_keys(flow_cache_keys_step):
            pass
        """,
        test_silent="""
        import pytest
        from executor import step

        @step
        def same(x: int) -> int:
            return x

        @pytest.mark.flow_cache_keys(same)
        def test_keys():
            pass
        """,
    )
    result = session()
    outcomes = result.parseoutcomes()  # each xdist worker reports the collection errors
    assert result.ret != 0 and outcomes["errors"] >= 2 and "passed" not in outcomes
    result.stdout.fnmatch_lines_random(
        [
            "*ERROR*test_crashed.py*",
            "*ERROR*test_silent.py*",
            "*FlowDefinitionError: @pytest.mark.flow_cache_keys(fetch) gives the marker a lone "
            "step, and pytest takes a lone callable argument for the object to decorate: the "
            "marker would get no steps and the test would be replaced by a call of step "
            "'fetch'; pass the step in a list: @pytest.mark.flow_cache_keys([[]fetch])",
            "*@pytest.mark.flow_cache_keys(same) gives the marker a lone step*"
            "@pytest.mark.flow_cache_keys([[]same])",
        ]
    )


def test_the_cache_keys_marker_generates_a_test_per_step(session, pytester):
    pytester.makepyfile(
        test_it="""
        import pytest
        import app

        @pytest.mark.flow_cache_keys(app.fetch, app.by_names, hash_seeds=(), max_examples=60)
        def test_keys(flow_cache_keys_step):
            assert flow_cache_keys_step.cache is not None

        @pytest.mark.flow_cache_keys([app.fetch], max_examples=10)
        def test_one(flow_cache_keys_step):
            assert flow_cache_keys_step is app.fetch
        """
    )
    result = session("-rA")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["PASSED test_it.py::test_keys?fetch?"])
    result.stdout.fnmatch_lines(["FAILED test_it.py::test_keys?by_names?*"])
    result.stdout.fnmatch_lines(["*check_cache_keys(step 'by_names'): *", "*input: {'names': *"])


def test_a_first_recording_is_checked_and_local_steps_skip_parallel(plain, pytester):
    pytester.makepyfile(
        test_it="""
        import pytest
        from executor import Flow, step
        import app

        @pytest.mark.flow_determinism(hash_seeds=())
        def test_clock():
            app.clocky.run(n=1)

        @pytest.mark.flow_determinism(hash_seeds=())
        def test_local_step():
            @step
            def double(n: int) -> int:
                return 2 * n

            assert Flow("local", [double]).run(n=2)["double"] == 4
        """
    )
    # record mode "once" with no recording yet records the test: the marker still checks
    result = plain("--flow-record-mode=once")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*likely cause: clocky/stamp read the clock*",
            "*flow 'local' (run 0 of the test): not re-run on 'parallel' (local/double cannot "
            "be pickled)",
        ]
    )
