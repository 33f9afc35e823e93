"""The engine's clocks, kept where time-freezing test tools do not reach.

freezegun replaces every module-level reference to ``time.perf_counter`` and
friends while time is frozen, and its ``ignore`` list would unfreeze user steps
too (it looks at the whole call stack). The engine's own timing — timeouts, retry
waits, durations, usage seconds — must stay real while a test freezes time for the
steps, so the engine reads its clocks from this class, which freezegun never
rewrites.
"""

from __future__ import annotations

import time


class Clock:
    """Real clocks. Use ``Clock.perf_counter()``; never bind them at module level."""

    perf_counter = time.perf_counter
    monotonic = time.monotonic
    wall = time.time
