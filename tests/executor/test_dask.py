"""executor="dask" on a real LocalCluster of worker processes (tests/conftest.py).

The flows every executor runs are covered by the executor parametrizations
(``any_executor``, the composites' ``executor``, ``TestProcesses``); here is what is
Dask's own: connecting, chaining behind futures, batching, bounds, a killed worker.
"""

import asyncio
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor import (
    ClusterError,
    DaskTimeouts,
    ExecutorCore,
    FailureStrategy,
    Flow,
    FlowDefinitionError,
    MissingExtra,
    StepFailed,
    StepNotPicklable,
    StepResult,
    StepStatus,
    _dask_watch,
    hookimpl,
    map_over,
    parallel,
    step,
)
from executor.cache import MemoryCache
from executor.state import SQLiteStateBackend
from tests.executor import dask_steps as ds
from tests.executor import steps

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]


class SlowClient:
    """A plugin that makes the client slow to take each step's end in."""

    def __init__(self, delay):
        self.delay = delay
        self.pids = set()

    @hookimpl
    def step_start(self, address):
        self.pids.add(os.getpid())

    @hookimpl
    def step_end(self, address, result):
        self.pids.add(os.getpid())
        time.sleep(self.delay)


# -- choosing a cluster ---------------------------------------------------------------


def test_without_distributed_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(MissingExtra) as info:
        ExecutorCore(executor="dask")
    assert 'pip install "flowexec[dask]"' in str(info.value)
    assert 'executor="dask" needs the optional dependency' in str(info.value)
    assert isinstance(info.value, ImportError)
    with pytest.raises(MissingExtra, match=r"flowexec\[dask\]"):
        steps.chain_flow().run(n=1, executor="dask")


def test_dask_options_are_checked(dask_client):
    with pytest.raises(FlowDefinitionError, match="are for executor=\"dask\", not 'threaded'"):
        ExecutorCore(executor="threaded", dask_client=dask_client)
    with pytest.raises(FlowDefinitionError, match="not both"):
        ExecutorCore(executor="dask", dask_client=dask_client, dask_address="tcp://x:1")
    with pytest.raises(FlowDefinitionError, match=r"must be a distributed\.Client"):
        ExecutorCore(executor="dask", dask_client="tcp://x:1")


def test_a_given_client_is_used_and_left_open(dask_client):
    result = steps.chain_flow().run(n=4, executor="dask", dask_client=dask_client)
    assert result["total"] == 12
    assert dask_client.status == "running"


def test_an_address_gets_a_client_of_the_run_closed_after_it(dask_client):
    address = dask_client.scheduler.address

    def clients():
        return dask_client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.clients))

    before = clients()
    result = Flow("p", [steps.load, steps.where]).run(n=1, executor="dask", dask_address=address)
    assert result["where"] != os.getpid()
    deadline = time.monotonic() + 10
    while clients() != before and time.monotonic() < deadline:
        time.sleep(0.05)  # the scheduler hears of a closed client a moment later
    assert clients() == before


def test_without_a_client_a_local_cluster_is_started_and_closed(tmp_path):
    script = tmp_path / "auto.py"
    script.write_text(
        textwrap.dedent(
            """
            import multiprocessing, os, sys
            sys.path.insert(0, sys.argv[1])
            from tests.executor import steps

            if __name__ == "__main__":
                flow = steps.Flow("p", [steps.load, steps.where])
                print(flow.run(n=1, executor="dask")["where"] != os.getpid())
                print(len(multiprocessing.active_children()))
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
        cwd=tmp_path,
    )
    # The step ran in a worker process of a cluster that was shut down after the run.
    assert out.stdout.split() == ["True", "0"]


# -- where the work runs --------------------------------------------------------------


def test_a_chain_runs_on_the_cluster_without_waiting_for_the_client(dask_client):
    slow = SlowClient(delay=0.5)
    result = ds.stamp_chain().run(n=1, executor="dask", plugins=[slow])
    stamps = result["stamp3"]
    # Each step ended on the client 0.5 s after the one before it; on the cluster the
    # four steps did not wait for that: all started within one such delay.
    assert stamps[-1] - stamps[0] < slow.delay
    assert slow.pids == {os.getpid()}  # every hook fired in the client process
    assert [r.status for r in result.steps.values()] == [StepStatus.COMPLETED] * 4


def test_a_step_that_needs_a_cache_lookup_waits_for_the_client(dask_client, tmp_path):
    slow = SlowClient(delay=0.5)
    result = ds.cached_stamp_chain().run(n=1, executor="dask", plugins=[slow], cache=MemoryCache())
    stamps = result["after_cached"]
    # The cached step starts only after the client looked its key up, which it does
    # once it took stamp1's end in: the fallback is one step at a time.
    assert stamps[2] - stamps[1] >= slow.delay


def test_hooks_and_results_are_the_same_as_on_threads(dask_client):
    class Events:
        def __init__(self):
            self.events = []

        @hookimpl
        def step_start(self, address, inputs):
            self.events.append(("start", address, dict(inputs)))

        @hookimpl
        def step_end(self, address, result):
            self.events.append(("end", address, result.status.value, result.output))

    seen = {}
    for executor in ("threaded", "dask"):
        events = Events()
        result = steps.chain_flow().run(n=3, executor=executor, plugins=[events])
        seen[executor] = (events.events, list(result.steps), result["total"])
    assert seen["dask"] == seen["threaded"]


def _overlap(a, b):
    return a[0] < b[1] and b[0] < a[1]


def test_independent_steps_run_at_once_and_max_concurrency_holds(dask_client):
    free = ds.fan_out().run(n=1, executor="dask")
    naps = [free[name] for name in ("nap_a", "nap_b", "nap_c")]
    assert any(_overlap(x, y) for x in naps for y in naps if x is not y)
    bound = ds.fan_out().run(n=1, executor="dask", max_concurrency=1)
    naps = [bound[name] for name in ("nap_a", "nap_b", "nap_c")]
    assert not any(_overlap(x, y) for x in naps for y in naps if x is not y)


def test_critical_steps_run_one_at_a_time_in_order(dask_client):
    result = ds.critical_pair().run(n=1, executor="dask")
    a, b = result["crit_a"], result["crit_b"]
    assert a[1] <= b[0]


def test_parallel_branches_run_at_once(dask_client):
    flow = Flow("par", [ds.root, parallel("branches", {"a": ds.nap_a, "b": ds.nap_b})])
    result = flow.run(n=1, executor="dask")
    a, b = result["branches"]["a"], result["branches"]["b"]
    assert _overlap(a, b)
    assert {a[2], b[2]}.isdisjoint({os.getpid()})


def test_map_items_go_in_batches_and_fail_one_by_one(dask_client):
    flow = Flow("m", [map_over(ds.item_pid, on_failure=FailureStrategy.IGNORE)])
    with distributed.get_task_stream(client=dask_client) as stream:
        result = flow.run(items=list(range(100)), executor="dask")
    mapped = result["item_pid"]
    assert isinstance(mapped[3], StepResult)  # the failed item, reported in its place
    assert [m[0] for i, m in enumerate(mapped) if i != 3] == [i * i for i in range(100) if i != 3]
    assert os.getpid() not in {m[1] for i, m in enumerate(mapped) if i != 3}
    assert result.steps["m/item_pid[3]"].status is StepStatus.FAILED
    assert "item 3 is bad" in result.steps["m/item_pid[3]"].error.message
    assert result.steps["m/item_pid[4]"].status is StepStatus.COMPLETED
    keys = [task["key"] for task in stream.data]
    # 100 items on 2 threads: 4 batches a thread, not a task an item.
    assert 1 < len(keys) <= 8, keys
    assert all("item_pid[batch]" in str(key) for key in keys)


def test_a_few_items_go_one_task_each(dask_client):
    flow = Flow("m", [map_over(ds.item_pid, on_failure=FailureStrategy.IGNORE)])
    with distributed.get_task_stream(client=dask_client) as stream:
        flow.run(items=[1, 2], executor="dask")
    keys = sorted(str(task["key"]) for task in stream.data)
    assert len(keys) == 2
    assert keys[0].startswith("m/item_pid[0]-")  # the address names the Dask task


# -- the pipeline around each attempt -------------------------------------------------


def test_retries_back_off_with_the_seeded_jitter_of_every_executor(dask_client, tmp_path):
    delays = {}
    for executor in ("threaded", "dask"):

        class Retries:
            def __init__(self):
                self.delays = []

            @hookimpl
            def step_retry(self, address, attempt, error, delay):
                self.delays.append((address, attempt, type(error).__name__, delay))

        retries = Retries()
        log = tmp_path / f"{executor}.log"
        result = Flow("r", [ds.flaky]).run(
            log=str(log), executor=executor, seed=7, plugins=[retries]
        )
        assert result["flaky"] == 3
        assert result.steps["r/flaky"].attempts == 3
        delays[executor] = retries.delays
    assert delays["dask"] == delays["threaded"]
    assert len(delays["dask"]) == 2


def test_a_step_chained_behind_a_retried_one_runs_once_on_the_last_attempt(dask_client, tmp_path):
    log = tmp_path / "calls.log"
    result = ds.retried_chain().run(log=str(log), executor="dask")
    assert result["after_mid"] == 30
    assert result.steps["retried/flaky_mid"].attempts == 3
    assert log.read_text().split() == ["counted", "after"]


@pytest.mark.parametrize("on_failure", ["stop", "continue"])
def test_a_step_chained_behind_a_failed_one_never_runs(dask_client, tmp_path, on_failure):
    log = tmp_path / "calls.log"
    if on_failure == "stop":
        with pytest.raises(StepFailed) as info:
            ds.broken_chain().run(log=str(log), executor="dask")
        result = info.value.result
    else:
        result = ds.broken_chain().run(log=str(log), executor="dask", on_failure="continue")
    assert result.steps["broken/broken"].status is StepStatus.FAILED
    assert result.steps["broken/after_broken"].status is StepStatus.SKIPPED
    assert log.read_text().split() == ["counted"]


def test_nothing_is_chained_behind_a_step_that_could_not_be_sent(dask_client):
    @step
    def load(n):  # a closure: it cannot be pickled by reference
        return [n]

    result = Flow("p", [load, steps.double]).run(n=1, executor="dask", on_failure="continue")
    assert isinstance(result.steps["p/load"].exception, StepNotPicklable)
    assert result.steps["p/double"].status is StepStatus.SKIPPED


def test_identical_cached_calls_compute_once_and_are_looked_up_here(dask_client, tmp_path):
    log = tmp_path / "calls.log"
    cache = MemoryCache()
    flow = Flow("sf", [map_over(ds.cached_fetch)])
    result = flow.run(items=[1, 1, 2, 1, 2], log=str(log), cache=cache, executor="dask")
    assert result["cached_fetch"] == [10, 10, 20, 10, 20]
    assert sorted(log.read_text().split()) == ["1", "2"]  # single-flight across workers
    statuses = [result.steps[f"sf/cached_fetch[{i}]"].status for i in range(5)]
    assert statuses.count(StepStatus.CACHED) == 3
    again = flow.run(items=[2], log=str(log), cache=cache, executor="dask")
    assert again.steps["sf/cached_fetch[0]"].status is StepStatus.CACHED  # a client-side hit


def test_checkpoints_and_resume_with_a_store(dask_client, tmp_path):
    store = SQLiteStateBackend(tmp_path / "state.db")
    log = tmp_path / "calls.log"
    Path(str(log) + ".fail").write_text("")
    flow = ds.resumable_flow()
    with pytest.raises(StepFailed) as info:
        flow.run(log=str(log), executor="dask", store=store)
    state_id = info.value.result.state_id
    stored = store.load(state_id)
    assert [e.address for e in stored.events] == ["resumable/counted", "resumable/fails_once"]
    Path(str(log) + ".fail").unlink()
    resumed = flow.resume(state_id, store=store, executor="dask")
    assert resumed["fails_once"] == 1
    assert resumed.steps["resumable/counted"].status is StepStatus.REPLAYED
    assert log.read_text().split() == ["counted"]  # not called again


def test_get_executor_runs_as_executor_dask_with_its_options(dask_client, tmp_path):
    pool = dask_client.get_executor()
    with distributed.get_task_stream(client=dask_client) as stream:
        assert steps.chain_flow().run(n=4, executor=pool)["total"] == 12
    # Tasks named by step address: the run went through executor="dask"'s dispatcher
    # (chaining, batching, the checks that no run waits forever), not plain calls.
    assert sorted(str(task["key"]).split("-")[0] for task in stream.data) == [
        "chain/double",
        "chain/load",
        "chain/total",
    ]
    # get_executor's own options hold for every task: here, one worker only.
    one = sorted(dask_client.scheduler_info()["workers"])[0]
    pinned = dask_client.get_executor(workers=[one])
    pids = ds.fan_out().run(n=1, executor=pinned)
    worker_pid = dask_client.run(os.getpid, workers=[one])[one]
    assert {pids[name][2] for name in ("nap_a", "nap_b", "nap_c")} == {worker_pid}
    fan = ds.fan_out().run(n=1, executor=pool)
    assert fan["nap_a"][2] != os.getpid()
    # A retry sends the same payload again: it must run again, not reuse the failure.
    retried = Flow("r", [ds.flaky]).run(log=str(tmp_path / "log"), executor=pool)
    assert retried["flaky"] == 3

    @step
    def local(n):
        return n

    with pytest.raises(StepFailed) as info:
        Flow("p", [local]).run(n=1, executor=pool)
    assert isinstance(info.value.cause, StepNotPicklable)
    assert "step 'p/local'" in str(info.value.cause)


def test_get_executor_without_its_client_in_view_sends_plain_calls(
    dask_client, tmp_path, monkeypatch
):
    # Should a Dask version hide the executor's client, the run sends pickled calls
    # through the executor, as to any other.
    import executor._core
    import executor._dask

    for module in (executor._dask, executor._core):
        monkeypatch.setattr(module, "session_of_executor", lambda pool, timeouts=None: None)
    pool = dask_client.get_executor()
    assert steps.chain_flow().run(n=4, executor=pool)["total"] == 12
    # A retry sends the same payload again: it must run again (an impure task), not
    # get the failed attempt's result back from Dask.
    retried = Flow("r", [ds.flaky]).run(log=str(tmp_path / "log"), executor=pool)
    assert retried["flaky"] == 3


@pytest.mark.parametrize("chained", [False, True], ids=["sent", "chained"])
def test_a_killed_worker_is_survived(dask_client, tmp_path, chained):
    log = tmp_path / "calls.log"
    marker = Path(str(log) + ".pid")
    killed = []

    def kill_when_started():
        deadline = time.monotonic() + 30
        while not marker.exists() or not marker.read_text():
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        pid = int(marker.read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_when_started)
    killer.start()
    result = ds.killed_worker_flow(chained).run(log=str(log), executor="dask")
    killer.join()
    assert killed, "the step never started"
    assert result["killable"] == 7
    assert result.steps["survive/killable"].status is StepStatus.COMPLETED
    assert result.steps["survive/counted"].output == str(log)
    if chained:
        # The chained step's input lived on the killed worker only: Dask computes
        # it again there (the client keeps the first result). docs/scaling.md says so.
        assert log.read_text().split() in (["counted"], ["counted", "counted"])
    else:
        # Its input came from the client: nothing completed is computed again.
        assert log.read_text().split() == ["counted"]
    dask_client.wait_for_workers(2, timeout=30)  # the nanny brought a worker back


# -- a cluster that cannot finish the work: the run ends, naming the step -------------


def test_a_cluster_stalled_by_frozen_time_ends_the_run_naming_the_step(tmp_path):
    # Time frozen for half a second in the client's process stalls its Dask comms
    # for good (a comm that sent on the frozen clock waits for a timer that never
    # fires). This used to make every later run wait forever in next_done. Its own
    # cluster, in a process of its own: a stalled cluster cannot be shut down cleanly.
    script = tmp_path / "stalled.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys, time
            sys.path.insert(0, sys.argv[1])
            import distributed
            from freezegun import freeze_time
            from executor import DaskTimeouts, Flow, StepFailed
            from tests.executor import steps

            if __name__ == "__main__":
                quick = DaskTimeouts(grace=1.0, check_every=0.2)
                with distributed.LocalCluster(
                    n_workers=1, threads_per_worker=1, dashboard_address=":0"
                ) as cluster, distributed.Client(cluster) as client:
                    flow = Flow("stalled", [steps.load, steps.double])
                    print(flow.run(n=2, executor="dask")["double"], flush=True)
                    with freeze_time("2026-11-21 12:00:00"):
                        time.sleep(0.5)
                    started = time.monotonic()
                    try:
                        flow.run(n=2, executor="dask", dask_timeouts=quick)
                    except StepFailed as error:
                        print(time.monotonic() - started, flush=True)
                        print(type(error.cause).__name__, error.cause.address, flush=True)
                        print(error.cause, flush=True)
                    os._exit(0)  # the stalled cluster would not close
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    lines = out.stdout.splitlines()
    assert lines[0] == "[0, 2]", out.stderr  # the cluster worked before time froze
    assert len(lines) == 4, out.stdout + out.stderr
    assert float(lines[1]) < 30  # the grace (1 s) and the checks, not forever
    assert lines[2] == "ClusterError stalled/load"
    assert lines[3].startswith("step 'stalled/load' cannot end on executor=\"dask\": ")
    assert "freeze it with ignore=['distributed.', 'tornado.']" in lines[3]


def test_a_cluster_without_workers_ends_the_run_naming_the_step():
    # The bound is the run's option, on both ways to run on a given client.
    quick = DaskTimeouts(no_workers=1.0, check_every=0.2)
    with (
        distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        flow = Flow("idle", [steps.load, steps.double])
        failures = []
        for executor in ("dask", client.get_executor()):
            options = {"dask_client": client} if executor == "dask" else {}
            started = time.monotonic()
            with pytest.raises(StepFailed) as info:
                flow.run(n=1, executor=executor, dask_timeouts=quick, **options)
            assert time.monotonic() - started < 30
            failures.append(info.value)
    for failure in failures:
        error = failure.cause
        assert isinstance(error, ClusterError)
        assert error.address == "idle/load"
        assert "the cluster has had no running worker for 1 s" in str(error)
        assert str(error).endswith(
            f"Start workers for the scheduler at {cluster.scheduler_address}, or use a cluster "
            "that has workers (an adaptive cluster slow to scale up: give the run "
            "dask_timeouts=DaskTimeouts(no_workers=...) above 1 s)."
        )
        assert failure.result.steps["idle/double"].status is StepStatus.SKIPPED


def test_a_scheduler_that_does_not_answer_is_not_waited_for():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    class Silent:  # a scheduler that takes questions and never answers
        address = "tcp://silent:8786"

        async def get_task_status(self, keys):
            await asyncio.sleep(3600)

    client = SimpleNamespace(scheduler=Silent(), loop=SimpleNamespace(asyncio_loop=loop))
    try:
        started = time.monotonic()
        watch = _dask_watch.Watch(lambda: client, DaskTimeouts(answer=0.2))
        dead = watch.dead(["f/load-1", "f/double-2"])
        assert time.monotonic() - started < 5
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
    problem = "the Dask scheduler at tcp://silent:8786 did not answer within 0.2 s"
    assert {key: found[0] for key, found in dead.items()} == {
        "f/load-1": problem,
        "f/double-2": problem,
    }


def test_a_long_step_is_not_mistaken_for_a_stalled_one(dask_client):
    # The checks judge by what the scheduler says, not by time: a step running far
    # longer than the grace is "processing" all along, and completes.
    quick = DaskTimeouts(grace=0.2, check_every=0.1)
    result = ds.fan_out().run(n=1, executor="dask", max_concurrency=1, dask_timeouts=quick)
    assert [result[name][2] != os.getpid() for name in ("nap_a", "nap_b", "nap_c")] == [True] * 3


def test_dask_first_imported_under_frozen_time_warns_nothing():
    """The plugin's record/replay freezes time, and a run on Dask is often the first
    thing to import distributed: msgpack's C extension then saw freezegun's datetime
    classes and warned "datetime.date size changed" (an error under -W error)."""
    script = textwrap.dedent(
        """
        import datetime
        import freezegun
        from executor._dask import import_distributed

        with freezegun.freeze_time("2026-01-02"):
            import_distributed()
            assert datetime.date.today() == datetime.date(2026, 1, 2)  # still frozen
        print("imported")
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


# -- a run that sends nothing to the cluster connects to none -------------------------

NOTHING_TO_SEND = """
import sys
sys.path.insert(0, sys.argv[1])
from executor import Flow, map_over
from executor.cache import MemoryCache
from executor.state import MemoryStateBackend
from tests.executor import dask_steps as ds, steps

cache = MemoryCache()
mapped = Flow("sf", [map_over(ds.cached_fetch)])
live = mapped.run(items=[1, 2, 1], log=sys.argv[2], cache=cache, executor="threaded")
cached = mapped.run(items=[1, 2, 1], log=sys.argv[2], cache=cache, executor="dask")
items = {r.status.value for a, r in cached.steps.items() if "[" in a}
print(cached["cached_fetch"] == live["cached_fetch"], sorted(items))
store = MemoryStateBackend()
chain = steps.chain_flow()
done = chain.run(n=3, executor="threaded", store=store)
again = chain.resume(done.state_id, store=store, executor="dask")
print(again["total"] == done["total"], sorted({r.status.value for r in again.steps.values()}))
print("distributed" in sys.modules)
"""


def test_a_run_that_sends_nothing_does_not_even_import_dask(tmp_path):
    # Every step a cache hit, or replayed from a store (as `pytest --flow-replay`
    # replays: tests/plugin/test_dask.py): no cluster is started, and in a fresh
    # process `distributed` (~0.4 s to import) is not imported at all.
    log = tmp_path / "calls.log"
    out = subprocess.run(
        [sys.executable, "-c", NOTHING_TO_SEND, str(ROOT), str(log)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.stdout.splitlines() == [
        "True ['cached']",
        "True ['replayed']",
        "False",
    ], out.stderr
    assert sorted(log.read_text().split()) == ["1", "2"]  # only the live run called


class Connections:
    """Spies on how a run gets a cluster: the current client, a new client, a new
    LocalCluster (the spies only count; the real calls go on)."""

    def __init__(self, monkeypatch):
        self.made = []
        for cls in (distributed.Client, distributed.LocalCluster):
            self._spy(monkeypatch, cls, "__init__", cls.__name__)
        self._spy(monkeypatch, distributed, "default_client", "default_client")

    def _spy(self, monkeypatch, owner, name, label):
        real = getattr(owner, name)

        def spy(*args, **kwargs):
            self.made.append(label)
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)


def test_a_run_connects_when_it_first_sends_a_step(dask_client, monkeypatch, tmp_path):
    log = tmp_path / "calls.log"
    cache = MemoryCache()
    flow = Flow("sf", [map_over(ds.cached_fetch)])
    flow.run(items=[1, 2], log=str(log), cache=cache, executor="dask")
    connections = Connections(monkeypatch)
    cached = flow.run(items=[2, 1], log=str(log), cache=cache, executor="dask")
    assert cached["cached_fetch"] == [20, 10]
    assert connections.made == []  # every item a hit: no cluster asked for
    live = flow.run(items=[1, 3], log=str(log), cache=cache, executor="dask")
    assert live["cached_fetch"] == [10, 30]
    assert connections.made == ["default_client"]  # found the session's client, and ran
    assert sorted(log.read_text().split()) == ["1", "2", "3"]


# -- every wait on the cluster is bounded ---------------------------------------------

SCHEDULER = """
import time
import distributed

if __name__ == "__main__":
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
        host="127.0.0.1", dashboard_address=":0",
    )
    print(cluster.scheduler_address, flush=True)
    time.sleep(600)
"""


@pytest.fixture(scope="module")
def scheduler_process(tmp_path_factory):
    """A Dask scheduler (and one worker) in a process of its own, which a test can
    stop (SIGSTOP): then it takes connections and questions and never answers."""
    script = tmp_path_factory.mktemp("scheduler") / "scheduler.py"
    script.write_text(SCHEDULER)
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        yield SimpleNamespace(address=process.stdout.readline().strip(), pid=process.pid)
    finally:
        process.kill()
        process.wait(timeout=30)
        process.stdout.close()


@pytest.fixture
def stopped_scheduler(scheduler_process):
    """The scheduler process, stopped for the test (and continued after it)."""
    os.kill(scheduler_process.pid, signal.SIGSTOP)
    try:
        yield scheduler_process
    finally:
        os.kill(scheduler_process.pid, signal.SIGCONT)


def test_connecting_to_a_scheduler_that_does_not_answer_is_bounded(stopped_scheduler):
    # distributed.Client(address) waited here for over 70 s, whatever its timeout=.
    address = stopped_scheduler.address
    flow = Flow("p", [steps.load, steps.double])
    started = time.monotonic()
    with pytest.raises(StepFailed) as info:
        flow.run(n=1, executor="dask", dask_address=address, dask_timeouts=DaskTimeouts(answer=1))
    assert time.monotonic() - started < 15
    error = info.value.cause
    assert isinstance(error, ClusterError)
    assert error.address == "p/load"
    assert str(error).startswith(
        f"step 'p/load' cannot end on executor=\"dask\": connecting to the Dask scheduler at "
        f"{address} took longer than 1 s (Dask task 'p/load-"
    )
    assert str(error).endswith(
        "Check that the scheduler is running and reachable from this process."
    )


def test_counting_the_threads_of_a_scheduler_that_does_not_answer_is_bounded(
    scheduler_process,
):
    # Many ready items of one step are batched by the cluster's thread count, asked
    # once a run: client.nthreads() waited forever for a scheduler that stopped.
    flow = Flow("m", [map_over(ds.item_pid)])
    with distributed.Client(scheduler_process.address, set_as_default=False) as client:
        os.kill(scheduler_process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(StepFailed) as info:
                flow.run(
                    items=list(range(20)),
                    executor="dask",
                    dask_client=client,
                    dask_timeouts=DaskTimeouts(answer=1),
                )
            assert time.monotonic() - started < 15
        finally:
            os.kill(scheduler_process.pid, signal.SIGCONT)
    error = info.value.cause
    assert isinstance(error, ClusterError)
    assert error.address == "m/item_pid[0]"
    address = scheduler_process.address
    assert (
        f"counting the worker threads of the Dask scheduler at {address}: no answer within 1 s"
    ) in str(error)


def test_gathering_outcomes_from_a_scheduler_that_does_not_answer_is_bounded(
    dask_client, monkeypatch
):
    # The step ended on a worker; then taking its outcome in never gets an answer.
    async def never(*args, **kwargs):
        await asyncio.sleep(3600)

    def gather(futures, errors="raise", direct=None, asynchronous=None):
        return dask_client.sync(never, asynchronous=asynchronous)

    monkeypatch.setattr(dask_client, "gather", gather)
    started = time.monotonic()
    with pytest.raises(StepFailed) as info:
        Flow("p", [steps.load]).run(
            n=1, executor="dask", dask_client=dask_client, dask_timeouts=DaskTimeouts(answer=0.5)
        )
    assert time.monotonic() - started < 10
    error = info.value.cause
    assert isinstance(error, ClusterError)
    assert error.address == "p/load"
    address = dask_client.scheduler.address
    assert (
        f"its outcome was not gathered from the Dask scheduler at {address} within 0.5 s"
    ) in str(error)


class Unclosable:
    """A Dask client or cluster whose close never ends (its scheduler stopped)."""

    scheduler_address = "tcp://stopped:8786"
    scheduler = SimpleNamespace(address=scheduler_address)

    def __init__(self):
        self.release = threading.Event()

    def close(self, timeout=None):
        self.release.wait()


def test_closing_the_runs_own_client_and_cluster_is_bounded():
    from executor._dask import DaskSession

    session = DaskSession(address="tcp://stopped:8786", timeouts=DaskTimeouts(answer=0.2))
    client, cluster = Unclosable(), Unclosable()
    session._client, session._cluster = client, cluster  # what a run had opened
    started = time.monotonic()
    with pytest.warns(RuntimeWarning) as warned:
        session.close()
    assert time.monotonic() - started < 5  # not forever: 0.2 s each
    client.release.set()
    cluster.release.set()
    messages = [str(w.message) for w in warned]
    assert messages == [
        "flowexec: the run's client of the Dask scheduler at tcp://stopped:8786 did not "
        "close within 0.2 s; the run's result is complete. Check that the scheduler is "
        "running, or stop what is left of the cluster yourself; to wait longer, give the "
        "run dask_timeouts=DaskTimeouts(answer=...)",
        "flowexec: the run's LocalCluster (scheduler at tcp://stopped:8786) did not close "
        "within 0.2 s; the run's result is complete. Check that the scheduler is running, "
        "or stop what is left of the cluster yourself; to wait longer, give the run "
        "dask_timeouts=DaskTimeouts(answer=...)",
    ]


# -- the bounds are the run's options -------------------------------------------------


def test_dask_timeouts_default_to_the_documented_bounds():
    assert DaskTimeouts() == DaskTimeouts(check_every=2, grace=20, no_workers=60, answer=30)


FIELDS = ["check_every", "grace", "no_workers", "answer"]


@given(
    field=st.sampled_from(FIELDS),
    seconds=st.floats(min_value=1e-3, max_value=1e6) | st.integers(1, 10**6),
)
def test_any_finite_positive_number_of_seconds_is_kept(field, seconds):
    assert getattr(DaskTimeouts(**{field: seconds}), field) == seconds


@given(
    field=st.sampled_from(FIELDS),
    value=st.floats(max_value=0)
    | st.sampled_from([math.inf, math.nan, True, "30", None, "30s"])
    | st.integers(max_value=0),
)
def test_anything_else_is_refused_naming_the_option_and_value(field, value):
    with pytest.raises(FlowDefinitionError) as info:
        DaskTimeouts(**{field: value})
    assert str(info.value).startswith(
        f"DaskTimeouts({field}={value!r}): {field} must be a finite number of seconds above 0"
    )


def test_dask_timeouts_are_checked_where_they_are_given(dask_client):
    with pytest.raises(FlowDefinitionError, match=r"must be an executor\.DaskTimeouts, got 60"):
        ExecutorCore(executor="dask", dask_timeouts=60)
    with pytest.raises(FlowDefinitionError, match=r"or client\.get_executor\(\), not 'threaded'"):
        steps.chain_flow().run(n=1, executor="threaded", dask_timeouts=DaskTimeouts())
    pool = dask_client.get_executor()
    core = ExecutorCore(executor=pool, dask_timeouts=DaskTimeouts(no_workers=300))
    assert core.run(steps.chain_flow(), {"n": 4})["total"] == 12  # on the cluster
