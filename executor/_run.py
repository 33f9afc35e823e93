"""One run of one plan: the step pipeline shared by every scheduler.

A scheduler decides *when* and *where* a step attempt runs; this module decides
*what happens around it*, identically for every executor and at every nesting
level (a composite's nested plan gets a RunState of its own):

    begin(node)          resolve inputs by name; cache lookup (a hit ends the step
                         here) or park behind an identical call in flight; usage
                         limits; step_start
    retry_delay(...)     after a failed attempt: wait and retry, or give up
    complete / finish    store in the cache; record the StepResult; step_error/step_end
    release(node, ok)    the nodes that can start now; skip those that never will
    unpark(node)         the calls parked behind this one, to begin again
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from operator import itemgetter
from types import MappingProxyType
from typing import Any

from executor._clock import Clock
from executor._context import apply_change, replace_all
from executor._errors import Pause, RecordedFailure, ReplayMismatch, StepTimeout, hide_engine_frame
from executor._executors import Outcome, Task
from executor._limits import UsageLimitExceeded
from executor._names import CONTEXT_PARAM
from executor._plan import Plan, PlanNode
from executor._recorder import input_digest
from executor._redo import Redo, RedoSet
from executor._results import ErrorInfo, FlowResult, RunStatus, StepResult, StepStatus
from executor._retry import jitter_rng
from executor._run_cache import MISS
from executor._runtime import OnFailure, Runtime
from executor.testing import RecordedError, RecordedStep

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these

# Enum member lookups cost ~0.1 us each on Python 3.11; the hot path reads these.
_COMPLETED = StepStatus.COMPLETED
_CACHED = StepStatus.CACHED
_REPLAYED = StepStatus.REPLAYED

ON_FAILURE_CHOICES = ("stop", "continue")


class Resolved(enum.Enum):
    """What :meth:`RunState.begin` returns when the step is not to be called now."""

    HIT = "hit"
    """The step ended with an output from the cache: release it as completed."""
    FAILED = "failed"
    """The step ended without a call and without an output (its cache key could not
    be made, or a usage limit refused it): release it as failed."""
    PARKED = "parked"
    """An identical call is in flight; the step begins again when that one ends."""


class RunState:
    """The mutable state of one run of one plan. Only its driver's thread touches it."""

    def __init__(
        self,
        plan: Plan,
        inputs: Mapping[str, Any],
        context: Any,
        runtime: Runtime,
        *,
        prefix: str,
        order: tuple[int, ...] = (),
        on_failure: OnFailure = "stop",
        node_contexts: list[Any] | None = None,
    ) -> None:
        self.plan = plan
        self.nodes = plan.nodes
        self.inputs = inputs
        self.context = context
        self.node_contexts = node_contexts
        self.runtime = runtime
        self.step_executor = runtime.step_executor
        self.hooks = runtime.hooks
        self.step_hooks = runtime.step_hooks
        self.meter = runtime.meter
        self.limited = runtime.meter.limited
        self.on_failure = on_failure
        self.order = order
        self.names = [node.step.name for node in plan.nodes]
        self.addresses = [prefix + node.label for node in plan.nodes]
        count = len(plan.nodes)
        self.values: list[Any] = [None] * count
        self.results: list[StepResult | None] = [None] * count
        self.waits = [node.waits for node in plan.nodes]
        self.keys: list[str | None] = [None] * count
        self.recorder = runtime.recorder
        self.digests: list[str | None] = [None] * count if self.recorder is not None else []
        self.paused: tuple[str, Pause] | None = None
        self.downstream: set[int] = set()  # resume_from: nodes fed by a redone one
        # Validating a stored run calls every step again: caches would answer instead.
        # A test under --flow-validate (a tap) runs as it ran live, caches included:
        # each step is compared where it is computed, and a test that saw a cache hit
        # live sees one here.
        self.use_cache = (
            self.recorder is None or not self.recorder.validating or self.recorder.tap is not None
        )
        # A test recording keeps the counters each step reported (record_usage):
        self.tap_records = (
            self.recorder is not None
            and self.recorder.tap is not None
            and self.recorder.tap.recording
        )
        if self.tap_records:
            runtime.meter.track_steps()
        self._leaders: dict[str, int] = {}  # cache key -> the node computing it
        self._parked: dict[str, list[int]] = {}  # cache key -> nodes waiting for it
        self.first_failure: int | None = None
        self.limit_error: UsageLimitExceeded | None = None
        self.stopping = False
        self.wall0 = Clock.wall()
        self.perf0 = Clock.perf_counter()
        self._to_wall = self.wall0 - self.perf0  # perf_counter() + this = wall clock

    # -- the pipeline ---------------------------------------------------------------

    def context_of(self, index: int) -> Any:
        """The context node ``index`` works on (a branch's own copy, or the run's)."""
        contexts = self.node_contexts
        return self.context if contexts is None else contexts[index]

    def inputs_of(self, node: PlanNode) -> dict[str, Any]:
        """The inputs to call ``node`` with, wired by name (upstream outputs, flow
        inputs, a map item, the context)."""
        values = self.values
        kwargs = {}
        for param, source in node.upstream:  # a loop: a comprehension is a call in 3.11
            kwargs[param] = values[source]
        if node.flow_inputs:
            given = self.inputs
            for name in node.flow_inputs:
                if name in given:
                    kwargs[name] = given[name]
        if node.bound:
            kwargs.update(node.bound)
        if node.wants_context:
            kwargs["context"] = self.context_of(node.index)
        return kwargs

    def begin(self, node: PlanNode) -> dict[str, Any] | Resolved:
        """The inputs to call ``node`` with, wired by name; fires ``step_start``.

        Returns a :class:`Resolved` instead when the step is not to be called now.
        """
        kwargs = self.inputs_of(node)
        if self.recorder is not None:
            resolved = self._begin_recorded(node, kwargs)
            if resolved is not None:
                return resolved
        if node.step.cache is not None and self.use_cache:
            resolved = self._begin_cached(node, kwargs)
            if resolved is not None:
                return resolved
        if self.limited and not node.step.is_composite:  # counted under the meter's lock
            now = Clock.perf_counter()
            try:
                self.meter.start_step(self.addresses[node.index])
            except UsageLimitExceeded as error:
                self.finish(node, None, error, 0, now, now)
                return Resolved.FAILED
        if self.step_hooks:
            self.hooks.step_start(self.addresses[node.index], node.step, MappingProxyType(kwargs))
        return kwargs

    def _begin_recorded(self, node: PlanNode, inputs: dict[str, Any]) -> Resolved | None:
        """Digest the inputs; reuse the recorded outcome when resuming or replaying."""
        recorder = self.recorder
        assert recorder is not None
        index = node.index
        address = self.addresses[index]
        step = node.step
        tap = recorder.tap
        redone = recorder.redo is not None and self._redone(node, recorder.redo)
        if tap is None:
            digest = self.digests[index] = input_digest(inputs, address)
            if redone:
                return None
        elif step.is_composite or (tap.live is not None and tap.live(step.name, address)):
            # A stub is test code: it answers in every mode. A composite runs again
            # so that its nested steps are replayed one by one: the same tree.
            tap.pass_through(address)
            return None
        else:
            digest = self.digests[index] = recorder.tap_digest(
                address, step, inputs, inputs.get(CONTEXT_PARAM)
            )
        found = recorder.recorded(address, digest, redone)
        if found is None:
            if recorder.redo is not None and recorder.unfinished(address):
                self.downstream.update(node.dependents)  # never ran after it: not stored
            return None
        now = Clock.perf_counter()
        if isinstance(found, ReplayMismatch):
            self.finish(node, None, found, 0, now, now)
            return Resolved.FAILED
        if isinstance(found, RecordedStep):
            return self._replay(node, inputs, found, digest, now)
        self.values[index] = found.output
        if node.wants_context and found.context is not None:
            replace_all(self.context_of(index), found.context)  # what the step did to it
        wall = self._to_wall + now
        result = StepResult._record(
            address, self.names[index], _REPLAYED, found.output, 0, wall, wall
        )
        self.results[index] = result
        recorder.replayed(found, digest, wall)
        if self.step_hooks:
            self.hooks.step_end(address, result)
        return Resolved.HIT

    def _redone(self, node: PlanNode, redo: RedoSet) -> bool:
        """With ``resume_from``: whether ``node`` runs again live, whatever is stored.

        A redone step's dependents at this level are redone too (they begin only
        after it, so marking them here reaches everything downstream of it); a
        redone composite's parts all run again. A composite *around* a redone
        address runs again with its parts decided one by one, and its dependents
        are redone, as its output may change.
        """
        index = node.index
        kind = redo.kind(self.addresses[index])
        if index in self.downstream:
            if kind is not Redo.WHOLE and node.step.is_composite:
                redo.add(self.addresses[index])  # everything inside it runs again
        elif kind is None:
            return False
        self.downstream.update(node.dependents)
        return True

    def _replay(
        self,
        node: PlanNode,
        inputs: dict[str, Any],
        found: RecordedStep,
        digest: str | None,
        now: float,
    ) -> Resolved:
        """Answer ``node`` from a test recording as the live run answered it: a step
        the live run called is counted, started, spied on and retried again (limits,
        ``step_start``, a spy's calls, ``step_retry``), a cache hit is a cache hit
        (its key, ``cache_hit``, no call), and the counters it reported are reported
        again, so a limit goes over where it did live. The step is never called."""
        recorder = self.recorder
        assert recorder is not None
        tap = recorder.tap
        index = node.index
        address = self.addresses[index]
        step = node.step
        called = found.attempts > 0  # a cache hit or a refused start made no attempt
        over_limit = (
            found.error is not None and found.error.type == "executor._limits.UsageLimitExceeded"
        )
        if self.limited and (called or over_limit):  # a start the meter refused live, too
            try:
                self.meter.start_step(address)
            except UsageLimitExceeded as refused:
                recorder.answered(found)
                self.finish(node, None, refused, 0, now, now)
                return Resolved.FAILED
        if called:
            if self.step_hooks:
                self.hooks.step_start(address, step, MappingProxyType(inputs))
            if tap is not None and tap.observe is not None:
                for _ in range(found.attempts):  # a spy sees each attempt, as live
                    tap.observe(step.name, address, inputs)
            if self.step_hooks:
                for attempt, earlier in enumerate(found.retries, 1):
                    retried = _recorded_error(node, address, earlier, attempt)
                    delay = self._delay(node, address, attempt)
                    self.hooks.step_retry(address, step, attempt, retried, delay)
        if found.usage:
            try:
                self.meter.add(address, found.usage)
            except UsageLimitExceeded as over:
                recorder.answered(found)
                self.finish(node, None, over, found.attempts, now, now)
                return Resolved.FAILED
        if found.failed:
            assert found.error is not None
            recorder.replayed(found, digest, self._to_wall + now)
            failure = _recorded_error(
                node, address, found.error, found.attempts, found.status, found.awaiting
            )
            self.finish(node, None, failure, found.attempts, now, now)
            return Resolved.FAILED
        status = StepStatus(found.status)
        self.values[index] = found.output
        if node.wants_context and found.context is not None:  # what the step did to it
            apply_change(
                self.context_of(index), found.context, found.context_fields, found.context_removed
            )
        key = self._replayed_key(node, inputs, found)
        wall = self._to_wall + now
        result = StepResult._record(
            address,
            self.names[index],
            status,
            found.output,
            found.attempts,
            wall,
            wall,
            cache_key=key,
        )
        self.results[index] = result
        recorder.replayed(
            found, digest, wall, self.context_of(index) if node.wants_context else None
        )
        if self.step_hooks:
            if found.cached and key is not None:
                self.hooks.cache_hit(address, step, key)
            self.hooks.step_end(address, result)
        return Resolved.HIT

    def _replayed_key(
        self, node: PlanNode, inputs: dict[str, Any], found: RecordedStep
    ) -> str | None:
        """The cache key of a replayed step with a cache policy, as the live run had it;
        a call the live run made stores its output under it, as the live run did (a
        cache the test looks into holds what it held live)."""
        if node.step.cache is None or not self.use_cache:
            return None
        index = node.index
        address = self.addresses[index]
        policy = node.step.cache
        cache = self.runtime.cache
        try:
            context = self.context_of(index) if policy.include_context else None
            key = cache.key(node, inputs, context, address)
            if not found.cached:
                cache.store(node, key, found.output, address)
        except Exception:  # live, this step would have failed: its recording says not
            return None
        return key

    def _begin_cached(self, node: PlanNode, inputs: dict[str, Any]) -> Resolved | None:
        index = node.index
        address = self.addresses[index]
        now = Clock.perf_counter()
        cache = self.runtime.cache
        try:
            policy = node.step.cache  # the context is keyed only when the policy says so
            wanted = policy is not None and policy.include_context
            context = self.context_of(index) if wanted else None
            key, found = cache.fetch(node, inputs, context, address)
        except Exception as error:
            self.finish(node, None, error, 0, now, now)
            return Resolved.FAILED
        if found is not MISS:
            self.values[index] = found
            to_wall = self._to_wall
            result = StepResult._record(
                address,
                self.names[index],
                _CACHED,
                found,
                0,
                to_wall + now,
                to_wall + now,
                cache_key=key,
            )
            self.results[index] = result
            if self.recorder is not None:
                self.recorder.record(
                    address,
                    self.digests[index],
                    _CACHED.value,
                    found,
                    0,
                    to_wall + now,
                    to_wall + now,
                    None,
                )
            if self.step_hooks:
                self.hooks.cache_hit(address, node.step, key)
                self.hooks.step_end(address, result)
            return Resolved.HIT
        if key in self._leaders:  # single-flight: an identical call is running here
            self._parked.setdefault(key, []).append(index)
            return Resolved.PARKED
        self._leaders[key] = index
        self.keys[index] = key
        return None

    def task(self, node: PlanNode, inputs: Mapping[str, Any]) -> Task:
        """One attempt of leaf ``node``, to run on a pool or a worker process."""
        index = node.index
        return Task(
            self.addresses[index],
            self.step_executor,
            node.step,
            inputs,
            self.context_of(index),
            self.meter,
            node.wants_context,
        )

    def absorb(self, node: PlanNode, outcome: Outcome) -> Outcome:
        """Take in what a worker process sent back besides the value: the usage the
        step reported (checked against the limits now) and the context it left."""
        if outcome.usage:
            try:
                self.meter.add(self.addresses[node.index], outcome.usage)
            except UsageLimitExceeded as error:
                return Outcome(None, error)
        if outcome.error is None and node.wants_context and outcome.context is not None:
            replace_all(self.context_of(node.index), outcome.context)
        return outcome

    def unpark(self, node: PlanNode) -> Sequence[int]:
        """The nodes parked behind ``node``'s call, free to begin again: they find its
        entry in the cache, or (if it failed) one of them becomes the next leader."""
        key = self.keys[node.index]
        if key is None:
            return ()
        self._leaders.pop(key, None)
        return self._parked.pop(key, ())

    def retry_delay(
        self, node: PlanNode, failed_attempts: int, error: BaseException
    ) -> float | None:
        """Seconds until the next attempt, or ``None`` when the step has failed for good."""
        retry = node.step.retry
        if (
            self.stopping
            or isinstance(error, (UsageLimitExceeded, Pause, ReplayMismatch))
            or not retry.should_retry(failed_attempts, error)
        ):
            return None
        address = self.addresses[node.index]
        delay = self._delay(node, address, failed_attempts)
        if self.tap_records:
            assert self.recorder is not None
            self.recorder.retried(address, error)
        if self.step_hooks:
            self.hooks.step_retry(address, node.step, failed_attempts, error, delay)
        return delay

    def _delay(self, node: PlanNode, address: str, failed_attempts: int) -> float:
        """The wait before the next attempt (seeded jitter: the same for the same seed)."""
        retry = node.step.retry
        rng = jitter_rng(self.runtime.seed, address, failed_attempts) if retry.jitter else None
        return retry.delay(failed_attempts, rng)

    def timeout_error(self, node: PlanNode, attempt: int) -> StepTimeout:
        """The error recorded when attempt ``attempt`` of ``node`` runs out of time."""
        timeout = node.step.timeout
        assert timeout is not None
        return StepTimeout(self.addresses[node.index], timeout, attempt)

    def complete(
        self, node: PlanNode, value: Any, attempts: int, started: float, ended: float
    ) -> bool:
        """Record that ``node`` returned ``value`` (the hot path of :meth:`finish`).

        Returns whether it completed: a cached step whose output cannot be stored
        fails instead (its policy promised a cache entry).
        """
        index = node.index
        key = self.keys[index]
        if key is not None:
            try:
                self.runtime.cache.store(node, key, value, self.addresses[index])
            except Exception as error:
                return self.finish(node, None, error, attempts, started, ended)
        recorder = self.recorder
        if recorder is not None:
            address = self.addresses[index]
            if recorder.validating:
                value = recorder.compare(address, value)
            try:
                recorder.record(
                    address,
                    self.digests[index],
                    _COMPLETED.value,
                    value,
                    attempts,
                    self._to_wall + started,
                    self._to_wall + ended,
                    None,
                    context=self.context_of(index) if node.wants_context else None,
                    usage=self.meter.reported(address) if self.tap_records else None,
                )
            except Exception as error:  # an output the store cannot hold
                return self.finish(node, None, error, attempts, started, ended)
        self.values[index] = value
        to_wall = self._to_wall
        result = StepResult._record(
            self.addresses[index],
            self.names[index],
            _COMPLETED,
            value,
            attempts,
            to_wall + started,
            to_wall + ended,
            None,
            None,
            key,
        )
        self.results[index] = result
        if self.step_hooks:
            self.hooks.step_end(result.address, result)
        return True

    def finish(
        self,
        node: PlanNode,
        value: Any,
        error: BaseException | None,
        attempts: int,
        started: float,
        ended: float,
        traceback_text: str | None = None,
        cancelled: bool = False,
    ) -> bool:
        """Record how ``node`` ended (times from ``perf_counter``); whether it completed."""
        if error is None:
            return self.complete(node, value, attempts, started, ended)
        index = node.index
        address = self.addresses[index]
        if cancelled:
            status = StepStatus.CANCELLED
        elif isinstance(error, StepTimeout):
            status = StepStatus.TIMED_OUT
        elif isinstance(error, RecordedFailure):
            status = StepStatus(error.status)
        elif isinstance(error, Pause):
            status = StepStatus.PAUSED
            self.paused = self.paused or (address, error)
            self.stopping = True
        else:
            status = StepStatus.FAILED
        if not cancelled and status is not StepStatus.PAUSED:
            if self.first_failure is None:
                self.first_failure = index
            if isinstance(error, UsageLimitExceeded):
                # A budget is not a step's failure to tolerate: the run stops.
                self.limit_error = self.limit_error or error
                self.stopping = True
            elif self.on_failure == "stop":
                self.stopping = True
            if self.step_hooks:
                self.hooks.step_error(address, node.step, error)
        result = StepResult._record(
            address,
            self.names[index],
            status,
            None,
            attempts,
            self._to_wall + started,
            self._to_wall + ended,
            ErrorInfo.from_exception(error, traceback_text),
            error,
            self.keys[index],
        )
        self.results[index] = result
        if self.recorder is not None:
            self.recorder.record(
                address,
                self.digests[index],
                status.value,
                None,
                attempts,
                result.started_at,
                result.ended_at,
                result.error,
                error.awaiting if isinstance(error, Pause) else None,
                usage=self.meter.reported(address) if self.tap_records else None,
            )
        if self.step_hooks:
            self.hooks.step_end(address, result)
        return False

    # -- releasing and skipping -------------------------------------------------------

    def release(self, node: PlanNode, ok: bool) -> list[int]:
        """After ``node`` ended: the nodes that may start now. When it did not
        complete, its dependents (and theirs) are recorded as SKIPPED."""
        ready: list[int] = []
        waits = self.waits
        results = self.results
        for follower in node.followers:
            waits[follower] -= 1
            if waits[follower] == 0 and results[follower] is None:
                ready.append(follower)
        if ok:
            for dependent in node.dependents:
                waits[dependent] -= 1
                if waits[dependent] == 0 and results[dependent] is None:
                    ready.append(dependent)
        else:
            reason = f"upstream step {self.addresses[node.index]!r} did not complete"
            for dependent in node.dependents:
                ready.extend(self._skip(self.nodes[dependent], reason))
        return ready

    def _skip(self, node: PlanNode, reason: str) -> list[int]:
        if self.results[node.index] is not None:
            return []
        result = StepResult(
            address=self.addresses[node.index],
            name=node.step.name,
            status=StepStatus.SKIPPED,
            error=ErrorInfo("executor.Skipped", reason, ""),
        )
        self.results[node.index] = result
        if self.step_hooks:
            self.hooks.step_end(result.address, result)
        return self.release(node, False)

    def skip_unstarted(self) -> None:
        """Mark every step that never started as SKIPPED (the run stopped early)."""
        if self.paused is not None:
            reason = f"not started: the run paused at {self.paused[0]!r}"
        elif self.first_failure is not None:
            reason = (
                f"not started: the run stopped after {self.addresses[self.first_failure]!r} failed"
            )
        else:
            return
        for node in self.nodes:
            if self.results[node.index] is None:
                self._skip(node, reason)

    # -- the end ----------------------------------------------------------------------

    def calls(self) -> int:
        """Step calls started at this level (leaves with at least one attempt); the
        meter counts them itself when a limit needs it."""
        if self.limited:
            return 0
        nodes = self.nodes
        return sum(
            1
            for index, result in enumerate(self.results)
            if result is not None and result.attempts and not nodes[index].step.is_composite
        )

    def ordered_results(self) -> list[tuple[tuple[int, ...], StepResult]]:
        """This level's results with their sort keys (composites sort before their
        nested steps, nested runs by their order)."""
        order = self.order
        return [
            ((*order, index), result)
            for index, result in enumerate(self.results)
            if result is not None
        ]

    def to_result(self, ended_perf: float, state_id: str | None = None) -> FlowResult:
        """The FlowResult of a top-level run: every address, in a stable order."""
        nested = self.runtime.nested()
        if nested:
            entries = self.ordered_results() + nested
            entries.sort(key=itemgetter(0))
            steps = {result.address: result for _, result in entries}
        else:  # already in plan order
            steps = {result.address: result for result in self.results if result is not None}
        if self.paused is not None:
            awaiting = self.paused[1].awaiting
            status = RunStatus.AWAITING if awaiting else RunStatus.PAUSED
        elif self.first_failure is None and len(steps) >= len(self.nodes):
            status = RunStatus.COMPLETED
        else:
            status = RunStatus.FAILED
        recorder = self.recorder
        return FlowResult(
            flow=self.plan.flow_name,
            status=status,
            steps=MappingProxyType(steps),
            started_at=self.wall0,
            ended_at=self.wall0 + (ended_perf - self.perf0),
            seed=self.runtime.seed,
            state_id=state_id,
            hook_errors=self.hooks.errors,
            usage=MappingProxyType(self.meter.usage(self.calls() + self.runtime.nested_calls())),
            awaiting=self.paused[1].awaiting if self.paused is not None else None,
            replay_misses=tuple(recorder.replay_misses) if recorder is not None else (),
        )


def _recorded_error(
    node: PlanNode,
    address: str,
    recorded: RecordedError,
    attempt: int,
    status: str = "failed",
    awaiting: str | None = None,
) -> BaseException:
    """A recorded failure as replay raises it: the engine's own signals come back as
    themselves, a :class:`StepTimeout` (same address, timeout and attempt, so the
    same message) and a :class:`Pause` (the run awaits again); anything else is a
    :class:`RecordedFailure`, since a recording never names a type to import."""
    if status == "paused":
        waits = f" (awaiting input {awaiting!r})" if awaiting else ""
        reason = recorded.message.removeprefix("paused: ")
        return Pause(reason.removesuffix(waits) if waits else reason, awaiting)
    timeout = node.step.timeout
    if recorded.type == "executor._errors.StepTimeout" and timeout is not None:
        rebuilt = StepTimeout(address, timeout, attempt)
        if str(rebuilt) == recorded.message:
            return rebuilt
    return RecordedFailure(address, recorded.type, recorded.message, status)
