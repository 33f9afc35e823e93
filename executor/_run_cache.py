"""The cache stage of one run: keys, lookups, single-flight, stores.

Concurrent identical calls in one run compute once: the first claims the key, the
others park behind it. When the leader ends they begin again and, if it
succeeded, find its entry in the cache (status CACHED); if it failed, one of them
becomes the next leader and runs.
"""

from __future__ import annotations

import logging
from typing import Any

from executor._codec import CodecError
from executor._plan import PlanNode
from executor.cache._backend import CacheBackend
from executor.cache._keys import KEY_GENERATOR

logger = logging.getLogger("executor.cache")

MISS = object()
"""Returned by :meth:`RunCache.lookup` when there is no usable entry."""


class RunCache:
    """Per run: the default backend, keys by node, and calls in flight by key."""

    def __init__(self, backend: CacheBackend | None, context: Any) -> None:
        self.backend = backend
        self.context = context
        self.leaders: dict[str, int] = {}
        self.parked: dict[str, list[int]] = {}

    def fetch(self, node: PlanNode, inputs: dict[str, Any], address: str) -> tuple[str, Any]:
        """The call's key and its cached output, or :data:`MISS` as the output.

        Raises CacheKeyError for inputs with no stable encoding (and whatever a
        ``CachePolicy(key=...)`` function raises).
        """
        policy = node.step.cache
        assert policy is not None
        context = self.context if policy.include_context else None
        if policy.key is None:
            key = KEY_GENERATOR.key(node.step, inputs, context, address=address)
        else:
            key = KEY_GENERATOR.key_of(
                node.step, policy.key(inputs), "CachePolicy.key(inputs)", context, address=address
            )
        backend = policy.cache if policy.cache is not None else self.backend
        assert backend is not None  # ExecutorCore supplies one whenever a plan is cached
        text = backend.get(key)
        if text is None:
            return key, MISS
        try:
            return key, policy.value_codec.loads(text, address)
        except CodecError:
            # e.g. a type that was renamed since the entry was written: recompute.
            logger.warning(
                "unreadable cache entry for %s (key %s); recomputing", address, key, exc_info=True
            )
            return key, MISS

    def claim(self, key: str, index: int) -> bool:
        """Whether node ``index`` leads the call ``key`` (else it is parked behind it)."""
        if key in self.leaders:
            self.parked.setdefault(key, []).append(index)
            return False
        self.leaders[key] = index
        return True

    def store(self, node: PlanNode, key: str, value: Any, address: str) -> None:
        """Encode and store a completed call's output (raises CodecError if it cannot)."""
        policy = node.step.cache
        assert policy is not None
        text = policy.value_codec.dumps(value, f"{address} output")
        backend = policy.cache if policy.cache is not None else self.backend
        assert backend is not None
        backend.put(key, text, policy.ttl)

    def release(self, key: str) -> list[int]:
        """The call ``key`` ended: the nodes parked behind it, to begin again."""
        self.leaders.pop(key, None)
        return self.parked.pop(key, [])
