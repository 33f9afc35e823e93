"""CachePolicy: whether and how one step's results are cached.

It lives outside the ``executor.cache`` package (which re-exports it) because a
step's signature names it: ``@step`` must resolve it (``typing.get_type_hints``)
without importing the cache machinery, SQLite and the codec, which a run without
caching never needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from executor._errors import FlowDefinitionError

if TYPE_CHECKING:
    from executor._codec import Codec
    from executor.cache._backend import CacheBackend


@dataclass(frozen=True, kw_only=True)
class CachePolicy:
    """Cache a step's outputs, keyed by its identity and inputs.

    Example:
        >>> @step(cache=CachePolicy(ttl=3600))          # doctest: +SKIP
        ... def fetch(url: str) -> dict: ...
    """

    ttl: float | None = None
    """Seconds an entry stays valid; ``None`` for as long as the backend keeps it."""
    key: Callable[[Mapping[str, Any]], Any] | None = None
    """Chooses what identifies a call: gets the inputs, returns any key-encodable
    value used in their place (e.g. ``lambda inputs: inputs["url"]``)."""
    include_context: bool = False
    """Whether the run context is part of the key (it must then be encodable)."""
    cache: CacheBackend | None = None
    """The backend for this step; ``None`` uses the run's (see docs/caching.md)."""
    codec: Literal["json", "pickle"] = "json"
    """How values are stored: typed JSON, or pickle for types JSON cannot express."""
    value_codec: Codec = field(init=False, repr=False, compare=False)
    """The codec cached values go through (follows from ``codec``)."""

    def __post_init__(self) -> None:
        if self.ttl is not None and (
            isinstance(self.ttl, bool)
            or not isinstance(self.ttl, (int, float))
            or not math.isfinite(self.ttl)
            or self.ttl <= 0
        ):
            raise FlowDefinitionError(
                f"CachePolicy ttl must be a positive number of seconds or None, got {self.ttl!r}"
            )
        if self.codec not in ("json", "pickle"):
            raise FlowDefinitionError(
                f"CachePolicy codec must be 'json' or 'pickle', got {self.codec!r}"
            )
        if self.key is not None and not callable(self.key):
            raise FlowDefinitionError(f"CachePolicy key must be callable, got {self.key!r}")
        from executor._codec import JSON_CODEC, PICKLE_CODEC  # a cached step needs it

        codec = PICKLE_CODEC if self.codec == "pickle" else JSON_CODEC
        object.__setattr__(self, "value_codec", codec)  # frozen: set once, here
