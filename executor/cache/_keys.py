"""Cache keys: a canonical, typed, process-stable encoding of a step call, hashed
with SHA-256 (64 hex digits).

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
import pathlib
import threading
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from executor._errors import CacheKeyError
from executor._json import dumps_ascii
from executor._names import CONTEXT_PARAM

if TYPE_CHECKING:
    from executor._step import Step

KEY_FORMAT = b"flowexec-cache-key/2"
"""Bumped whenever the encoding changes: old entries then simply miss.

2: flat inputs of several items are sorted JSON (faster than sorting their items),
and one item is written with ``ascii()``, not ``repr()``: ``repr`` keeps printable
non-ASCII text as it is and escapes the rest, and which characters are printable
comes from the Python build's Unicode tables, so one input could key differently
on two Python versions. ``ascii()`` and ASCII JSON escape by code point alone."""


_IDENTITY_LOCK = threading.RLock()
"""Held while a step's identity is first worked out, so it is worked out once even
when many threads hit the same step's cache at once (re-entrant: a composite's
identity is made of its parts')."""


def step_identity(step: Step[..., Any]) -> str:
    """What identifies a step's behaviour: its name plus ``version=``, or plus a hash
    of its function's source, so that editing the body invalidates its entries.

    Worked out on first use (only caching and replay need it; defining a step does
    not read its source), once, and kept on the step itself.
    """
    found = step.__dict__.get("_flowexec_identity")
    if found is None:
        with _IDENTITY_LOCK:
            found = step.__dict__.get("_flowexec_identity")
            if found is None:
                if step.version is not None:
                    found = f"{step.name}@version:{step.version}"
                else:
                    digest = hashlib.sha256(step.identity_material()).hexdigest()[:24]
                    found = f"{step.name}@source:{digest}"
                step.__dict__["_flowexec_identity"] = found
    return str(found)


def _prefix(step: Step[..., Any]) -> bytes:
    """The format and the step's identity: the start of every key of ``step``."""
    try:
        found: bytes = step.__dict__["_flowexec_key_prefix"]
    except KeyError:
        found = KEY_FORMAT + _sized(b"S", step_identity(step).encode())
        step.__dict__["_flowexec_key_prefix"] = found
    return found


def _hasher(step: Step[..., Any]) -> hashlib._Hash:
    """A SHA-256 that has already taken :func:`_prefix`: each key copies it and adds
    its body (a copy skips OpenSSL's per-object setup: ~30% of hashing a key)."""
    found = step.__dict__.get("_flowexec_key_hasher")
    if found is None:
        found = step.__dict__["_flowexec_key_hasher"] = hashlib.sha256(_prefix(step))
    return found


def _type_name(kind: type) -> bytes:
    return f"{kind.__module__}:{kind.__qualname__}".encode()


def _sized(tag: bytes, payload: bytes) -> bytes:
    return tag + str(len(payload)).encode() + b":" + payload


class _Unkeyable(Exception):
    """Raised inside the encoder; turned into CacheKeyError with a path at the top."""

    def __init__(self, value: object) -> None:
        self.value = value


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def _single_scalar(mapping: dict[Any, Any]) -> bool:
    """One str-keyed scalar item: the shape of most cached steps' inputs."""
    if len(mapping) != 1:
        return False
    ((k, v),) = mapping.items()
    return type(k) is str and type(v) in _JSON_SCALARS


def _single_body(mapping: dict[str, Any]) -> bytes:
    """One str-keyed scalar item: its dict's ``ascii()`` (half the C JSON encoder's
    cost for one item; more items go to JSON, which is then faster than sorting).
    ``ascii`` rather than ``repr``: the same text on every Python version (see
    KEY_FORMAT); typed for str, int, float, bool and None."""
    return b"R" + ascii(mapping).encode()


def _plain_json(value: Any) -> bool:
    """Whether ``value`` is JSON-shaped: str-keyed dicts, lists, str, int, float,
    bool and None only. For those, ``json.dumps(sort_keys=True)`` is canonical and
    typed (``1``, ``1.0``, ``true`` and ``"1"`` differ) and runs in C."""
    scalars = _JSON_SCALARS
    kind = type(value)
    if kind in scalars:
        return True
    if kind is dict:  # the usual case, a flat mapping of inputs: no stack needed
        nested = False
        for k, v in value.items():
            if type(k) is not str:
                return False
            child = type(v)
            if child is dict or child is list:
                nested = True
            elif child not in scalars:
                return False
        if not nested:
            return True
    stack = [value]
    seen: set[int] = set()  # this call only: a cycle is not plain JSON
    while stack:
        item = stack.pop()
        if id(item) in seen:
            return False
        seen.add(id(item))
        kind = type(item)
        if kind is dict:
            for k, v in item.items():
                if type(k) is not str:
                    return False
                child = type(v)
                if child is dict or child is list:
                    stack.append(v)
                elif child not in scalars:
                    return False
        elif kind is list:
            for v in item:
                child = type(v)
                if child is dict or child is list:
                    stack.append(v)
                elif child not in scalars:
                    return False
        else:
            return False
    return True


_JSON = dumps_ascii


def _common_key(step: Step[..., Any], inputs: Mapping[str, Any]) -> str | None:
    """The key of the common input shapes, every cached step's hot path, or None
    for any other shape (then :meth:`CacheKeyGenerator.key_of` keys it).

    The shapes: one str-keyed scalar (the bytes ``encode`` gives via
    ``_single_body``), and a dict whose values are scalars or flat str-keyed dicts of
    scalars, such as a small settings dict (plain JSON: the bytes ``encode`` gives
    via ``_JSON``, without ``_plain_json``'s general walk). A plain loop: for a
    handful of items it beats set operations over ``map(type, ...)``.
    """
    if type(inputs) is not dict:
        return None
    scalars = _JSON_SCALARS
    nested = False
    for name, value in inputs.items():
        kind = type(value)
        if type(name) is not str:
            return None
        if kind not in scalars:
            if kind is not dict:
                return None
            for inner, item in value.items():
                if type(inner) is not str or type(item) not in scalars:
                    return None
            nested = True
    if nested or len(inputs) != 1:
        body = b"J" + _JSON(inputs).encode()
    else:
        body = b"R" + ascii(inputs).encode()
    attributes = step.__dict__
    last: tuple[bytes, str] | None = attributes.get("_flowexec_last_key")
    if last is not None and last[0] == body:
        return last[1]
    hasher = (attributes.get("_flowexec_key_hasher") or _hasher(step)).copy()
    hasher.update(body)
    key: str = hasher.hexdigest()
    if len(body) <= _REMEMBERED_BODY:
        attributes["_flowexec_last_key"] = (body, key)
    return key


_REMEMBERED_BODY = 512
"""Inputs encoded in at most this many bytes have their key remembered on the step,
one call's worth: a cache hit is a call with the inputs seen before, and for small
inputs the SHA-256 (OpenSSL's per-object setup, mostly) is ~0.4 us, a seventh of a
memory-cache hit. The
body is compared in full, so a remembered key is only ever that body's hash; the
bound keeps what a step holds on to small."""


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
        if CONTEXT_PARAM in inputs:
            inputs = {k: v for k, v in inputs.items() if k != CONTEXT_PARAM}
        if context is None:
            found = _common_key(step, inputs)
            if found is not None:
                return found
        return self.key_of(step, inputs, "inputs", context, address=address)

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
        body = self.encode(value, where, path)
        if context is not None:
            body += b"C" + self.encode(context, where, "context")
        hasher = _hasher(step).copy()  # SHA-256: half blake2b's cost here
        hasher.update(body)
        return hasher.hexdigest()

    def encode(self, value: Any, address: str, path: str) -> bytes:
        """The canonical bytes of ``value``; ``address`` and ``path`` name it in errors.

        Three encodings, each with its own first byte so they never collide, chosen
        by the value's shape alone: a mapping of one str key to a scalar (its
        ``ascii()``: canonical and typed for str, int, float, bool and None),
        JSON-shaped data (sorted JSON), and everything else (the typed encoding).
        """
        if type(value) is dict and _single_scalar(value):
            return _single_body(value)
        if _plain_json(value):
            return b"J" + _JSON(value).encode()
        try:
            return _typed(value)
        except _Unkeyable as error:
            found = _locate(value, path, error.value)
            raise CacheKeyError(address, found, _describe(error.value)) from None
        except RecursionError:
            raise CacheKeyError(address, path, "structure that contains itself") from None


def _typed(value: Any) -> bytes:
    """The typed canonical encoding (see the module docstring)."""
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
        return b"[" + b"".join([_typed(v) for v in value]) + b"]"
    if kind is dict:
        return _typed_mapping(value)
    return _typed_other(value, kind)


def _typed_mapping(value: Mapping[Any, Any]) -> bytes:
    items = sorted([_typed(k) + _typed(v) for k, v in value.items()])
    return b"{" + str(len(items)).encode() + b":" + b"".join(items) + b"}"


def _custom_key(value: Any) -> Any:
    custom = getattr(value, "__cache_key__", None)
    if custom is not None and callable(custom) and not isinstance(value, type):
        return custom
    return None


def _typed_other(value: Any, kind: type) -> bytes:
    custom = _custom_key(value)
    if custom is not None:
        return b"K" + _sized(b"", _type_name(kind)) + _typed(custom())
    if isinstance(value, tuple):
        tag = b"(" if not hasattr(value, "_fields") else b"(" + _sized(b"", _type_name(kind))
        return tag + b"".join([_typed(v) for v in value]) + b")"
    if isinstance(value, (set, frozenset)):
        items = sorted([_typed(v) for v in value])
        tag = b"z" if isinstance(value, frozenset) else b"<"
        return tag + str(len(items)).encode() + b":" + b"".join(items) + b">"
    if isinstance(value, Mapping):
        return _sized(b"M", _type_name(kind)) + _typed_mapping(value)
    if isinstance(value, (bytes, bytearray)):
        return _sized(b"b", bytes(value))
    if isinstance(value, enum.Enum):
        return _sized(b"E", _type_name(kind)) + _typed(value.value)
    if isinstance(value, (bool, int, float, str)):  # subclasses: typed by the subclass
        base = kind.__mro__[1] if kind.__mro__[1] is not object else kind
        return _sized(b"X", _type_name(kind)) + _typed(base(value))
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
        return _sized(b"c", _type_name(kind)) + _typed_mapping(fields)
    if hasattr(kind, "model_fields") and hasattr(value, "model_dump"):
        return _sized(b"P", _type_name(kind)) + _typed_mapping(value.model_dump(mode="python"))
    if kind.__module__ == "numpy" and hasattr(value, "tobytes") and hasattr(value, "dtype"):
        shape = ",".join(map(str, getattr(value, "shape", ()))).encode()
        body = value.tobytes(order="C")
        return _sized(b"A", str(value.dtype.str).encode() + b"|" + shape) + _sized(b"", body)
    raise _Unkeyable(value)


def _children(value: Any) -> list[tuple[str, Any]]:
    """``(path suffix, child)`` pairs, in the order the encoder meets them."""
    custom = _custom_key(value)
    if custom is not None:
        return [(".__cache_key__()", custom())]
    if isinstance(value, Mapping):
        pairs: list[tuple[str, Any]] = []
        for k, v in value.items():
            pairs += [(f" key {k!r}", k), (f"[{k!r}]", v)]
        return pairs
    if isinstance(value, (list, tuple)):
        return [(f"[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return [(" item", v) for v in value]
    if isinstance(value, enum.Enum):
        return [(".value", value.value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(f".{f.name}", getattr(value, f.name)) for f in dataclasses.fields(value)]
    if hasattr(type(value), "model_fields") and hasattr(value, "model_dump"):
        return [(f".{k}", v) for k, v in value.model_dump(mode="python").items()]
    return []


def _locate(value: Any, path: str, target: object) -> str:
    """The path of ``target`` inside ``value`` (only walked once an error occurred)."""
    if value is target:
        return path
    for suffix, child in _children(value):
        found = _locate(child, path + suffix, target)
        if found:
            return found
    return ""


def _describe(value: object) -> str:
    if inspect.isfunction(value) or inspect.ismethod(value):
        name = getattr(value, "__qualname__", "?")
        return f"function ({name})"
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__} object"


KEY_GENERATOR = CacheKeyGenerator()


def call_key(
    step: Step[..., Any],
    inputs: Mapping[str, Any],
    context: Any = None,
    *,
    address: str | None = None,
) -> str:
    """The key the engine caches a call of ``step`` with ``inputs`` under, following
    its :class:`~executor.cache.CachePolicy` (a ``key=`` function, ``include_context``).

    Raises:
        CacheKeyError: naming the step and the path of a value with no stable encoding
            (and whatever a ``CachePolicy(key=...)`` function raises).
    """
    policy = step.cache
    if policy is None or policy.key is None:
        if policy is None or not policy.include_context:
            if CONTEXT_PARAM not in inputs:  # the engine's hot path: no detour
                found = _common_key(step, inputs)
                if found is not None:
                    return found
            context = None
        return KEY_GENERATOR.key(step, inputs, context, address=address)
    if not policy.include_context:
        context = None
    return KEY_GENERATOR.key_of(
        step, policy.key(inputs), "CachePolicy.key(inputs)", context, address=address
    )
