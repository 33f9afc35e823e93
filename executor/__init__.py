"""flowexec's engine: steps, flows, and one core that runs them on any executor.

Example:
    >>> from executor import Flow, step
    >>> @step
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> Flow("demo", [double]).run(x=21)["double"]
    42
"""

from executor._composites import (
    FailureStrategy,
    loop,
    map_over,
    parallel,
    when,
)
from executor._context import MergeStrategy
from executor._core import ExecutorCore, OnFailure, StepExecutor
from executor._errors import (
    CacheKeyError,
    ContextConflict,
    FlowDefinitionError,
    FlowError,
    FlowInputError,
    LoopLimitReached,
    MissingExtra,
    Pause,
    RemoteStepError,
    ReplayMismatch,
    StepFailed,
    StepNotPicklable,
    StepTimeout,
)
from executor._executors import call_step
from executor._flow import RUN_OPTIONS, Flow
from executor._hooks import hookimpl, hookspec
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
from executor._version import __version__
from executor.cache._policy import CachePolicy

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
    "hookimpl",
    "hookspec",
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
    "ContextConflict",
    "LoopLimitReached",
    "UsageLimitExceeded",
    "ReplayMismatch",
    "MissingExtra",
    "__version__",
]
