import json

import pytest

from tests.plugin.conftest import calls

SHOP = """
from executor import Flow, Retry, map_over, parallel, step, when, loop


def log(name):
    with open("calls.log", "a") as file:
        file.write(name + "\\n")


@step
def rows(n: int) -> list:
    log("rows")
    return [{"zeta": i * 40, "id": i, "alpha": f"r{i}"} for i in range(n)]


@step
def enrich(rows: dict) -> dict:
    log("enrich")
    return {"zeta": rows["zeta"], "id": rows["id"], "alpha": rows["alpha"].upper()}


@step
def count(enriched: list) -> int:
    log("count")
    return len(enriched)


@step
def total(enriched: list) -> int:
    log("total")
    return sum(row["zeta"] for row in enriched)


@step
def flag(stats: dict) -> str:
    log("flag")
    return "big"


@step
def small(stats: dict) -> str:
    log("small")
    return "small"


@step(version="1")
def bump(x: int) -> int:
    log("bump")
    return x + 1


@step
def describe(review: str, grow: int) -> dict:
    log("describe")
    return {"review": review, "grow": grow, "a": 1}


summary = Flow("summary", [describe])
orders = Flow(
    "orders",
    [
        rows,
        map_over(enrich, over="rows", name="enriched"),
        parallel("stats", {"count": count, "total": total}),
        when(lambda stats: stats["total"] > 100, flag, small, name="review"),
        loop(bump, until=lambda x: x >= 3, name="grow"),
        summary.as_step(),
    ],
)


@step(retry=Retry(attempts=2, backoff=0.0))
def flaky(n: int) -> int:
    log("flaky")
    raise ConnectionRefusedError("[Errno 111] Connection refused")


@step
def after(flaky: int) -> int:
    return flaky


fragile = Flow("fragile", [flaky, after])
"""

TREE = """
    import json
    import pytest
    import shop
    from executor import StepFailed


    def tree(result):
        return [
            [a, r.status.value, r.output, r.attempts, r.error and [r.error.type, r.error.message]]
            for a, r in result.steps.items()
        ]


    def test_orders():
        result = shop.orders.run(n=5, x=0, executor="threaded")
        with open("trees.jsonl", "a") as out:
            out.write(json.dumps(tree(result)) + "\\n")


    def test_fragile():
        with pytest.raises(StepFailed) as info:
            shop.fragile.run(n=1)
        with open("failures.jsonl", "a") as out:
            out.write(json.dumps([str(info.value), tree(info.value.result)]) + "\\n")
"""


def lines(pytester, name):
    return (pytester.path / name).read_text().splitlines()


def setup(pytester, tests=TREE):
    pytester.makepyfile(shop=SHOP, test_shop=tests)


def test_replay_returns_the_live_tree(run, pytester):
    setup(pytester)
    run().assert_outcomes(passed=2)  # a plain live run, no plugin involved
    run("--flow-record-mode=once").assert_outcomes(passed=2)
    before = calls(pytester)
    run("--flow-replay").assert_outcomes(passed=2)
    assert calls(pytester) == before  # no step was called
    live, recorded, replayed = (json.loads(line) for line in lines(pytester, "trees.jsonl"))
    assert len(replayed) == 18  # map items, branches, the when arm, iterations, sub-flow
    assert "orders/enriched[4]" in [row[0] for row in replayed]
    assert "orders/review/then" in [row[0] for row in replayed]
    assert replayed == live == recorded  # addresses in order, statuses, outputs, attempts


def test_replayed_outputs_keep_dict_order(run, pytester):
    setup(pytester)
    run("--flow-record-mode=once").assert_outcomes(passed=2)
    run("--flow-replay").assert_outcomes(passed=2)
    recorded, replayed = lines(pytester, "trees.jsonl")
    assert replayed == recorded  # the same text: {"zeta", "id", "alpha"} in that order


def test_a_recorded_failure_is_replayed_not_called(run, pytester):
    setup(pytester)
    run("--flow-record-mode=once", "-k", "fragile").assert_outcomes(passed=1)
    assert calls(pytester).count("flaky") == 2  # two attempts, both failed
    run("--flow-replay", "-k", "fragile").assert_outcomes(passed=1)
    assert calls(pytester).count("flaky") == 2  # not called again
    recorded, replayed = (json.loads(line) for line in lines(pytester, "failures.jsonl"))
    assert replayed == recorded
    message, tree = replayed
    assert message == (
        "step 'fragile/flaky' failed after 2 attempts: "
        "ConnectionRefusedError: [Errno 111] Connection refused"
    )
    assert tree[0] == [
        "fragile/flaky",
        "failed",
        None,
        2,
        ["builtins.ConnectionRefusedError", "[Errno 111] Connection refused"],
    ]
    assert tree[1][:2] == ["fragile/after", "skipped"]


STORE = """
    import shop
    from executor.state import MemoryStateBackend


    def test_stored():
        store = MemoryStateBackend()
        result = shop.orders.run(n=2, x=0, store=store)
        assert result["summary"] == {"review": "small", "grow": 3, "a": 1}
        events = store.load(result.state_id).events
        assert "orders/enriched[1]" in [event.address for event in events]
"""


def test_runs_given_a_store_are_recorded_and_replayed(run, pytester):
    setup(pytester, STORE)
    run("--flow-record-mode=once").assert_outcomes(passed=1)
    data = json.loads(
        (pytester.path / "fixtures/recordings/test_shop/test_stored.json").read_text()
    )
    assert "orders/enriched[1]" in data["runs"][0]["steps"]
    before = calls(pytester)
    run("--flow-replay").assert_outcomes(passed=1)  # the store still gets its events
    assert calls(pytester) == before


@pytest.mark.parametrize(
    "change",
    [
        ('    log("total")\n', '    log("total")  # edited\n'),  # the body
        ('@step(version="1")', '@step(version="2")'),  # the version
    ],
    ids=["body", "version"],
)
def test_a_changed_step_is_a_mismatch(run, pytester, change):
    setup(pytester)
    run("--flow-record-mode=once", "-k", "orders").assert_outcomes(passed=1)
    old, new = change
    assert old in SHOP
    pytester.makepyfile(shop=SHOP.replace(old, new))
    result = run("--flow-replay", "-k", "orders")
    result.assert_outcomes(failed=1)
    address, before, after = (
        ("orders/stats/total", "total@source:*", "total@source:*")
        if "total" in old
        else ("orders/grow#0", "bump@version:1", "bump@version:2")
    )
    result.stdout.fnmatch_lines(
        [
            f"*step '{address}': replay mismatch: code changed since recording*",
            f"*recorded {before}, now {after}*",
            "*re-record just this test with: python -m pytest "
            "test_shop.py::test_orders --flow-record-mode=rewrite*",
        ]
    )
    result.stdout.fnmatch_lines(["*mismatched 1*"])


SPY = """
    import shop


    def test_stub_and_spy(flow_mock):
        flow_mock.stub("rows", return_value=[{"zeta": 1, "id": 7, "alpha": "q"}])
        flow_mock.spy("enrich")
        result = shop.orders.run(n=3, x=2)
        assert result["enriched"] == [{"zeta": 1, "id": 7, "alpha": "Q"}]
        flow_mock.assert_called("rows", times=1)
        assert flow_mock.calls("enrich") == [{"rows": {"zeta": 1, "id": 7, "alpha": "q"}}]
"""


def test_a_stub_wins_over_the_recording_and_a_spy_sees_replayed_calls(run, pytester):
    setup(pytester, SPY)
    run("--flow-record-mode=once").assert_outcomes(passed=1)
    path = pytester.path / "fixtures/recordings/test_shop/test_stub_and_spy.json"
    steps = json.loads(path.read_text())["runs"][0]["steps"]
    assert "orders/rows" not in steps  # a stub is test code, never recorded
    assert "orders/enriched[0]" in steps
    before = calls(pytester)
    assert "rows" not in before and "enrich" in before
    run("--flow-replay").assert_outcomes(passed=1)
    assert calls(pytester) == before


def test_under_replay_an_unmatched_stub_says_what_ran(run, pytester):
    setup(pytester, SPY)
    run("--flow-record-mode=once").assert_outcomes(passed=1)
    pytester.makepyfile(
        test_shop=SPY.replace('flow_mock.spy("enrich")', "")
        + """
    def test_other(flow_mock):
        flow_mock.spy("orders/enriched[9]")
        shop.orders.run(n=1, x=2)
"""
    )
    run("--flow-record-mode=once", "-k", "test_other").assert_outcomes(failed=1)
    result = run("--flow-replay", "-k", "test_other")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*'orders/enriched[[]9]' matched no step; addresses this test's runs reached: "
            "*orders/enriched[[]0] (replayed)*"
        ]
    )
    result.stdout.no_fnmatch_line("*no flow ran*")


def test_a_typo_is_reported_before_a_failing_real_step(run, pytester):
    setup(
        pytester,
        """
        import shop

        def test_typo(flow_mock):
            flow_mock.stub("flakey", return_value=1)
            shop.fragile.run(n=1)
        """,
    )
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*'flakey' names no step that exists (did you mean 'flaky'*"])
    result.stdout.no_fnmatch_line("*Connection refused*")
    assert "flaky" not in calls(pytester)


MISMATCH = """
    import shop
    from executor import Flow, step


    @step
    def price(config: dict, note: str) -> int:
        return config["limits"][1]


    prices = Flow("prices", [price])
    LONG = "".join(f"line {i}\\n" for i in range(30))


    def test_prices():
        prices.run(config={"region": "eu", "limits": [1, 2]}, note=LONG)
"""


def test_a_mismatch_names_each_changed_parameter_and_path(run, pytester):
    setup(pytester, MISMATCH)
    run("--flow-record-mode=once").assert_outcomes(passed=1)
    pytester.makepyfile(
        test_shop=MISMATCH.replace('"limits": [1, 2]', '"limits": [1, 3]').replace(
            "for i in range(30))", 'for i in range(30)).replace("line 12", "changed")'
        )
    )
    result = run("--flow-replay")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*step 'prices/price': replay mismatch: input changed*",
            "*config[[]'limits'][[]1]: recorded 2, now 3*",
            "*note: changed:*",
            "*--- note (recorded)*",
            "*+++ note (now)*",
            "*-line 12",
            "*+changed",
            "*re-record just this test with: python -m pytest "
            "test_shop.py::test_prices --flow-record-mode=rewrite*",
        ]
    )
    result.stdout.fnmatch_lines(["*mismatched 1*"])  # the summary counts failed tests too


VOLATILE = """
    import os
    from executor import Flow, step


    @step
    def fetch(base_url: str, n: int, context) -> int:
        context["fetched"] = n
        return n * 2


    @step
    def report(fetch: int, context) -> str:
        return f"{fetch} from {context['fetched']}"


    flow = Flow("volatile", [fetch, report])


    def test_volatile(tmp_path):
        port = 20000 + int.from_bytes(os.urandom(2), "big") % 40000  # a new one every run
        url = f"http://127.0.0.1:{port}/{tmp_path}"
        context = {"fetched": None}
        assert flow.run(base_url=url, n=4, context=context)["report"] == "8 from 4"
        assert context == {"fetched": 4}
"""

NORMALIZE = """
    def pytest_flowexec_redact(item, kind, address, name, value):
        if name == "base_url":
            return "<local service>"
"""


def test_volatile_inputs_can_be_left_out_of_the_match(run, pytester):
    setup(pytester, VOLATILE)
    run("--flow-record-mode=once").assert_outcomes(passed=1)
    result = run("--flow-replay")  # a new port and tmp path: a mismatch without the hook
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*base_url: recorded 'http://127.0.0.1:*'..., now 'http://127.0.0.1:*'..."]
    )
    pytester.makeconftest(NORMALIZE)
    run("--flow-record-mode=rewrite").assert_outcomes(passed=1)
    text = (pytester.path / "fixtures/recordings/test_shop/test_volatile.json").read_text()
    assert "127.0.0.1" not in text and "<local service>" in text
    steps = json.loads(text)["runs"][0]["steps"]
    assert steps["volatile/fetch"]["context"] == {"fetched": 4}  # the step changed it
    assert "context" not in steps["volatile/report"]  # read only: not written
    run("--flow-replay").assert_outcomes(passed=1)  # and the context comes back


SECRET = """
    from executor import Flow, step


    @step
    def login(api_key: str, user: str, context) -> dict:
        context["session"] = "sess-" + api_key
        return {"token": "tok-" + api_key, "user": user}


    @step
    def orders(login: dict) -> list:
        return [login["user"], len(login["token"])]


    @step
    def refuse(login: dict) -> None:
        raise PermissionError("key " + login["token"][4:] + " is not allowed")


    shop = Flow("secret", [login, orders, refuse])


    def test_secret():
        context = {"session": None}
        result = shop.run(api_key="hunter2", user="ann", context=context, on_failure="continue")
        assert result["orders"] == ["ann", 11]
        assert result.steps["secret/refuse"].error.message.startswith("key ")
"""

REDACT = """
    def pytest_flowexec_redact(item, kind, address, name, value):
        if name == "api_key":
            return "<redacted>"
        if kind == "output" and address == "secret/login":
            return {**value, "token": "<redacted>"}
        if kind == "step_input" and name == "login":
            return {**value, "token": "<redacted>"}
        if kind == "context":
            return {**value, "session": "<redacted>"}
        if kind == "error":
            return value.replace("hunter2", "<redacted>")
"""


def test_secrets_stay_out_of_recordings_and_replay_still_matches(run, pytester):
    import hashlib

    from executor._recorder import input_digest

    setup(pytester, SECRET)
    pytester.makeconftest(REDACT)
    run("--flow-record-mode=once").assert_outcomes(passed=1)
    text = (pytester.path / "fixtures/recordings/test_shop/test_secret.json").read_text()
    assert "hunter2" not in text
    data = json.loads(text)
    assert data["runs"][0]["inputs"]["api_key"] == "<redacted>"
    guesses = {
        input_digest({"api_key": "hunter2", "user": "ann"}, "secret/login"),
        input_digest({"login": {"token": "tok-hunter2", "user": "ann"}}, "secret/orders"),
        hashlib.sha256(b"hunter2").hexdigest(),
    }
    assert not any(guess in text for guess in guesses)  # no digest confirms a guess
    run("--flow-replay").assert_outcomes(passed=1)


def doc_files(page):
    """The ```LANG file=NAME``` blocks of a Markdown page: {NAME: text}."""
    import re

    found = {}
    for match in re.finditer(r"^```\w* file=(\S+)\n(.*?)^```$", page, re.M | re.S):
        found[match.group(1)] = match.group(2)
    return found


def test_the_testing_docs_sequence_passes(run, pytester, monkeypatch):
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "testing.md").read_text()
    files = doc_files(page)
    assert {"shop/pricing.py", "tests/test_pricing.py", "rates/EUR"} <= set(files)
    for name in ("shop/pricing.py", "tests/test_pricing.py", "rates/EUR"):
        target = pytester.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(files[name])
    (pytester.path / "shop" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(pytester.path))  # python -m pytest puts it there
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))
    monkeypatch.setenv("SHOP_RATES_URL", f"file://{pytester.path / 'rates'}")
    run("--flow-record-mode=once", "tests/test_pricing.py").assert_outcomes(passed=1)
    monkeypatch.delenv("SHOP_RATES_URL")  # the service is gone
    result = run("--flow-replay", "tests/test_pricing.py")
    result.assert_outcomes(passed=1)  # the stub answered, the spy saw the replayed quote
    result.stdout.fnmatch_lines(["*replayed 1, mismatched 0*"])
