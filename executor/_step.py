"""Steps: plain functions plus the policies the engine applies when it calls them."""

from __future__ import annotations

import functools
import importlib
import inspect
import keyword
import math
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from types import FunctionType
from typing import Any, Generic, ParamSpec, TypeVar, cast, overload

from executor._cache_policy import CachePolicy
from executor._errors import FlowDefinitionError, hide_engine_frame
from executor._names import CONTEXT_PARAM
from executor._retry import NO_RETRY, Retry

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class StepParam:
    """One parameter of a step function."""

    name: str
    """The parameter's name: an upstream step's name, ``context``, or a flow input."""
    has_default: bool
    """Whether the function gives it a default (then the flow input is optional)."""


Wiring = tuple[tuple[str, ...], tuple[bool, ...]]
"""A step's parameter names and, for each, whether it has a default."""


class _Wiring:
    """``Step._wiring``: the parameter names and default flags a flow wires by,
    worked out on first use and then kept on the step (an instance attribute, which
    shadows this descriptor). A plain function's come from its code object in two
    shared-or-sliced tuples, so defining a step reads nothing and building a flow
    allocates no per-parameter objects; a step given its ``params`` derives them."""

    @overload
    def __get__(self, step: None, owner: type[Any]) -> _Wiring: ...

    @overload
    def __get__(self, step: Step[..., Any], owner: type[Any]) -> Wiring: ...

    def __get__(self, step: Step[..., Any] | None, owner: type[Any]) -> _Wiring | Wiring:
        if step is None:
            return self
        # Only a plain function's step gets here: a step built with its params (or
        # from inspect.signature) had its wiring set with them.
        wiring = _plain_wiring(cast(FunctionType, step.fn))
        # Two threads may both work it out: they write equal tuples.
        step._wiring = wiring
        return wiring


class _Params:
    """``Step.params`` for a plain function: built from ``_wiring`` on first read and
    then kept on the step (an instance attribute, which shadows this descriptor)."""

    @overload
    def __get__(self, step: None, owner: type[Any]) -> _Params: ...

    @overload
    def __get__(self, step: Step[..., Any], owner: type[Any]) -> tuple[StepParam, ...]: ...

    def __get__(
        self, step: Step[..., Any] | None, owner: type[Any]
    ) -> _Params | tuple[StepParam, ...]:
        if step is None:
            return self
        names, optional = step._wiring
        params = step.params = tuple(map(StepParam, names, optional))
        return params


class Step(Generic[P, R]):
    """A function together with the policies flowexec applies when calling it.

    A ``Step`` stays callable as the plain function, so a unit test of the
    function needs no engine: ``total([1, 2])`` just returns ``3``.

    Build one with :func:`step`; use :meth:`with_options` for a variant.
    """

    fn: Callable[P, R]
    __name__: str
    __qualname__: str
    __wrapped__: Callable[P, R]
    name: str
    retry: Retry
    timeout: float | None
    version: str | None = None
    """The step's identity for caching (a class default: most steps have none)."""
    critical: bool = False
    """Whether the step runs in flow order, never overlapping other critical steps."""
    cache: CachePolicy | None
    params: _Params = _Params()
    """The function's parameters, in order (a plain function's are read on first use)."""
    _wiring: _Wiring = _Wiring()
    is_async: bool
    is_composite: bool = False
    """Composite steps (parallel, map_over, ...) run nested plans instead of a call."""
    _listed: bool = True
    """Whether :func:`known_step_names` lists the name: not for a composite (never
    called through the step executor) nor a part the engine named (:func:`unlisted`)."""

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
        plain = type(fn) is FunctionType and not fn.__dict__
        if not plain and not callable(fn):
            raise FlowDefinitionError(f"@step needs a function, got {fn!r}")
        if name is None:
            name = fn.__name__ if plain else _function_name(fn)
        if type(name) is not str or not name.isidentifier() or name in _RESERVED_NAMES:
            name = _check_name(name)  # raises, explaining
        if plain:
            _adopt_function(self, cast(FunctionType, fn), name)
            if params is not None:
                self.params = params
                self._wiring = _wiring_of(params)
        else:
            functools.update_wrapper(self, fn)
            self.fn = fn
            self.name = name
            self.is_async = inspect.iscoroutinefunction(fn)
            self.params = _params_of(name, fn) if params is None else params
            self._wiring = _wiring_of(self.params)
        self.retry = NO_RETRY if retry is None else _as_retry(name, retry)
        self.timeout = None if timeout is None else _check_timeout(name, timeout)
        if version is not None:  # else the class default, None
            self.version = _check_version(name, version)
        if critical is not False:  # else the class default, False
            self.critical = bool(critical)
        self.cache = None if cache is None else _check_cache(name, cache)
        if self._listed:
            _note_name(name)

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
            _note_name(twin.name)
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


def _adopt_function(made: Step[..., Any], fn: FunctionType, name: str) -> None:
    """The part of building a step that a plain function (one with nothing in its
    ``__dict__``, so no ``__wrapped__``, ``__signature__`` or coroutine mark for
    inspect to follow) needs: ``update_wrapper``'s work as six assignments, and the
    shapes the engine refuses refused now. Its parameters are read from its code
    object on first use (see :class:`_Params`): a test suite or a generated flow may
    wrap thousands of functions, and only building a flow needs them."""
    made.__module__ = fn.__module__
    made.__name__ = fn.__name__
    made.__qualname__ = fn.__qualname__
    made.__doc__ = fn.__doc__
    made.__annotations__ = fn.__annotations__
    made.__wrapped__ = fn
    made.fn = fn
    made.name = name
    code = fn.__code__
    if code.co_posonlyargcount or code.co_flags & _CO_VARARGS:
        _params_of(name, fn)  # raises, explaining
    made.is_async = bool(code.co_flags & _CO_COROUTINE)


_new_object = object.__new__


def _of_function(fn: FunctionType) -> Step[..., Any]:
    """``step(fn)`` with no options: what ``Step(fn)`` builds, without the class
    call, the option checks and their keyword defaults (a third of the cost when
    many functions are wrapped)."""
    name = fn.__name__
    if fn.__dict__ or not name.isidentifier() or name in _RESERVED_NAMES:
        return Step(fn)  # the general path, or its explaining error
    made: Step[..., Any] = _new_object(Step)
    _adopt_function(made, fn, name)
    made.retry = NO_RETRY
    made.timeout = None
    made.cache = None
    _NAMES.append(name)
    if len(_NAMES) > _NAMES_FOLDED_AT:
        _fold_names()
    return made


_NAMES: list[str] = []
"""The name of every step built in this process since the last fold into
:data:`_KNOWN_NAMES`: test harnesses check a stubbed name against these before a
run starts (a typo is reported first). Names, not the steps (a list of strings
gives the garbage collector nothing more to track per step, where a weak set of
steps did), appended rather than added to a set (no hashing and no random probe
into a large table per step: a tenth of ``step()`` over 100,000 functions)."""
_KNOWN_NAMES: set[str] = set()
_NAMES_FOLDED_AT = 1 << 16
"""``_NAMES`` is folded into the set when it grows past this (bounded memory)."""
_NAMES_LOCK = threading.Lock()


def _note_name(name: str) -> None:
    _NAMES.append(name)
    if len(_NAMES) > _NAMES_FOLDED_AT:
        _fold_names()


def _fold_names() -> None:
    with _NAMES_LOCK:
        # Other threads may append meanwhile: only the first ``count`` are moved.
        count = len(_NAMES)
        _KNOWN_NAMES.update(_NAMES[:count])
        del _NAMES[:count]


def known_step_names() -> frozenset[str]:
    """The names a stub can answer: those of the leaf steps built in this process so
    far (composites and the parts the engine names itself are left out)."""
    _fold_names()
    return frozenset(_KNOWN_NAMES)


class _UnlistedStep(Step[..., Any]):
    """A step whose name the engine made up: see :func:`unlisted`."""

    _listed = False


def unlisted(fn: Callable[..., Any], name: str) -> Step[..., Any]:
    """``fn`` as a step named ``name`` that :func:`known_step_names` leaves out: a part
    whose name the engine made up (a ``when`` predicate, which is never called as a
    step; a lambda arm named after its label), so that a stub naming it is reported,
    not accepted in silence."""
    return _UnlistedStep(fn, name=name)


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
    return _wrap(
        fn.fn if isinstance(fn, Step) else fn, name, retry, timeout, version, critical, cache
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

    if fn is not None:  # bare, or step(fn, ...): no closure to allocate per step
        if (
            type(fn) is FunctionType
            and name is None
            and retry is None
            and timeout is None
            and version is None
            and critical is False
            and cache is None
        ):
            return _of_function(fn)
        return _wrap(fn, name, retry, timeout, version, critical, cache)

    def wrap(func: Callable[P, R]) -> Step[P, R]:
        return _wrap(func, name, retry, timeout, version, critical, cache)

    return wrap


def _wrap(
    fn: Callable[P, R],
    name: str | None,
    retry: Retry | int | None,
    timeout: float | None,
    version: str | None,
    critical: bool,
    cache: CachePolicy | None,
) -> Step[P, R]:
    if isinstance(fn, Step):
        return fn.with_options(
            name=name,
            retry=retry,
            timeout=timeout,
            version=version,
            critical=critical or None,
            cache=cache,
        )
    if (
        name is None
        and retry is None
        and timeout is None
        and version is None
        and critical is False
        and cache is None
    ):
        return Step(fn)  # a class call without keywords skips building a kwargs dict
    return Step(
        fn,
        name=name,
        retry=retry,
        timeout=timeout,
        version=version,
        critical=critical,
        cache=cache,
    )


def as_step(obj: object) -> Step[..., Any]:
    """``obj`` as a step: a :class:`Step` as it is, a plain function wrapped by :func:`step`."""
    if isinstance(obj, Step):
        return obj
    if type(obj) is FunctionType:
        return _of_function(obj)
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
_CO_COROUTINE = inspect.CO_COROUTINE
_RESERVED_NAMES = frozenset([*keyword.kwlist, CONTEXT_PARAM])
"""Identifiers a step cannot be named (``_check_name`` explains each)."""


def _plain_wiring(fn: FunctionType) -> Wiring:
    """The names and default flags of a plain function's parameters, from its code
    object (what ``inspect.signature`` gives for one, checked by a property test).
    ``step()`` refused the shapes it cannot pass (positional-only, ``*args``,
    ``**kwargs``) already."""
    code = fn.__code__
    positional = code.co_argcount
    names = code.co_varnames[: positional + code.co_kwonlyargcount]
    optional = len(fn.__defaults__ or ())
    flags = _flags(positional - optional, optional)
    if code.co_kwonlyargcount:
        keyword_defaults = fn.__kwdefaults__ or {}
        flags += tuple([n in keyword_defaults for n in names[positional:]])
    return names, flags


def _wiring_of(params: tuple[StepParam, ...]) -> Wiring:
    return tuple(p.name for p in params), tuple(p.has_default for p in params)


def _flags(required: int, optional: int) -> tuple[bool, ...]:
    if required < _SHARED_FLAGS and optional < _SHARED_FLAGS:
        return _FLAGS[required][optional]
    return (False,) * required + (True,) * optional


_SHARED_FLAGS = 12
_FLAGS = [[(False,) * r + (True,) * o for o in range(_SHARED_FLAGS)] for r in range(_SHARED_FLAGS)]
"""Default flags for up to 11 required then 11 optional parameters, shared by every
step (none allocated per step)."""


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
