"""The protocol every cache backend implements."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class CacheBackend(Protocol):
    """Stores values under keys, with an optional time to live.

    Values are JSON-ready data, as the typed codec encodes them (lists, str-keyed
    dicts, str, numbers, bools; never ``None``, which means "absent"): a backend
    may keep them as they are (memory) or as JSON text (a file). ``get`` may return
    the very object it holds: the engine only reads it, decoding into fresh
    objects. Backends must be safe to call from several threads; expiry is judged
    by ``time.time()`` on read.
    """

    def get(self, key: str) -> Any:
        """The stored data for ``key``, or ``None`` when absent or expired."""

    def put(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: no expiry)."""

    def delete(self, key: str) -> None:
        """Forget ``key``, if present."""

    def clear(self) -> None:
        """Forget everything."""

    def __len__(self) -> int:
        """How many entries are stored (expired ones not yet pruned included)."""
