"""Typed JSON: the one encoding for state, cache entries, recordings and golden files.

Plain JSON values stay plain, so files read well in a diff; everything else is an
object with a single ``"$tag"`` key::

    None, bool, int, str, finite float  ->  themselves (1.0 stays 1.0, -0.0 stays -0.0)
    list                                ->  a JSON array
    dict, str keys in sorted order      ->  a JSON object
    dict, str keys in another order     ->  {"$ordered": {"keys": [...], "values": {...}}}
    dict with other keys, or "$..."     ->  {"$dict": [[key, value], ...]}
    nan, inf, -inf                      ->  {"$float": "nan" | "inf" | "-inf"}
    tuple / set / frozenset             ->  {"$tuple" | "$set" | "$frozenset": [...]}
    bytes                               ->  {"$bytes": "<base64>"}
    datetime / date / time              ->  {"$datetime" | "$date" | "$time": "<ISO 8601>"}
                                            (a ZoneInfo zone as a "[Area/City]" suffix)
    Decimal / UUID                      ->  {"$decimal" | "$uuid": "<text>"}
    Path / PurePosixPath / PureWindowsPath -> {"$path" | "$pureposixpath" |
                                               "$purewindowspath": "<posix text>"}
    Enum                                ->  {"$enum": {"type": "mod:Qual", "value": ...}}
    dataclass                           ->  {"$dataclass": {"type": "mod:Qual", "fields": {...}}}
    namedtuple                          ->  {"$namedtuple": {"type": "mod:Qual", "fields": {...}}}
    pydantic model                      ->  {"$pydantic": {"type", "data", "private"?}}
    exception                           ->  {"$exception": {"type", "message", "args"}}
    anything, with pickle allowed       ->  {"$pickle": "<base64>"}

Values come back exactly (same value, same type, same dict order) or are refused
with :class:`CodecError` when written: a subclass of a built-in type (it would come
back as the base type), a datetime in a zone other than ``ZoneInfo`` or a plain
``datetime.timezone``, a class that cannot be found again by its name, a string
with a lone surrogate (not UTF-8), an int with more than 4300 digits, a value
nested deeper than :data:`MAX_DEPTH` (or containing itself). Every backend applies
the same rules because they all go through this codec.

Decoding never runs code a file names: a class is found among registered types or
modules already imported, without importing or ``getattr`` (see
:mod:`executor._types`), and is called only when it is of the tag's own kind.
Malformed data is a :class:`CodecError` naming its path inside the stored value.
Pickle is never used unless a codec is made with ``allow_pickle=True``, and a
``"$pickle"`` value is never loaded by a codec that does not allow it.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
import operator
import pathlib
import pickle
import re
import sys
import uuid
from collections.abc import Callable
from typing import Any

from executor._errors import CodecError, FlowError
from executor._types import (
    find_type,
    is_dataclass_type,
    is_enum_type,
    is_exception_type,
    is_namedtuple_type,
    is_pydantic_type,
    type_name,
)

__all__ = ["JSON_CODEC", "MAX_DEPTH", "PICKLE_CODEC", "Codec", "CodecError", "EncodedException"]

JSONValue = Any  # None | bool | int | float | str | list[JSONValue] | dict[str, JSONValue]

MAX_DEPTH = 100
"""How deeply values may nest (containers and typed values count one level each).

Far below Python's recursion limit, so every backend reaches the same verdict: the
JSON text of a value this deep still parses and prints everywhere."""
_MAX_DATA_DEPTH = 2 * MAX_DEPTH + 2  # encoded data nests at most two levels per value level

_INT_BOUND = 10**4300  # CPython's default int <-> str digit limit, fixed: same verdict everywhere
_SURROGATE = re.compile("[\ud800-\udfff]").search
_IS_DOLLAR = operator.methodcaller("startswith", "$")
_STR_ONLY = {str}
_CONCRETE_PATH = type(pathlib.Path())
# The real classes, kept in a tuple: frozen time (freezegun) swaps every module
# attribute that is one of them for a stand-in subclass while a test runs.
_REAL_TIME_TYPES = (dt.datetime, dt.date, dt.time)


class EncodedException(FlowError):
    """An exception decoded from a file whose class could not be rebuilt from its args."""

    def __init__(self, type_name: str, message: str) -> None:
        self.type_name = type_name
        super().__init__(f"{type_name}: {message}")


class _Refused(Exception):
    """Internal: a value or stored data refused, with the containers it sits in.

    ``chain`` runs from the refused value up to the top; the path is worked out
    from it only when the error is reported, so the hot path builds no strings.
    """

    def __init__(self, problem: str, *chain: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.chain: list[Any] = list(chain)

    def climb(self, container: Any) -> None:
        if not self.chain or self.chain[-1] is not container:
            self.chain.append(container)


def _is_pydantic(value: object) -> bool:
    return hasattr(type(value), "model_fields") and hasattr(value, "model_dump")


_FLOAT_NAMES = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


class Codec:
    """Encodes values to JSON-ready data and back.

    Args:
        allow_pickle: encode values the typed encoding cannot express with pickle,
            and accept ``"$pickle"`` when decoding. Off by default: pickle runs code
            when loaded, and files people commit must stay readable.
    """

    def __init__(self, *, allow_pickle: bool = False) -> None:
        self.allow_pickle = allow_pickle

    # -- encoding -------------------------------------------------------------------

    def encode(self, value: Any, where: str = "value") -> JSONValue:
        """``value`` as JSON-ready data; ``where`` names it in errors.

        Raises:
            CodecError: the value cannot be stored exactly; the message names
                ``where``, the path inside the value and the reason.
        """
        try:
            return self._encode(value, 0)
        except _Refused as refused:
            raise CodecError(where + _value_path(refused.chain), refused.problem) from None
        except RecursionError:
            raise CodecError(where, _too_deep()) from None

    def _encode(self, value: Any, depth: int) -> JSONValue:
        kind = type(value)
        if kind is str:
            if value.isascii() or not _SURROGATE(value):
                return value
            raise _Refused(_surrogate_problem(value), value)
        if kind is int:
            if -_INT_BOUND < value < _INT_BOUND:
                return value
            raise _Refused(_BIG_INT, value)
        if kind is float:
            if math.isfinite(value):
                return value
            return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
        if value is None or kind is bool:
            return value
        if depth >= MAX_DEPTH:
            raise _Refused(_too_deep(), value)
        try:
            if kind is list:
                return [self._encode(item, depth + 1) for item in value]
            if kind is dict:
                return self._encode_dict(value, depth + 1)
            return self._encode_other(value, kind, depth + 1)
        except _Refused as refused:
            refused.climb(value)
            raise

    def _encode_dict(self, value: dict[Any, Any], depth: int) -> JSONValue:
        keys = [*value]
        if set(map(type, keys)) <= _STR_ONLY and not any(map(_IS_DOLLAR, keys)):
            if not all(map(str.isascii, keys)):
                for key in keys:
                    if _SURROGATE(key):
                        raise _Refused(_surrogate_problem(key), key)
            encoded = {k: self._encode(v, depth) for k, v in value.items()}
            if keys == sorted(keys):
                return encoded
            # Files are written with sorted keys: the insertion order travels apart.
            return {"$ordered": {"keys": keys, "values": encoded}}
        return {
            "$dict": [[self._encode(k, depth), self._encode(v, depth)] for k, v in value.items()]
        }

    def _encode_other(self, value: Any, kind: type, depth: int) -> JSONValue:
        exact = _EXACT_ENCODERS.get(kind)
        if exact is not None:
            return exact(self, value, depth)
        if kind.__module__ == "freezegun.api" and isinstance(value, _REAL_TIME_TYPES[1]):
            # Frozen time's stand-ins for datetime and date (the pytest plugin freezes
            # time while recording): they stand for the real types, and are stored as them.
            real = _REAL_TIME_TYPES[0 if isinstance(value, _REAL_TIME_TYPES[0]) else 1]
            return _EXACT_ENCODERS[real](self, value, depth)
        if isinstance(value, enum.Enum):
            return {
                "$enum": {
                    "type": _findable(kind),
                    "value": self._encode(value.value, depth),
                }
            }
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            fields = {f: self._encode(getattr(value, f), depth) for f in value._fields}
            return {"$namedtuple": {"type": _findable(kind), "fields": fields}}
        if dataclasses.is_dataclass(value):
            fields = {
                f.name: self._encode(getattr(value, f.name), depth)
                for f in dataclasses.fields(value)
                if f.init
            }
            return {"$dataclass": {"type": _findable(kind), "fields": fields}}
        if _is_pydantic(value):
            return self._encode_pydantic(value, kind, depth)
        if isinstance(value, BaseException):
            return {
                "$exception": {
                    "type": _findable(kind),
                    "message": str(value),
                    "args": self._try_encode(list(value.args), depth),
                }
            }
        if self.allow_pickle:
            try:
                return {"$pickle": base64.b64encode(pickle.dumps(value)).decode("ascii")}
            except Exception as error:
                raise _Refused(
                    f"{kind.__qualname__} cannot be pickled either ({error})", value
                ) from error
        base = next((b for b in _EXACT_ENCODERS if isinstance(value, b)), None)
        if base is not None or isinstance(value, (str, int, float, list, dict)):
            base = base or next(b for b in (str, int, float, list, dict) if isinstance(value, b))
            raise _Refused(
                f"{kind.__module__}.{kind.__qualname__} is a subclass of {base.__name__}, "
                f"which would load back as a plain {base.__name__}: convert it to "
                f"{base.__name__} (or use a dataclass or NamedTuple), or opt in to pickle "
                f"with codec='pickle'",
                value,
            )
        raise _Refused(
            f"cannot encode a value of type {kind.__module__}.{kind.__qualname__} as typed "
            f"JSON; return a supported type (a dataclass, dict, list, ...), or opt in to "
            f"pickle with codec='pickle'",
            value,
        )

    def _encode_pydantic(self, value: Any, kind: type, depth: int) -> JSONValue:
        names = list(kind.model_fields)  # type: ignore[attr-defined]
        data = {name: self._encode(getattr(value, name), depth) for name in names}
        extra = getattr(value, "__pydantic_extra__", None) or {}
        data.update({k: self._encode(v, depth) for k, v in extra.items()})
        body: dict[str, Any] = {"type": _findable(kind), "data": data}
        private = getattr(value, "__pydantic_private__", None)
        if private:
            body["private"] = {k: self._encode(v, depth) for k, v in private.items()}
        return {"$pydantic": body}

    def _try_encode(self, value: Any, depth: int) -> JSONValue:
        try:
            return self._encode(value, depth)
        except _Refused:
            return None

    # -- decoding -------------------------------------------------------------------

    def decode(self, data: JSONValue, where: str = "value") -> Any:
        """The value ``data`` encodes (as made by :meth:`encode`).

        Raises:
            CodecError: malformed data, a class that is not available or not of its
                tag's kind, or a value a class refuses; the message names ``where``
                and the path inside the stored data.
        """
        try:
            return self._decode(data, 0)
        except _Refused as refused:
            raise CodecError(where + _data_path(refused.chain), refused.problem) from None
        except RecursionError:
            raise CodecError(where, _too_deep()) from None

    def _decode(self, data: JSONValue, depth: int) -> Any:
        kind = type(data)
        if kind is str or kind is int or kind is float or data is None or kind is bool:
            return data
        if depth >= _MAX_DATA_DEPTH:
            raise _Refused(_too_deep(), data)
        try:
            if kind is list:
                return [self._decode(item, depth + 1) for item in data]
            if kind is not dict:
                raise _Refused(f"unexpected {kind.__name__} in encoded data", data)
            if len(data) == 1:
                (tag,) = data
                if type(tag) is str and tag[:1] == "$":
                    return self._decode_tag(tag, data[tag], depth + 1)
            return {k: self._decode(v, depth + 1) for k, v in data.items()}
        except _Refused as refused:
            refused.climb(data)
            raise

    def _decode_tag(self, tag: str, body: Any, depth: int) -> Any:
        decoder = _DECODERS.get(tag)
        if decoder is None:
            raise _Refused(f"unknown tag {tag!r} (written by a newer flowexec?)")
        try:
            return decoder(self, body, depth)
        except (_Refused, RecursionError):
            raise
        except Exception as error:
            raise _Refused(f"malformed {tag} value ({type(error).__name__}: {error})") from None

    def _items(self, body: Any, depth: int) -> list[Any]:
        if type(body) is not list:
            raise ValueError(f"expected a list, got {type(body).__name__} {body!r:.60}")
        return [self._decode(item, depth) for item in body]

    # -- text -----------------------------------------------------------------------

    def dumps(self, value: Any, where: str = "value", *, indent: int | None = None) -> str:
        """``value`` as JSON text with sorted keys: equal values give equal text."""
        return json.dumps(
            self.encode(value, where),
            sort_keys=True,
            indent=indent,
            ensure_ascii=False,
            allow_nan=False,
        )

    def loads(self, text: str | bytes, where: str = "value") -> Any:
        """The value encoded in ``text``."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as error:
                raise CodecError(where, f"not UTF-8 text ({error})") from None
        start = len(text) - len(text.lstrip()) if text[:1].isspace() else 0
        try:
            data, end = _SCAN(text, start)  # json.loads without its two whitespace passes
        except StopIteration:
            raise CodecError(where, f"not valid JSON (no value at character {start})") from None
        except RecursionError:
            raise CodecError(where, _too_deep()) from None
        except ValueError as error:
            raise CodecError(where, f"not valid JSON ({error})") from None
        if end != len(text) and text[end:].strip():
            raise CodecError(where, f"not valid JSON (extra data at character {end})")
        return self.decode(data, where)


# -- encoding helpers -------------------------------------------------------------------

_BIG_INT = (
    "an int with more than 4300 digits cannot be written as JSON text by every "
    "backend; store it as a str (str(n)) or bytes"
)


def _too_deep() -> str:
    return (
        f"nested more than {MAX_DEPTH} levels deep, or it contains itself; "
        f"flatten it, or store it as a str or bytes"
    )


def _surrogate_problem(text: str) -> str:
    return (
        f"the str {text!r:.60} holds a lone surrogate, which is not UTF-8 text and "
        f"cannot be written to a file; store bytes, or decode with errors='replace'"
    )


def _findable(kind: type) -> str:
    """``kind``'s file name, once it is known to lead back to ``kind`` when loaded."""
    name = type_name(kind)
    if find_type(name) is not kind:
        raise _Refused(
            f"the class {name!r} cannot be found again by its name when the value is "
            f"loaded (defined inside a function, or shadowed); define it at module "
            f"level, or register it with executor.register_type({kind.__qualname__})"
        )
    return name


def _plain_timezone(zone: dt.tzinfo) -> bool:
    """A ``datetime.timezone`` without a custom name (ISO 8601 offsets bring it back)."""
    if type(zone) is not dt.timezone:
        return False
    offset = zone.utcoffset(None)
    return str(zone) == str(dt.timezone(offset))


def _zone_key(zone: dt.tzinfo) -> str | None:
    zoneinfo = sys.modules.get("zoneinfo")
    if zoneinfo is not None and type(zone) is zoneinfo.ZoneInfo:
        key: str | None = zone.key  # type: ignore[attr-defined]
        return key
    return None


def _zone_problem(zone: dt.tzinfo) -> str:
    return (
        f"a time zone of type {type(zone).__module__}.{type(zone).__qualname__} ({zone}) "
        f"would not load back as itself; use zoneinfo.ZoneInfo('Area/City') or "
        f"datetime.timezone(offset)"
    )


def _encode_datetime(codec: Codec, value: dt.datetime, depth: int) -> JSONValue:
    zone = value.tzinfo
    if zone is None or _plain_timezone(zone):
        return {"$datetime": value.isoformat()}
    key = _zone_key(zone)
    if key is None:
        raise _Refused(_zone_problem(zone), value)
    return {"$datetime": f"{value.isoformat()}[{key}]"}


def _encode_time(codec: Codec, value: dt.time, depth: int) -> JSONValue:
    if value.tzinfo is not None and not _plain_timezone(value.tzinfo):
        raise _Refused(_zone_problem(value.tzinfo), value)
    return {"$time": value.isoformat()}


def _encode_set(codec: Codec, value: set[Any] | frozenset[Any], depth: int) -> JSONValue:
    items = [codec._encode(v, depth) for v in value]
    items.sort(key=lambda item: json.dumps(item, sort_keys=True))
    return {"$frozenset" if type(value) is frozenset else "$set": items}


_EXACT_ENCODERS: dict[type, Callable[[Codec, Any, int], JSONValue]] = {
    tuple: lambda c, v, d: {"$tuple": [c._encode(item, d) for item in v]},
    set: _encode_set,
    frozenset: _encode_set,
    bytes: lambda c, v, d: {"$bytes": base64.b64encode(v).decode("ascii")},
    _REAL_TIME_TYPES[0]: _encode_datetime,
    _REAL_TIME_TYPES[1]: lambda c, v, d: {"$date": v.isoformat()},
    _REAL_TIME_TYPES[2]: _encode_time,
    decimal.Decimal: lambda c, v, d: {"$decimal": str(v)},
    uuid.UUID: lambda c, v, d: {"$uuid": str(v)},
    _CONCRETE_PATH: lambda c, v, d: {"$path": v.as_posix()},
    pathlib.PurePosixPath: lambda c, v, d: {"$pureposixpath": v.as_posix()},
    pathlib.PureWindowsPath: lambda c, v, d: {"$purewindowspath": v.as_posix()},
}


# -- decoding helpers -------------------------------------------------------------------


def _body(body: Any, *names: str) -> dict[str, Any]:
    """``body`` checked to be an object with (at least) these keys."""
    if type(body) is not dict:
        raise ValueError(f"expected an object, got {type(body).__name__} {body!r:.60}")
    missing = [name for name in names if name not in body]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    return body


def _text(body: Any) -> str:
    if type(body) is not str:
        raise ValueError(f"expected a str, got {type(body).__name__} {body!r:.60}")
    return body


def _kind(name: Any, tag: str, what: str, check: Callable[[type], bool]) -> Any:
    """The class a ``tag`` value names, found without running code, of the right kind."""
    name = _text(name)
    kind = find_type(name)
    if kind is None:
        module = name.partition(":")[0]
        raise _Refused(
            f"the class {name!r} is not available, and loading never imports a module a "
            f"file names: import {module!r} before loading, or register the class with "
            f"executor.register_type()"
        )
    if not check(kind):
        raise _Refused(f"{name!r} is not {what}, as a {tag} value must name; it was not called")
    return kind


def _decode_dict(codec: Codec, body: Any, depth: int) -> Any:
    pairs = codec._items(body, depth)
    if not all(type(pair) is list and len(pair) == 2 for pair in pairs):
        raise ValueError("expected a list of [key, value] pairs")
    return dict(pairs)


def _decode_ordered(codec: Codec, body: Any, depth: int) -> Any:
    body = _body(body, "keys", "values")
    keys, values = body["keys"], body["values"]
    if type(keys) is not list or type(values) is not dict or set(keys) != values.keys():
        raise ValueError("expected keys (a list) and values (an object) with those keys")
    if len(keys) != len(values):
        raise ValueError("a key is listed twice")
    return {key: codec._decode(values[key], depth) for key in keys}


def _decode_enum(codec: Codec, body: Any, depth: int) -> Any:
    body = _body(body, "type", "value")
    kind = _kind(body["type"], "$enum", "an Enum class", is_enum_type)
    value = codec._decode(body["value"], depth)
    try:
        return kind(value)
    except ValueError:
        raise _Refused(
            f"{body['type']!r} has no member with value {value!r} (renamed or removed "
            f"since the data was stored?)"
        ) from None


def _decode_dataclass(codec: Codec, body: Any, depth: int) -> Any:
    return _rebuild(codec, body, depth, "$dataclass", "a dataclass", is_dataclass_type)


def _decode_namedtuple(codec: Codec, body: Any, depth: int) -> Any:
    return _rebuild(codec, body, depth, "$namedtuple", "a named tuple class", is_namedtuple_type)


def _rebuild(
    codec: Codec, body: Any, depth: int, tag: str, what: str, check: Callable[[type], bool]
) -> Any:
    body = _body(body, "type", "fields")
    kind = _kind(body["type"], tag, what, check)
    if type(body["fields"]) is not dict:
        raise ValueError("fields must be an object")
    fields = {k: codec._decode(v, depth) for k, v in body["fields"].items()}
    try:
        return kind(**fields)
    except TypeError as error:
        raise _Refused(
            f"cannot rebuild {body['type']!r} from the stored fields {sorted(fields)} "
            f"({error}; a field renamed or removed since the data was stored?)"
        ) from None


def _decode_pydantic(codec: Codec, body: Any, depth: int) -> Any:
    body = _body(body, "type", "data")
    kind = _kind(body["type"], "$pydantic", "a pydantic model class", is_pydantic_type)
    data = codec._decode(body["data"], depth)
    model = kind.model_validate(data)
    private = codec._decode(body.get("private") or {}, depth)
    if private:
        slots = object.__getattribute__(model, "__pydantic_private__")
        if slots is None or not set(private) <= set(slots):
            raise ValueError(f"{body['type']!r} has no private attributes {sorted(private)}")
        slots.update(private)
    return model


def _decode_exception(codec: Codec, body: Any, depth: int) -> Any:
    body = _body(body, "type", "message")
    kind = _kind(body["type"], "$exception", "an exception class", is_exception_type)
    message = _text(body["message"])
    args = codec._decode(body.get("args"), depth)
    try:
        error = kind(*(args if type(args) is list else [message]))
    except Exception:
        return EncodedException(body["type"], message)
    return error


def _decode_pickle(codec: Codec, body: Any, depth: int) -> Any:
    if not codec.allow_pickle:
        raise _Refused(
            "holds pickled data, and pickle is not allowed here; open "
            "the store or cache with pickle allowed if you trust the file"
        )
    return pickle.loads(base64.b64decode(_text(body), validate=True))


def _decode_float(codec: Codec, body: Any, depth: int) -> Any:
    if type(body) is not str or body not in _FLOAT_NAMES:
        raise _Refused(f"unknown float {body!r}")
    return _FLOAT_NAMES[body]


def _decode_datetime(codec: Codec, body: Any, depth: int) -> Any:
    text = _text(body)
    if not text.endswith("]"):
        return _REAL_TIME_TYPES[0].fromisoformat(text)
    import zoneinfo  # only for data that names a zone; a zone name is data, not code

    stamp, _, key = text[:-1].partition("[")
    written = _REAL_TIME_TYPES[0].fromisoformat(stamp)
    if written.tzinfo is None:
        raise ValueError("a zone needs an offset")
    local = written.replace(tzinfo=zoneinfo.ZoneInfo(key))
    for fold in (0, 1):  # the offset tells which of two equal wall times it was
        candidate = local.replace(fold=fold)
        if candidate.utcoffset() == written.utcoffset():
            return candidate
    raise ValueError(f"offset {stamp[-6:]} is not an offset of {key}")


def _decode_bytes(codec: Codec, body: Any, depth: int) -> Any:
    return base64.b64decode(_text(body), validate=True)


_DECODERS: dict[str, Callable[[Codec, Any, int], Any]] = {
    "$float": _decode_float,
    "$tuple": lambda c, b, d: tuple(c._items(b, d)),
    "$set": lambda c, b, d: set(c._items(b, d)),
    "$frozenset": lambda c, b, d: frozenset(c._items(b, d)),
    "$dict": _decode_dict,
    "$ordered": _decode_ordered,
    "$bytes": _decode_bytes,
    "$datetime": _decode_datetime,
    "$date": lambda c, b, d: _REAL_TIME_TYPES[1].fromisoformat(_text(b)),
    "$time": lambda c, b, d: _REAL_TIME_TYPES[2].fromisoformat(_text(b)),
    "$decimal": lambda c, b, d: decimal.Decimal(_text(b)),
    "$uuid": lambda c, b, d: uuid.UUID(_text(b)),
    "$path": lambda c, b, d: pathlib.Path(_text(b)),
    "$pureposixpath": lambda c, b, d: pathlib.PurePosixPath(_text(b)),
    "$purewindowspath": lambda c, b, d: pathlib.PureWindowsPath(_text(b)),
    "$enum": _decode_enum,
    "$dataclass": _decode_dataclass,
    "$namedtuple": _decode_namedtuple,
    "$pydantic": _decode_pydantic,
    "$exception": _decode_exception,
    "$pickle": _decode_pickle,
}


# -- error paths (worked out only when something is refused) ----------------------------


def _value_path(chain: list[Any]) -> str:
    """``"['rows'][1].when"``: where ``chain[0]`` sits inside ``chain[-1]``."""
    return _shortened(
        [_value_step(chain[i + 1], chain[i]) for i in reversed(range(len(chain) - 1))]
    )


def _shortened(steps: list[str]) -> str:
    """The path; a very deep one (a value refused for its depth) with its middle elided."""
    if len(steps) > 16:
        steps = [*steps[:8], f"...({len(steps) - 12} levels)...", *steps[-4:]]
    return "".join(steps)


def _value_step(parent: Any, child: Any) -> str:
    if isinstance(parent, dict):
        for key, item in parent.items():
            if item is child:
                return f"[{key!r}]"
        for key in parent:
            if key is child:
                return f" key {key!r}"
        return ""
    if isinstance(parent, tuple) and hasattr(parent, "_fields"):
        for name in parent._fields:
            if getattr(parent, name) is child:
                return f".{name}"
    if isinstance(parent, (list, tuple)):
        for index, item in enumerate(parent):
            if item is child:
                return f"[{index}]"
    if isinstance(parent, (set, frozenset)):
        return " item"
    if isinstance(parent, enum.Enum):
        return ".value"
    if isinstance(parent, BaseException):
        return ".args"
    for name in type(parent).model_fields if _is_pydantic(parent) else ():
        if getattr(parent, name, None) is child:
            return f".{name}"
    if dataclasses.is_dataclass(parent):
        for field in dataclasses.fields(parent):
            if getattr(parent, field.name) is child:
                return f".{field.name}"
    return ""


def _data_path(chain: list[Any]) -> str:
    """Where ``chain[0]`` sits inside the stored data ``chain[-1]``, as ``[k][i]...``."""
    steps: list[str] = []
    for i in reversed(range(len(chain) - 1)):
        found = _find(chain[i + 1], chain[i], 4)
        steps += [f"[{key!r}]" for key in found or ()]
    return _shortened(steps)


def _find(data: Any, target: Any, levels: int) -> list[Any] | None:
    """The keys leading from ``data`` to the very object ``target`` (a short search)."""
    if levels == 0:
        return None
    if type(data) is dict:
        pairs = list(data.items())
    elif type(data) is list:
        pairs = list(enumerate(data))
    else:
        return None
    for key, item in pairs:
        if item is target:
            return [key]
    for key, item in pairs:
        below = _find(item, target, levels - 1)
        if below is not None:
            return [key, *below]
    return None


JSON_CODEC = Codec()
"""The default codec: typed JSON, no pickle."""
PICKLE_CODEC = Codec(allow_pickle=True)
"""Typed JSON with pickle for what it cannot express; only where a user opted in."""
