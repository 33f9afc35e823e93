"""Live progress on a terminal, driven by the run's lifecycle hooks.

Hooks run in the thread that drives the run; rich's ``Live`` repaints from its own
thread, so the counters are read and written under a lock.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from executor._composites import MapStep
from executor._hooks import hookimpl
from executor._results import StepResult, StepStatus

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from executor._step import Step

_MAP_ITEM = re.compile(r"(.+)\[\d+\]")
_SHOWN_RUNNING = 4


class LiveProgress:
    """A hook plugin that counts what a run does and draws it with ``rich.live``.

    Shows top-level steps done/total, the steps running now, retries, cache hits,
    failures, and one bar per ``map_over`` step with its items done/total.
    """

    def __init__(self, top_level: tuple[str, ...]) -> None:
        self._top = frozenset(top_level)
        self._total = len(top_level)
        self._lock = threading.Lock()
        self._done = 0
        self._nested_done = 0
        self._running: dict[str, float] = {}
        self._retries = 0
        self._cache_hits = 0
        self._failed = 0
        self._maps: dict[str, list[int]] = {}
        self._live: Live | None = None

    def start(self, console: Console) -> None:
        """Start repainting on ``console`` (a terminal)."""
        from rich.live import Live

        self._live = Live(self, console=console, transient=True, refresh_per_second=8)
        self._live.start()

    def stop(self) -> None:
        """Stop repainting and erase the progress lines (the summary follows)."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    @hookimpl
    def step_start(self, address: str, step: Step[..., Any], inputs: Mapping[str, Any]) -> None:
        with self._lock:
            self._running[address] = time.monotonic()
            if isinstance(step, MapStep):
                items = inputs.get(step.over)
                self._maps[address] = [0, len(items) if isinstance(items, list | tuple) else 0]

    @hookimpl
    def step_retry(self, address: str) -> None:
        with self._lock:
            self._retries += 1

    @hookimpl
    def cache_hit(self, address: str) -> None:
        with self._lock:
            self._cache_hits += 1

    @hookimpl
    def step_end(self, address: str, result: StepResult) -> None:
        with self._lock:
            self._running.pop(address, None)
            if address in self._top:
                self._done += 1
            else:
                self._nested_done += 1
            if result.status in (StepStatus.FAILED, StepStatus.TIMED_OUT):
                self._failed += 1
            item = _MAP_ITEM.fullmatch(address)
            if item is not None and item.group(1) in self._maps:
                self._maps[item.group(1)][0] += 1

    def __rich__(self) -> RenderableType:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            done, nested, failed = self._done, self._nested_done, self._failed
            running = sorted(self._running, key=self._running.__getitem__)
            retries, hits = self._retries, self._cache_hits
            maps = {a: tuple(v) for a, v in self._maps.items()}
        grid = Table.grid(padding=(0, 1))
        grid.add_row(
            Text("steps", style="bold"),
            ProgressBar(total=self._total or 1, completed=done, width=30),
            Text(f"{done}/{self._total} done" + (f", {nested} nested" if nested else "")),
        )
        for address, (items_done, items) in maps.items():
            grid.add_row(
                Text("map", style="bold"),
                ProgressBar(total=items or 1, completed=items_done, width=30),
                Text(f"{items_done}/{items} items of {address}"),
            )
        shown = ", ".join(running[:_SHOWN_RUNNING])
        if len(running) > _SHOWN_RUNNING:
            shown += f" and {len(running) - _SHOWN_RUNNING} more"
        line = Text(f"running {len(running)}: {shown or '—'}", style="cyan")
        line.append(f"  ·  retries {retries}  ·  cache hits {hits}", style="default")
        if failed:
            line.append(f"  ·  failed {failed}", style="bold red")
        return Group(grid, line)
