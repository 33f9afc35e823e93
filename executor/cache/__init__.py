"""Result caching: stable cache keys, policies, and memory and SQLite backends.

Example:
    >>> from executor import step, Flow
    >>> from executor.cache import CachePolicy, MemoryCache
    >>> @step(cache=CachePolicy(ttl=60))
    ... def square(x: int) -> int:
    ...     return x * x
    >>> cache = MemoryCache()
    >>> Flow("f", [square]).run(x=3, cache=cache).steps["f/square"].status.value
    'completed'
    >>> Flow("f", [square]).run(x=3, cache=cache).steps["f/square"].status.value
    'cached'
"""

from executor._errors import CacheKeyError
from executor.cache._backend import CacheBackend
from executor.cache._keys import CacheKeyGenerator, call_key, step_identity
from executor.cache._memory import MemoryCache
from executor.cache._policy import CachePolicy
from executor.cache._sqlite import CacheFileError, SQLiteCache

__all__ = [
    "CacheBackend",
    "CacheFileError",
    "CacheKeyError",
    "CacheKeyGenerator",
    "CachePolicy",
    "MemoryCache",
    "SQLiteCache",
    "call_key",
    "step_identity",
]
