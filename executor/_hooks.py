"""Lifecycle hooks: pluggy hookspecs for runs and steps, and the per-run relay.

A plugin is any object with methods marked ``@executor.hookimpl`` and named like
the specs below; each may take any subset of the spec's arguments::

    class Timer:
        @hookimpl
        def step_end(self, address, result):
            print(address, result.duration)

    flow.run(..., plugins=[Timer()])

Hooks observe; they never change a run. An exception from a hook is logged and
recorded in :attr:`FlowResult.hook_errors`, and the run goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

from executor._errors import hide_engine_frame
from executor._results import ErrorInfo, HookError

if TYPE_CHECKING:
    from executor._results import FlowResult, StepResult
    from executor._step import Step

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these

PROJECT = "flowexec"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plugin method as an implementation of one of the lifecycle hooks."""

logger = logging.getLogger("executor.hooks")


class LifecycleSpec:
    """The hooks a run calls, in order: flow_start, then per step either cache_hit,
    or step_start, any step_retry, step_error or not; then step_end; finally
    flow_end."""

    @hookspec
    def flow_start(self, flow: str, inputs: Mapping[str, Any], seed: int) -> None:
        """A run of the flow named ``flow`` (a str, not the Flow) begins with ``inputs``
        (read-only)."""

    @hookspec
    def flow_end(self, flow: str, result: FlowResult) -> None:
        """A run of the flow named ``flow`` ended (completed or failed) with ``result``."""

    @hookspec
    def step_start(self, address: str, step: Step[..., Any], inputs: Mapping[str, Any]) -> None:
        """The step at ``address`` is about to run its first attempt with ``inputs``."""

    @hookspec
    def step_retry(
        self,
        address: str,
        step: Step[..., Any],
        attempt: int,
        error: BaseException,
        delay: float,
    ) -> None:
        """Attempt ``attempt`` failed with ``error``; the next starts in ``delay`` seconds."""

    @hookspec
    def step_error(self, address: str, step: Step[..., Any], error: BaseException) -> None:
        """The step failed for good (no retry left) with ``error``."""

    @hookspec
    def step_end(self, address: str, result: StepResult) -> None:
        """The step at ``address`` ended; ``result`` says how."""

    @hookspec
    def cache_hit(self, address: str, step: Step[..., Any], key: str) -> None:
        """The step at ``address`` was answered from its cache under ``key``."""


class HookRelay:
    """Calls the hooks of one run's plugins, isolating their errors.

    Every ``has_*`` flag is computed once so that a run without plugins pays
    nothing per step.
    """

    def __init__(self, plugins: Iterable[object]) -> None:
        self._errors: list[HookError] = []
        self._lock = threading.Lock()
        plugins = tuple(plugins)
        self.has_step_hooks = False
        self._pm: pluggy.PluginManager | None = None
        if not plugins:
            return  # the common case pays nothing: no manager, no calls
        pm = self._pm = pluggy.PluginManager(PROJECT)
        pm.add_hookspecs(LifecycleSpec)
        for plugin in plugins:
            if not pm.is_registered(plugin):
                pm.register(plugin)
        pm.check_pending()
        self.has_step_hooks = any(
            caller.get_hookimpls()
            for caller in (
                pm.hook.step_start,
                pm.hook.step_retry,
                pm.hook.step_error,
                pm.hook.step_end,
                pm.hook.cache_hit,
            )
        )

    @property
    def errors(self) -> tuple[HookError, ...]:
        """Hook errors recorded so far."""
        with self._lock:
            return tuple(self._errors)

    def flow_start(self, flow: str, inputs: Mapping[str, Any], seed: int) -> None:
        if self._pm is not None:
            self._call(self._pm.hook.flow_start, None, flow=flow, inputs=inputs, seed=seed)

    def flow_end(self, flow: str, result: FlowResult) -> None:
        if self._pm is not None:
            self._call(self._pm.hook.flow_end, None, flow=flow, result=result)

    def step_start(self, address: str, step: Step[..., Any], inputs: Mapping[str, Any]) -> None:
        assert self._pm is not None  # only called when has_step_hooks
        self._call(self._pm.hook.step_start, address, address=address, step=step, inputs=inputs)

    def step_retry(
        self,
        address: str,
        step: Step[..., Any],
        attempt: int,
        error: BaseException,
        delay: float,
    ) -> None:
        assert self._pm is not None  # only called when has_step_hooks
        self._call(
            self._pm.hook.step_retry,
            address,
            address=address,
            step=step,
            attempt=attempt,
            error=error,
            delay=delay,
        )

    def step_error(self, address: str, step: Step[..., Any], error: BaseException) -> None:
        assert self._pm is not None  # only called when has_step_hooks
        self._call(self._pm.hook.step_error, address, address=address, step=step, error=error)

    def step_end(self, address: str, result: StepResult) -> None:
        assert self._pm is not None  # only called when has_step_hooks
        self._call(self._pm.hook.step_end, address, address=address, result=result)

    def cache_hit(self, address: str, step: Step[..., Any], key: str) -> None:
        assert self._pm is not None  # only called when has_step_hooks
        self._call(self._pm.hook.cache_hit, address, address=address, step=step, key=key)

    def _call(self, caller: pluggy.HookCaller, at: str | None, **kwargs: Any) -> None:
        if not caller.get_hookimpls():
            return
        try:
            caller(**kwargs)
        except Exception as error:
            logger.exception(
                "flowexec hook %s raised (address %s); the run goes on", caller.name, at
            )
            with self._lock:
                self._errors.append(HookError(caller.name, at, ErrorInfo.from_exception(error)))
