"""Drawing a flow's DAG as SVG, laid out here (no browser script, no network).

Layout: siblings are placed in layers (a node sits one layer below the lowest of
its upstream siblings), each layer a centred row; a composite is a box holding its
children laid out the same way. Deterministic: the same graph gives the same text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from executor._cli._graph import Graph, GraphNode, caption

CHAR_WIDTH = 7.4
GAP_X, GAP_Y, PAD, HEADER = 22.0, 44.0, 12.0, 24.0

STYLE = """
.dag text { font: 13px system-ui, sans-serif; fill: #1f2933; }
.dag .detail { font-size: 11px; fill: #52606d; font-style: italic; }
.dag .badge { font-size: 11px; fill: #1f2933; font-weight: 600; }
.dag rect.node { fill: #eef2f7; stroke: #7b8794; stroke-width: 1.2; }
.dag rect.input { fill: #ffffff; stroke-dasharray: 4 3; }
.dag rect.group { fill: #f8fafc; stroke: #9aa5b1; stroke-dasharray: 6 3; }
.dag rect.critical { stroke: #c0392b; stroke-width: 3; }
.dag rect.completed { fill: #d3f2dc; } .dag rect.cached { fill: #d6e9fb; }
.dag rect.replayed { fill: #e7e0fa; } .dag rect.failed, .dag rect.timed_out { fill: #fad4d4; }
.dag rect.paused { fill: #fdf0c4; } .dag rect.skipped, .dag rect.cancelled { fill: #eeeeee; }
.dag path.edge { fill: none; stroke: #52606d; stroke-width: 1.3; marker-end: url(#arrow); }
"""


@dataclass
class _Box:
    node: GraphNode
    w: float
    h: float
    x: float = 0.0
    y: float = 0.0
    children: list[_Box] = field(default_factory=list)


def render_svg(
    graph: Graph,
    *,
    status: Mapping[str, str] | None = None,
    badges: Mapping[str, str] | None = None,
    standalone: bool = True,
) -> str:
    """The DAG as an ``<svg>`` element (a whole file when ``standalone``).

    Args:
        status: a CSS class per node id (a step status: ``completed``, ``failed``...)
            to colour nodes by how a run went.
        badges: a short text per node id drawn under its label (``x40``, ``3 attempts``).
    """
    status = status or {}
    badges = badges or {}
    boxes, width, height = _layout(list(graph.nodes), graph.edges, badges)
    placed: dict[str, _Box] = {}
    for box in boxes:
        _place(box, PAD, PAD, placed)
    full_w, full_h = width + 2 * PAD, height + 2 * PAD
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" role="img" '
        f'aria-label="DAG of flow {escape(graph.flow)}" width="{full_w:.0f}" '
        f'height="{full_h:.0f}" viewBox="0 0 {full_w:.0f} {full_h:.0f}">',
        f"<style>{STYLE}</style>" if standalone else "",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#52606d"/></marker></defs>',
    ]
    for box in boxes:
        parts.extend(_draw(box, status, badges))
    for a, b in graph.edges:
        if a in placed and b in placed:
            parts.append(_edge(placed[a], placed[b]))
    parts.append("</svg>")
    text = "".join(parts)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{text}\n' if standalone else text


def _measure(node: GraphNode, edges: Sequence[tuple[str, str]], badges: Mapping[str, str]) -> _Box:
    lines = [*caption(node), badges.get(node.id, "")]
    text_w = max(len(t) for t in lines) * CHAR_WIDTH + 24
    if not node.children:
        h = 30.0 + 14.0 * sum(1 for t in lines[1:] if t)
        return _Box(node, max(96.0, text_w), h)
    inner, w, h = _layout(list(node.children), edges, badges)
    box = _Box(node, max(w + 2 * PAD, text_w + 60), h + HEADER + 2 * PAD, children=inner)
    return box


def _layout(
    nodes: list[GraphNode], edges: Sequence[tuple[str, str]], badges: Mapping[str, str]
) -> tuple[list[_Box], float, float]:
    """Boxes for sibling ``nodes`` at positions relative to (0, 0), and the extent."""
    top = {inner.id: node.id for node in nodes for inner in node.walk()}
    layer = {node.id: 0 for node in nodes}
    for _ in nodes:  # longest path, relaxed; the graph is acyclic
        changed = False
        for a, b in edges:
            ta, tb = top.get(a), top.get(b)
            if ta is not None and tb is not None and ta != tb and layer[tb] <= layer[ta]:
                layer[tb] = layer[ta] + 1
                changed = True
        if not changed:
            break
    boxes = [_measure(node, edges, badges) for node in nodes]
    rows: dict[int, list[_Box]] = {}
    for box in boxes:
        rows.setdefault(layer[box.node.id], []).append(box)
    width = max(sum(b.w for b in row) + GAP_X * (len(row) - 1) for row in rows.values())
    y = 0.0
    for index in sorted(rows):
        row = rows[index]
        x = (width - (sum(b.w for b in row) + GAP_X * (len(row) - 1))) / 2
        for box in row:
            box.x, box.y = x, y
            x += box.w + GAP_X
        y += max(b.h for b in row) + GAP_Y
    return boxes, width, y - GAP_Y


def _place(box: _Box, dx: float, dy: float, placed: dict[str, _Box]) -> None:
    box.x += dx
    box.y += dy
    placed[box.node.id] = box
    for child in box.children:
        _place(child, box.x + PAD, box.y + HEADER + PAD, placed)


def _draw(box: _Box, status: Mapping[str, str], badges: Mapping[str, str]) -> list[str]:
    node = box.node
    classes = ["node"]
    if node.children:
        classes.append("group")
    if node.kind == "input":
        classes.append("input")
    if node.critical:
        classes.append("critical")
    if node.id in status:
        classes.append(status[node.id])
    rx = 14 if node.kind == "input" else 6
    out = [
        f'<g data-id="{escape(node.id)}"><title>{escape(node.id)}</title>'
        f'<rect class="{" ".join(classes)}" x="{box.x:.1f}" y="{box.y:.1f}" '
        f'width="{box.w:.1f}" height="{box.h:.1f}" rx="{rx}"/>'
    ]
    cx = box.x + box.w / 2
    label, detail = caption(node)
    if node.children:
        title = label
        badge = badges.get(node.id)
        if badge:
            title += f"  ({badge})"
        out.append(f'<text x="{box.x + 10:.1f}" y="{box.y + 17:.1f}">{escape(title)}</text></g>')
        for child in box.children:
            out.extend(_draw(child, status, badges))
        return out
    y = box.y + 19
    out.append(f'<text x="{cx:.1f}" y="{y:.1f}" text-anchor="middle">{escape(label)}</text>')
    for text, css in ((detail, "detail"), (badges.get(node.id, ""), "badge")):
        if text:
            y += 14
            out.append(
                f'<text class="{css}" x="{cx:.1f}" y="{y:.1f}" text-anchor="middle">'
                f"{escape(text)}</text>"
            )
    out.append("</g>")
    return out


def _edge(a: _Box, b: _Box) -> str:
    x1, y1 = a.x + a.w / 2, a.y + a.h
    x2, y2 = b.x + b.w / 2, b.y
    bend = max(18.0, (y2 - y1) / 2)
    return (
        f'<path class="edge" d="M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + bend:.1f} '
        f'{x2:.1f},{y2 - bend:.1f} {x2:.1f},{y2 - 1:.1f}"/>'
    )
