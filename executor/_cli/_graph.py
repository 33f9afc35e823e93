"""A flow's DAG as plain data, and its Mermaid and Graphviz (dot) text.

The graph is built from a :class:`Flow` once and kept as plain data (ids, labels,
kinds, edges), so a run can store it with its state and a report can draw it later
without importing the flow's code. Composite steps are groups: a ``map_over`` is one
item node, ``parallel`` one node per branch, ``when`` its arms, ``loop`` its body,
a sub-flow its own steps and edges.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from executor._composites import LoopStep, MapStep, ParallelStep, SubFlowStep, WhenStep
from executor._flow import Flow
from executor._names import CONTEXT_PARAM
from executor._step import Step

GRAPH_FORMAT = 1


@dataclass(frozen=True)
class GraphNode:
    """One box of the drawing: a flow input, a step, or a composite with children."""

    id: str
    """The step's address (``report/load``); ``input:NAME`` for a flow input; a map's
    item node is ``ADDRESS[]`` and a loop's body ``ADDRESS#``."""
    label: str
    kind: str
    """``input``, ``step``, or the composite's kind: ``map``, ``parallel``, ``when``,
    ``loop``, ``subflow``."""
    critical: bool = False
    detail: str = ""
    """What the node is inside its group: ``each item of rows``, ``then``, ..."""
    children: tuple[GraphNode, ...] = ()

    def walk(self) -> Iterator[GraphNode]:
        """This node and every node inside it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class Graph:
    """A flow's nodes (inputs first, then steps in run order) and its edges."""

    flow: str
    nodes: tuple[GraphNode, ...]
    edges: tuple[tuple[str, str], ...]
    """``(from id, to id)``, at any nesting level (a sub-flow's inner edges too)."""

    def walk(self) -> Iterator[GraphNode]:
        for node in self.nodes:
            yield from node.walk()

    def to_data(self) -> dict[str, Any]:
        """Plain JSON data (stored with a run by ``flowexec run``)."""
        return {
            "format": GRAPH_FORMAT,
            "flow": self.flow,
            "nodes": [_node_data(n) for n in self.nodes],
            "edges": [list(e) for e in self.edges],
        }

    @classmethod
    def from_data(cls, data: Any) -> Graph | None:
        """The graph stored as ``data``; ``None`` when it is absent or not a graph
        this version draws (stored data is only read, never trusted)."""
        try:
            if not isinstance(data, Mapping) or data.get("format") != GRAPH_FORMAT:
                return None
            nodes = tuple(_node_from(n) for n in data["nodes"])
            edges = tuple((str(a), str(b)) for a, b in data["edges"])
            return cls(str(data["flow"]), nodes, edges)
        except (KeyError, TypeError, ValueError):
            return None


def _node_data(node: GraphNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "label": node.label,
        "kind": node.kind,
        "critical": node.critical,
        "detail": node.detail,
        "children": [_node_data(c) for c in node.children],
    }


def _node_from(data: Mapping[str, Any]) -> GraphNode:
    return GraphNode(
        id=str(data["id"]),
        label=str(data["label"]),
        kind=str(data["kind"]),
        critical=bool(data["critical"]),
        detail=str(data["detail"]),
        children=tuple(_node_from(c) for c in data["children"]),
    )


def build_graph(flow: Flow) -> Graph:
    """The drawing of ``flow``: its inputs, its steps (composites as groups), edges."""
    edges: list[tuple[str, str]] = []
    nodes = [GraphNode(f"input:{name}", name, "input") for name in flow.inputs]
    nodes += _flow_steps(flow, f"{flow.name}/", edges, with_inputs=True)
    return Graph(flow.name, tuple(nodes), tuple(edges))


def _flow_steps(
    flow: Flow, prefix: str, edges: list[tuple[str, str]], *, with_inputs: bool
) -> list[GraphNode]:
    names = {s.name for s in flow.steps}
    nodes = []
    for s in flow.steps:
        address = prefix + s.name
        for p in s.params:
            if p.name in names:
                edges.append((prefix + p.name, address))
            elif with_inputs and p.name != CONTEXT_PARAM:
                edges.append((f"input:{p.name}", address))
        nodes.append(_node(s, address, edges))
    return nodes


def _node(s: Step[..., Any], address: str, edges: list[tuple[str, str]]) -> GraphNode:
    critical = s.critical
    if isinstance(s, MapStep):
        item = _leaf(s.target, f"{address}[]", f"each item of {s.over}")
        return GraphNode(address, s.name, "map", critical, f"over {s.over}", (item,))
    if isinstance(s, ParallelStep):
        branches = tuple(
            _leaf(t, f"{address}/{b}", f"branch {b}")
            for b, t in zip(s.branch_names, s.branches, strict=True)
        )
        return GraphNode(address, s.name, "parallel", critical, "branches", branches)
    if isinstance(s, WhenStep):
        arms = [_leaf(s.then, f"{address}/then", "then")]
        if s.otherwise is not None:
            arms.append(_leaf(s.otherwise, f"{address}/otherwise", "otherwise"))
        shape = "if/else" if s.otherwise is not None else "if"
        return GraphNode(address, s.name, "when", critical, shape, tuple(arms))
    if isinstance(s, LoopStep):
        body = _leaf(s.body, f"{address}#", f"repeat \u2264 {s.max_iterations}\u00d7")
        return GraphNode(address, s.name, "loop", critical, f"feed {s.feed}", (body,))
    if isinstance(s, SubFlowStep):
        inner = _flow_steps(s.flow, address + "/", edges, with_inputs=False)
        return GraphNode(address, s.name, "subflow", critical, f"flow {s.flow.name}", tuple(inner))
    return GraphNode(address, s.name, "step", critical)


def _leaf(s: Step[..., Any], address: str, detail: str) -> GraphNode:
    node = _node(s, address, [])
    label = s.name if not node.children else node.label
    return GraphNode(address, label, node.kind, node.critical, detail, node.children)


def caption(node: GraphNode) -> tuple[str, str]:
    """What a drawing writes for ``node``: its name, and what it is in its group.

    A group is titled ``kind: name``. Each thing is said once: an arm, branch or body
    given as a lambda is named after its role, so it reads ``then``, not ``then`` over
    ``then``; a composite left unnamed is ``when``, not ``when: when``.
    """
    label, detail = node.label, node.detail
    if node.children:
        label = node.kind if label == node.kind else f"{node.kind}: {label}"
    elif detail in (label, f"branch {label}"):
        detail = ""
    return label, detail


def _ids(graph: Graph) -> dict[str, str]:
    return {node.id: f"n{i}" for i, node in enumerate(graph.walk())}


def to_mermaid(graph: Graph) -> str:
    """Mermaid ``flowchart`` text: composites are subgraphs, critical steps bold red."""
    ids = _ids(graph)
    lines = ["flowchart TD"]

    def emit(node: GraphNode, indent: str) -> None:
        label, detail = caption(node)
        text = _mermaid_text(label)
        if detail and node.kind != "input":
            text += f"<br/><i>{_mermaid_text(detail)}</i>"
        if node.children:
            lines.append(f'{indent}subgraph {ids[node.id]}["{text}"]')
            for child in node.children:
                emit(child, indent + "  ")
            lines.append(f"{indent}end")
        elif node.kind == "input":
            lines.append(f'{indent}{ids[node.id]}(["{text}"])')
        else:
            lines.append(f'{indent}{ids[node.id]}["{text}"]')
        if node.critical:
            lines.append(f"{indent}class {ids[node.id]} critical")

    for node in graph.nodes:
        emit(node, "  ")
    lines.extend(f"  {ids[a]} --> {ids[b]}" for a, b in graph.edges if a in ids and b in ids)
    lines.append("  classDef critical stroke:#c0392b,stroke-width:3px")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """``text`` as Mermaid shows it literally: quotes and angle brackets as entities
    (a ``<`` would start an HTML tag in a label)."""
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def to_dot(graph: Graph) -> str:
    """Graphviz text: composites are clusters, critical steps drawn bold red."""
    ids = _ids(graph)
    anchor: dict[str, str] = {}  # a cluster's id -> a node inside it, for edges
    lines = [
        f"digraph {_dot_text(graph.flow)} {{",
        "  compound=true;",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fillcolor="#eef2f7", fontname="Helvetica"];',
    ]

    def emit(node: GraphNode, indent: str) -> str:
        title, detail = caption(node)
        label = title if not detail else f"{title}\n{detail}"
        if node.children:
            lines.append(f"{indent}subgraph cluster_{ids[node.id]} {{")
            lines.append(f"{indent}  label={_dot_text(title)};")
            if node.critical:
                lines.append(f'{indent}  color="#c0392b"; penwidth=3;')
            inner = [emit(child, indent + "  ") for child in node.children]
            lines.append(f"{indent}}}")
            anchor[node.id] = inner[0]
            return inner[0]
        shape = ", shape=ellipse, fillcolor=white" if node.kind == "input" else ""
        bold = ', color="#c0392b", penwidth=3' if node.critical else ""
        lines.append(f"{indent}{ids[node.id]} [label={_dot_text(label)}{shape}{bold}];")
        return ids[node.id]

    for node in graph.nodes:
        emit(node, "  ")
    for a, b in graph.edges:
        if a not in ids or b not in ids:
            continue
        extra = []
        if a in anchor:
            extra.append(f"ltail=cluster_{ids[a]}")
        if b in anchor:
            extra.append(f"lhead=cluster_{ids[b]}")
        attrs = f" [{', '.join(extra)}]" if extra else ""
        lines.append(f"  {anchor.get(a, ids[a])} -> {anchor.get(b, ids[b])}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
