"""Every exception flowexec defines pickles to an equal one: same class, message and
attributes. Errors cross process lines (``executor="parallel"``, Dask workers,
pytest-xdist workers), and one that cannot be rebuilt arrives as a different error
or kills the hand-over.

The classes are found, not listed: every exception class defined in a module of
``executor`` or ``pytest_flowexec``, built from its own signature with a sample for
every parameter (defaults included), so a new class is covered the day it is added.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
from typing import Any

import pytest

import executor
import pytest_flowexec
from executor import ContextConflict, Flow, LoopLimitReached, StepFailed, step

_C_LEVEL = ("errno", "strerror", "filename", "filename2", "name", "path")
"""Attributes OSError and ImportError keep outside ``__dict__``."""


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in (executor, pytest_flowexec):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            try:
                module = importlib.import_module(info.name)
            except ImportError:  # an optional extra (dask, rich) that is not installed
                continue
            for value in vars(module).values():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseException)
                    and value.__module__ == module.__name__
                ):
                    found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


def _sample(name: str, annotation: str) -> Any:
    """A value for a constructor parameter, by its annotation (a string: the modules
    use ``from __future__ import annotations``); never the parameter's default."""
    if "FlowResult" in annotation:
        return None  # a partial result stays behind by design (StepFailed.__reduce__)
    if "LoopLimitReached" in annotation:
        return LoopLimitReached("f/loop", 4, {"last": [1, 2]})
    if "ContextConflict" in annotation:
        return ContextConflict("f/par", "total", ["a", "b"])
    if "BaseException" in annotation:
        return ValueError("the cause")
    if name == "changed":  # FlowInputError: {input: (stored value, given value)}
        return {"n": (2, 3)}
    if annotation.startswith("Mapping"):
        return {"cost": 2.5, "steps": 3.0}
    if annotation.startswith(("Iterable", "Sequence")):
        return ("alpha", "beta")
    if annotation.startswith("int"):
        return 3
    if annotation.startswith("float"):
        return 1.5
    if annotation.startswith("str"):
        return f"{name} text"
    return {"a value": [name, 1]}


def _instance(cls: type[BaseException]) -> BaseException:
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        return cls("a message naming 'f/step' and the fix")  # Exception's own signature
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for parameter in parameters:
        if parameter.kind is parameter.VAR_KEYWORD:
            continue
        value = _sample(parameter.name, str(parameter.annotation))
        if parameter.kind is parameter.VAR_POSITIONAL:
            args += [value, "more"]
        elif parameter.kind is parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = value
        else:
            args.append(value)
    return cls(*args, **kwargs)


def _same(a: Any, b: Any, where: str = "error") -> None:
    """``a`` and ``b`` are equal, exceptions compared by class, args and attributes."""
    if isinstance(a, BaseException):
        assert type(b) is type(a), f"{where}: {type(b)} is not {type(a)}"
        assert str(b) == str(a), f"{where}: message {str(b)!r} is not {str(a)!r}"
        _same(a.args, b.args, f"{where}.args")
        assert set(vars(b)) == set(vars(a)), f"{where}: attributes {vars(b)} vs {vars(a)}"
        for name in vars(a):
            _same(getattr(a, name), getattr(b, name), f"{where}.{name}")
        for name in _C_LEVEL:
            _same(getattr(a, name, None), getattr(b, name, None), f"{where}.{name}")
    elif isinstance(a, (tuple, list)):
        assert type(b) is type(a) and len(a) == len(b), f"{where}: {b!r} vs {a!r}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert b == a and type(b) is type(a), f"{where}: {b!r} vs {a!r}"


CLASSES = _exception_classes()


def test_the_classes_are_found():
    names = {cls.__name__ for cls in CLASSES}
    # A sample of each family: the engine, the state store, the cache, the plugin.
    assert {"StepFailed", "StateCorrupted", "StateWriteFailed", "CacheFileError"} <= names
    assert {"RecordingError", "GoldenFileError", "UsageLimitExceeded"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__qualname__)
def test_every_error_pickles_to_an_equal_one(cls):
    error = _instance(cls)
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        _same(error, pickle.loads(pickle.dumps(error, protocol)))


def test_a_step_failure_keeps_its_attempts_and_leaves_its_partial_result():
    @step
    def boom() -> int:
        raise ValueError("no")

    with pytest.raises(StepFailed) as info:
        Flow("f", [boom]).run()
    error = StepFailed("f/boom", ValueError("no"), info.value.result, attempts=3)
    back = pickle.loads(pickle.dumps(error))
    assert str(back) == "step 'f/boom' failed after 3 attempts: ValueError: no"
    assert back.attempts == 3 and back.result is None  # the result may hold anything


def test_a_loop_limit_keeps_its_last_output_when_it_pickles():
    picklable = pickle.loads(pickle.dumps(LoopLimitReached("f/loop", 2, [1, 2])))
    assert picklable.last == [1, 2]
    unpicklable = pickle.loads(pickle.dumps(LoopLimitReached("f/loop", 2, lambda: 1)))
    assert unpicklable.last is None
    assert "f/loop" in str(unpicklable)


@step
def damaged_read(n: int) -> int:
    """Raises the store's own error in a worker process (module level: it pickles)."""
    from executor.state import StateCorrupted

    raise StateCorrupted("state file 'x.db'", "abc", f"event {n} is damaged", fix="Restore it")


def test_a_store_error_raised_in_a_worker_process_arrives_as_itself():
    # Before: StateCorrupted could not be rebuilt in the parent, so the step's error
    # arrived as a RemoteStepError holding only its type name and text.
    from executor.state import StateCorrupted

    with pytest.raises(StepFailed) as info:
        Flow("remote", [damaged_read]).run(n=3, executor="parallel")
    cause = info.value.cause
    assert type(cause) is StateCorrupted
    assert (cause.where, cause.state_id) == ("state file 'x.db'", "abc")
    assert (
        str(cause)
        == "state 'abc' in state file 'x.db': event 3 is damaged; nothing was loaded. Restore it"
    )
