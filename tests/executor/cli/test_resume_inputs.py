"""`flowexec states resume -i` may add inputs to a stored run, not change them."""

from .conftest import flowexec, latest_id


def test_resume_refuses_a_changed_input_and_takes_the_awaited_one(project):
    flowexec("run", "flows.py:gated", "-i", "n=2", cwd=project)
    state_id = latest_id(project)
    refused = flowexec(
        "states", "resume", state_id, "flows.py:gated", "-i", "n=3", cwd=project, check_code=2
    )
    assert refused.stderr == (
        "flowexec: error: flow 'gated': a resume cannot change stored input(s): n from 2 to 3; "
        f"run {state_id[:12]} ran its steps with the stored values; start a new run with the "
        "new value, or resume as a new run from the first step that reads it, which keeps "
        "this one: resume_from='gated/ask' (on the command line: the same `flowexec states "
        "resume` with --from gated/ask added)\n"
    )
    shown = flowexec("states", "show", state_id, cwd=project, check_code=0).stdout
    assert 'inputs   {"n": 2}' in shown, shown  # the stored run is as it was
    done = flowexec(
        "states",
        "resume",
        state_id,
        "flows.py:gated",
        "-i",
        "n=2",
        "-i",
        "approval=true",
        cwd=project,
        check_code=0,
    )
    assert done.stderr == ""
    moved = flowexec(
        "states",
        "resume",
        state_id,
        "flows.py:gated",
        "--from",
        "gated/ask",
        "-i",
        "n=3",
        "-i",
        "approval=true",
        cwd=project,
        check_code=0,
    )
    assert moved.stderr == ""
    assert latest_id(project) != state_id  # a new run; the stored one keeps n=2
