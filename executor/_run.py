"""One run of one plan: the step pipeline shared by every scheduler.

A scheduler decides *when* and *where* a step attempt runs; this module decides
*what happens around it*, identically for every executor:

    begin(node)          resolve inputs by name, fire step_start
    retry_delay(...)     after a failed attempt: wait and retry, or give up
    finish(node, ...)    record the StepResult, fire step_error/step_end
    release(node, ok)    the nodes that can start now; skip those that never will
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

from executor._errors import StepTimeout
from executor._executors import StepExecutor
from executor._hooks import HookRelay
from executor._plan import Plan, PlanNode
from executor._results import (
    ErrorInfo,
    FlowResult,
    RunStatus,
    StepResult,
    StepStatus,
)
from executor._retry import jitter_rng

OnFailure = Literal["stop", "continue"]
ON_FAILURE_CHOICES = ("stop", "continue")


class RunState:
    """The mutable state of one run. Only the scheduler's thread touches it."""

    def __init__(
        self,
        plan: Plan,
        inputs: Mapping[str, Any],
        context: Any,
        *,
        step_executor: StepExecutor,
        hooks: HookRelay,
        on_failure: OnFailure,
        seed: int,
    ) -> None:
        self.plan = plan
        self.nodes = plan.nodes
        self.inputs = inputs
        self.context = context
        self.step_executor = step_executor
        self.hooks = hooks
        self.step_hooks = hooks.has_step_hooks
        self.on_failure = on_failure
        self.seed = seed
        prefix = plan.flow_name + "/"
        self.names = [node.step.name for node in plan.nodes]
        self.addresses = [prefix + name for name in self.names]
        count = len(plan.nodes)
        self.values: list[Any] = [None] * count
        self.results: list[StepResult | None] = [None] * count
        self.waits = [node.waits for node in plan.nodes]
        self.first_failure: int | None = None
        self.stopping = False
        self.wall0 = time.time()
        self.perf0 = time.perf_counter()
        self._to_wall = self.wall0 - self.perf0  # perf_counter() + this = wall clock

    # -- the pipeline ---------------------------------------------------------------

    def begin(self, node: PlanNode) -> dict[str, Any]:
        """The inputs of ``node``, wired by name; fires ``step_start``."""
        values = self.values
        kwargs = {}
        for param, source in node.upstream:  # a loop: a comprehension is a call in 3.11
            kwargs[param] = values[source]
        if node.flow_inputs:
            given = self.inputs
            for name in node.flow_inputs:
                if name in given:
                    kwargs[name] = given[name]
        if node.wants_context:
            kwargs["context"] = self.context
        if self.step_hooks:
            self.hooks.step_start(self.addresses[node.index], node.step, MappingProxyType(kwargs))
        return kwargs

    def retry_delay(
        self, node: PlanNode, failed_attempts: int, error: BaseException
    ) -> float | None:
        """Seconds until the next attempt, or ``None`` when the step has failed for good."""
        retry = node.step.retry
        if self.stopping or not retry.should_retry(failed_attempts, error):
            return None
        address = self.addresses[node.index]
        rng = jitter_rng(self.seed, address, failed_attempts) if retry.jitter else None
        delay = retry.delay(failed_attempts, rng)
        if self.step_hooks:
            self.hooks.step_retry(address, node.step, failed_attempts, error, delay)
        return delay

    def timeout_error(self, node: PlanNode, attempt: int) -> StepTimeout:
        """The error recorded when attempt ``attempt`` of ``node`` runs out of time."""
        timeout = node.step.timeout
        assert timeout is not None
        return StepTimeout(self.addresses[node.index], timeout, attempt)

    def complete(
        self, node: PlanNode, value: Any, attempts: int, started: float, ended: float
    ) -> None:
        """Record that ``node`` returned ``value`` (the hot path of :meth:`finish`)."""
        index = node.index
        self.values[index] = value
        to_wall = self._to_wall
        result = StepResult._record(
            self.addresses[index],
            self.names[index],
            StepStatus.COMPLETED,
            value,
            attempts,
            to_wall + started,
            to_wall + ended,
        )
        self.results[index] = result
        if self.step_hooks:
            self.hooks.step_end(result.address, result)

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
    ) -> None:
        """Record how ``node`` ended (times from ``perf_counter``)."""
        if error is None:
            self.complete(node, value, attempts, started, ended)
            return
        index = node.index
        address = self.addresses[index]
        if cancelled:
            status = StepStatus.CANCELLED
        elif isinstance(error, StepTimeout):
            status = StepStatus.TIMED_OUT
        else:
            status = StepStatus.FAILED
        if not cancelled:
            if self.first_failure is None:
                self.first_failure = index
            if self.on_failure == "stop":
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
        )
        self.results[index] = result
        if self.step_hooks:
            self.hooks.step_end(address, result)

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
        if self.first_failure is None:
            return
        reason = f"not started: the run stopped after {self.addresses[self.first_failure]!r} failed"
        for node in self.nodes:
            if self.results[node.index] is None:
                self._skip(node, reason)

    # -- the end ----------------------------------------------------------------------

    def to_result(self, ended_perf: float) -> FlowResult:
        """The FlowResult of this run, steps in plan order."""
        steps = {
            self.addresses[i]: result for i, result in enumerate(self.results) if result is not None
        }
        ok = self.first_failure is None and len(steps) == len(self.nodes)
        return FlowResult(
            flow=self.plan.flow_name,
            status=RunStatus.COMPLETED if ok else RunStatus.FAILED,
            steps=MappingProxyType(steps),
            started_at=self.wall0,
            ended_at=self.wall0 + (ended_perf - self.perf0),
            seed=self.seed,
            hook_errors=self.hooks.errors,
        )
