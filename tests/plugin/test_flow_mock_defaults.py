"""A stub's side_effect callable is called as the step would be: defaults filled in."""

STEPS = """
from executor import Flow, map_over, step

@step
def users(source: str) -> list[dict]:
    return [{"id": 1, "spend": 2.0}, {"id": 2, "spend": 3.0}]

@step
def score(users: dict, factor: float = 1.0, label: str = "s") -> dict:
    return {"id": users["id"], "score": users["spend"] * factor}

@step
def total(scores: list[dict], context) -> float:
    return sum(s["score"] for s in scores)

etl = Flow("etl", [users, map_over(score, over="users", name="scores"), total])
"""


def test_a_side_effect_takes_the_steps_parameters_defaults_included(run, pytester):
    pytester.makepyfile(etl_app=STEPS)
    pytester.makepyfile(
        test_app="""
        from etl_app import etl

        def test_defaults_are_passed(flow_mock):
            seen = []

            def fake(users, factor, label):
                seen.append((users["id"], factor, label))
                return {"id": users["id"], "score": 10 * factor}

            flow_mock.stub("score", side_effect=fake)
            assert etl.run(source="x")["total"] == 20.0
            assert seen == [(1, 1.0, "s"), (2, 1.0, "s")]

        def test_a_given_input_wins_over_the_default(flow_mock):
            flow_mock.stub("score", side_effect=lambda users, factor, label: {"score": factor})
            assert etl.run(source="x", factor=0.5)["total"] == 1.0

        def test_a_lambda_may_still_take_keywords(flow_mock):
            flow_mock.stub("score", side_effect=lambda **kw: {"score": len(kw)})
            assert etl.run(source="x")["total"] == 6  # users, factor, label: 3 each

        def test_the_context_is_left_out(flow_mock):
            flow_mock.stub("total", side_effect=lambda scores: len(scores))
            assert etl.run(source="x", context={"a": 1})["total"] == 2
        """
    )
    result = run()
    result.assert_outcomes(passed=4)
