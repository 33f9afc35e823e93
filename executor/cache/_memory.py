"""MemoryCache: an LRU with TTL, in this process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from executor._errors import FlowDefinitionError


class MemoryCache:
    """Least-recently-used cache with per-entry expiry, safe across threads.

    Values are kept as encoded (JSON-ready) data and decoded on every hit, so a hit
    returns a fresh copy: a caller mutating a result cannot change the next hit's.

    Args:
        max_entries: entries kept; the least recently used goes first.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        if not isinstance(max_entries, int) or isinstance(max_entries, bool) or max_entries < 1:
            raise FlowDefinitionError(f"max_entries must be an int >= 1, got {max_entries!r}")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Any, float | None]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<MemoryCache {len(self)}/{self.max_entries} entries>"

    def get(self, key: str) -> Any:
        # Lock-free on a hit (a hit is a cached step's whole cost): with str keys each
        # OrderedDict operation below is one C call that cannot run Python code, so
        # it is atomic under the GIL. A put or delete racing it is seen either before
        # or after; only the expiry, two steps, takes the lock.
        entries = self._entries
        found = entries.get(key)
        if found is None:
            return None
        value, expires_at = found
        if expires_at is not None and expires_at <= time.time():
            with self._lock:
                if entries.get(key) is found:
                    del entries[key]
            return None
        try:
            entries.move_to_end(key)
        except KeyError:  # evicted or deleted since the read: the value is still good
            pass
        return value

    def put(self, key: str, value: Any, ttl: float | None = None) -> None:
        expires_at = None if ttl is None else time.time() + ttl
        with self._lock:
            self._entries[key] = (value, expires_at)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
