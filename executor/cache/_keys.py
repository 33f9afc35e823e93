"""Cache keys: a canonical, typed, process-stable encoding of a step call, hashed.

The encoding is built for keys, not for reading back: every value is written as a
type tag and its content, so ``1``, ``1.0``, ``True`` and ``"1"`` differ, a tuple
differs from a list, and dict and set order never matter (their entries are
sorted by their own encoding). Nothing depends on ``hash()``, ``id()`` or
``PYTHONHASHSEED``. Documented choices:

- ``0.0`` and ``-0.0`` give different keys (they are different floats to a
  function like ``math.copysign``); every NaN gives the same key.
- Strings are compared by their UTF-8 bytes (no Unicode normalisation).
- A ``datetime`` is keyed by its ISO text, so the same instant in two time zones
  gives two keys.
- A ``Path`` is keyed by its POSIX form.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import hashlib
import inspect
import marshal
import pathlib
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from executor._errors import CacheKeyError
from executor._names import CONTEXT_PARAM

if TYPE_CHECKING:
    from executor._step import Step

KEY_FORMAT = b"flowexec-cache-key/1"
"""Bumped whenever the encoding changes: old entries then simply miss."""


def step_identity(step: Step[..., Any]) -> str:
    """What identifies a step's behaviour: its name plus ``version=``, or plus a hash
    of its function's source, so that editing the body invalidates its entries."""
    found = step.__dict__.get("_flowexec_identity")
    if found is None:
        if step.version is not None:
            found = f"{step.name}@version:{step.version}"
        else:
            found = f"{step.name}@source:{_source_digest(step.fn)}"
        step.__dict__["_flowexec_identity"] = found
    return str(found)


def _source_digest(fn: Callable[..., Any]) -> str:
    try:
        data = inspect.getsource(fn).encode()
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        if code is None:  # a callable object: its class's source stands for it
            return _source_digest(type(fn).__call__)
        data = marshal.dumps(code)  # no source file (exec, REPL): the bytecode
    return hashlib.sha256(data).hexdigest()[:24]


def _type_name(kind: type) -> bytes:
    return f"{kind.__module__}:{kind.__qualname__}".encode()


def _sized(tag: bytes, payload: bytes) -> bytes:
    return tag + str(len(payload)).encode() + b":" + payload


class CacheKeyGenerator:
    """Turns a step call into a hex cache key.

    Example:
        >>> CacheKeyGenerator().key(my_step, {"n": 1})        # doctest: +SKIP
        '5f0c...'
    """

    def key(
        self,
        step: Step[..., Any],
        inputs: Mapping[str, Any],
        context: Any = None,
        *,
        address: str | None = None,
    ) -> str:
        """The key of calling ``step`` with ``inputs`` (and ``context`` when given).

        A ``context`` entry in ``inputs`` is left out: the context is part of the
        key only when passed as ``context`` (``CachePolicy(include_context=True)``).

        Raises:
            CacheKeyError: naming the step and the path of a value with no stable
                encoding.
        """
        call = {k: v for k, v in inputs.items() if k != CONTEXT_PARAM}
        return self.key_of(step, call, "inputs", context, address=address)

    def key_of(
        self,
        step: Step[..., Any],
        value: Any,
        path: str,
        context: Any = None,
        *,
        address: str | None = None,
    ) -> str:
        """The key of calling ``step`` identified by ``value`` (named ``path`` in errors)."""
        where = address or step.name
        parts = [KEY_FORMAT, _sized(b"S", step_identity(step).encode())]
        parts.append(self.encode(value, where, path))
        if context is not None:
            parts.append(b"C" + self.encode(context, where, "context"))
        return hashlib.blake2b(b"".join(parts), digest_size=32).hexdigest()

    def encode(self, value: Any, address: str, path: str) -> bytes:
        """The canonical bytes of ``value``; ``address`` and ``path`` name it in errors."""
        kind = type(value)
        if kind is str:
            return _sized(b"s", value.encode())
        if kind is int:
            return b"i" + str(value).encode() + b";"
        if value is None:
            return b"N"
        if kind is bool:
            return b"T" if value else b"F"
        if kind is float:
            return b"f" + (b"nan" if value != value else value.hex().encode()) + b";"
        if kind is list:
            return (
                b"["
                + b"".join(self.encode(v, address, f"{path}[{i}]") for i, v in enumerate(value))
                + b"]"
            )
        if kind is dict:
            return self._mapping(value, address, path)
        return self._other(value, address, path)

    def _mapping(self, value: Mapping[Any, Any], address: str, path: str) -> bytes:
        items = sorted(
            self.encode(k, address, f"{path} key {k!r}") + self.encode(v, address, f"{path}[{k!r}]")
            for k, v in value.items()
        )
        return b"{" + str(len(items)).encode() + b":" + b"".join(items) + b"}"

    def _other(self, value: Any, address: str, path: str) -> bytes:
        kind = type(value)
        custom = getattr(value, "__cache_key__", None)
        if custom is not None and callable(custom) and not isinstance(value, type):
            return (
                b"K"
                + _sized(b"", _type_name(kind))
                + self.encode(custom(), address, f"{path}.__cache_key__()")
            )
        if isinstance(value, tuple):
            tag = b"(" if not hasattr(value, "_fields") else b"(" + _sized(b"", _type_name(kind))
            return (
                tag
                + b"".join(self.encode(v, address, f"{path}[{i}]") for i, v in enumerate(value))
                + b")"
            )
        if isinstance(value, (set, frozenset)):
            items = sorted(self.encode(v, address, f"{path} item") for v in value)
            tag = b"z" if isinstance(value, frozenset) else b"<"
            return tag + str(len(items)).encode() + b":" + b"".join(items) + b">"
        if isinstance(value, Mapping):
            return _sized(b"M", _type_name(kind)) + self._mapping(value, address, path)
        if isinstance(value, (bytes, bytearray)):
            return _sized(b"b", bytes(value))
        if isinstance(value, enum.Enum):
            return _sized(b"E", _type_name(kind)) + self.encode(value.value, address, path)
        if isinstance(value, (bool, int, float, str)):  # subclasses: typed by the subclass
            base = kind.__mro__[1] if kind.__mro__[1] is not object else kind
            return _sized(b"X", _type_name(kind)) + self.encode(base(value), address, path)
        if isinstance(value, dt.datetime):
            return _sized(b"D", value.isoformat().encode())
        if isinstance(value, dt.date):
            return _sized(b"d", value.isoformat().encode())
        if isinstance(value, dt.time):
            return _sized(b"t", value.isoformat().encode())
        if isinstance(value, decimal.Decimal):
            return _sized(b"m", str(value).encode())
        if isinstance(value, uuid.UUID):
            return _sized(b"u", value.bytes)
        if isinstance(value, pathlib.PurePath):
            return _sized(b"p", value.as_posix().encode())
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            return _sized(b"c", _type_name(kind)) + self._mapping(fields, address, path)
        if hasattr(kind, "model_fields") and hasattr(value, "model_dump"):
            data = value.model_dump(mode="python")
            return _sized(b"P", _type_name(kind)) + self._mapping(data, address, path)
        if kind.__module__ == "numpy" and hasattr(value, "tobytes") and hasattr(value, "dtype"):
            shape = ",".join(map(str, getattr(value, "shape", ()))).encode()
            body = value.tobytes(order="C")
            return _sized(b"A", str(value.dtype.str).encode() + b"|" + shape) + _sized(b"", body)
        raise CacheKeyError(address, path, _describe(value))


def _describe(value: object) -> str:
    if inspect.isfunction(value) or inspect.ismethod(value):
        name = getattr(value, "__qualname__", "?")
        return f"function ({name})"
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__} object"


KEY_GENERATOR = CacheKeyGenerator()
