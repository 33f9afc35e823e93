from tests.plugin.conftest import calls


def test_stub_spy_calls_and_assert_called(run, pytester):
    pytester.makepyfile(
        test_app="""
        import pytest
        import app

        def test_stub(flow_mock):
            flow_mock.stub("fetch", return_value={"rows": [1, 2]})
            flow_mock.spy("parse")
            assert app.report.run(url="u")["parse"] == 3
            flow_mock.assert_called("fetch", times=1)
            assert flow_mock.calls("parse") == [{"fetch": {"rows": [1, 2]}}]

        def test_by_address_and_side_effects(flow_mock):
            flow_mock.stub("many/shout[1]", side_effect=lambda items: "stubbed")
            assert app.many.run(items=["a", "b"], executor="threaded")["shout"] == ["A", "stubbed"]
            flow_mock.stub("fetch", side_effect=[{"rows": [1]}, ConnectionError("down")])
            assert app.report.run(url="u")["parse"] == 1
            with pytest.raises(Exception, match="down"):
                app.report.run(url="u")

        def test_async_executor_too(flow_mock):
            flow_mock.stub("fetch", return_value={"rows": [5]})
            assert app.report.run(url="u", executor="async")["parse"] == 5
    """
    )
    result = run()
    result.assert_outcomes(passed=3)
    assert calls(pytester) == []  # the real fetch never ran


def test_a_typo_is_an_error(run, pytester):
    pytester.makepyfile(
        test_app="""
        import app

        def test_typo(flow_mock):
            flow_mock.stub("fecth", return_value={"rows": []})
            app.report.run(url="u")
    """
    )
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*flow_mock: 'fecth' names no step that exists (did you mean 'fetch'*reported before*"]
    )
    assert calls(pytester) == []  # reported before the real fetch ran


def test_an_unmatched_address_lists_what_ran(run, pytester):
    pytester.makepyfile(
        test_app="""
        import app

        def test_typo(flow_mock):
            flow_mock.stub("report/fecth", return_value={"rows": []})
            app.report.run(url="u")
    """
    )
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*flow_mock: 'report/fecth' matched no step; addresses this test's runs "
            "reached: report/fetch (live), report/parse (live)"
        ]
    )


CACHED_MAP = """
from executor import CachePolicy, Flow, map_over, step
from executor.cache import MemoryCache

@step(cache=CachePolicy())
def shout(items: str) -> str:
    return items.upper()

loud = Flow("loud", [map_over(shout)])
WARM = MemoryCache()
loud.run(items=["w"], cache=WARM)  # before any test: WARM answers 'w' from now on
"""


def test_the_report_says_how_each_address_ran(run, pytester):
    pytester.makepyfile(
        loud_app=CACHED_MAP,
        test_app="""
        from loud_app import loud

        def test_typo(flow_mock):
            assert loud.run(items=["a", "b"])["shout"] == ["A", "B"]
            flow_mock.stub("loud/shout[2]", return_value="stubbed")
            assert loud.run(items=["a", "b", "c"])["shout"] == ["A", "B", "stubbed"]
            flow_mock.spy("loud/shuot")
    """,
    )
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*flow_mock: 'loud/shuot' matched no step; addresses this test's runs reached: "
            "loud/shout (live), loud/shout[[]0] (live, cached), loud/shout[[]1] (live, cached), "
            "loud/shout[[]2] (stubbed)"
        ]
    )


def test_a_spy_on_a_cached_step_is_no_typo_and_says_why_it_saw_nothing(run, pytester):
    pytester.makepyfile(
        loud_app=CACHED_MAP,
        test_app="""
        import pytest
        from loud_app import WARM, loud

        def test_cached_only(flow_mock):
            flow_mock.spy("shout")
            assert loud.run(items=["w"], cache=WARM)["shout"] == ["W"]
            flow_mock.assert_called("shout", times=0)
            with pytest.raises(AssertionError) as raised:
                flow_mock.assert_called("shout", times=1)
            assert str(raised.value) == (
                "flow_mock: 'shout' was called 0 time(s), not 1; "
                "it ran as: loud/shout (live), loud/shout[0] (cached)"
            )
    """,
    )
    run().assert_outcomes(passed=1)


def test_stubs_cannot_cross_into_processes(run, pytester):
    pytester.makepyfile(
        test_app="""
        import pytest
        import app
        from executor import StepFailed

        def test_processes(flow_mock):
            flow_mock.stub("parse", return_value=0)
            with pytest.raises(StepFailed) as failed:
                app.report.run(url="u", executor="parallel")
            assert str(failed.value) == (
                "step 'report/parse' failed: AssertionError: flow_mock: step 'report/parse' "
                "is stubbed (flow_mock.stub('parse')) but runs in another process "
                "(executor='parallel', executor='dask', or a process pool), and a stub "
                "answers only in the test process; run this flow with executor='threaded' "
                "(or 'sequential') in the test"
            )
            assert app.report.run(url="u", executor="threaded")["parse"] == 0

        def test_a_spy_by_address(flow_mock):
            flow_mock.spy("report/fetch")
            with pytest.raises(StepFailed, match=(
                r"step 'report/fetch' is spied on [(]flow_mock.spy[(]'report/fetch'[)][)] but "
                r"runs in another process.*a spy records calls only in the test process"
            )):
                app.report.run(url="u", executor="parallel")
            app.report.run(url="u")

        def test_steps_nobody_stubs_still_run_in_processes(flow_mock):
            flow_mock.stub("shout", return_value="stubbed")
            assert app.report.run(url="u", executor="parallel")["parse"] >= 0
            assert app.many.run(items=["a"], executor="threaded")["shout"] == ["stubbed"]
    """
    )
    run().assert_outcomes(passed=3)
    assert calls(pytester) == ["u"] * 4  # the spied fetch in a worker never ran


GATED = """
from executor import Flow, step, when

@step
def total(x: int) -> int:
    with open("calls.log", "a") as log:
        log.write("total\\n")
    return x * 2

gate = Flow("gate", [total, when(lambda total: total > 3, lambda total: "big",
                                 lambda total: "small", name="check")])
"""


def test_names_a_when_gave_its_parts_are_refused_with_the_addresses(run, pytester):
    pytester.makepyfile(
        gate_app=GATED,
        test_app="""
        from gate_app import gate

        def test_then(flow_mock):
            flow_mock.stub("then", return_value="stubbed")
            gate.run(x=5)

        def test_predicate(flow_mock):
            flow_mock.stub("predicate", return_value=False)
            gate.run(x=5)

        def test_the_when_itself(flow_mock):
            flow_mock.spy("check")
            gate.run(x=5)

        def test_its_address(flow_mock):
            flow_mock.stub("gate/check", return_value="stubbed")
            gate.run(x=5)

        def test_the_arm_by_address_works(flow_mock):
            flow_mock.stub("gate/check/then", return_value="stubbed")
            assert gate.run(x=5)["check"] == "stubbed"
    """,
    )
    result = run()
    result.assert_outcomes(passed=1, failed=4)
    result.stdout.fnmatch_lines_random(
        [
            "*flow_mock: 'then' names no step: 'then' is how addresses name a when arm, not "
            "a step name (did you mean 'gate/check/then'? reported before flow 'gate' ran any "
            "step*",
            "*flow_mock: 'predicate' names no step: a when predicate is not a step (it picks "
            "the arm), so no stub answers it (did you mean 'gate/check/otherwise' or "
            "'gate/check/then'? reported before*",
            "*flow_mock: 'check' names a composite step: a stub answers the steps inside it, "
            "not 'check' itself (did you mean 'gate/check/otherwise' or 'gate/check/then'?*",
            "*flow_mock: 'gate/check' matched no step: it is a composite step, and a stub "
            "answers the steps inside it; addresses this test's runs reached: gate/check (live),"
            " gate/check/then (live), gate/total (live)*",
        ]
    )
    assert calls(pytester).count("total") == 2  # the early refusals ran no step
