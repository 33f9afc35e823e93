"""Typed JSON: the one encoding for state, cache entries, recordings and golden files.

Plain JSON values stay plain, so files read well in a diff; everything else is an
object with a single ``"$tag"`` key::

    None, bool, int, str, finite float  ->  themselves (1.0 stays 1.0, -0.0 stays -0.0)
    list                                ->  a JSON array
    dict with str keys, none "$..."     ->  a JSON object (keys sorted when dumped)
    nan, inf, -inf                      ->  {"$float": "nan" | "inf" | "-inf"}
    tuple / set / frozenset             ->  {"$tuple" | "$set" | "$frozenset": [...]}
    any other dict                      ->  {"$dict": [[key, value], ...]}
    bytes                               ->  {"$bytes": "<base64>"}
    datetime / date / time              ->  {"$datetime" | "$date" | "$time": "<ISO 8601>"}
    Decimal / UUID / Path               ->  {"$decimal" | "$uuid" | "$path": "<text>"}
    Enum                                ->  {"$enum": {"type": "mod:Qual", "value": ...}}
    dataclass                           ->  {"$dataclass": {"type": "mod:Qual", "fields": {...}}}
    namedtuple                          ->  {"$namedtuple": {"type": "mod:Qual", "fields": {...}}}
    pydantic model                      ->  {"$pydantic": {"type": "mod:Qual", "data": {...}}}
    exception                           ->  {"$exception": {"type", "message", "args"}}
    anything, with pickle allowed       ->  {"$pickle": "<base64>"}

Sets are written in a canonical order, so equal values always produce equal text.
Anything else raises :class:`CodecError` naming where in the value it sits and its
type. Pickle is never used unless a codec is made with ``allow_pickle=True``, and a
``"$pickle"`` value is never loaded by a codec that does not allow it.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import enum
import importlib
import json
import math
import pathlib
import pickle
import uuid
from collections.abc import Callable
from typing import Any

from executor._errors import FlowError

JSONValue = Any  # None | bool | int | float | str | list[JSONValue] | dict[str, JSONValue]


class CodecError(FlowError, TypeError):
    """A value cannot be encoded or decoded by the typed JSON codec.

    Attributes:
        where: the path of the offending value, e.g. ``"f/load output[3]['when']"``.
    """

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        super().__init__(f"{where}: {problem}")


class EncodedException(FlowError):
    """An exception decoded from a file whose type could not be rebuilt."""

    def __init__(self, type_name: str, message: str) -> None:
        self.type_name = type_name
        super().__init__(f"{type_name}: {message}")


def _qualname(kind: type) -> str:
    return f"{kind.__module__}:{kind.__qualname__}"


def _import_type(name: str, where: str) -> type:
    module_name, _, qualname = name.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, ValueError) as error:
        raise CodecError(where, f"cannot import type {name!r} ({error})") from None
    if not isinstance(found, type):
        raise CodecError(where, f"{name!r} is not a type")
    return found


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
        """``value`` as JSON-ready data; ``where`` names it in errors."""
        kind = type(value)
        if value is None or kind is bool or kind is int or kind is str:
            return value
        if kind is float:
            if math.isfinite(value):
                return value
            return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
        if kind is list:
            return [self.encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
        if kind is dict:
            if all(type(k) is str and not k.startswith("$") for k in value):
                return {k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}
            return {
                "$dict": [
                    [self.encode(k, f"{where} key {k!r}"), self.encode(v, f"{where}[{k!r}]")]
                    for k, v in value.items()
                ]
            }
        return self._encode_other(value, where)

    def _encode_other(self, value: Any, where: str) -> JSONValue:
        if isinstance(value, tuple):
            if hasattr(value, "_fields"):  # a namedtuple keeps its type
                fields = {f: self.encode(getattr(value, f), f"{where}.{f}") for f in value._fields}
                return {"$namedtuple": {"type": _qualname(type(value)), "fields": fields}}
            return {"$tuple": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, (set, frozenset)):
            tag = "$frozenset" if isinstance(value, frozenset) else "$set"
            items = [self.encode(v, f"{where} item") for v in value]
            items.sort(key=lambda item: json.dumps(item, sort_keys=True))
            return {tag: items}
        if isinstance(value, bytes):
            return {"$bytes": base64.b64encode(value).decode("ascii")}
        if isinstance(value, dt.datetime):
            return {"$datetime": value.isoformat()}
        if isinstance(value, dt.date):
            return {"$date": value.isoformat()}
        if isinstance(value, dt.time):
            return {"$time": value.isoformat()}
        if isinstance(value, decimal.Decimal):
            return {"$decimal": str(value)}
        if isinstance(value, uuid.UUID):
            return {"$uuid": str(value)}
        if isinstance(value, pathlib.PurePath):
            return {"$path": value.as_posix()}
        if isinstance(value, enum.Enum):
            return {
                "$enum": {
                    "type": _qualname(type(value)),
                    "value": self.encode(value.value, f"{where}.value"),
                }
            }
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {
                f.name: self.encode(getattr(value, f.name), f"{where}.{f.name}")
                for f in dataclasses.fields(value)
                if f.init
            }
            return {"$dataclass": {"type": _qualname(type(value)), "fields": fields}}
        if _is_pydantic(value):
            data = self.encode(value.model_dump(mode="python"), f"{where}")
            return {"$pydantic": {"type": _qualname(type(value)), "data": data}}
        if isinstance(value, BaseException):
            return {
                "$exception": {
                    "type": _qualname(type(value)),
                    "message": str(value),
                    "args": self._try_encode(list(value.args), f"{where}.args"),
                }
            }
        if self.allow_pickle:
            try:
                return {"$pickle": base64.b64encode(pickle.dumps(value)).decode("ascii")}
            except Exception as error:
                raise CodecError(
                    where, f"{type(value).__qualname__} cannot be pickled either ({error})"
                ) from error
        raise CodecError(
            where,
            f"cannot encode a value of type {type(value).__module__}."
            f"{type(value).__qualname__} as typed JSON; return a supported type "
            f"(a dataclass, dict, list, ...), or opt in to pickle with codec='pickle'",
        )

    def _try_encode(self, value: Any, where: str) -> JSONValue:
        try:
            return self.encode(value, where)
        except CodecError:
            return None

    # -- decoding -------------------------------------------------------------------

    def decode(self, data: JSONValue, where: str = "value") -> Any:
        """The value ``data`` encodes (as made by :meth:`encode`)."""
        kind = type(data)
        if data is None or kind is bool or kind is int or kind is str or kind is float:
            return data
        if kind is list:
            return [self.decode(item, f"{where}[{i}]") for i, item in enumerate(data)]
        if kind is not dict:
            raise CodecError(where, f"unexpected {kind.__name__} in encoded data")
        if len(data) == 1:
            (tag,) = data
            if tag.startswith("$"):
                decoder = _DECODERS.get(tag)
                if decoder is None:
                    raise CodecError(where, f"unknown tag {tag!r} (written by a newer flowexec?)")
                return decoder(self, data[tag], where)
        return {k: self.decode(v, f"{where}[{k!r}]") for k, v in data.items()}

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
            text = text.decode("utf-8")
        start = len(text) - len(text.lstrip()) if text[:1].isspace() else 0
        try:
            data, end = _SCAN(text, start)  # json.loads without its two whitespace passes
        except StopIteration:
            raise CodecError(where, f"not valid JSON (no value at character {start})") from None
        except ValueError as error:
            raise CodecError(where, f"not valid JSON ({error})") from None
        if end != len(text) and text[end:].strip():
            raise CodecError(where, f"not valid JSON (extra data at character {end})")
        return self.decode(data, where)


def _decode_dict(codec: Codec, pairs: Any, where: str) -> Any:
    return {codec.decode(k, f"{where} key"): codec.decode(v, f"{where} value") for k, v in pairs}


def _decode_enum(codec: Codec, body: Any, where: str) -> Any:
    kind = _import_type(body["type"], where)
    return kind(codec.decode(body["value"], where))


def _decode_dataclass(codec: Codec, body: Any, where: str) -> Any:
    kind = _import_type(body["type"], where)
    fields = {k: codec.decode(v, f"{where}.{k}") for k, v in body["fields"].items()}
    return kind(**fields)


def _decode_pydantic(codec: Codec, body: Any, where: str) -> Any:
    kind: Any = _import_type(body["type"], where)
    return kind.model_validate(codec.decode(body["data"], where))


def _decode_exception(codec: Codec, body: Any, where: str) -> Any:
    message = body["message"]
    try:
        kind = _import_type(body["type"], where)
        args = codec.decode(body["args"], where) if body.get("args") is not None else [message]
        error = kind(*args)
        if isinstance(error, BaseException):
            return error
    except Exception:
        pass
    return EncodedException(body["type"], message)


def _decode_pickle(codec: Codec, body: Any, where: str) -> Any:
    if not codec.allow_pickle:
        raise CodecError(
            where,
            "holds pickled data, and pickle is not allowed here; open "
            "the store or cache with pickle allowed if you trust the file",
        )
    return pickle.loads(base64.b64decode(body))


def _decode_float(codec: Codec, body: Any, where: str) -> Any:
    if body not in _FLOAT_NAMES:
        raise CodecError(where, f"unknown float {body!r}")
    return _FLOAT_NAMES[body]


_DECODERS: dict[str, Callable[[Codec, Any, str], Any]] = {
    "$float": _decode_float,
    "$tuple": lambda c, b, w: tuple(c.decode(b, w)),
    "$set": lambda c, b, w: set(c.decode(b, w)),
    "$frozenset": lambda c, b, w: frozenset(c.decode(b, w)),
    "$dict": _decode_dict,
    "$bytes": lambda c, b, w: base64.b64decode(b),
    "$datetime": lambda c, b, w: dt.datetime.fromisoformat(b),
    "$date": lambda c, b, w: dt.date.fromisoformat(b),
    "$time": lambda c, b, w: dt.time.fromisoformat(b),
    "$decimal": lambda c, b, w: decimal.Decimal(b),
    "$uuid": lambda c, b, w: uuid.UUID(b),
    "$path": lambda c, b, w: pathlib.Path(b),
    "$enum": _decode_enum,
    "$dataclass": _decode_dataclass,
    "$namedtuple": _decode_dataclass,
    "$pydantic": _decode_pydantic,
    "$exception": _decode_exception,
    "$pickle": _decode_pickle,
}

JSON_CODEC = Codec()
"""The default codec: typed JSON, no pickle."""
PICKLE_CODEC = Codec(allow_pickle=True)
"""Typed JSON with pickle for what it cannot express; only where a user opted in."""
