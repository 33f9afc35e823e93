"""Graph labels say each thing once and show names literally."""

from __future__ import annotations

from executor import Flow, when
from executor._cli._graph import build_graph, to_dot, to_mermaid


def _arms_flow() -> Flow:
    from executor import step

    @step
    def build(n: int) -> int:
        return n

    return Flow(
        "arms",
        [
            build,
            when(lambda build: build > 3, lambda build: "big", otherwise=lambda build: "small"),
        ],
    )


def test_lambda_arms_are_labelled_once_in_mermaid_and_dot():
    graph = build_graph(_arms_flow())
    mermaid = to_mermaid(graph)
    # Was: subgraph n2["when: when<br/><i>if/else</i>"], n3["then<br/><i>then</i>"] ...
    assert 'subgraph n2["when<br/><i>if/else</i>"]' in mermaid
    assert 'n3["then"]' in mermaid and 'n4["otherwise"]' in mermaid
    dot = to_dot(graph)
    assert 'label="when";' in dot and 'n3 [label="then"];' in dot


def test_a_when_without_otherwise_is_an_if_and_named_arms_keep_their_role():
    from executor import step

    @step
    def build(n: int) -> int:
        return n

    def publish(build: int) -> int:
        return build

    graph = build_graph(Flow("f", [build, when(lambda build: build > 3, publish, name="gate")]))
    mermaid = to_mermaid(graph)
    assert 'subgraph n2["when: gate<br/><i>if</i>"]' in mermaid
    assert 'n3["publish<br/><i>then</i>"]' in mermaid


def test_mermaid_labels_show_angle_brackets_literally():
    from executor._cli._graph import Graph, GraphNode

    graph = Graph("f", (GraphNode("f/a", "a<b>&c", "step", detail='say "x"'),), ())
    assert 'n0["a#lt;b#gt;#amp;c<br/><i>say #quot;x#quot;</i>"]' in to_mermaid(graph)
