"""flowexec's engine: steps, flows, and one core that runs them on any executor.

Example:
    >>> from executor import Flow, step
    >>> @step
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> Flow("demo", [double]).run(x=21)["double"]
    42
"""

import importlib
import typing

from executor._cache_policy import CachePolicy
from executor._context import MergeStrategy
from executor._errors import (
    CacheKeyError,
    ClusterError,
    CodecError,
    ContextConflict,
    FlowDefinitionError,
    FlowError,
    FlowInputError,
    LoopLimitReached,
    MissingExtra,
    Pause,
    RecordedFailure,
    RemoteStepError,
    ReplayMismatch,
    StepFailed,
    StepNotPicklable,
    StepTimeout,
)
from executor._flow import RUN_OPTIONS, Flow
from executor._limits import UsageLimitExceeded, UsageLimits, record_usage
from executor._results import (
    ErrorInfo,
    FlowResult,
    HookError,
    RunStatus,
    StepOutputMissing,
    StepResult,
    StepStatus,
)
from executor._retry import Retry
from executor._stats import StepStats
from executor._step import Step, StepParam, step
from executor._types import register_type
from executor._version import __version__

if typing.TYPE_CHECKING:
    from executor._composites import (
        FailureStrategy,
        loop,
        map_over,
        parallel,
        when,
    )
    from executor._core import ExecutorCore, OnFailure, StepExecutor
    from executor._dask_watch import DaskTimeouts
    from executor._executors import call_step
    from executor._hooks import hookimpl, hookspec

# Names whose modules pull in what defining a flow does not need (asyncio, process
# pools, pluggy, the cache and state packages): imported on first use (PEP 562), so
# `import executor` stays a fraction of Python's own start-up. A run imports them.
_LAZY = {
    "FailureStrategy": "executor._composites",
    "loop": "executor._composites",
    "map_over": "executor._composites",
    "parallel": "executor._composites",
    "when": "executor._composites",
    "ExecutorCore": "executor._core",
    "OnFailure": "executor._core",
    "StepExecutor": "executor._core",
    "DaskTimeouts": "executor._dask_watch",
    "call_step": "executor._executors",
    "hookimpl": "executor._hooks",
    "hookspec": "executor._hooks",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'executor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    # defining work
    "step",
    "Step",
    "StepParam",
    "Retry",
    "CachePolicy",
    "Flow",
    "RUN_OPTIONS",
    # composing steps
    "parallel",
    "map_over",
    "when",
    "loop",
    "MergeStrategy",
    "FailureStrategy",
    "UsageLimits",
    "record_usage",
    "Pause",
    # running it
    "ExecutorCore",
    "StepExecutor",
    "OnFailure",
    "call_step",
    "DaskTimeouts",
    "hookimpl",
    "hookspec",
    # stored data
    "register_type",
    # what a run reports
    "FlowResult",
    "StepResult",
    "StepStatus",
    "RunStatus",
    "StepStats",
    "ErrorInfo",
    "HookError",
    # errors
    "FlowError",
    "FlowDefinitionError",
    "FlowInputError",
    "StepFailed",
    "StepTimeout",
    "StepNotPicklable",
    "RemoteStepError",
    "StepOutputMissing",
    "CacheKeyError",
    "CodecError",
    "ContextConflict",
    "LoopLimitReached",
    "UsageLimitExceeded",
    "ReplayMismatch",
    "RecordedFailure",
    "MissingExtra",
    "ClusterError",
    "__version__",
]
