"""The run report: one self-contained HTML file (no network) for one run or two.

One run: a header (flow, status, inputs, counts), the timeline (a bar per attempt
on its lane, grouped under the top-level step it belongs to, coloured by status),
the DAG coloured by how the run went, and a table of every step. Two runs: the
addresses that differ, highlighted, then both timelines.

Everything is built from stored data only (the state, the attempts kept beside
it, the graph ``flowexec run`` stored with it): making a report never imports the
flow's code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from executor._cli._console import moment, seconds
from executor._cli._graph import Graph
from executor._cli._svg import STYLE as DAG_STYLE
from executor._cli._svg import render_svg
from executor._cli._timeline import Bar, status_class, summary_counts
from executor._cli._timeline_svg import timeline_svg
from executor._shown import shown_text
from executor._version import __version__
from executor.state._diff import StateDiff
from executor.state._model import ExecutionState, StateEvent

GRAPH_KEY = "flowexec.graph"
TARGET_KEY = "flowexec.target"


def missing_target(command: str, given_id: str, state: Any) -> str:
    """The usage error for ``states resume|validate ID`` without a flow target.

    The target a run was started with is stored with it, but stored data is data: the
    command never imports a file because a stored run names it. It shows the target
    instead, for the user to give (the run may come from another machine or person).
    """
    recorded = state.metadata.custom_data.get(TARGET_KEY)
    if isinstance(recorded, str):
        return (
            f"give the flow to {command}: flowexec states {command} {given_id} {recorded} "
            f"(the target run {state.state_id[:12]} was started with; flowexec imports no "
            f"code a stored run names by itself)"
        )
    return (
        f"state {state.state_id[:12]} was not started by `flowexec run`, so it does not name "
        f"its flow; give it: flowexec states {command} {given_id} FILE.py:FLOW"
    )


_CSS = """
:root { --ok:#2f9e44; --cached:#1c7ed6; --replayed:#7048e8; --failed:#e03131;
        --paused:#f59f00; --skipped:#adb5bd; --ink:#1f2933; --muted:#52606d; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
       margin: 0; background: #f5f7fa; }
header, section { background: #fff; margin: 16px 20px; padding: 14px 18px;
                  border: 1px solid #e4e7eb; border-radius: 8px; }
h1 { font-size: 20px; margin: 0 0 8px; } h2 { font-size: 16px; margin: 0 0 10px; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, monospace; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
          font-size: 12px; font-weight: 600; }
.completed { background: var(--ok); } .cached { background: var(--cached); }
.replayed { background: var(--replayed); } .failed, .timed_out { background: var(--failed); }
.paused, .awaiting, .running { background: var(--paused); }
.skipped, .cancelled, .unknown { background: var(--skipped); }
svg.timeline rect.bar.completed { fill: var(--ok); }
svg.timeline rect.bar.cached { fill: var(--cached); }
svg.timeline rect.bar.replayed { fill: var(--replayed); }
svg.timeline rect.bar.failed, svg.timeline rect.bar.timed_out { fill: var(--failed); }
svg.timeline rect.bar.paused { fill: var(--paused); }
svg.timeline rect.bar.skipped, svg.timeline rect.bar.cancelled,
svg.timeline rect.bar.unknown { fill: var(--skipped); }
svg.timeline rect.bar.retry { stroke: #000; stroke-dasharray: 3 2; }
svg.timeline text { font: 11px system-ui, sans-serif; fill: var(--ink); }
svg.timeline text.group { font-weight: 600; font-size: 12px; }
svg.timeline text.inbar { fill: #fff; pointer-events: none; }
svg.timeline line.tick { stroke: #e4e7eb; } svg.timeline rect.groupband { fill: #f8fafc; }
.hl { outline: 2px solid #ffd43b; } rect.hl { stroke: #ffd43b; stroke-width: 3; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef0f3;
         vertical-align: top; }
th { color: var(--muted); font-weight: 600; } td.num { text-align: right; }
tr.differs td { background: #fff3bf; } tr.hidden { display: none; }
td.error { color: #c92a2a; max-width: 480px; overflow-wrap: anywhere; }
.legend span { margin-right: 10px; } .note { color: var(--muted); }
.scroll { overflow-x: auto; } input#filter { margin-bottom: 8px; padding: 4px 8px; width: 280px; }
pre { background: #f8f9fa; padding: 8px; overflow-x: auto; }
"""

# Highlight a step everywhere it appears (timeline bars, DAG box, table row) when
# pointed at, and filter the steps table. Sets data-ready when it ran, so a test
# can tell the script ran to its end.
_SCRIPT = """
(function () {
  "use strict";
  function mark(address, on) {
    document.querySelectorAll('[data-address]').forEach(function (el) {
      if (el.getAttribute('data-address') === address) { el.classList.toggle('hl', on); }
    });
  }
  document.querySelectorAll('[data-address]').forEach(function (el) {
    var address = el.getAttribute('data-address');
    el.addEventListener('mouseenter', function () { mark(address, true); });
    el.addEventListener('mouseleave', function () { mark(address, false); });
  });
  var filter = document.getElementById('filter');
  if (filter) {
    filter.addEventListener('input', function () {
      var text = filter.value.toLowerCase();
      document.querySelectorAll('table.steps tbody tr').forEach(function (row) {
        var address = (row.getAttribute('data-address') || '').toLowerCase();
        row.classList.toggle('hidden', text !== '' && address.indexOf(text) < 0);
      });
    });
  }
  var shown = document.querySelectorAll('table.steps tbody tr').length;
  document.body.setAttribute('data-steps', String(shown));
  document.body.setAttribute('data-ready', '1');
})();
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # Nothing may load from anywhere: the page is whole, and a browser enforces it.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
        f"<title>{escape(title)}</title>\n<style>{_CSS}{DAG_STYLE}</style>\n</head>\n"
        f'<body data-ready="0">\n{body}\n<footer class="note" style="margin:0 20px 20px">'
        f"Made by flowexec {escape(__version__)}; no network needed.</footer>\n"
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def _badge(status: str) -> str:
    return f'<span class="status {status_class(status)}">{escape(status)}</span>'


def _depth(flow: str, address: str) -> int:
    rest = address[len(flow) + 1 :] if address.startswith(flow + "/") else address
    return len(re.findall(r"[/\[#]", rest))


def single_report(state: ExecutionState, bars: Sequence[Bar]) -> str:
    """The HTML report of one stored run."""
    counts = summary_counts(bars)
    latest = state.latest()
    duration = _span(state, bars)
    inputs = shown_text(dict(state.inputs))
    pause = ""
    if state.pause:
        waits = state.pause.get("awaiting")
        pause = (
            f"<dt>paused at</dt><dd><code>{escape(str(state.pause.get('address', '')))}</code>"
            + (f" awaiting input <code>{escape(str(waits))}</code>" if waits else "")
            + "</dd>"
        )
    header = (
        f"<header><h1>flow <code>{escape(state.flow)}</code> {_badge(state.status.value)}</h1>"
        f"<dl><dt>state</dt><dd><code>{escape(state.state_id)}</code></dd>"
        f"<dt>started</dt><dd>{moment(state.created_at)} UTC</dd>"
        f"<dt>duration</dt><dd>{seconds(duration)}</dd>"
        f"<dt>inputs</dt><dd><code>{escape(inputs)}</code></dd>"
        f"<dt>steps</dt><dd>{len(latest)} addresses, {counts['attempts']} attempts, "
        f"{counts['retries']} retries, {counts['cache_hits']} cache hits</dd>{pause}</dl>"
        '<p class="note"><a href="#timeline">Timeline</a> · <a href="#dag">DAG</a> · '
        '<a href="#steps">Steps</a></p></header>'
    )
    body = (
        header
        + _timeline_section(state, bars, "timeline", "Timeline")
        + _dag_section(state)
        + _steps_section(state)
    )
    return _page(f"flowexec run {state.flow} {state.state_id[:8]}", body)


def comparison_report(
    a: ExecutionState,
    b: ExecutionState,
    bars_a: Sequence[Bar],
    bars_b: Sequence[Bar],
    diff: StateDiff,
) -> str:
    """The HTML report comparing two stored runs, differing addresses highlighted."""
    first, second = a.latest(), b.latest()
    changed = {c.address: "output" for c in diff.outputs_changed}
    for address, _x, _y in diff.status_changed:
        changed[address] = "status" + (" + output" if address in changed else "")
    for address in diff.inputs_changed:
        if not address.startswith("inputs."):
            changed.setdefault(address, "inputs")
    for address in diff.only_in_a:
        changed[address] = f"only in {a.state_id[:8]}"
    for address in diff.only_in_b:
        changed[address] = f"only in {b.state_id[:8]}"
    addresses = list(dict.fromkeys([*first, *second]))
    rows = []
    for address in addresses:
        x, y = first.get(address), second.get(address)
        what = changed.get(address, "")
        rows.append(
            f'<tr data-address="{escape(address)}"{" class=differs" if what else ""}>'
            f"<td><code>{escape(address)}</code></td>"
            f"<td>{_badge(x.status) if x else '—'}</td><td>{_badge(y.status) if y else '—'}</td>"
            f'<td class="num">{seconds(_event_duration(x))}</td>'
            f'<td class="num">{seconds(_event_duration(y))}</td><td>{escape(what)}</td></tr>'
        )
    flow_inputs = [i for i in diff.inputs_changed if i.startswith("inputs.")]
    outputs = "".join(
        f"<details><summary><code>{escape(c.address)}</code> output</summary>"
        f"<pre>{escape(c.diff)}</pre></details>"
        for c in diff.outputs_changed
    )
    verdict = (
        "The runs match: same addresses, statuses, inputs and outputs."
        if diff.same
        else f"{len(changed)} address(es) differ"
        + (f"; flow inputs differ: {escape(', '.join(flow_inputs))}" if flow_inputs else "")
        + "."
    )
    body = (
        f"<header><h1>flows <code>{escape(a.flow)}</code> / <code>{escape(b.flow)}</code>: "
        f"two runs compared</h1><dl>"
        f"<dt>A</dt><dd><code>{escape(a.state_id)}</code> {_badge(a.status.value)} "
        f"{moment(a.created_at)} UTC, {seconds(_span(a, bars_a))}</dd>"
        f"<dt>B</dt><dd><code>{escape(b.state_id)}</code> {_badge(b.status.value)} "
        f"{moment(b.created_at)} UTC, {seconds(_span(b, bars_b))}</dd></dl>"
        f'<p id="verdict">{verdict}</p></header>'
        '<section id="steps"><h2>Steps side by side</h2>'
        '<input id="filter" placeholder="filter by address">'
        '<div class="scroll"><table class="steps compare"><thead><tr><th>address</th>'
        "<th>status A</th><th>status B</th><th>duration A</th><th>duration B</th>"
        f"<th>differs in</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        f"{outputs}</section>"
        + _timeline_section(a, bars_a, "timeline-a", f"Timeline A ({a.state_id[:8]})")
        + _timeline_section(b, bars_b, "timeline-b", f"Timeline B ({b.state_id[:8]})")
    )
    return _page(f"flowexec runs {a.state_id[:8]} vs {b.state_id[:8]}", body)


def _event_duration(event: StateEvent | None) -> float | None:
    if event is None or event.started_at is None or event.ended_at is None:
        return None
    return event.ended_at - event.started_at


def _span(state: ExecutionState, bars: Sequence[Bar]) -> float:
    if not bars:
        return max(0.0, state.updated_at - state.created_at)
    return max(b.end for b in bars) - min(min(b.start for b in bars), state.created_at)


def _timeline_section(state: ExecutionState, bars: Sequence[Bar], anchor: str, title: str) -> str:
    legend = "".join(
        f"<span>{_badge(s)}</span>" for s in ("completed", "failed", "cached", "replayed", "paused")
    )
    if not bars:
        return (
            f'<section id="{anchor}"><h2>{escape(title)}</h2>'
            '<p class="note">No step ran in this run.</p></section>'
        )
    return (
        f'<section id="{anchor}"><h2>{escape(title)}</h2>'
        f'<p class="legend">{legend} <span class="note">one bar per attempt; a dashed '
        "outline is a retry; lanes are steps that ran at once</span></p>"
        f'<div class="scroll">{timeline_svg(state, bars)}</div></section>'
    )


def _dag_section(state: ExecutionState) -> str:
    graph = Graph.from_data(state.metadata.custom_data.get(GRAPH_KEY))
    if graph is None:
        return (
            '<section id="dag"><h2>DAG</h2><p class="note">This run was not started by '
            "<code>flowexec run</code>, so its graph was not stored with it; draw it with "
            "<code>flowexec graph FILE.py:FLOW --format svg</code>.</p></section>"
        )
    latest = state.latest()
    status = {a: status_class(e.status) for a, e in latest.items()}
    badges: dict[str, str] = {}
    for node in graph.walk():
        if node.kind == "map":
            items = [a for a in latest if re.fullmatch(re.escape(node.id) + r"\[\d+\]", a)]
            done = sum(1 for a in items if latest[a].completed)
            badges[node.id + "[]"] = f"\u00d7{len(items)} ({done} ok)"
            if items:
                status[node.id + "[]"] = "completed" if done == len(items) else "failed"
        elif node.kind == "loop":
            rounds = [a for a in latest if re.fullmatch(re.escape(node.id) + r"#\d+", a)]
            badges[node.id + "#"] = f"{len(rounds)} rounds"
        event = latest.get(node.id)
        if event is not None and event.attempts > 1:
            badges[node.id] = f"{event.attempts} attempts"
    return (
        '<section id="dag"><h2>DAG</h2><p class="note">coloured by status in this run; '
        "a thick red outline marks a critical step</p>"
        f'<div class="scroll">{render_svg(graph, status=status, badges=badges, standalone=False)}'
        "</div></section>"
    )


def _steps_section(state: ExecutionState) -> str:
    rows = []
    latest = state.latest()
    # In start order (a composite before what it ran); never-started steps last.
    order = sorted(
        latest.values(),
        key=lambda e: (e.started_at is None, e.started_at or 0.0, _depth(state.flow, e.address)),
    )
    for event in order:
        address = event.address
        indent = _depth(state.flow, address) * 18
        offset = (
            "—" if event.started_at is None else f"+{seconds(event.started_at - state.created_at)}"
        )
        error = f"{event.error.type}: {event.error.message}" if event.error else ""
        if event.awaiting:
            error = f"awaiting input {event.awaiting!r}"
        rows.append(
            f'<tr data-address="{escape(address)}"><td style="padding-left:{indent + 8}px">'
            f"<code>{escape(address)}</code></td><td>{_badge(event.status)}</td>"
            f'<td class="num">{event.attempts}</td>'
            f'<td class="num">{seconds(_event_duration(event))}</td>'
            f'<td class="num">{offset}</td><td class="error">{escape(error)}</td></tr>'
        )
    return (
        '<section id="steps"><h2>Steps</h2><input id="filter" placeholder="filter by address">'
        '<div class="scroll"><table class="steps"><thead><tr><th>address</th><th>status</th>'
        "<th>attempts</th><th>duration</th><th>started</th><th>error</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def graph_of(custom_data: Mapping[str, Any]) -> Graph | None:
    """The graph ``flowexec run`` stored with a run, if any."""
    return Graph.from_data(custom_data.get(GRAPH_KEY))
