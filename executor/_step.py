"""Steps: plain functions plus the policies the engine applies when it calls them."""

from __future__ import annotations

import functools
import importlib
import inspect
import keyword
import math
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass
from types import FunctionType
from typing import Any, Generic, ParamSpec, TypeVar, cast, overload

from executor._cache_policy import CachePolicy
from executor._errors import FlowDefinitionError
from executor._names import CONTEXT_PARAM
from executor._retry import NO_RETRY, Retry

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class StepParam:
    """One parameter of a step function."""

    name: str
    """The parameter's name: an upstream step's name, ``context``, or a flow input."""
    has_default: bool
    """Whether the function gives it a default (then the flow input is optional)."""


class Step(Generic[P, R]):
    """A function together with the policies flowexec applies when calling it.

    A ``Step`` stays callable as the plain function, so a unit test of the
    function needs no engine: ``total([1, 2])`` just returns ``3``.

    Build one with :func:`step`; use :meth:`with_options` for a variant.
    """

    fn: Callable[P, R]
    name: str
    retry: Retry
    timeout: float | None
    version: str | None
    critical: bool
    cache: CachePolicy | None
    params: tuple[StepParam, ...]
    is_async: bool
    is_composite: bool = False
    """Composite steps (parallel, map_over, ...) run nested plans instead of a call."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        retry: Retry | int | None = None,
        timeout: float | None = None,
        version: str | None = None,
        critical: bool = False,
        cache: CachePolicy | None = None,
        params: tuple[StepParam, ...] | None = None,
    ) -> None:
        if not callable(fn):
            raise FlowDefinitionError(f"@step needs a function, got {fn!r}")
        # A plain function with nothing in its __dict__ (the usual case) has no
        # __wrapped__, __signature__ or coroutine mark for inspect to follow: its
        # parameters come straight from its code object, and update_wrapper's work
        # is five assignments (together a third of the general path's cost).
        plain = type(fn) is FunctionType and not fn.__dict__
        if plain:
            self.__module__ = fn.__module__
            self.__name__ = fn.__name__
            self.__qualname__ = fn.__qualname__
            self.__doc__ = fn.__doc__
            self.__annotations__ = fn.__annotations__
            self.__wrapped__ = fn
        else:
            functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = _check_name(name if name is not None else _function_name(fn))
        self.retry = _as_retry(self.name, retry)
        self.timeout = _check_timeout(self.name, timeout)
        if version is not None and not isinstance(version, str):
            raise FlowDefinitionError(f"step {self.name!r}: version must be a str, got {version!r}")
        self.version = version
        self.critical = bool(critical)
        self.cache = None if cache is None else _check_cache(self.name, cache)
        if plain:
            function = cast(FunctionType, fn)
            self.params = _plain_params(self.name, function) if params is None else params
            self.is_async = bool(function.__code__.co_flags & inspect.CO_COROUTINE)
        else:
            self.params = _params_of(self.name, fn) if params is None else params
            self.is_async = inspect.iscoroutinefunction(fn)
        _ALIVE.add(self)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    # pytest stores marks on the object it decorates, as ``obj.pytestmark``. Given
    # one lone callable argument, ``@pytest.mark.NAME(step)`` takes the step for the
    # object to mark: the marker gets no steps and the test function is replaced by
    # ``step(test)``, which crashes in the step's own code or, worse, passes. A step
    # is never a test, so storing a mark on one is always that mistake: say so.
    @property
    def pytestmark(self) -> list[Any]:
        """Always absent: a step carries no pytest marks (see the setter)."""
        raise AttributeError("pytestmark")

    @pytestmark.setter
    def pytestmark(self, marks: list[Any]) -> None:
        name = getattr(marks[-1], "name", "NAME") if marks else "NAME"
        raise FlowDefinitionError(
            f"@pytest.mark.{name}({self.name}) gives the marker a lone step, and pytest "
            f"takes a lone callable argument for the object to decorate: the marker would "
            f"get no steps and the test would be replaced by a call of step {self.name!r}; "
            f"pass the step in a list: @pytest.mark.{name}([{self.name}])"
        )

    def program(
        self, inputs: dict[str, Any], context: Any, address: str, order: tuple[int, ...]
    ) -> Generator[Any, Any, Any]:
        """A composite's body (see ``executor._composites``); a leaf step has none."""
        raise TypeError(f"step {self.name!r} is not a composite step")

    def identity_material(self) -> bytes:
        """What the cache hashes for this step's identity when it has no ``version``:
        its function's source (composites: their parts' identities)."""
        return _source_material(self.fn)

    def __repr__(self) -> str:
        return f"<Step {self.name!r} of {_qualified_name(self.fn)}>"

    def with_options(
        self,
        *,
        name: str | None = None,
        retry: Retry | int | None = None,
        timeout: float | None = None,
        version: str | None = None,
        critical: bool | None = None,
        cache: CachePolicy | None = None,
    ) -> Step[P, R]:
        """A copy of this step with some options replaced (``None`` keeps the current one).

        Works for every kind of step (composites too): the copy shares the function
        and its parameters; only the options given are checked and replaced.
        """
        twin = self._copy()
        if name is not None:
            twin.name = _check_name(name)
        if retry is not None:
            twin.retry = _as_retry(twin.name, retry)
        if timeout is not None:
            twin.timeout = _check_timeout(twin.name, timeout)
        if version is not None:
            twin.version = _check_version(twin.name, version)
        if critical is not None:
            twin.critical = bool(critical)
        if cache is not None:
            twin.cache = _check_cache(twin.name, cache)
        return twin

    def _copy(self) -> Step[P, R]:
        """A shallow copy, minus what was derived from the options (the cache identity)."""
        twin = object.__new__(type(self))
        twin.__dict__.update(
            (k, v) for k, v in self.__dict__.items() if not k.startswith("_flowexec")
        )
        return twin

    def __reduce__(self) -> str | tuple[Any, ...]:
        # A module-level ``@step`` function is pickled by reference, like a function.
        # A variant of one (``step(load, name=...)``) is rebuilt from that reference,
        # because its bare function is shadowed in the module by the Step itself.
        # Any other step is rebuilt from its function and options.
        qualname = str(getattr(self, "__qualname__", ""))
        found = _module_attribute(getattr(self, "__module__", None), qualname)
        if found is self:
            return qualname
        options = (self.name, self.retry, self.timeout, self.version, self.critical, self.cache)
        if isinstance(found, Step) and found.fn is self.fn:
            return (_rebuild_step, (found, options))
        return (_rebuild_step, (self.fn, options))


_ALIVE: weakref.WeakSet[Step[..., Any]] = weakref.WeakSet()
"""Every step built in this process and still referenced (except the parts a
composite names itself, see :func:`unlisted`): test harnesses check a stubbed name
against these before a run starts (a typo is reported first)."""


def known_step_names() -> frozenset[str]:
    """The names a stub can answer: those of the leaf steps that exist in this process
    now (composite steps are never called through the step executor)."""
    return frozenset(s.name for s in list(_ALIVE) if not s.is_composite)


def unlisted(step: Step[..., Any]) -> Step[..., Any]:
    """``step``, left out of :func:`known_step_names`: a part whose name the engine
    made up (a ``when`` predicate, which is never called as a step; a lambda arm named
    after its label), so that a stub naming it is reported, not accepted in silence."""
    _ALIVE.discard(step)
    return step


def _module_attribute(module: str | None, qualname: str) -> object:
    if not module or "<locals>" in qualname:
        return None
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return found


def _source_material(fn: Callable[..., Any]) -> bytes:
    try:
        return inspect.getsource(fn).encode()
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        if code is None:  # a callable object: its class's source stands for it
            return _source_material(type(fn).__call__)
        import marshal  # only caching needs it, and only for functions with no source

        return marshal.dumps(code)  # no source file (exec, REPL): the bytecode


def _rebuild_step(
    fn: Callable[..., Any] | Step[..., Any], options: tuple[Any, ...]
) -> Step[..., Any]:
    name, retry, timeout, version, critical, cache = options
    if isinstance(fn, Step):
        fn = fn.fn
    return Step(
        fn,
        name=name,
        retry=retry,
        timeout=timeout,
        version=version,
        critical=critical,
        cache=cache,
    )


@overload
def step(
    fn: Callable[P, R],
    /,
    *,
    name: str | None = ...,
    retry: Retry | int | None = ...,
    timeout: float | None = ...,
    version: str | None = ...,
    critical: bool = ...,
    cache: CachePolicy | None = ...,
) -> Step[P, R]: ...


@overload
def step(
    fn: None = None,
    /,
    *,
    name: str | None = ...,
    retry: Retry | int | None = ...,
    timeout: float | None = ...,
    version: str | None = ...,
    critical: bool = ...,
    cache: CachePolicy | None = ...,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    retry: Retry | int | None = None,
    timeout: float | None = None,
    version: str | None = None,
    critical: bool = False,
    cache: CachePolicy | None = None,
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Turn a sync or async function into a :class:`Step`; bare or with options.

    Args:
        fn: the function (when used bare, ``@step``).
        name: the step's name in a flow; defaults to the function's name. Other
            steps receive this step's output through a parameter of this name.
        retry: a :class:`Retry` policy, or an int as ``Retry(attempts=n)``.
        timeout: seconds one attempt may run before it counts as timed out.
        version: the step's identity for caching; bump it when behaviour changes.
        critical: critical steps never overlap each other and run in flow order,
            while other steps run concurrently around them.
        cache: a :class:`~executor.cache.CachePolicy`; without one the step is
            always called.

    Example:
        >>> @step(retry=Retry(attempts=3, backoff=0.1), timeout=5.0)
        ... def fetch(url: str) -> str:
        ...     return url.upper()
        >>> fetch("a")
        'A'
    """

    def wrap(func: Callable[P, R]) -> Step[P, R]:
        if isinstance(func, Step):
            return func.with_options(
                name=name,
                retry=retry,
                timeout=timeout,
                version=version,
                critical=critical or None,
                cache=cache,
            )
        return Step(
            func,
            name=name,
            retry=retry,
            timeout=timeout,
            version=version,
            critical=critical,
            cache=cache,
        )

    if fn is None:
        return wrap
    return wrap(fn)


def as_step(obj: object) -> Step[..., Any]:
    """``obj`` as a step: a :class:`Step` as it is, a plain function wrapped by :func:`step`."""
    if isinstance(obj, Step):
        return obj
    if callable(obj):
        return Step(obj)
    raise FlowDefinitionError(f"a flow's steps must be functions or Steps, got {obj!r}")


def _function_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str):
        raise FlowDefinitionError(f"{fn!r} has no __name__; give the step a name=")
    return name


def _qualified_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", "?")
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise FlowDefinitionError(
            f"step name {name!r} is not a Python identifier; other steps receive its output "
            f"through a parameter of that name, so it must be one (e.g. 'load_rows')"
        )
    if name == CONTEXT_PARAM:
        raise FlowDefinitionError(
            f"a step cannot be named {CONTEXT_PARAM!r}: that parameter name receives the run "
            f"context; choose another name"
        )
    return name


def _as_retry(name: str, retry: Retry | int | None) -> Retry:
    if retry is None:
        return NO_RETRY
    if isinstance(retry, Retry):
        return retry
    if isinstance(retry, int) and not isinstance(retry, bool):
        return Retry(attempts=retry)
    raise FlowDefinitionError(
        f"step {name!r}: retry must be a Retry or an int (attempts), got {retry!r}"
    )


def _check_version(name: str, version: object) -> str:
    if not isinstance(version, str):
        raise FlowDefinitionError(f"step {name!r}: version must be a str, got {version!r}")
    return version


def _check_cache(name: str, cache: object) -> CachePolicy:
    if not isinstance(cache, CachePolicy):
        raise FlowDefinitionError(
            f"step {name!r}: cache must be a CachePolicy or None, got {cache!r}"
        )
    return cache


def _check_timeout(name: str, timeout: object) -> float | None:
    if timeout is None:
        return None
    if (
        isinstance(timeout, (int, float))
        and not isinstance(timeout, bool)
        and math.isfinite(timeout)
        and timeout > 0
    ):
        return float(timeout)
    raise FlowDefinitionError(
        f"step {name!r}: timeout must be a positive number of seconds or None, got {timeout!r}"
    )


_CO_VARARGS = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS


def _plain_params(name: str, fn: FunctionType) -> tuple[StepParam, ...]:
    """:func:`_params_of` for a plain function with nothing in its ``__dict__`` (so
    no ``__wrapped__``, ``__signature__`` or coroutine mark that inspect would
    follow): the parameters come straight from its code object, with the same
    result. Anything unusual (positional-only, ``*args``, ``**kwargs``) takes the
    general path, which raises the explaining error."""
    code = fn.__code__
    if code.co_posonlyargcount or code.co_flags & _CO_VARARGS:
        return _params_of(name, fn)
    positional = code.co_argcount
    names = code.co_varnames[: positional + code.co_kwonlyargcount]
    first_default = positional - len(fn.__defaults__ or ())
    keyword_defaults = fn.__kwdefaults__ or {}
    return tuple(
        [
            StepParam(n, i >= first_default if i < positional else n in keyword_defaults)
            for i, n in enumerate(names)
        ]
    )


def _params_of(name: str, fn: Callable[..., Any]) -> tuple[StepParam, ...]:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as error:
        raise FlowDefinitionError(
            f"step {name!r}: cannot read the signature of {fn!r} ({error})"
        ) from error
    params: list[StepParam] = []
    for param in signature.parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise FlowDefinitionError(
                f"step {name!r}: parameter {param.name!r} is {param.kind.description}; the "
                f"engine passes every value by name, so each parameter must accept a keyword"
            )
        params.append(StepParam(param.name, param.default is not param.empty))
    return tuple(params)
