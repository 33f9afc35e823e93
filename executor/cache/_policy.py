"""CachePolicy, at its documented home (defined in ``executor._cache_policy``)."""

from executor._cache_policy import CachePolicy

__all__ = ["CachePolicy"]
