"""Values the CLI shows are exact: in their real order, as ordinary JSON (no
``$ordered`` wrappers), typed where JSON has no type of their own."""

from __future__ import annotations

import datetime
import html
import json

from hypothesis import given, settings

from executor._codec import JSON_CODEC
from executor._shown import json_text, shown_data
from pytest_flowexec.strategies import codec_values, exact_copy

from .conftest import flowexec, latest_id


def test_show_prints_inputs_in_their_real_order(values_project):
    flowexec(
        "run", "values.py:shaped", "-i", "options={\"z\": 1, \"a\": [2]}", "-i", "n=3",
        cwd=values_project, check_code=0,
    )  # fmt: skip
    out = flowexec("states", "show", latest_id(values_project), cwd=values_project, check_code=0)
    # As given: options before n, z before a (was: {"n": 3, "options": {"a": [2], "z": 1}}).
    assert 'inputs   {"options": {"z": 1, "a": [2]}, "n": 3}\n' in out.stdout


def test_json_output_is_ordinary_json_in_the_real_order(values_project):
    out = flowexec(
        "run", "values.py:shaped", "-i", "n=3", "-i", "options={}", "--json",
        cwd=values_project, check_code=0,
    ).stdout  # fmt: skip
    assert "$ordered" not in out
    result = json.loads(out)  # Python's json keeps object order
    built = result["outputs"]["build"]
    assert list(built) == ["zeta", "alpha", "on"] and list(built["alpha"]) == ["y", "x"]
    assert built["alpha"]["x"] == {"$tuple": [1, 2]} and built["on"] == {"$date": "2026-01-02"}
    # Typed values keep their tags, so the codec gives the exact value back.
    value = JSON_CODEC.decode(built)
    assert value == {
        "zeta": 3,
        "alpha": {"y": 1, "x": (1, 2)},
        "on": datetime.date(2026, 1, 2),
    }
    assert list(value) == ["zeta", "alpha", "on"] and type(value["alpha"]["x"]) is tuple


@settings(max_examples=150, deadline=None)
@given(value=codec_values())
def test_shown_json_decodes_to_the_exact_value(value):
    text = json_text(shown_data(value))
    assert "$ordered" not in text
    assert exact_copy(value, JSON_CODEC.decode(json.loads(text)))


def test_the_html_report_shows_inputs_in_their_real_order(values_project):
    flowexec(
        "run", "values.py:shaped", "-i", "options={\"z\": 1, \"a\": [2]}", "-i", "n=3",
        cwd=values_project, check_code=0,
    )  # fmt: skip
    state_id = latest_id(values_project)
    flowexec("report", state_id, "-o", "r.html", cwd=values_project, check_code=0)
    page = (values_project / "r.html").read_text()
    shown = '{"options": {"z": 1, "a": [2]}, "n": 3}'  # was sorted: {"n": 3, "options": ...}
    assert f"<code>{html.escape(shown)}</code>" in page


def test_show_json_decodes_to_the_exact_stored_values(values_project):
    from executor.state import SQLiteStateBackend

    flowexec(
        "run", "values.py:shaped", "-i", "options={\"z\": 1, \"a\": [2]}", "-i", "n=3",
        "--tag", "b", "--tag", "a", cwd=values_project, check_code=0,
    )  # fmt: skip
    state_id = latest_id(values_project)
    text = flowexec(
        "states", "show", state_id[:8], "--json", cwd=values_project, check_code=0
    ).stdout
    assert "$ordered" not in text
    shown = json.loads(text)
    store = SQLiteStateBackend(values_project / ".flowexec" / "state.db")
    stored = store.load(state_id)
    store.close()
    assert (shown["state_id"], shown["flow"], shown["status"]) == (state_id, "shaped", "completed")
    assert (shown["created_at"], shown["updated_at"]) == (stored.created_at, stored.updated_at)
    assert shown["metadata"]["tags"] == ["b", "a"]
    inputs = JSON_CODEC.decode(shown["inputs"])
    assert exact_copy(dict(stored.inputs), inputs) and list(inputs) == ["options", "n"]
    (event,) = shown["events"]
    assert exact_copy(stored.events[0].output, JSON_CODEC.decode(event["output"]))
    assert list(event["output"]) == ["zeta", "alpha", "on"]  # the dict's own order
    assert event["digest"] == stored.events[0].digest and event["attempts"] == 1
    assert (event["started_at"], event["ended_at"]) == (
        stored.events[0].started_at,
        stored.events[0].ended_at,
    )


def test_show_json_of_a_failed_step_has_its_error_and_no_output(values_project):
    flowexec("run", "values.py:loud", "-i", "text=x", cwd=values_project, check_code=1)
    shown = json.loads(
        flowexec(
            "states", "show", latest_id(values_project), "--json",
            cwd=values_project, check_code=0,
        ).stdout
    )  # fmt: skip
    (event,) = shown["events"]
    assert event["status"] == "failed" and "output" not in event
    assert event["error"]["type"] == "builtins.ValueError"
    assert event["error"]["message"] == "bad value [red]x[/red] in [b]"  # no markup eaten
    assert shown["status"] == "failed"
