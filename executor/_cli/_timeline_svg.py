"""The report's timeline as SVG: a band per group, a row per lane, a bar per attempt.

Drawn here, in Python, so the page needs no script to show it and no library from
anywhere; CSS classes carry the status colours (defined by the report's page).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from executor._cli._console import seconds
from executor._cli._timeline import Bar, status_class
from executor.state._model import ExecutionState

_LEFT, _WIDTH, _LANE, _GROUP_HEAD = 230.0, 1100.0, 22.0, 22.0


def timeline_svg(state: ExecutionState, bars: Sequence[Bar]) -> str:
    """The timeline as an ``<svg>``: a band per group, a row per lane, a bar per attempt."""
    t0 = min(min(b.start for b in bars), state.created_at)
    span = max(max(b.end for b in bars) - t0, 1e-3)
    scale = (_WIDTH - _LEFT - 20) / span
    groups: dict[str, list[Bar]] = {}
    for bar in sorted(bars, key=lambda b: (b.start, b.address, b.attempt)):
        groups.setdefault(bar.group, []).append(bar)
    order = sorted(groups, key=lambda g: (g != state.flow, groups[g][0].start, g))
    parts: list[str] = []
    y = 24.0
    for group in order:
        members = groups[group]
        lanes = max(b.lane for b in members) + 1
        height = _GROUP_HEAD + lanes * _LANE + 6
        label = "top-level steps" if group == state.flow else group
        parts.append(
            f'<rect class="groupband" x="0" y="{y:.1f}" width="{_WIDTH:.0f}" '
            f'height="{height:.1f}"/><text class="group" x="6" y="{y + 15:.1f}">'
            f"{escape(label)}</text>"
        )
        for lane in range(lanes):
            parts.append(
                f'<text x="16" y="{y + _GROUP_HEAD + lane * _LANE + 15:.1f}" class="note">'
                f"lane {lane + 1}</text>"
            )
        for bar in members:
            parts.append(_bar(bar, t0, scale, y + _GROUP_HEAD + bar.lane * _LANE))
        y += height + 6
    ticks = _ticks(span)
    axis = "".join(
        f'<line class="tick" x1="{_LEFT + t * scale:.1f}" y1="18" x2="{_LEFT + t * scale:.1f}" '
        f'y2="{y:.1f}"/><text x="{_LEFT + t * scale:.1f}" y="13" text-anchor="middle">'
        f"{escape(seconds(t) if t else '0')}</text>"
        for t in ticks
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{_WIDTH:.0f}" '
        f'height="{y:.0f}" viewBox="0 0 {_WIDTH:.0f} {y:.0f}" role="img" '
        f'aria-label="timeline of run {escape(state.state_id)}">{axis}{"".join(parts)}</svg>'
    )


def _bar(bar: Bar, t0: float, scale: float, y: float) -> str:
    x = _LEFT + (bar.start - t0) * scale
    w = max(3.0, (bar.end - bar.start) * scale)
    name = bar.address.rsplit("/", 1)[-1]
    what = "not called" if bar.attempt == 0 else f"attempt {bar.attempt}"
    tip = f"{bar.address} · {what} · {bar.status} · {seconds(bar.end - bar.start)}"
    classes = f"bar {status_class(bar.status)}" + (" retry" if bar.attempt > 1 else "")
    label = name + (f" #{bar.attempt}" if bar.attempt > 1 else "")
    inner = ""
    if w > len(label) * 6.2 + 6:
        inner = f'<text class="inbar" x="{x + 4:.1f}" y="{y + 13:.1f}">{escape(label)}</text>'
    return (
        f'<g><rect class="{classes}" data-address="{escape(bar.address)}" '
        f'data-attempt="{bar.attempt}" x="{x:.1f}" y="{y + 2:.1f}" width="{w:.1f}" '
        f'height="{_LANE - 5:.0f}" rx="3"><title>{escape(tip)}</title></rect>{inner}</g>'
    )


def _ticks(span: float) -> list[float]:
    raw = span / 6
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(int(span / step) + 1)]
