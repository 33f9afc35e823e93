"""Retry policy: how many attempts, which errors, and how long to wait between them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from executor._errors import FlowDefinitionError

if TYPE_CHECKING:
    import random


@dataclass(frozen=True, slots=True, kw_only=True)
class Retry:
    """Retry a failing step with exponential backoff, a cap and jitter.

    The wait before attempt ``k + 1`` (after ``k`` failed attempts) is
    ``min(max_delay, backoff * factor ** (k - 1))``, then scaled by a factor drawn
    uniformly from ``[1 - jitter, 1 + jitter]`` and capped again. The draw is made
    from a generator seeded by the run's seed, the step address and ``k``, so a
    run with ``seed=`` set waits the same on every executor and machine.

    Example:
        >>> Retry(attempts=4, backoff=0.1, factor=2.0).delay(3)
        0.4
    """

    attempts: int = 3
    """Total attempts, the first included. ``1`` means no retry."""
    backoff: float = 0.0
    """Seconds to wait before the second attempt."""
    factor: float = 2.0
    """Multiplier applied to the wait after each further failure."""
    max_delay: float | None = None
    """Upper bound on any single wait, in seconds; ``None`` for none."""
    jitter: float = 0.0
    """Relative spread of each wait, from 0 (none) to 1 (anywhere in [0, 2x])."""
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    """Exception types worth another attempt; others fail the step at once."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not isinstance(self.attempts, int) or self.attempts < 1:
            problems.append(f"attempts must be an int >= 1, got {self.attempts!r}")
        if not _finite_at_least(self.backoff, 0.0):
            problems.append(f"backoff must be a finite number >= 0, got {self.backoff!r}")
        if not _finite_at_least(self.factor, 1.0):
            problems.append(f"factor must be a finite number >= 1, got {self.factor!r}")
        if self.max_delay is not None and not _finite_at_least(self.max_delay, 0.0):
            problems.append(f"max_delay must be None or a number >= 0, got {self.max_delay!r}")
        if not _finite_at_least(self.jitter, 0.0) or self.jitter > 1.0:
            problems.append(f"jitter must be between 0 and 1, got {self.jitter!r}")
        if not self.retry_on or not all(
            isinstance(t, type) and issubclass(t, BaseException) for t in self.retry_on
        ):
            problems.append(
                f"retry_on must be a non-empty tuple of exception types, got {self.retry_on!r}"
            )
        if problems:
            raise FlowDefinitionError("invalid Retry: " + "; ".join(problems))

    def should_retry(self, failed_attempts: int, error: BaseException) -> bool:
        """Whether another attempt follows ``failed_attempts`` failures ending in ``error``."""
        return failed_attempts < self.attempts and isinstance(error, self.retry_on)

    def delay(self, failed_attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after ``failed_attempts`` failures (1-based).

        Args:
            failed_attempts: how many attempts have failed so far.
            rng: source of the jitter draw; needed only when ``jitter > 0``.
        """
        wait = self.backoff * self.factor ** (failed_attempts - 1)
        if self.max_delay is not None:
            wait = min(wait, self.max_delay)
        if self.jitter and rng is not None:
            wait *= 1.0 + self.jitter * (2.0 * rng.random() - 1.0)
            if self.max_delay is not None:
                wait = min(wait, self.max_delay)
        return max(wait, 0.0)


def _finite_at_least(value: object, low: float) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= low
    )


NO_RETRY = Retry(attempts=1)


def jitter_rng(seed: int, address: str, failed_attempts: int) -> random.Random:
    """The generator for one retry wait: a function of seed, address and attempt only.

    ``random.Random`` seeds a ``str`` through SHA-512, so this is the same in every
    process regardless of ``PYTHONHASHSEED``.
    """
    import random  # only a retry with jitter needs it: `import executor` stays light

    return random.Random(f"{seed}:{address}:{failed_attempts}")
