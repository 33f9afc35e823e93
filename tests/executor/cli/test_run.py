"""``flowexec run`` and ``flowexec states resume`` through the installed script."""

import json
import sqlite3

import pytest

from .conftest import flowexec, latest_id


@pytest.mark.parametrize("executor", ["sequential", "threaded", "async", "parallel"])
def test_a_run_that_completes_exits_0_with_a_summary_table(project, executor):
    done = flowexec(
        "run", "flows.py:flow", "-i", "n=4", "--executor", executor, cwd=project, check_code=0
    )
    lines = done.stdout.splitlines()
    assert "flow demo: completed" in lines[0]
    for address in ("demo/load", "demo/squares[3]", "demo/flaky", "demo/bounds/high"):
        row = next(line for line in lines if f" {address} " in line)
        assert "completed" in row
    flaky = next(line for line in lines if " demo/flaky " in line)
    assert " 2 " in flaky  # attempts: the first try failed, the retry passed
    assert lines[-1].startswith("12/12 steps ok in ")  # 6 top-level, 4 items, 2 branches
    assert done.stderr == ""
    assert (project / ".flowexec" / "state.db").is_file()


def test_json_prints_the_typed_result_and_nothing_else(project):
    done = flowexec("run", "flows.py:flow", "-i", "n=3", "--json", cwd=project, check_code=0)
    data = json.loads(done.stdout)
    assert data["status"] == "completed"
    assert data["outputs"]["report"] == "total=10"  # 0+1+4 squares, 3 loaded, 2 highest
    assert data["outputs"]["load"] == [0, 1, 2]
    assert [s["address"] for s in data["steps"]][:2] == ["demo/load", "demo/squares"]
    assert data["state_id"] == latest_id(project)


def test_inputs_parse_as_json_or_strings_and_from_a_file(project):
    (project / "more.py").write_text(
        "from executor import Flow, step\n"
        "@step\n"
        "def echo(a, b, c, d) -> list:\n"
        "    return [a, b, c, d]\n"
        "flow = Flow('echo', [echo])\n"
    )
    (project / "inputs.json").write_text('{"c": {"k": [1, 2]}, "d": null}')
    done = flowexec(
        "run",
        "more.py:flow",
        "-i",
        "a=4",
        "-i",
        "b=Ada Lovelace",
        "-i",
        "@inputs.json",
        "--json",
        "--no-store",
        cwd=project,
        check_code=0,
    )
    assert json.loads(done.stdout)["outputs"]["echo"] == [4, "Ada Lovelace", {"k": [1, 2]}, None]


def test_a_package_module_target_runs(project):
    pkg = project / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "jobs.py").write_text(
        "from executor import Flow, step\n@step\ndef one() -> int:\n    return 1\n"
        "flow = Flow('jobs', [one])\n"
    )
    done = flowexec("run", "pkg.jobs:flow", "--json", "--no-store", cwd=project, check_code=0)
    assert json.loads(done.stdout)["outputs"] == {"one": 1}


def test_no_store_keeps_no_state(project):
    flowexec("run", "flows.py:flow", "-i", "n=2", "--no-store", cwd=project, check_code=0)
    assert not (project / ".flowexec").exists()


def test_tags_are_stored_and_filter_the_listing(project):
    flowexec("run", "flows.py:flow", "-i", "n=2", "--tag", "nightly", cwd=project, check_code=0)
    flowexec("run", "flows.py:flow", "-i", "n=2", cwd=project, check_code=0)
    tagged = flowexec("states", "list", "-q", "--tag", "nightly", cwd=project, check_code=0)
    assert len(tagged.stdout.split()) == 1


def test_a_failed_run_exits_1_naming_the_address_and_the_error(project):
    done = flowexec("run", "flows.py:broken", "-i", "n=7", cwd=project, check_code=1)
    assert "broken/boom" in done.stdout and "failed" in done.stdout
    first = done.stderr.splitlines()[0]
    assert first == "flowexec: step 'broken/boom' failed: builtins.ValueError: bad n 7"
    assert "Traceback" not in done.stderr
    assert f"flowexec states show {latest_id(project)}" in done.stderr


def test_a_paused_run_exits_3_and_the_printed_command_resumes_it(project):
    done = flowexec("run", "flows.py:gated", "-i", "n=2", cwd=project, check_code=3)
    state_id = latest_id(project)
    assert "gated/ask" in done.stdout and "paused" in done.stdout
    message = done.stderr.strip()
    assert "awaiting input 'approval' (needs sign-off)" in message
    command = message.split("resume it with: ")[1]
    assert command == f"flowexec states resume {state_id} flows.py:gated -i approval=VALUE"
    args = command.replace("VALUE", "true").split()[1:]
    resumed = flowexec(*args, "--json", cwd=project, check_code=0)
    data = json.loads(resumed.stdout)
    assert data["state_id"] == state_id
    assert data["outputs"] == {"after": 21, "ask": 20}
    shown = flowexec("states", "show", state_id[:8], cwd=project, check_code=0).stdout
    assert "status   completed" in shown


def test_a_paused_run_without_a_store_says_it_cannot_be_resumed(project):
    done = flowexec("run", "flows.py:gated", "-i", "n=2", "--no-store", cwd=project, check_code=3)
    assert "--no-store kept no state to resume" in done.stderr


def test_resume_from_an_address_makes_a_new_run_that_reruns_it(project):
    flowexec("run", "flows.py:flow", "-i", "n=3", cwd=project, check_code=0)
    first = latest_id(project)
    done = flowexec(
        "states",
        "resume",
        first,
        "flows.py:flow",
        "--from",
        "demo/total",
        "--json",
        cwd=project,
        check_code=0,
    )
    data = json.loads(done.stdout)
    assert data["state_id"] != first
    statuses = {s["address"]: s["status"] for s in data["steps"]}
    assert statuses["demo/load"] == "replayed"
    assert statuses["demo/total"] == "completed"
    listing = flowexec("states", "list", cwd=project, check_code=0).stdout
    assert first[:12] in listing  # the new run names its parent


def test_resume_with_a_store_elsewhere_prints_that_store_in_the_command(project):
    done = flowexec(
        "run", "flows.py:gated", "-i", "n=1", "--store", "runs/s.db", cwd=project, check_code=3
    )
    assert "--store runs/s.db -i approval=VALUE" in done.stderr


def test_resume_with_an_explicit_target_for_a_run_started_in_python(project):
    (project / "start.py").write_text(
        "from executor.state import SQLiteStateBackend\n"
        "from flows import gated\n"
        "r = gated.run(n=5, store=SQLiteStateBackend('.flowexec/state.db'))\n"
        "print(r.state_id)\n"
    )
    import subprocess
    import sys

    state_id = subprocess.run(
        [sys.executable, "start.py"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    no_target = flowexec("states", "resume", state_id, "-i", "approval=true", cwd=project)
    assert no_target.returncode == 2
    assert "does not name its flow; give it" in no_target.stderr
    done = flowexec(
        "states",
        "resume",
        state_id,
        "flows.py:gated",
        "-i",
        "approval=true",
        "--json",
        cwd=project,
        check_code=0,
    )
    assert json.loads(done.stdout)["outputs"]["after"] == 51


def test_the_store_holds_the_graph_and_target_not_code(project):
    flowexec("run", "flows.py:flow", "-i", "n=2", cwd=project, check_code=0)
    with sqlite3.connect(project / ".flowexec" / "state.db") as db:
        (header,) = db.execute("SELECT header FROM states").fetchone()
    custom = json.loads(header)["metadata"]["custom_data"]
    assert "flowexec.target" in json.dumps(custom) and "flowexec.graph" in json.dumps(custom)
    assert (project / ".flowexec" / "attempts").is_dir()
