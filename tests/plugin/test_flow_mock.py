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
            "*flow_mock: 'report/fecth' matched no step (steps run in this "
            "test: fetch, parse, report/fetch, report/parse)*"
        ]
    )


def test_stubs_cannot_cross_into_processes(run, pytester):
    pytester.makepyfile(
        test_app="""
        import pytest
        import app
        from executor import StepFailed

        def test_processes(flow_mock):
            flow_mock.stub("parse", return_value=0)
            with pytest.raises(StepFailed, match="flow_mock stubs live in the test process"):
                app.report.run(url="u", executor="parallel")
            assert app.report.run(url="u", executor="threaded")["parse"] == 0
    """
    )
    run().assert_outcomes(passed=1)
