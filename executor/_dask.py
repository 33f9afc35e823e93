"""``executor="dask"``: step attempts as tasks on a Dask cluster.

The run stays in the client process: the scheduler (``_scheduler.run_sync``), the
step pipeline, hooks, cache and store all work here, as for a process pool. What
travels is each attempt, pickled here exactly as for ``"parallel"`` (so a value that
cannot travel is :class:`StepNotPicklable` naming its address), and each outcome,
pickled on the worker. Two things are Dask's own:

- a step may be submitted *behind* the attempts it waits for
  (:meth:`DaskDispatcher.submit_after`): their futures are its arguments, so a chain
  runs on the cluster without waiting for the client between steps;
- many ready attempts of one step (map items) are sent as a few batches, each one
  Dask task, so trivial items do not each pay Dask's per-task cost.

``distributed`` is imported only here, and only when a run asks for Dask.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import functools
import importlib.util
import itertools
import pickle
import queue
import sys
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import CancelledError, Executor
from types import ModuleType
from typing import Any

from executor._clock import Clock
from executor._dask_watch import (
    DEFAULT_TIMEOUTS,
    UNREACHABLE_FIX,
    DaskTimeouts,
    Unanswered,
    Watch,
    ask,
    cancel_soon,
    close_within,
    count_threads,
    scheduler_address,
    within,
)
from executor._errors import ClusterError, FlowDefinitionError, MissingExtra, StepNotPicklable
from executor._executors import Chainer, Outcome, Task, run_pickled, run_unpickled, unpickle_outcome

WHERE = 'executor="dask"'

BATCHES_PER_THREAD = 4
"""Ready attempts of one step beyond this many per cluster thread go in batches,
at least this many batches per thread (as ``multiprocessing.Pool.map`` chunks), so
an uneven item delays at most a quarter of one thread's share."""
MAX_BATCH = 64
"""No batch holds more attempts than this: results come back in steady steps."""
LOST_POLL = 0.1
"""Seconds between looks at a task Dask is computing again after its worker died."""


def import_distributed() -> ModuleType:
    """The ``distributed`` module, or :class:`MissingExtra` naming the extra."""
    try:
        with _real_datetime_classes():
            import distributed
    except ImportError as error:
        raise MissingExtra(WHERE, "distributed", "dask") from error
    return distributed


@contextlib.contextmanager
def _real_datetime_classes() -> Iterator[None]:
    """The real ``datetime.date`` and ``datetime.datetime`` while Dask is imported.

    A C extension Dask loads (msgpack's) checks the size of datetime's classes when it
    is first imported. Under frozen time (freezegun: the plugin's record and replay,
    or a user's test) those are freezegun's subclasses, and the check warns "datetime.date
    size changed, may indicate binary incompatibility", which a project that turns
    warnings into errors sees as a failed test. Dask keeps real time anyway.
    """
    api = sys.modules.get("freezegun.api")
    if api is None or "distributed" in sys.modules or datetime.date is api.real_date:
        yield
        return
    fakes = datetime.date, datetime.datetime
    setattr(datetime, "date", api.real_date)  # noqa: B010 (a module's class, not a name)
    setattr(datetime, "datetime", api.real_datetime)  # noqa: B010
    try:
        yield
    finally:
        setattr(datetime, "date", fakes[0])  # noqa: B010
        setattr(datetime, "datetime", fakes[1])  # noqa: B010


def is_dask_executor(executor: Executor) -> bool:
    """Whether ``executor`` is Dask's ``client.get_executor()`` (without importing Dask)."""
    module = sys.modules.get("distributed.cfexecutor")
    return module is not None and isinstance(executor, module.ClientExecutor)


SUBMIT_OPTIONS = frozenset({"workers", "resources", "allow_other_workers", "retries"})
"""Options of ``client.get_executor(...)`` that hold for every task sent (``pure`` does
not: every task here has a key of its own)."""


def session_of_executor(
    executor: Executor, timeouts: DaskTimeouts = DEFAULT_TIMEOUTS
) -> DaskSession | None:
    """A run on ``client.get_executor(**options)`` is a run on ``executor="dask"`` with
    that client and those options, so it chains, batches and never waits forever on a
    cluster that cannot finish. ``None`` if this version of Dask's executor does not
    show its client and options (the run then sends plain calls through it)."""
    client = getattr(executor, "_client", None)
    options = getattr(executor, "_kwargs", None)
    distributed = sys.modules.get("distributed")
    if distributed is None or not isinstance(client, distributed.Client):
        return None
    if not isinstance(options, dict) or not set(options) <= SUBMIT_OPTIONS | {"pure"}:
        return None
    kept = {name: value for name, value in options.items() if name in SUBMIT_OPTIONS}
    return DaskSession(client, options=kept, timeouts=timeouts)


class DaskSession:
    """The client of one run: the user's (``dask_client``), one connected to
    ``dask_address``, the process's current Dask client (as Dask's own collections
    use it), or else a ``LocalCluster`` sized for the machine.

    Nothing connects, and ``distributed`` is not even imported, until an attempt
    must really go to the cluster: a run whose steps all come from a recording, a
    store or the cache costs no cluster. Whatever the run started, it closes; a
    client it did not start is left open. Every wait on the scheduler is bounded by
    ``timeouts``.
    """

    def __init__(
        self,
        client: Any = None,
        address: str | None = None,
        *,
        options: dict[str, Any] | None = None,
        timeouts: DaskTimeouts = DEFAULT_TIMEOUTS,
    ) -> None:
        if client is not None and address is not None:
            raise FlowDefinitionError("give dask_client= or dask_address=, not both")
        if client is None:
            # Whether Dask is there, without the import's ~0.4 s: a run that sends
            # nothing never needs it.
            if not _installed():
                raise MissingExtra(WHERE, "distributed", "dask")
        elif not isinstance(client, import_distributed().Client):
            raise FlowDefinitionError(
                f"dask_client must be a distributed.Client, got {client!r}; for a scheduler "
                f"address use dask_address="
            )
        self._given = client
        self._address = address
        self.options = options or {}
        """Keyword arguments for every ``client.submit`` (from ``get_executor``)."""
        self.timeouts = timeouts
        self._lock = threading.Lock()
        self._client: Any = client
        self._cluster: Any = None
        self._threads: int | None = None

    def client(self) -> Any:
        """The run's client, connected (and its cluster started) on first use.

        Raises:
            Unanswered: the scheduler at ``dask_address`` could not be connected to
                within ``timeouts.answer``.
        """
        with self._lock:
            if self._client is None:
                distributed = import_distributed()
                current = None if self._address is not None else _current_client(distributed)
                if current is not None:
                    self._given = self._client = current
                elif self._address is not None:
                    address = self._address
                    self._client = within(
                        self.timeouts.answer,
                        f"connecting to the Dask scheduler at {address}",
                        UNREACHABLE_FIX,
                        # Not the process's default client: it is the run's, and
                        # closed with it.
                        lambda: distributed.Client(address, set_as_default=False),
                    )
                else:
                    # The dashboard on a free port: Dask's 8787 may be another
                    # cluster's (Dask would warn and move).
                    self._cluster = distributed.LocalCluster(processes=True, dashboard_address=":0")
                    self._client = distributed.Client(self._cluster, set_as_default=False)
            return self._client

    def threads(self) -> int:
        """Worker threads of the cluster when first asked (it may grow later).

        Raises:
            Unanswered: the scheduler did not answer within ``timeouts.answer``.
        """
        client = self.client()
        with self._lock:
            if self._threads is None:
                self._threads = count_threads(client, self.timeouts.answer)
            return self._threads

    def close(self) -> None:
        """Close what the run opened, its client and its cluster, each within
        ``timeouts.answer`` (a warning says when one did not close in time)."""
        with self._lock:
            client, cluster = self._client, self._cluster
            self._client = self._given
            self._cluster = None
        seconds = self.timeouts.answer
        if client is not None and client is not self._given:
            where = scheduler_address(client)
            close_within(seconds, f"the run's client of the Dask scheduler at {where}", client)
        if cluster is not None:
            what = f"the run's LocalCluster (scheduler at {cluster.scheduler_address})"
            close_within(seconds, what, cluster)


def _installed() -> bool:
    """Whether ``distributed`` can be imported (without importing it)."""
    if "distributed" in sys.modules:
        return sys.modules["distributed"] is not None  # None: its import is blocked
    return _found()


@functools.cache
def _found() -> bool:
    """Whether ``distributed`` is on the path: looked up once a process (a search
    of ``sys.path``, ~0.1 ms, would be most of what a run that sends nothing costs)."""
    try:
        return importlib.util.find_spec("distributed") is not None
    except (ImportError, ValueError):
        return False


def _current_client(distributed: ModuleType) -> Any:
    """The client ``distributed.Client()`` made the default in this process, if any."""
    try:
        return distributed.default_client()
    except ValueError:  # there is none
        return None


# -- on the worker -------------------------------------------------------------------


def run_after(payload: bytes, params: tuple[str, ...], *upstream: bytes) -> bytes:
    """On a worker: run a pickled attempt whose ``params`` come from the outcomes
    of the attempts it was chained behind. If one of those failed, nothing runs."""
    address, step_executor, step, inputs, context, returns_context = pickle.loads(payload)
    inputs = dict(inputs)
    for param, data in zip(params, upstream, strict=True):
        ok, value, *_ = pickle.loads(data)
        if not ok:  # the client drops this attempt; say so cheaply
            return pickle.dumps((False, "upstream attempt failed", None, None, None))
        inputs[param] = value
    return run_unpickled(address, step_executor, step, inputs, context, returns_context)


def run_batch(payloads: list[bytes]) -> list[bytes]:
    """On a worker: run pickled attempts one after another; their outcomes in order."""
    return [run_pickled(payload) for payload in payloads]


# -- in the client -------------------------------------------------------------------


class _Job:
    """One Dask task: one attempt, or a batch of attempts (``tokens`` in order), or
    (``future`` None) a composite's thread."""

    __slots__ = ("dropped", "future", "outcome", "tasks", "tokens")

    def __init__(self, future: Any, tokens: list[int], tasks: list[Task]) -> None:
        self.future = future
        self.tokens = tokens
        self.tasks = tasks
        self.dropped: set[int] = set()
        """Tokens cancelled meanwhile: their outcomes are not reported."""
        self.outcome: Outcome | None = None


class DaskDispatcher:
    """A scheduler's window onto the run's Dask client (one per nesting level).

    Attempts submitted in one pass of the scheduler are held until it waits
    (:meth:`next_done`), then sent: one task each, or in batches when there are
    many of one step. Finished tasks are gathered in one round trip for all of
    those done by then. While it waits, a :class:`~executor._dask_watch.Watch`
    asks the scheduler whether the tasks out can still end; those that cannot are
    reported as failed attempts (:class:`ClusterError`), so no run waits forever.

    It connects (through the session) when it first sends an attempt, not before:
    a nesting level whose steps all replay or hit the cache touches no cluster.
    """

    runs_lone_steps_inline = False  # the user chose the cluster for where code runs
    capacity: int | None = None

    def __init__(self, session: DaskSession) -> None:
        self.chainer: Chainer | None = self
        self._session = session
        self._client: Any = None
        """The run's client, once an attempt was sent (:meth:`_connect`)."""
        self._options = session.options
        self._prefix = uuid.uuid4().hex[:12]
        self._handles = itertools.count()
        self._jobs: dict[int, _Job] = {}
        self._job_of: dict[int, int] = {}  # token -> handle of the task running it
        self._futures: dict[int, Any] = {}
        """Token -> future of an attempt sent on its own, kept until the scheduler has
        taken its outcome: attempts chained behind it name it."""
        self._held: list[tuple[int, Task, bytes]] = []
        self._held_tokens: set[int] = set()
        self._done: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._ready: deque[tuple[int, Outcome]] = deque()
        self._lost: set[int] = set()
        """Handles of tasks whose result was lost with a worker: Dask computes them
        again, but a callback registered now would fire at once, so they are polled."""
        self._unreachable: Unanswered | None = None
        """Why the last attempt to connect failed, if it did."""
        self._watch = Watch(session.client, session.timeouts)

    # -- submitting ------------------------------------------------------------------

    def _payload(self, token: int, task: Task) -> bytes | None:
        try:
            return task.payload()
        except Exception as error:
            what = "function, inputs or context"
            failure = Outcome(None, StepNotPicklable(task.address, what, error, WHERE))
            self._ready.append((token, failure))
            return None

    def submit(self, token: int, task: Task) -> None:
        payload = self._payload(token, task)
        if payload is not None:
            self._held.append((token, task, payload))
            self._held_tokens.add(token)

    def follows(self, token: int) -> bool:
        # Sent on its own, or held (then sent on its own by submit_after); not a
        # batch member, not an attempt whose payload could not be made.
        return token in self._futures or token in self._held_tokens

    def submit_after(self, token: int, task: Task, upstream: list[tuple[str, int]]) -> None:
        payload = self._payload(token, task)
        if payload is None:
            return
        self._send(batch=False)  # upstream attempts need futures of their own to be named
        if self._client is None:  # they could not be sent: neither can this one
            assert self._unreachable is not None
            self._fail([(token, task)], self._unreachable)
            return
        futures = [self._futures[source] for _, source in upstream]
        params = tuple(param for param, _ in upstream)
        future = self._client.submit(
            run_after, payload, params, *futures, key=self._key(task, token), **self._options
        )
        self._track(future, [token], [task])
        self._futures[token] = future

    def release(self, token: int) -> None:
        self._futures.pop(token, None)

    def submit_thread(self, token: int, address: str, call: Any) -> None:
        # A composite coordinates nested work from the client; its nested steps
        # are what goes to the cluster.
        def run() -> None:
            try:
                outcome = Outcome(call())
            except Exception as error:
                outcome = Outcome(None, error)
            self._ready_from_thread(token, outcome)

        threading.Thread(target=run, name=f"flowexec {address}", daemon=True).start()

    def _ready_from_thread(self, token: int, outcome: Outcome) -> None:
        job = _Job(None, [token], [])
        job.outcome = outcome
        handle = next(self._handles)
        self._jobs[handle] = job
        self._done.put(handle)

    def _key(self, task: Task, token: int) -> str:
        # Readable on Dask's dashboard, unique across runs sharing a cluster.
        return f"{task.address}-{self._prefix}-{token}"

    def _connect(self) -> Any:
        """The run's client, connected now if this is the first attempt sent.

        Raises:
            Unanswered: the cluster cannot be reached (remembered for the attempts
                chained behind those that could not be sent).
        """
        if self._client is None:
            try:
                self._client = self._session.client()
            except Unanswered as failure:
                self._unreachable = failure
                raise
        return self._client

    def _fail(self, attempts: list[tuple[int, Task]], failure: Unanswered) -> None:
        """Report ``attempts`` as failed: the cluster could not be reached for them."""
        for token, task in attempts:
            error = ClusterError(task.address, self._key(task, token), failure.problem, failure.fix)
            self._ready.append((token, Outcome(None, error)))

    def _send(self, batch: bool = True) -> None:
        held, self._held = self._held, []
        if not held:
            return
        self._held_tokens.clear()
        first = held[0][1].step
        try:
            client = self._connect()
            threads = (
                self._session.threads()
                if batch
                and len(held) > BATCHES_PER_THREAD
                and all(t.step is first for _, t, _ in held)
                else 0
            )
        except Unanswered as failure:
            self._fail([(token, task) for token, task, _ in held], failure)
            return
        options = self._options
        if threads and len(held) > BATCHES_PER_THREAD * threads:
            batches = max(BATCHES_PER_THREAD * threads, -(-len(held) // MAX_BATCH))
            size = -(-len(held) // batches)
            for start in range(0, len(held), size):
                part = held[start : start + size]
                tokens = [token for token, _, _ in part]
                key = f"{first.name}[batch]-{self._prefix}-{tokens[0]}"
                future = client.submit(run_batch, [p for _, _, p in part], key=key, **options)
                self._track(future, tokens, [t for _, t, _ in part])
            return
        for token, task, payload in held:
            future = client.submit(run_pickled, payload, key=self._key(task, token), **options)
            self._track(future, [token], [task])
            self._futures[token] = future

    def _track(self, future: Any, tokens: list[int], tasks: list[Task]) -> None:
        handle = next(self._handles)
        self._jobs[handle] = _Job(future, tokens, tasks)
        for token in tokens:
            self._job_of[token] = handle
        self._on_done(handle, future)

    def _on_done(self, handle: int, future: Any) -> None:
        done = self._done
        future.add_done_callback(lambda _: done.put(handle))

    # -- outcomes --------------------------------------------------------------------

    def next_done(self, timeout: float | None) -> tuple[int, Outcome] | None:
        self._send()
        if not self._ready:
            handles = self._wait(timeout)
            if handles:
                self._collect(handles)
        return self._ready.popleft() if self._ready else None

    def _wait(self, timeout: float | None) -> list[int]:
        """Handles of the tasks done within ``timeout`` (every one done by then, for
        one gather). After ``check_every`` seconds without one the cluster is checked:
        tasks that cannot end are reported in ``_ready`` and end the wait."""
        end = None if timeout is None else Clock.monotonic() + timeout
        while True:
            wait = self._watch.due()
            if self._lost:
                wait = min(wait, LOST_POLL)
            if end is not None:
                wait = min(wait, max(end - Clock.monotonic(), 0.0))
            try:
                handles = [self._done.get(timeout=wait)]
            except queue.Empty:
                self._recovered()
                if self._watch.due() == 0.0:
                    self._check()
                if self._ready or (end is not None and Clock.monotonic() >= end):
                    return []
                continue
            self._watch.heard()
            while True:
                try:
                    handles.append(self._done.get_nowait())
                except queue.Empty:
                    return handles

    def _recovered(self) -> None:
        """Lost tasks Dask has computed again (or failed) go to be collected."""
        for handle in list(self._lost):
            job = self._jobs.get(handle)
            if job is None or job.future.status not in ("pending", "lost"):
                self._lost.discard(handle)
                self._done.put(handle)

    def _check(self) -> None:
        """Ask the scheduler about the tasks out; fail those that cannot end."""
        jobs = {
            str(job.future.key): (handle, job)
            for handle, job in self._jobs.items()
            if job.future is not None
        }
        if not jobs:
            self._watch.dead([])  # nothing out: just restart the interval
            return
        for handle, job in jobs.values():
            if job.future.done() and handle not in self._lost:
                self._done.put(handle)  # its callback is late: take it as it is
        for key, (problem, fix) in self._watch.dead(list(jobs)).items():
            handle, job = jobs[key]
            del self._jobs[handle]
            self._lost.discard(handle)
            self._watch.forget(key)
            for token, task in zip(job.tokens, job.tasks, strict=True):
                if token not in job.dropped:
                    self._job_of.pop(token, None)
                    error = ClusterError(task.address, key, problem, fix)
                    self._ready.append((token, Outcome(None, error)))
            cancel_soon(self._client, [job.future])

    def _collect(self, handles: list[int]) -> None:
        finished = []
        for handle in handles:
            job = self._jobs.get(handle)
            if job is None:  # cancelled meanwhile
                continue
            status = "thread" if job.outcome is not None else job.future.status
            if status in ("pending", "lost"):
                # Its result was on a worker that died since: Dask computes it
                # again (a callback would fire at once: it is polled instead).
                self._lost.add(handle)
                continue
            del self._jobs[handle]
            if job.future is not None:
                self._watch.forget(str(job.future.key))
            if job.outcome is not None:
                self._ready.append((job.tokens[0], job.outcome))
            elif status == "finished":
                finished.append(job)
            else:
                self._failed(job)
        if not finished:
            return
        client = self._client
        seconds = self._session.timeouts.answer
        futures = [job.future for job in finished]
        try:
            datas = ask(client, client.gather(futures, asynchronous=True), seconds)
        except concurrent.futures.TimeoutError:
            address = scheduler_address(client)
            problem = f"its outcome was not gathered from the Dask scheduler at {address} "
            for job in finished:
                self._give_up(job, f"{problem}within {seconds:g} s", UNREACHABLE_FIX)
            return
        except Exception:  # one was lost meanwhile: take them one by one
            for job in finished:
                self._one(job)
            return
        for job, data in zip(finished, datas, strict=True):
            self._unpack(job, data)

    def _give_up(self, job: _Job, problem: str, fix: str) -> None:
        """Report ``job``'s attempts as failed: the cluster cannot give its outcome."""
        key = str(job.future.key)
        for token, task in zip(job.tokens, job.tasks, strict=True):
            if token not in job.dropped:
                self._job_of.pop(token, None)
                self._ready.append(
                    (token, Outcome(None, ClusterError(task.address, key, problem, fix)))
                )

    def _one(self, job: _Job) -> None:
        if job.future.status in ("pending", "lost"):  # lost since: wait for it again
            handle = next(self._handles)
            self._jobs[handle] = job
            for token in job.tokens:
                if token not in job.dropped:
                    self._job_of[token] = handle
            self._lost.add(handle)
            return
        seconds = self._session.timeouts.answer
        try:
            data = job.future.result(timeout=seconds)
        except TimeoutError:
            address = scheduler_address(self._client)
            problem = f"its outcome was not gathered from the Dask scheduler at {address} "
            self._give_up(job, f"{problem}within {seconds:g} s", UNREACHABLE_FIX)
            return
        except Exception:
            self._failed(job)
            return
        self._unpack(job, data)

    def _unpack(self, job: _Job, data: Any) -> None:
        datas = data if isinstance(data, list) else [data]  # a batch, or one attempt
        dropped = job.dropped
        for token, task, one in zip(job.tokens, job.tasks, datas, strict=True):
            if token not in dropped:
                self._job_of.pop(token, None)
                outcome = unpickle_outcome(task.address, one, task.returns_context, WHERE)
                self._ready.append((token, outcome))

    def _failed(self, job: _Job) -> None:
        """A task Dask itself failed (a worker died too often) or cancelled."""
        future = job.future
        error: BaseException
        if future.status == "cancelled":
            error = CancelledError(f"Dask task {future.key!r} was cancelled")
        else:
            try:
                found = future.exception(timeout=self._session.timeouts.answer)
            except Exception as problem:
                found = problem
            error = found if isinstance(found, BaseException) else RuntimeError(str(found))
        for token in job.tokens:
            if token not in job.dropped:
                self._job_of.pop(token, None)
                self._ready.append((token, Outcome(None, error)))

    def cancel(self, token: int) -> bool:
        """Forget ``token``'s attempt; its task is cancelled unless a batch still
        needs it. Dask cannot interrupt a task already running: its work goes on on
        the worker and its outcome is dropped, so the attempt counts as never run."""
        handle = self._job_of.pop(token, None)
        job = None if handle is None else self._jobs.get(handle)
        if handle is None or job is None:
            return False
        job.dropped.add(token)
        if len(job.dropped) == len(job.tokens):
            del self._jobs[handle]
            self._lost.discard(handle)
            self._watch.forget(str(job.future.key))
            cancel_soon(self._client, [job.future])
        return True

    def abandon(self, token: int) -> None:
        self.cancel(token)  # Dask cannot stop a running task: it ends unobserved

    def close(self) -> None:
        self._send()
        jobs, self._jobs = list(self._jobs.values()), {}
        self._lost.clear()
        futures = [job.future for job in jobs if job.future is not None]
        if futures:  # then the client is connected
            cancel_soon(self._client, futures)
