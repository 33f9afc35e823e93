"""The protocol every cache backend implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class CacheBackend(Protocol):
    """Stores encoded values (text) under keys, with an optional time to live.

    Backends must be safe to call from several threads; expiry is judged by
    ``time.time()`` when an entry is read.
    """

    def get(self, key: str) -> str | None:
        """The stored text for ``key``, or ``None`` when absent or expired."""

    def put(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: no expiry)."""

    def delete(self, key: str) -> None:
        """Forget ``key``, if present."""

    def clear(self) -> None:
        """Forget everything."""

    def __len__(self) -> int:
        """How many entries are stored (expired ones not yet pruned included)."""
