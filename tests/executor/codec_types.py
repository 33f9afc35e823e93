"""Importable types for codec tests (decoding imports types by module and name)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    tags: tuple[str, ...] = ()


@dataclass
class Box:
    corner: Point
    items: list[int] = field(default_factory=list)


class Pair(NamedTuple):
    left: int
    right: str


class NeedsTwo(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(a, b)
