"""``flowexec graph`` (the DAG as Mermaid, dot or SVG) and ``flowexec report`` (HTML)."""

from __future__ import annotations

import sys
from pathlib import Path

from executor._cli._console import console
from executor._cli._graph import build_graph, to_dot, to_mermaid
from executor._cli._report import comparison_report, single_report
from executor._cli._store import open_store, resolve_id
from executor._cli._svg import render_svg
from executor._cli._target import load_flow
from executor._cli._timeline import attempts_folder, bars_of, load_attempts
from executor._errors import UsageError
from executor.state._diff import diff_states

FORMATS = ("mermaid", "dot", "svg")


def graph_command(target: str, form: str, output: str | None) -> int:
    """``flowexec graph TARGET --format mermaid|dot|svg [-o FILE]``."""
    graph = build_graph(load_flow(target))
    if form == "mermaid":
        text = to_mermaid(graph)
    elif form == "dot":
        text = to_dot(graph)
    else:
        text = render_svg(graph)
    if output is None:
        sys.stdout.write(text)
    else:
        _write(output, text)
        console().print(f"wrote the DAG of flow {graph.flow} to {output}")
    return 0


def report_command(store_path: str, first: str, second: str | None, output: str) -> int:
    """``flowexec report ID [ID2] [-o report.html]``."""
    store = open_store(store_path, must_exist=True)
    folder = attempts_folder(store.path)
    a = store.load(resolve_id(store, first, "state id"))
    bars_a = bars_of(a, load_attempts(folder / f"{a.state_id}.json"))
    if second is None:
        html = single_report(a, bars_a)
    else:
        b = store.load(resolve_id(store, second, "second state id"))
        bars_b = bars_of(b, load_attempts(folder / f"{b.state_id}.json"))
        html = comparison_report(a, b, bars_a, bars_b, diff_states(a, b))
    _write(output, html)
    console().print(f"wrote {output}")
    return 0


def _write(output: str, text: str) -> None:
    path = Path(output)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(
            f"-o {output!r}: cannot write there ({error.strerror or error}); give a file path "
            f"in a folder that exists"
        ) from None
