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
from executor.cache._policy import CachePolicy

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

    def _backend(self, policy: CachePolicy, address: str) -> CacheBackend:
        backend = policy.cache if policy.cache is not None else self.backend
        if backend is None:  # pragma: no cover - ExecutorCore always supplies one
            raise RuntimeError(f"step {address!r} has a cache policy but no cache backend")
        return backend

    def key(self, node: PlanNode, inputs: dict[str, Any], address: str) -> str:
        """The cache key of this call (raises CacheKeyError for unencodable inputs)."""
        policy = node.step.cache
        assert policy is not None
        context = self.context if policy.include_context else None
        if policy.key is None:
            return KEY_GENERATOR.key(node.step, inputs, context, address=address)
        chosen = policy.key(inputs)
        return KEY_GENERATOR.key_of(
            node.step, chosen, "CachePolicy.key(inputs)", context, address=address
        )

    def lookup(self, node: PlanNode, key: str, address: str) -> Any:
        """The cached output for ``key``, or :data:`MISS`."""
        policy = node.step.cache
        assert policy is not None
        text = self._backend(policy, address).get(key)
        if text is None:
            return MISS
        try:
            return policy.value_codec.loads(text, f"{address} cached output")
        except CodecError:
            # e.g. a type that was renamed since the entry was written: recompute.
            logger.warning(
                "unreadable cache entry for %s (key %s); recomputing", address, key, exc_info=True
            )
            return MISS

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
        self._backend(policy, address).put(key, text, policy.ttl)

    def release(self, key: str) -> list[int]:
        """The call ``key`` ended: the nodes parked behind it, to begin again."""
        self.leaders.pop(key, None)
        return self.parked.pop(key, [])
