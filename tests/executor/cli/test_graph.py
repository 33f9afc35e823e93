"""``flowexec graph``: the DAG as Mermaid, dot and SVG, composites drawn as groups."""

import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executor._cli._graph import Graph, GraphNode

from .conftest import flowexec


def test_mermaid_draws_composites_as_subgraphs_and_marks_critical_steps(project):
    out = flowexec("graph", "flows.py:flow", cwd=project, check_code=0).stdout
    assert out.startswith("flowchart TD\n")
    assert 'subgraph n2["map: squares<br/><i>over load</i>"]' in out
    assert 'n3["square<br/><i>each item of load</i>"]' in out
    assert 'subgraph n5["parallel: bounds' in out
    assert "class n9 critical" in out  # report is critical=True
    assert "n0 --> n1" in out  # the input n feeds load
    assert "n2 --> n8" in out  # the map feeds total


def test_when_loop_and_subflow_are_groups_too(project):
    out = flowexec("graph", "flows.py:shapes", cwd=project, check_code=0).stdout
    assert 'subgraph n2["when: size' in out
    assert 'n3["yes<br/><i>then</i>"]' in out and 'n4["no<br/><i>otherwise</i>"]' in out
    assert 'subgraph n6["loop: halving' in out
    assert 'subgraph n8["subflow: sub<br/><i>flow inner</i>"]' in out
    assert "n9 --> n10" in out  # the sub-flow's own edge, inside its group
    assert "n1 --> n8" in out  # start feeds the sub-flow's input n


def test_dot_uses_clusters_and_compound_edges(project):
    out = flowexec("graph", "flows.py:flow", "--format", "dot", cwd=project, check_code=0).stdout
    assert out.startswith('digraph "demo" {') and out.rstrip().endswith("}")
    assert "subgraph cluster_n2 {" in out
    assert "n1 -> n3 [lhead=cluster_n2];" in out
    assert 'n9 [label="report", color="#c0392b", penwidth=3];' in out


def test_svg_is_well_formed_and_names_every_step(project):
    flowexec(
        "graph", "flows.py:shapes", "--format", "svg", "-o", "dag.svg", cwd=project, check_code=0
    )
    root = ET.parse(project / "dag.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    for label in ("start", "yes", "no", "seed", "halve", "load", "sum_up", "n"):
        assert label in texts
    ids = {g.get("data-id") for g in root.iter("{http://www.w3.org/2000/svg}g")}
    assert {"shapes/size", "shapes/sub/sum_up", "input:n"} <= ids


def test_the_drawing_is_the_same_in_every_process(project):
    first = flowexec("graph", "flows.py:flow", "--format", "svg", cwd=project, check_code=0)
    again = flowexec(
        "graph",
        "flows.py:flow",
        "--format",
        "svg",
        cwd=project,
        check_code=0,
        env_extra={"PYTHONHASHSEED": "123"},
    )
    assert first.stdout == again.stdout


labels = st.text("abcxyz_", min_size=1, max_size=6)


@st.composite
def nodes(draw, depth=0):
    children = draw(st.lists(nodes(depth + 1), max_size=2)) if depth < 2 else []
    return GraphNode(
        id=draw(labels),
        label=draw(st.text(max_size=8)),
        kind=draw(st.sampled_from(["step", "map", "input"])),
        critical=draw(st.booleans()),
        detail=draw(labels),
        children=tuple(children),
    )


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(nodes(), max_size=3), st.lists(st.tuples(labels, labels), max_size=4))
def test_graph_data_round_trips(top, edges):
    graph = Graph("f", tuple(top), tuple(edges))
    assert Graph.from_data(graph.to_data()) == graph


def test_damaged_graph_data_is_refused_not_trusted():
    assert Graph.from_data(None) is None
    assert Graph.from_data({"format": 1, "flow": "f"}) is None
    assert Graph.from_data({"format": 99, "flow": "f", "nodes": [], "edges": []}) is None
