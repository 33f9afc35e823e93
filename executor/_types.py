"""Which classes a stored file may name, and how a name is found without running code.

A typed-JSON file names classes as ``"module:Qual.Name"`` (``$dataclass``,
``$enum``, ``$namedtuple``, ``$pydantic``, ``$exception``). Loading must never run
code because a file says so, so a name is looked up in two places only:

1. the types registered with :func:`register_type` (for classes defined inside a
   function, or to make a type loadable before its module is imported);
2. modules already imported (``sys.modules``): the qualified name is walked through
   the module's and classes' ``__dict__`` directly. Neither ``import`` nor
   ``getattr`` is used: an import runs the module's top-level code, and a module
   ``__getattr__`` or a metaclass may run anything.

The caller then checks that what was found is a class of the tag's own kind
(a dataclass for ``$dataclass``, an ``Enum`` for ``$enum``, ...) before calling it.
"""

from __future__ import annotations

import enum
import sys
import threading
import types
from typing import Any, TypeVar

_T = TypeVar("_T", bound=type)

_REGISTERED: dict[str, type] = {}
_REGISTER_LOCK = threading.Lock()

# The raw __dict__ and __mro__ of modules and classes: read through the slot
# descriptors themselves, so no __getattribute__/__getattr__ override can run.
_MODULE_DICT: Any = vars(types.ModuleType)["__dict__"].__get__
_CLASS_DICT: Any = type.__dict__["__dict__"].__get__
_CLASS_MRO: Any = type.__dict__["__mro__"].__get__


def type_name(kind: type) -> str:
    """``"module:Qual.Name"``: how files name ``kind``."""
    return f"{kind.__module__}:{kind.__qualname__}"


def register_type(kind: _T) -> _T:
    """Let stored data name ``kind`` even where its module is not imported.

    Loading a store, a cache entry or a recording never imports a module: a
    dataclass, enum, named tuple, pydantic model or exception class in a stored
    value is found among the types registered here, then among modules already
    imported. Register a type when it is defined inside a function, or when data
    may be loaded before its module is imported (a command-line tool, a fresh
    worker). Returns ``kind``, so it works as a class decorator.

    Example:
        >>> import dataclasses
        >>> from executor import register_type
        >>> @register_type
        ... @dataclasses.dataclass
        ... class Reading:
        ...     value: float
    """
    if not isinstance(kind, type):
        raise TypeError(f"register_type() takes a class, got {kind!r}")
    with _REGISTER_LOCK:
        _REGISTERED[type_name(kind)] = kind
    return kind


def find_type(name: str) -> type | None:
    """The class a file names as ``"module:Qual"``, or None when it is not available.

    Never imports a module and never calls user code (see the module docstring).
    """
    found: Any = _REGISTERED.get(name)
    if found is not None:
        return found  # type: ignore[no-any-return]
    module_name, colon, qualname = name.partition(":")
    module = sys.modules.get(module_name) if colon else None
    if module is None or not issubclass(type(module), types.ModuleType):
        return None
    namespace = _MODULE_DICT(module)
    for part in qualname.split("."):
        found = namespace.get(part)
        if found is None or not issubclass(type(found), type):
            return None
        namespace = _CLASS_DICT(found)
    return found  # type: ignore[no-any-return]


def _defines(kind: type, attribute: str) -> bool:
    return any(attribute in _CLASS_DICT(base) for base in _CLASS_MRO(kind))


def is_dataclass_type(kind: type) -> bool:
    """Whether ``kind`` is a dataclass (read from class dicts, no attribute hooks)."""
    return _defines(kind, "__dataclass_fields__")


def is_namedtuple_type(kind: type) -> bool:
    """Whether ``kind`` is a tuple class with ``_fields`` (a named tuple)."""
    return issubclass(kind, tuple) and _defines(kind, "_fields")


def is_enum_type(kind: type) -> bool:
    return issubclass(kind, enum.Enum)


def is_exception_type(kind: type) -> bool:
    return issubclass(kind, BaseException)


def is_pydantic_type(kind: type) -> bool:
    """Whether ``kind`` is a pydantic model class (pydantic is never imported here)."""
    main = sys.modules.get("pydantic.main")
    base = _MODULE_DICT(main).get("BaseModel") if main is not None else None
    return isinstance(base, type) and issubclass(kind, base)
