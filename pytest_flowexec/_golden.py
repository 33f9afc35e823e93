"""Golden files: where one lives, what is in it, and how a value differs from it.

    fixtures/regression/<test module path>/<test name>[.<check name>].json

    {
      "format": "flowexec-golden",
      "test": "tests/test_report.py::test_total",
      "value": ...,
      "version": 1
    }

``value`` is typed JSON (``executor.testing.encode_value``), keys sorted, sets in
canonical order, so equal values give byte-identical files in every process and
under every hash seed. Comparing never decodes a file: the obtained value is encoded
and the two JSON trees are walked side by side, so loading a golden file imports
nothing and calls nothing it names.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_flowexec._documents import read_document

FORMAT = "flowexec-golden"
VERSION = 1
OBTAINED = ".obtained"
"""Infix of the file written beside a golden file when a value differs from it."""
_SAFE = re.compile(r"[A-Za-z0-9_\-\[\]]+")
_MAX_STEM = 100
"""Longer names are cut and given a hash suffix (paths must stay short on Windows)."""


def stem(name: str) -> str:
    """``name`` as a file-name part, distinct for distinct names.

    A name made of safe characters (letters, digits, ``_-[]``) stays as it is. Any
    other name (``a/b``, ``1.5``, spaces, non-ASCII) or a very long one is made safe
    and given a suffix of its SHA-256, so ``test[a/b]`` and ``test[a_b]`` never share
    a file.

    Example:
        >>> stem("test_x[1-2]")
        'test_x[1-2]'
        >>> stem("test_x[a/b]")
        'test_x[a_b]-6a54fd2bf8'
    """
    if _SAFE.fullmatch(name) and len(name) <= _MAX_STEM:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
    safe = re.sub(r"[^A-Za-z0-9_\-\[\]]", "_", name)[: _MAX_STEM - 11]
    return f"{safe}-{digest}"


def location(
    root: Path, directory: str, module: Path, cls: str | None, test: str, check: str | None
) -> Path:
    """The one place that decides where a golden file lives.

    Args:
        root: the rootdir; ``directory`` is relative to it.
        module: the test module's path; its path under ``root`` (without ``.py``)
            becomes a folder, so same-named tests in two modules never collide.
        cls: the test's class, for a method (``Class.test_x``).
        test: the test's name with its parameter id, ``test_x[id]``.
        check: the check's name, or None for the test's first unnamed check.

    Every part goes through :func:`stem`, which never keeps a dot, so the dots in
    a file name separate class, test and check unambiguously.
    """
    try:
        relative = module.resolve().relative_to(root.resolve())
    except ValueError:
        relative = Path(module.name)
    name = f"{stem(cls)}.{stem(test)}" if cls else stem(test)
    if check is not None:
        name += f".{stem(check)}"
    return root / directory / relative.with_suffix("") / f"{name}.json"


def obtained_path(golden: Path) -> Path:
    """Where the differing value is written, beside its golden file."""
    return golden.with_name(golden.name[: -len(".json")] + OBTAINED + ".json")


def owners(golden: Path) -> list[str]:
    """The test parts a golden file's name may belong to (``a.b.c`` -> ``a``, ``a.b``,
    ``a.b.c``): a test owns a file when its own part is one of them."""
    parts = golden.name[: -len(".json")].split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts) + 1)]


# -- file text ------------------------------------------------------------------------


def text(test: str, encoded: Any) -> str:
    """A golden file's text for an already encoded value."""
    document = {"format": FORMAT, "version": VERSION, "test": test, "value": encoded}
    return (
        json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    )


class GoldenFileError(Exception):
    """A golden file cannot be read: damaged, or of another format or version."""


def read(path: Path) -> Any:
    """The encoded value kept in ``path`` (raises GoldenFileError naming the file)."""
    document = read_document(
        path,
        kind="golden file",
        form=FORMAT,
        version=VERSION,
        error=GoldenFileError,
        fix="rewrite it with --flow-regen",
    )
    return document.get("value")


def write(path: Path, content: str) -> None:
    """Write ``content`` atomically (a crash never leaves half a golden file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- tolerance ------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """How far a float or Decimal may be from its golden value: ``|a - b|`` within
    ``abs`` or within ``rel * |golden|`` (either suffices)."""

    abs: float = 0.0
    rel: float = 0.0

    def __post_init__(self) -> None:
        if self.abs < 0 or self.rel < 0:
            raise ValueError(f"tolerances are not negative, got abs={self.abs} rel={self.rel}")

    def allows(self, golden: float | decimal.Decimal, obtained: float | decimal.Decimal) -> bool:
        gap = abs(obtained - golden)  # type: ignore[operator]
        return bool(gap <= type(gap)(self.abs) or gap <= type(gap)(self.rel) * abs(golden))

    def __str__(self) -> str:
        parts = [f"abs={self.abs:g}"] if self.abs else []
        parts += [f"rel={self.rel:g}"] if self.rel else []
        return " ".join(parts) or "exact"


def as_tolerance(value: Any, where: str) -> Tolerance:
    if isinstance(value, Tolerance):
        return value
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        return Tolerance(abs=float(value))
    raise TypeError(
        f"{where}: a tolerance is a number (absolute) or flow_regression.approx(abs=, rel=), "
        f"got {value!r}"
    )


class Tolerances:
    """Tolerances by path: ``None`` (exact), one for every number, or a mapping of
    path patterns (``*`` matches anything) to tolerances; the longest matching
    pattern wins."""

    def __init__(self, spec: Any) -> None:
        self.default: Tolerance | None = None
        self.patterns: list[tuple[re.Pattern[str], str, Tolerance]] = []
        if spec is None:
            return
        if isinstance(spec, Mapping):
            for pattern, value in sorted(spec.items(), key=lambda kv: -len(kv[0])):
                regex = re.compile(".*".join(re.escape(part) for part in pattern.split("*")))
                self.patterns.append(
                    (regex, pattern, as_tolerance(value, f"tolerance[{pattern!r}]"))
                )
        else:
            self.default = as_tolerance(spec, "tolerance")

    def at(self, path: str) -> Tolerance | None:
        for regex, _, tolerance in self.patterns:
            if regex.fullmatch(path):
                return tolerance
        return self.default


# -- comparing ------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One place where the obtained value differs from the golden one."""

    path: str
    """Where, e.g. ``value['rows'][2]`` or ``report/total`` (``*`` tolerances match it)."""
    golden: str
    """The golden side, as short JSON text (``-`` when missing)."""
    obtained: str
    note: str = ""

    def __str__(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"{self.path}: golden {self.golden}, obtained {self.obtained}{note}"


_MISSING = "-"


def _show(encoded: Any) -> str:
    shown = json.dumps(encoded, sort_keys=True, ensure_ascii=False)
    return shown if len(shown) <= 120 else shown[:117] + "..."


def _tag(node: Any) -> str | None:
    if type(node) is dict and len(node) == 1:
        (key,) = node
        if key.startswith("$"):
            return str(key)
    return None


def compare(golden: Any, obtained: Any, path: str, tolerances: Tolerances) -> Iterator[Difference]:
    """Every difference between two typed-JSON trees, in a stable order."""
    tag, other = _tag(golden), _tag(obtained)
    if "$ordered" in (tag, other) and {tag, other} <= {"$ordered", None}:
        yield from _compare_ordered(golden, obtained, path, tolerances)
        return
    if tag is not None or other is not None:
        if tag != other:
            yield Difference(path, _show(golden), _show(obtained), "different types")
        else:
            yield from _compare_tagged(str(tag), golden[tag], obtained[tag], path, tolerances)
        return
    if type(golden) is not type(obtained):
        yield Difference(path, _show(golden), _show(obtained), "different types")
    elif type(golden) is dict:
        for key in sorted(set(golden) | set(obtained)):
            inner = f"{path}[{key!r}]"
            if key not in obtained:
                yield Difference(inner, _show(golden[key]), _MISSING, "missing")
            elif key not in golden:
                yield Difference(inner, _MISSING, _show(obtained[key]), "new")
            else:
                yield from compare(golden[key], obtained[key], inner, tolerances)
    elif type(golden) is list:
        yield from _compare_lists(golden, obtained, path, tolerances)
    elif type(golden) is float:
        yield from _compare_numbers(golden, obtained, path, tolerances)
    elif golden != obtained:
        yield Difference(path, _show(golden), _show(obtained))


def _compare_lists(
    golden: list[Any], obtained: list[Any], path: str, tolerances: Tolerances
) -> Iterator[Difference]:
    for i, (left, right) in enumerate(zip(golden, obtained, strict=False)):
        yield from compare(left, right, f"{path}[{i}]", tolerances)
    for i in range(len(obtained), len(golden)):
        yield Difference(f"{path}[{i}]", _show(golden[i]), _MISSING, "missing")
    for i in range(len(golden), len(obtained)):
        yield Difference(f"{path}[{i}]", _MISSING, _show(obtained[i]), "new")


def _compare_numbers(
    golden: Any, obtained: Any, path: str, tolerances: Tolerances
) -> Iterator[Difference]:
    if golden == obtained:
        return
    tolerance = tolerances.at(path)
    if tolerance is not None and tolerance.allows(golden, obtained):
        return
    gap = abs(obtained - golden)
    within = f"; tolerance {tolerance}" if tolerance is not None else ""
    yield Difference(path, _show_number(golden), _show_number(obtained), f"off by {gap}{within}")


def _show_number(value: Any) -> str:
    return str(value) if isinstance(value, decimal.Decimal) else _show(value)


def _compare_tagged(
    tag: str, golden: Any, obtained: Any, path: str, tolerances: Tolerances
) -> Iterator[Difference]:
    if tag in ("$tuple", "$set", "$frozenset") and type(golden) is type(obtained) is list:
        if tag == "$tuple":
            yield from _compare_lists(golden, obtained, path, tolerances)
            return
        left = {_show(item) for item in golden}
        right = {_show(item) for item in obtained}
        for item in sorted(left - right):
            yield Difference(f"{path} item", item, _MISSING, "missing from the set")
        for item in sorted(right - left):
            yield Difference(f"{path} item", _MISSING, item, "new in the set")
    elif tag == "$decimal":
        numbers = _decimals(golden, obtained)
        if numbers is None:
            if golden != obtained:
                yield Difference(path, str(golden), str(obtained))
            return
        yield from _compare_numbers(numbers[0], numbers[1], path, tolerances)
    elif tag == "$dict" and type(golden) is type(obtained) is list:
        pairs = {_show(pair[0]): pair[1] for pair in golden}
        others = {_show(pair[0]): pair[1] for pair in obtained}
        yield from compare(pairs, others, path, tolerances)
    elif tag in ("$dataclass", "$namedtuple", "$pydantic", "$enum") and _typed(golden, obtained):
        if golden["type"] != obtained["type"]:
            yield Difference(path, golden["type"], obtained["type"], "different types")
            return
        for key in sorted(set(golden) - {"type"}):
            inner = golden[key], obtained.get(key)
            if key == "fields" and type(inner[0]) is type(inner[1]) is dict:
                for name in sorted(set(inner[0]) | set(inner[1])):
                    yield from compare(
                        inner[0].get(name), inner[1].get(name), f"{path}.{name}", tolerances
                    )
            else:
                yield from compare(inner[0], inner[1], path, tolerances)
    elif golden != obtained:
        yield Difference(path, _show({tag: golden}), _show({tag: obtained}))


def _typed(golden: Any, obtained: Any) -> bool:
    return type(golden) is type(obtained) is dict and "type" in golden and "type" in obtained


def _decimals(golden: Any, obtained: Any) -> tuple[decimal.Decimal, decimal.Decimal] | None:
    """Both sides as finite Decimals, or None (NaN and infinities compare as text)."""
    try:
        left, right = decimal.Decimal(golden), decimal.Decimal(obtained)
    except (decimal.InvalidOperation, TypeError, ValueError):
        return None
    return (left, right) if left.is_finite() and right.is_finite() else None


def _ordered(node: Any) -> tuple[list[Any], Any] | None:
    """``(keys in order, values by key)`` of a dict node, ``$ordered`` or plain."""
    if type(node) is not dict:
        return None
    if _tag(node) != "$ordered":
        return sorted(node), node
    body = node["$ordered"]
    if type(body) is not dict or type(body.get("keys")) is not list:
        return None
    if type(body.get("values")) is not dict:
        return None
    return body["keys"], body["values"]


def _compare_ordered(
    golden: Any, obtained: Any, path: str, tolerances: Tolerances
) -> Iterator[Difference]:
    """Dicts whose key order is kept (``$ordered``): the order, then the values."""
    left, right = _ordered(golden), _ordered(obtained)
    if left is None or right is None:
        if golden != obtained:
            yield Difference(path, _show(golden), _show(obtained))
        return
    if set(left[0]) == set(right[0]) and left[0] != right[0]:
        yield Difference(path, _show(left[0]), _show(right[0]), "key order differs")
    yield from compare(left[1], right[1], path, tolerances)
