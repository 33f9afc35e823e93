"""The determinism check behind ``@pytest.mark.flow_determinism``: run a flow again
under several executors, compare every run exactly, and say why runs differ.

Kept apart from pytest: the plugin module (``_determinism_plugin``) feeds it the runs
a test made and turns its findings into a test failure.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import json
import random
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pytest_flowexec._exact import exact_diff

if TYPE_CHECKING:
    from executor import FlowResult
    from executor.testing import CapturedRun, RecordedStep, RunTap
    from pytest_flowexec._mock import FlowMock

LOCAL_EXECUTORS = ("sequential", "threaded", "async", "parallel")
"""The executors a flow is re-run on when the marker names none."""
_NOT_RUN = "not run"
_OK = "ok"


class DeterminismError(AssertionError):
    """Runs of one flow that should be identical are not; the message says where."""


@dataclasses.dataclass(frozen=True)
class Options:
    """The ``flow_determinism`` marker's arguments, checked."""

    executors: tuple[str, ...] = LOCAL_EXECUTORS
    explicit_executors: bool = False
    runs: int = 2
    inputs: Any = None
    max_examples: int = 10
    hash_seeds: tuple[int, ...] = (1, 2)
    seed: int | None = None
    frozen_time: str | None = None
    round_trip: bool = True

    @classmethod
    def parse(cls, where: str, kwargs: Mapping[str, Any]) -> Options:
        """Options from the marker's keywords; ``where`` names the test in errors."""
        known = {f.name for f in dataclasses.fields(cls)} - {"explicit_executors"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ValueError(
                f"{where}: flow_determinism got unknown argument(s) {', '.join(unknown)}; "
                f"it takes {', '.join(sorted(known))}"
            )
        options = dict(kwargs)
        if "executors" in options:
            executors = options["executors"]
            if isinstance(executors, str) or not executors:
                raise ValueError(
                    f"{where}: flow_determinism executors= must be a non-empty list of "
                    f"executor names, got {executors!r}"
                )
            options["executors"] = tuple(executors)
            options["explicit_executors"] = True
        runs = options.get("runs", 2)
        if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
            raise ValueError(f"{where}: flow_determinism runs= must be an int >= 1, got {runs!r}")
        if "hash_seeds" in options:
            options["hash_seeds"] = tuple(options["hash_seeds"])
        inputs = options.get("inputs")
        if inputs is not None:
            from hypothesis import strategies as st

            if not isinstance(inputs, st.SearchStrategy):
                raise ValueError(
                    f"{where}: flow_determinism inputs= must be a hypothesis strategy of "
                    f"input dicts (e.g. inputs_for(flow)), got {inputs!r}"
                )
        return cls(**options)


@dataclasses.dataclass
class Outcome:
    """One run, reduced to what must be identical between runs."""

    label: str
    status: str
    steps: dict[str, tuple[str, Any]]
    """address -> (``ok`` / a failure status / ``not run``, the output or the error)"""
    context: Any
    events: frozenset[tuple[str, str, str | None]]
    recorded: dict[str, RecordedStep]
    stopped: bool
    """The run stopped at its first failure: steps after it may or may not have run."""


class _Rerun:
    """The interceptor installed while the check runs a flow: it taps every run, and
    keeps the test's own stubs (``flow_mock``), which are explicit test code."""

    def __init__(self, tap: RunTap, mock: FlowMock | None) -> None:
        self.tap = tap
        self.mock = mock

    def wrap_step_executor(self, step_executor: Any) -> Any:
        return self.mock.wrap(step_executor) if self.mock is not None else step_executor

    def tap_run(self, flow: str, inputs: Mapping[str, Any]) -> RunTap | None:
        return self.tap


@contextlib.contextmanager
def _fixed(options: Options) -> Iterator[None]:
    """What the test asked to hold still across runs: a seed, a frozen clock."""
    with contextlib.ExitStack() as stack:
        if options.frozen_time is not None:
            import freezegun

            from pytest_flowexec._session import REAL_TIME_MODULES

            # Dask's client keeps real time, as under record/replay (REAL_TIME_MODULES).
            ignore = list(REAL_TIME_MODULES)
            stack.enter_context(
                freezegun.freeze_time(options.frozen_time, real_asyncio=True, ignore=ignore)
            )
        if options.seed is not None:
            random.seed(options.seed)
        yield


def run_once(
    observed: CapturedRun,
    executor: str,
    label: str,
    mock: FlowMock | None,
    options: Options,
    replay: Mapping[str, RecordedStep] | None = None,
) -> Outcome:
    """Run ``observed`` again on ``executor`` (replaying ``replay`` strictly, if given)."""
    from executor import ExecutorCore, StepFailed, UsageLimitExceeded
    from executor.cache import MemoryCache
    from executor.testing import RunTap, intercept

    tap = RunTap(replay=replay, strict=True) if replay is not None else RunTap(record=True)
    run_options = observed.options
    context = copy.deepcopy(observed.context)
    core = ExecutorCore(
        executor=executor,
        max_concurrency=run_options.get("max_concurrency"),
        step_executor=run_options.get("step_executor"),
        plugins=run_options.get("plugins", ()),
    )
    with _fixed(options), intercept(_Rerun(tap, mock)):
        try:
            result = core.run(
                observed.flow,
                copy.deepcopy(dict(observed.inputs)),
                context=context,
                outputs=run_options.get("outputs"),
                on_failure=run_options.get("on_failure", "stop"),
                seed=run_options.get("seed"),
                cache=MemoryCache(),  # a fresh cache: every run computes for itself
                limits=run_options.get("limits"),
            )
        except (StepFailed, UsageLimitExceeded) as error:
            if error.result is None:
                raise
            result = error.result
    return _outcome(label, result, context, tap, run_options.get("on_failure", "stop"))


def _outcome(label: str, result: FlowResult, context: Any, tap: RunTap, on_failure: str) -> Outcome:
    steps: dict[str, tuple[str, Any]] = {}
    for address, step in result.steps.items():
        if step.ok:
            steps[address] = (_OK, step.output)
        elif step.status.value in ("skipped", "cancelled"):
            steps[address] = (_NOT_RUN, None)
        else:
            error = f"{step.error.type}: {step.error.message}" if step.error else None
            steps[address] = (step.status.value, error)
    events = frozenset(
        (address, _OK if event.completed else event.status, event.digest)
        for address, event in tap.recorded.items()
    )
    stopped = result.status.value == "failed" and on_failure == "stop"
    return Outcome(label, result.status.value, steps, context, events, dict(tap.recorded), stopped)


# -- comparing --------------------------------------------------------------------


def compare(first: Outcome, second: Outcome, order_note: str = "") -> list[str]:
    """Where two runs differ, one line each (empty when they are identical);
    ``order_note`` follows a difference in dict order only (a likely cause)."""
    lines: list[str] = []
    a, b = first.label, second.label
    if first.status != second.status:
        lines.append(f"run status: {first.status} ({a}) vs {second.status} ({b})")
    for address in _union(first.steps, second.steps):
        mine = first.steps.get(address, (_NOT_RUN, None))
        theirs = second.steps.get(address, (_NOT_RUN, None))
        if mine[0] != theirs[0]:
            if _NOT_RUN in (mine[0], theirs[0]) and (first.stopped or second.stopped):
                continue  # after a stop, which siblings started is the executor's business
            lines.append(f"{address}: {_status(mine)} ({a}) vs {_status(theirs)} ({b})")
        elif mine[0] != _NOT_RUN:
            lines += [
                f"{address}{line}" for line in exact_diff(mine[1], theirs[1], a, b, order_note)
            ]
    lines += [
        f"context{line}" for line in exact_diff(first.context, second.context, a, b, order_note)
    ]
    if not lines and first.events != second.events:
        only = sorted(first.events ^ second.events)[:5]
        lines.append(
            "recorded events differ (address, status, input digest): "
            + "; ".join(f"{e[0]} {e[1]} {e[2]}" for e in only)
        )
    return lines


def _status(entry: tuple[str, Any]) -> str:
    return entry[0] if entry[1] is None or entry[0] == _OK else f"{entry[0]} ({entry[1]})"


def _union(first: Mapping[str, Any], second: Mapping[str, Any]) -> list[str]:
    return list(first) + [k for k in second if k not in first]


# -- why runs differ --------------------------------------------------------------


def _describe_call(function: Any) -> str | None:
    """A name for ``function`` if it reads the clock or an unseeded source of chance."""
    owner = getattr(function, "__self__", None)
    name = getattr(function, "__name__", "")
    if owner is getattr(random, "_inst", None) and name in ("random", "getrandbits", "randbytes"):
        return (
            "the global random generator (random.random/randint/choice/... unseeded; seed "
            "it in the step, or pass seed= to the marker)"
        )
    if isinstance(owner, random.SystemRandom):
        return "system randomness (secrets / random.SystemRandom)"
    if (
        owner is not None
        and getattr(owner, "__name__", "") in ("time",)
        and name
        in (
            "time",
            "time_ns",
            "monotonic",
            "monotonic_ns",
            "perf_counter",
            "perf_counter_ns",
        )
    ):
        return f"the clock (time.{name}; pass the time in as an input, or frozen_time=)"
    if (
        isinstance(owner, type)
        and issubclass(owner, dt.date)
        and name in ("now", "utcnow", "today")
    ):
        return f"the clock ({owner.__name__}.{name}; pass it in as an input, or frozen_time=)"
    if name == "urandom" and getattr(owner, "__name__", "") in ("posix", "nt", "os"):
        return "os.urandom (uuid.uuid4, secrets, ...)"
    return None


def probe_sources(
    observed: CapturedRun, mock: FlowMock | None, options: Options
) -> dict[str, set[str]]:
    """Run ``observed`` once more, sequentially, watching which steps read the clock or
    an unseeded random source: address -> what it read."""
    from executor.testing import current_address

    found: dict[str, set[str]] = {}
    engine = _engine_dir()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event != "c_call":
            return
        what = _describe_call(arg)
        if what is None or frame.f_code.co_filename.startswith(engine):
            return
        address = current_address()
        if address is not None:
            found.setdefault(address, set()).add(what)

    previous = sys.getprofile()
    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        run_once(observed, "sequential", "probe", mock, options)
    finally:
        sys.setprofile(previous)
        threading.setprofile(None)
    return found


def _engine_dir() -> str:
    import executor

    return str(executor.__file__).rsplit("/", 1)[0] + "/"


# -- snapshots that travel between processes (the PYTHONHASHSEED check) -------------


def snapshot(outcome: Outcome) -> str:
    """``outcome`` as JSON text that keeps dict order, for another process to compare."""
    return json.dumps(
        {
            "status": outcome.status,
            "steps": {a: [s, _portable(v)] for a, (s, v) in outcome.steps.items()},
            "context": _portable(outcome.context),
        }
    )


def from_snapshot(label: str, text: str) -> Outcome:
    """The outcome :func:`snapshot` wrote (values in their portable form)."""
    data = json.loads(text)
    steps = {a: (s, v) for a, (s, v) in data["steps"].items()}
    return Outcome(label, data["status"], steps, data["context"], frozenset(), {}, False)


def portable(outcome: Outcome, label: str) -> Outcome:
    """``outcome`` with its values in the form :func:`from_snapshot` gives them."""
    return from_snapshot(label, snapshot(outcome))


def _portable(value: Any) -> Any:
    """Typed JSON data that keeps dict order; values the codec refuses by their repr."""
    from executor.testing import encode_value

    try:
        return encode_value(value)
    except Exception:
        return {"$repr": repr(value)}
