"""The cache stage of one run: keys, lookups and stores, for every nesting level.

(Single-flight, parking identical calls behind the first, is per nesting level and
lives in RunState.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from executor._codec import CodecError
from executor._errors import hide_engine_frame
from executor._plan import PlanNode
from executor.cache._backend import CacheBackend
from executor.cache._keys import call_key

__tracebackhide__ = hide_engine_frame  # pytest shows the user's frames, not these

logger = logging.getLogger("executor.cache")

_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})

MISS = object()
"""Returned by :meth:`RunCache.lookup` when there is no usable entry."""


class RunCache:
    """Per run: the default backend, and how to key, look up and store a call."""

    def __init__(self, backend: CacheBackend | None, fallback: Callable[[], CacheBackend]) -> None:
        self._backend = backend
        self._fallback = fallback

    @property
    def backend(self) -> CacheBackend:
        """The run's backend: the one given, else the flow's default (made on demand)."""
        if self._backend is None:
            self._backend = self._fallback()
        return self._backend

    def key(self, node: PlanNode, inputs: dict[str, Any], context: Any, address: str) -> str:
        """The call's cache key, without looking it up (raises as :meth:`fetch` does)."""
        return call_key(node.step, inputs, context, address=address)

    def fetch(
        self, node: PlanNode, inputs: dict[str, Any], context: Any, address: str
    ) -> tuple[str, Any]:
        """The call's key and its cached output, or :data:`MISS` as the output.

        Raises CacheKeyError for inputs with no stable encoding (and whatever a
        ``CachePolicy(key=...)`` function raises).
        """
        policy = node.step.cache
        assert policy is not None
        key = call_key(node.step, inputs, context, address=address)
        backend = policy.cache
        if backend is None:  # (an empty backend is falsy: compare with None)
            backend = self._backend if self._backend is not None else self.backend
        stored = backend.get(key)
        if stored is None:
            return key, MISS
        try:
            if type(stored) is not list or len(stored) != 1:
                # What store() puts is always [data]: anything else was not written by it.
                raise TypeError(f"not a cached value: {stored!r:.80}")
            value = stored[0]
            if type(value) in _JSON_SCALARS:  # as both codecs decode a scalar: itself
                return key, value
            return key, policy.value_codec.decode(value, address)
        except (CodecError, TypeError) as error:
            # Written before the code changed (an Enum member renamed, a dataclass field
            # removed), or damaged: a miss, so the step runs again and its output
            # replaces the entry.
            logger.warning(
                "step %r: cache entry %s in %s cannot be read (%s); the step runs again "
                "and overwrites it",
                address,
                key,
                _where(backend),
                error,
            )
            return key, MISS

    def store(self, node: PlanNode, key: str, value: Any, address: str) -> None:
        """Encode and store a completed call's output (raises CodecError if it cannot)."""
        policy = node.step.cache
        assert policy is not None
        data = policy.value_codec.encode(value, f"{address} output")
        backend = policy.cache if policy.cache is not None else self.backend
        # Wrapped in a list: a cached None must not read back as "absent".
        backend.put(key, [data], policy.ttl)


def _where(backend: CacheBackend) -> str:
    """The backend as a warning names it: its file when it has one."""
    path = getattr(backend, "path", None)
    return f"cache file {str(path)!r}" if path is not None else repr(backend)
