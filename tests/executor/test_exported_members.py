import typing
from types import ModuleType

import pytest

import executor
import executor.cache


def test_public_names_are_pinned():
    # pytest rewrites asserts in every module of a distribution with a pytest11 plugin,
    # which adds names like "@py_builtins": those are not identifiers, so not API.
    # Submodules (executor.cli once imported) are attributes too, but not re-exports.
    # dir(), not vars(): some names are imported on first use (PEP 562).
    public = sorted(
        name
        for name in dir(executor)
        if name.isidentifier()
        and not name.startswith("_")
        and not isinstance(getattr(executor, name), ModuleType)
    )
    assert sorted(set(executor.__all__) - {"__version__"}) == public
    assert executor.__all__ == [
        "step",
        "Step",
        "StepParam",
        "Retry",
        "CachePolicy",
        "Flow",
        "RUN_OPTIONS",
        "parallel",
        "map_over",
        "when",
        "loop",
        "MergeStrategy",
        "FailureStrategy",
        "UsageLimits",
        "record_usage",
        "Pause",
        "ExecutorCore",
        "StepExecutor",
        "OnFailure",
        "call_step",
        "DaskTimeouts",
        "hookimpl",
        "hookspec",
        "register_type",
        "FlowResult",
        "StepResult",
        "StepStatus",
        "RunStatus",
        "StepStats",
        "ErrorInfo",
        "HookError",
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


def test_everything_a_step_is_given_is_importable_from_executor():
    # A user writing @step(retry=..., cache=...) imports the option types from one place.
    option_types = set()
    for function in (executor.step, executor.Step.with_options):
        for name, hint in typing.get_type_hints(function).items():
            if name != "return":
                option_types |= {t for t in typing.get_args(hint) or (hint,) if isinstance(t, type)}
    ours = {t for t in option_types if t.__module__.startswith("executor")}
    assert {executor.Retry, executor.CachePolicy} <= ours
    assert {t.__name__ for t in ours if getattr(executor, t.__name__, None) is not t} == set()
    assert executor.CachePolicy is executor.cache.CachePolicy


def test_errors_share_one_base():
    for name in executor.__all__:
        obj = getattr(executor, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, executor.FlowError), name


def test_cache_public_names_are_pinned():
    import executor.cache

    assert executor.cache.__all__ == sorted(executor.cache.__all__)
    public = {
        name
        for name, value in vars(executor.cache).items()
        if name.isidentifier() and not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert set(executor.cache.__all__) == public


@pytest.mark.parametrize("name", ["executor.state", "executor.testing"])
def test_subpackage_public_names_are_pinned(name):
    import importlib

    module = importlib.import_module(name)
    assert module.__all__ == sorted(module.__all__)
    defined_here = {
        n
        for n, v in vars(module).items()
        if n.isidentifier()
        and not n.startswith("_")
        and not isinstance(v, ModuleType)
        and getattr(v, "__module__", "").startswith(name)
    }
    assert defined_here <= set(module.__all__) | {"annotations"}
    for exported in module.__all__:
        assert hasattr(module, exported), exported
