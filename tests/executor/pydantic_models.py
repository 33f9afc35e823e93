"""Pydantic models for codec tests (importable: files name classes by module)."""

from __future__ import annotations

import pydantic


class Item(pydantic.BaseModel):
    name: str
    tags: dict[str, int] = {}


class Order(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")

    items: list[Item]
    note: tuple[int, ...] = ()
    _secret: int = 0
