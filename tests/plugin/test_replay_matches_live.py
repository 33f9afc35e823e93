"""Under ``--flow-replay`` a test observes what it observed live.

One test project exercises cached steps (a second run, a map item, a parallel
branch), retries with seeded jitter, a step failing for good, a timeout,
``when``/``loop``/``map_over``/``parallel``/sub-flow composites, context changes,
usage limits (steps and counters), a ``Pause`` and its resume, sync and async
steps, on every executor that runs in one process and on processes. Each test
writes what a user would assert (results with their types and dict order,
statuses, attempts, cache keys, hooks, spy calls, store events) to
``observed.jsonl``; the session runs live, recording, then replaying, and the
three must agree. What replay cannot give back is normalized here, each for the
reason docs/testing.md gives ("What replay gives back").
"""

import json
import re

from tests.plugin.conftest import calls

APP = '''
import asyncio
import re
import time
from datetime import datetime, timezone
from decimal import Decimal

from executor import (CachePolicy, Flow, MergeStrategy, Pause, Retry, hookimpl, loop,
                      map_over, parallel, step, when)
from executor._limits import record_usage

TRIES = {}


def log(name):
    with open("calls.log", "a") as out:
        out.write(name + "\\n")


class Boom(ValueError):
    pass


@step(cache=CachePolicy())
def price(item: int) -> dict:
    log("price")
    return {"z": item * 10, "a": (item, "x")}


@step
def label(item: int) -> str:
    log("label")
    return f"#{item}"


@step(cache=CachePolicy())
def half(items: int) -> float:
    log("half")
    return items / 2


@step
def total(half: list, prices: dict) -> list:
    return [sum(half), sorted(prices)]


cached = Flow("cached", [
    parallel("prices", {"p": price, "l": label}),
    map_over(half, over="items"),
    total,
])


@step(retry=Retry(attempts=3, backoff=0.01, jitter=0.5))
def flaky(n: int) -> int:
    log("flaky")
    TRIES[n] = TRIES.get(n, 0) + 1
    if TRIES[n] < 2:
        raise ConnectionError(f"try {TRIES[n]} refused")
    return n * 3


@step(retry=Retry(attempts=2, backoff=0.0))
def broken(flaky: int) -> int:
    log("broken")
    raise Boom(f"bad value {flaky}")


@step
def after(broken: int) -> int:
    return broken


retrying = Flow("retrying", [flaky, broken, after])


@step(timeout=0.05, retry=Retry(attempts=2, backoff=0.0))
def slow(n: int) -> int:
    log("slow")
    time.sleep(0.3)
    return n


slowflow = Flow("slowflow", [slow])


@step
async def fetch(n: int) -> list:
    log("fetch")
    await asyncio.sleep(0)
    return [n, n + 1]


@step
def grow(x: int, context) -> int:
    log("grow")
    context["seen"] = context.get("seen", 0) + 1
    return x + 1


@step
def big(fetch: list) -> str:
    return "big"


@step
def small(fetch: list) -> str:
    return "small"


@step
def spend(fetch: list) -> int:
    log("spend")
    record_usage(cost=0.5)
    return len(fetch)


@step
def double(spend: int) -> dict:
    log("double")
    return {"b": spend * 2, "a": (spend,), "s": {3, 1}, "d": Decimal("1.10"),
            "t": datetime(2024, 1, 2, tzinfo=timezone.utc), "y": b"\\x00", "f": 0.1 + 0.2}


@step
def tag_a(fetch: list, context) -> str:
    context["a"] = fetch[0]
    return "a"


@step
def tag_b(fetch: list, context) -> str:
    context["b"] = fetch[1]
    return "b"


composite = Flow("composite", [
    fetch,
    parallel("tags", {"a": tag_a, "b": tag_b}, merge=MergeStrategy.CONTEXT_UPDATE),
    when(lambda fetch: fetch[0] > 1, big, small, name="size"),
    loop(grow, until=lambda x: x >= 2, name="grown"),
    spend,
    Flow("inner", [double]).as_step(),
])


@step
def first(n: int) -> int:
    log("first")
    return n + 1


@step
def second(first: int) -> int:
    log("second")
    return first + 1


@step
def third(second: int) -> int:
    log("third")
    return second + 1


limited = Flow("limited", [first, second, third])


@step
def costly(n: int) -> int:
    log("costly")
    record_usage(cost=2.0)
    return n


@step
def later(costly: int) -> int:
    return costly


counted = Flow("counted", [costly, later])


@step
def ask(n: int, approval: bool = False) -> int:
    log("ask")
    if not approval:
        raise Pause("needs sign-off", awaiting="approval")
    return n + 100


@step
def done(ask: int) -> int:
    return ask


pausing = Flow("pausing", [ask, done])


def shown(error):
    """An error as a user's hook shows it: its type's name and its message. (A
    replayed failure is a RecordedFailure naming the recorded type: docs/testing.md.)"""
    name = getattr(error, "short_type", None) or type(error).__name__
    return [name, clock_free(str(error))]


def clock_free(text):
    """Wall-clock seconds in a usage report are real time, live or replayed."""
    return re.sub(r"seconds=[0-9.e-]+", "seconds=<t>", text)


class Hooks:
    """Every hook call, per address, in order (threads interleave addresses)."""

    def __init__(self):
        self.seen = {}

    def _add(self, address, *what):
        self.seen.setdefault(address, []).append(list(what))

    @hookimpl
    def step_start(self, address, step, inputs):
        self._add(address, "start", sorted(k for k in inputs if k != "context"))

    @hookimpl
    def step_retry(self, address, step, attempt, error, delay):
        self._add(address, "retry", attempt, shown(error), round(delay, 9))

    @hookimpl
    def step_error(self, address, step, error):
        self._add(address, "error", shown(error))

    @hookimpl
    def step_end(self, address, result):
        self._add(address, "end", result.status.value, result.attempts)

    @hookimpl
    def cache_hit(self, address, step, key):
        self._add(address, "cache_hit", key)

    @hookimpl
    def flow_end(self, flow, result):
        self._add(flow, "flow_end", result.status.value)


def tree(result):
    """What a user asserts about a result: types and dict order included."""
    return {
        "status": result.status.value,
        "outputs": repr(dict(result.outputs)),
        "usage": {k: v for k, v in result.usage.items() if k != "seconds"},
        "stats": {n: [s.count, s.failures, s.cache_hits, s.cache_misses]
                  for n, s in result.stats.items()},
        "steps": [
            [a, r.status.value, repr(r.output), r.attempts, r.cache_key,
             r.error and [r.error.type, clock_free(r.error.message)]]
            for a, r in result.steps.items()
        ],
    }
'''

TESTS = """
import json

import pytest

import exact_app as app
from executor import StepFailed, UsageLimitExceeded, UsageLimits
from executor.state import MemoryStateBackend

EXECUTORS = ["sequential", "threaded", "async"]


@pytest.fixture
def observe(request):
    seen = {}
    yield seen
    with open("observed.jsonl", "a") as out:
        out.write(json.dumps({"test": request.node.nodeid, "seen": seen}) + "\\n")


@pytest.mark.parametrize("executor", EXECUTORS)
def test_cached(executor, observe, flow_mock):
    flow_mock.spy("price")
    flow_mock.spy("half")
    hooks = app.Hooks()
    for k in range(2):  # the second run: cache hits
        result = app.cached.run(item=3, items=[1, 2, 1], executor=executor, plugins=[hooks])
        observe[f"run{k}"] = app.tree(result)
    observe["hooks"] = hooks.seen
    observe["spied"] = [len(flow_mock.calls("price")), sorted(
        item["items"] for item in flow_mock.calls("half"))]
    observe["reached"] = flow_mock.reached()


def test_cached_on_processes(observe):
    hooks = app.Hooks()
    for k in range(2):
        result = app.cached.run(item=3, items=[1, 2, 1], executor="parallel", plugins=[hooks])
        observe[f"run{k}"] = app.tree(result)
    observe["hooks"] = hooks.seen


@pytest.mark.parametrize("executor", EXECUTORS)
def test_retrying(executor, observe, flow_mock):
    flow_mock.spy("flaky")
    app.TRIES.clear()
    hooks = app.Hooks()
    with pytest.raises(StepFailed) as info:
        app.retrying.run(n=4, executor=executor, plugins=[hooks], seed=11)
    observe["message"] = str(info.value)
    observe["tree"] = app.tree(info.value.result)
    observe["hooks"] = hooks.seen
    observe["spied"] = flow_mock.calls("flaky")
    observe["reached"] = flow_mock.reached()
    observe["cause"] = type(info.value.__cause__).__name__


@pytest.mark.parametrize("executor", EXECUTORS)
def test_timeout(executor, observe):
    hooks = app.Hooks()
    result = app.slowflow.run(n=1, executor=executor, plugins=[hooks], on_failure="continue")
    observe["tree"] = app.tree(result)
    observe["hooks"] = hooks.seen


@pytest.mark.parametrize("executor", EXECUTORS)
def test_composite(executor, observe):
    hooks = app.Hooks()
    context = {"seen": 0}
    store = MemoryStateBackend()
    result = app.composite.run(n=2, x=0, executor=executor, plugins=[hooks], context=context,
                               store=store)
    observe["tree"] = app.tree(result)
    observe["context"] = repr(context)
    observe["hooks"] = hooks.seen
    events = [[e.address, e.status, e.attempts, repr(e.output)]
              for e in store.load(result.state_id).events]
    observe["events"] = events if executor == "sequential" else sorted(events)


def test_max_steps(observe):
    hooks = app.Hooks()
    with pytest.raises(UsageLimitExceeded) as info:
        app.limited.run(n=1, limits=UsageLimits(max_steps=2), plugins=[hooks])
    observe["message"] = app.clock_free(str(info.value))
    observe["tree"] = app.tree(info.value.result)
    observe["hooks"] = hooks.seen


def test_counter_limit(observe):
    with pytest.raises(UsageLimitExceeded) as info:
        app.counted.run(n=1, limits=UsageLimits(counters={"cost": 1.0}))
    observe["message"] = app.clock_free(str(info.value))
    observe["tree"] = app.tree(info.value.result)


def test_pause_and_resume(observe):
    store = MemoryStateBackend()
    result = app.pausing.run(n=1, store=store)
    observe["paused"] = app.tree(result)
    resumed = app.pausing.resume(result.state_id, store=store, inputs={"approval": True})
    observe["resumed"] = app.tree(resumed)
"""

TESTS_RUN = 16


def observed(pytester):
    """What each test observed in the last session, by test id (the file is emptied)."""
    path = pytester.path / "observed.jsonl"
    found = {}
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        found[entry["test"]] = entry["seen"]
    path.unlink()
    return found


def differences(live, other, path=""):
    """Every path where ``other`` differs from ``live``, with both values."""
    if isinstance(live, dict) and isinstance(other, dict):
        found = []
        for key in sorted(set(live) | set(other)):
            found += differences(
                live.get(key, "<absent>"), other.get(key, "<absent>"), f"{path}/{key}"
            )
        return found
    if isinstance(live, list) and isinstance(other, list) and len(live) == len(other):
        return [
            d
            for k, pair in enumerate(zip(live, other, strict=True))
            for d in differences(*pair, f"{path}[{k}]")
        ]
    return [] if live == other else [f"{path}:\n  live:   {live!r}\n  replay: {other!r}"]


def as_live(replayed):
    """Replay's observations in live's words where the difference is documented:
    flow_mock and coverage say a step that ran live was ``replayed``, and a
    replayed failure's cause is a ``RecordedFailure`` (its type is never imported)."""
    text = json.dumps(replayed)
    text = re.sub(r"\(replayed(, |\))", r"(live\1", text)
    return json.loads(text.replace('"cause": "RecordedFailure"', '"cause": "Boom"'))


def coverage(pytester):
    data = json.loads((pytester.path / "cov.json").read_text())
    return data


def test_replay_observes_what_the_live_run_observed(run, pytester):
    pytester.makepyfile(exact_app=APP, test_exact=TESTS)
    cover = "--flow-coverage-json=cov.json"
    run(cover).assert_outcomes(passed=TESTS_RUN)
    live, live_coverage = observed(pytester), coverage(pytester)
    run("--flow-record-mode=once", cover).assert_outcomes(passed=TESTS_RUN)
    recorded, recorded_coverage = observed(pytester), coverage(pytester)
    before = calls(pytester)
    result = run("--flow-replay", cover)
    result.assert_outcomes(passed=TESTS_RUN)
    result.stdout.fnmatch_lines(["*mismatched 0, unused 0*"])
    assert calls(pytester) == before  # replay called no step
    replayed, replayed_coverage = observed(pytester), coverage(pytester)

    # Recording runs the steps under frozen time: a datetime a step makes is freezegun's
    # FakeDatetime (a datetime subclass, equal to the real one); replay decodes a plain
    # datetime, as a plain live run has (docs/testing.md).
    assert "FakeDatetime(" in json.dumps(recorded)
    unfrozen = json.loads(json.dumps(recorded).replace("FakeDatetime(", "datetime.datetime("))
    assert differences(live, unfrozen) == []  # recording changes nothing else a test sees
    assert "\n".join(differences(live, as_live(replayed))) == ""
    assert replayed["test_exact.py::test_retrying[sequential]"]["cause"] == "RecordedFailure"
    cached = live["test_exact.py::test_cached[threaded]"]
    assert cached["spied"] == [1, [1, 2]]  # not called for cache hits, live or replayed
    assert "cached/half[2] (cached)" in cached["reached"]

    assert recorded_coverage == live_coverage
    assert replayed_coverage["percent"] == live_coverage["percent"]
    assert replayed_coverage["arms"] == live_coverage["arms"]  # retry, timeout, when, loop
    for address, counts in live_coverage["addresses"].items():
        again = replayed_coverage["addresses"][address]
        # the words differ only where coverage says how: live calls are replayed now
        assert {**again, "live": again["live"] + again["replayed"], "replayed": 0} == counts, (
            address
        )


RATING = """
    from executor import CachePolicy, Flow, step


    @step(cache=CachePolicy())
    def rate(currency: str) -> float:
        with open("calls.log", "a") as out:
            out.write("rate\\n")
        return 1.1


    rating = Flow("rating", [rate])


    def test_twice(flow_mock):
        flow_mock.spy("rate")
        first, second = rating.run(currency="EUR"), rating.run(currency="EUR")
        statuses = [r.steps["rating/rate"].status.value for r in (first, second)]
        assert statuses == ["completed", "cached"]
        assert second.steps["rating/rate"].attempts == 0
        assert second.steps["rating/rate"].cache_key == first.steps["rating/rate"].cache_key
        flow_mock.assert_called("rate", times=1)  # the cache hit is no call
        assert flow_mock.reached() == ["rating/rate (CALLED, cached)"]
"""


def rating_test(how):
    """The test above, expecting ``how`` for the call the first run made."""
    return RATING.replace("CALLED", how)


def test_a_cache_hit_is_recorded_as_cached_and_replayed_as_one(run, pytester):
    pytester.makepyfile(test_rating=rating_test("live"))
    run("--flow-record-mode=once").assert_outcomes(passed=1)
    path = pytester.path / "fixtures/recordings/test_rating/test_twice.json"
    runs = json.loads(path.read_text())["runs"]
    assert [r["steps"]["rating/rate"]["status"] for r in runs] == ["completed", "cached"]
    assert [r["steps"]["rating/rate"]["attempts"] for r in runs] == [1, 0]
    pytester.makepyfile(test_rating=rating_test("replayed"))
    run("--flow-replay").assert_outcomes(passed=1)
    assert calls(pytester) == ["rate"]  # the recording run's one call


def test_a_recording_written_before_cached_existed_replays_cache_hits(run, pytester):
    pytester.makepyfile(test_rating=rating_test("live"))
    run("--flow-record-mode=once").assert_outcomes(passed=1)
    path = pytester.path / "fixtures/recordings/test_rating/test_twice.json"
    data = json.loads(path.read_text())
    data["runs"][1]["steps"]["rating/rate"]["status"] = "completed"  # as version 2 wrote it
    old = json.dumps(data, indent=2, sort_keys=True) + "\n"
    path.write_text(old)
    pytester.makepyfile(test_rating=rating_test("replayed"))
    run("--flow-replay").assert_outcomes(passed=1)  # no attempt made: a cache hit
    assert path.read_text() == old  # replay never writes
    pytester.makepyfile(test_rating=rating_test("live"))
    run("--flow-record-mode=rewrite").assert_outcomes(passed=1)
    rewritten = path.read_text()
    assert json.loads(rewritten)["runs"][1]["steps"]["rating/rate"]["status"] == "cached"
    result = run("--flow-record-mode=rewrite")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*(0 file(s) written)*"])
    assert path.read_text() == rewritten  # an unchanged run: the same bytes
