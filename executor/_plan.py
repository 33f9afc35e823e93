"""A flow compiled for scheduling: nodes in a stable order, with precomputed wiring.

A plan is built once per (flow, selected outputs) and shared by every run of it.
Everything the scheduler needs per step is precomputed here so that the per-step
work at run time is a few tuple walks.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from executor._errors import FlowDefinitionError
from executor._names import CONTEXT_PARAM
from executor._step import Step


class PlanNode:
    """One step of a plan and how to feed it. Read-only by convention: a plain
    slotted class, because a map builds one per item (a frozen dataclass costs ~3 us
    to build, this ~0.7 us)."""

    __slots__ = (
        "bound",
        "dependents",
        "direct",
        "flow_inputs",
        "followers",
        "index",
        "label",
        "step",
        "upstream",
        "waits",
        "wants_context",
    )

    def __init__(
        self,
        *,
        index: int,
        step: Step[..., Any],
        label: str,
        upstream: tuple[tuple[str, int], ...],
        flow_inputs: tuple[str, ...],
        wants_context: bool,
        dependents: tuple[int, ...],
        followers: tuple[int, ...],
        waits: int,
        bound: tuple[tuple[str, Any], ...] = (),
        direct: bool | None = None,
    ) -> None:
        self.index = index
        """Position in :attr:`Plan.nodes` (the stable step order)."""
        self.step = step
        self.label = label
        """The node's part of its address: the step name, a branch name, ``[i]``, ``#k``."""
        self.upstream = upstream
        """``(parameter, node index)`` for each parameter fed by another step."""
        self.flow_inputs = flow_inputs
        """Parameters fed by flow inputs of the same name."""
        self.wants_context = wants_context
        """Whether the step has a ``context`` parameter."""
        self.dependents = dependents
        """Nodes that consume this node's output."""
        self.followers = followers
        """Nodes that must wait for this one only for ordering (the critical chain)."""
        self.waits = waits
        """How many nodes must finish before this one may start."""
        self.bound = bound
        """Parameters given fixed values (a map item), ahead of any wiring."""
        if direct is None:
            direct = not (step.is_async or step.is_composite or step.timeout is not None)
        self.direct = direct
        """A plain sync leaf without timeout: the sequential driver calls it inline."""

    def __repr__(self) -> str:
        return f"<PlanNode {self.index} {self.label!r}: {self.step!r}>"


@dataclass(frozen=True, slots=True)
class Plan:
    """A flow (or the part of it needed for some outputs), ready to schedule."""

    flow_name: str
    nodes: tuple[PlanNode, ...]
    required_inputs: frozenset[str]
    """Flow inputs the planned steps need and have no default for."""
    cached: bool = False
    """Whether any planned step has a cache policy."""

    @property
    def has_composites(self) -> bool:
        """Whether any planned step is a composite."""
        return any(node.step.is_composite for node in self.nodes)

    @property
    def has_timeouts(self) -> bool:
        """Whether any planned step has a timeout."""
        return any(node.step.timeout is not None for node in self.nodes)

    @property
    def roots(self) -> list[int]:
        """Nodes that can start at once."""
        return [node.index for node in self.nodes if node.waits == 0]


def stable_topological_order(
    names: Sequence[str], upstream: Mapping[str, Sequence[str]]
) -> list[str]:
    """Order ``names`` so each comes after its upstream, ties broken by declaration order.

    Raises:
        FlowDefinitionError: naming one cycle, e.g. ``a -> b -> a``.
    """
    position = {name: i for i, name in enumerate(names)}
    # The usual case: every step is declared after its upstream steps. Then the
    # declaration order is the answer (the lowest-indexed unplaced step always has
    # all its upstream placed), found in one pass without a heap.
    if all(position[parent] < i for i, name in enumerate(names) for parent in upstream[name]):
        return list(names)
    waiting = {name: len(set(upstream[name])) for name in names}
    downstream: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        for parent in set(upstream[name]):
            downstream[parent].append(name)
    ready = [position[name] for name in names if waiting[name] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for child in downstream[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, position[child])
    if len(order) < len(names):
        raise FlowDefinitionError(f"dependency cycle: {_find_cycle(names, upstream, order)}")
    return order


def _find_cycle(
    names: Sequence[str], upstream: Mapping[str, Sequence[str]], done: list[str]
) -> str:
    finished = set(done)
    left = {name for name in names if name not in finished}
    # Every node left over has an upstream node that is also left over: walk until a repeat.
    start = next(name for name in names if name in left)
    path: list[str] = [start]
    seen = {start: 0}
    while True:
        here = path[-1]
        parent = next(p for p in upstream[here] if p in left)
        if parent in seen:
            cycle = path[seen[parent] :]
            cycle.reverse()
            return " -> ".join([*cycle, cycle[0]])
        seen[parent] = len(path)
        path.append(parent)


def build_plan(flow_name: str, steps: Iterable[Step[..., Any]]) -> Plan:
    """Compile ``steps`` (already validated, in stable order) into a plan."""
    ordered = list(steps)
    index = {s.name: i for i, s in enumerate(ordered)}
    dependents: list[list[int]] = [[] for _ in ordered]
    followers: list[list[int]] = [[] for _ in ordered]
    waits = [0] * len(ordered)
    wiring: list[tuple[tuple[tuple[str, int], ...], tuple[str, ...], bool]] = []
    required: set[str] = set()
    for i, current in enumerate(ordered):
        upstream: list[tuple[str, int]] = []
        inputs: list[str] = []
        wants_context = False
        names, optional = current._wiring
        for param, has_default in zip(names, optional, strict=True):
            if param == CONTEXT_PARAM:
                wants_context = True
            elif param in index:
                upstream.append((param, index[param]))
            else:
                inputs.append(param)
                if not has_default:
                    required.add(param)
        for parent in {source for _, source in upstream}:
            dependents[parent].append(i)
            waits[i] += 1
        wiring.append((tuple(upstream), tuple(inputs), wants_context))
    critical = [i for i, s in enumerate(ordered) if s.critical]
    for before, after in itertools.pairwise(critical):
        followers[before].append(after)
        waits[after] += 1
    nodes = tuple(
        PlanNode(
            index=i,
            step=s,
            label=s.name,
            upstream=wiring[i][0],
            flow_inputs=wiring[i][1],
            wants_context=wiring[i][2],
            dependents=tuple(sorted(dependents[i])),
            followers=tuple(followers[i]),
            waits=waits[i],
        )
        for i, s in enumerate(ordered)
    )
    return Plan(
        flow_name=flow_name,
        nodes=nodes,
        required_inputs=frozenset(required),
        cached=any(s.cache is not None for s in ordered),
    )


def independent_plan(
    name: str, entries: Sequence[tuple[Step[..., Any], str, tuple[tuple[str, Any], ...]]]
) -> Plan:
    """A plan of nodes that do not feed each other (parallel branches, map items).

    Each entry is ``(step, label, bound)``: every parameter not bound is read from
    the plan's inputs (or is the context).
    """
    nodes = []
    required: set[str] = set()
    wiring: dict[tuple[Step[..., Any], tuple[str, ...]], tuple[tuple[str, ...], bool, bool]] = {}
    for i, (target, label, bound) in enumerate(entries):
        fixed = tuple(param for param, _ in bound)
        shape = (target, fixed)  # a map's items share one target: split its params once
        found = wiring.get(shape)
        if found is None:
            inputs = []
            wants_context = False
            names, optional = target._wiring
            for param, has_default in zip(names, optional, strict=True):
                if param == CONTEXT_PARAM:
                    wants_context = True
                elif param not in fixed:
                    inputs.append(param)
                    if not has_default:
                        required.add(param)
            direct = not (target.is_async or target.is_composite or target.timeout is not None)
            found = wiring[shape] = (tuple(inputs), wants_context, direct)
        nodes.append(
            PlanNode(
                index=i,
                step=target,
                label=label,
                upstream=(),
                flow_inputs=found[0],
                wants_context=found[1],
                dependents=(),
                followers=(),
                waits=0,
                bound=bound,
                direct=found[2],
            )
        )
    return Plan(
        flow_name=name,
        nodes=tuple(nodes),
        required_inputs=frozenset(required),
        cached=any(target.cache is not None for target, _, _ in entries),
    )


def item_plan(name: str, target: Step[..., Any], param: str, items: Sequence[Any]) -> Plan:
    """A plan running ``target`` once per item, the item bound to ``param`` and the
    node labelled ``[i]``: :func:`independent_plan` for a map, with the wiring
    worked out once instead of per item."""
    template = independent_plan(name, [(target, "[0]", ((param, None),))])
    first = template.nodes[0]
    flow_inputs, wants_context, direct = first.flow_inputs, first.wants_context, first.direct
    nodes = tuple(
        PlanNode(
            index=i,
            step=target,
            label=f"[{i}]",
            upstream=(),
            flow_inputs=flow_inputs,
            wants_context=wants_context,
            dependents=(),
            followers=(),
            waits=0,
            bound=((param, item),),
            direct=direct,
        )
        for i, item in enumerate(items)
    )
    return Plan(
        flow_name=name,
        nodes=nodes,
        required_inputs=template.required_inputs,
        cached=template.cached,
    )
