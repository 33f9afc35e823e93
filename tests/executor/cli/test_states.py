"""``flowexec states list|show|diff|delete|validate`` through the installed script."""

from .conftest import flowexec, latest_id


def test_list_shows_runs_newest_first_and_filters(project):
    flowexec("run", "flows.py:flow", "-i", "n=2", cwd=project, check_code=0)
    flowexec("run", "flows.py:broken", "-i", "n=2", cwd=project, check_code=1)
    flowexec("run", "flows.py:gated", "-i", "n=2", cwd=project, check_code=3)
    table = flowexec("states", "list", cwd=project, check_code=0).stdout
    rows = [line for line in table.splitlines() if line.startswith("│")]
    assert [row.split("│")[2].strip() for row in rows] == ["gated", "broken", "demo"]
    assert [row.split("│")[3].strip() for row in rows] == ["awaiting", "failed", "completed"]
    quiet = flowexec("states", "list", "-q", cwd=project, check_code=0).stdout.split()
    assert len(quiet) == 3 and all(len(i) == 32 for i in quiet)
    failed = flowexec("states", "list", "-q", "--status", "failed", cwd=project, check_code=0)
    assert failed.stdout.split() == [quiet[1]]
    demo = flowexec("states", "list", "-q", "--flow", "demo", cwd=project, check_code=0)
    assert demo.stdout.split() == [quiet[2]]
    limited = flowexec("states", "list", "-q", "--limit", "2", cwd=project, check_code=0)
    assert limited.stdout.split() == quiet[:2]


def test_show_prints_the_header_and_every_event(project):
    flowexec("run", "flows.py:broken", "-i", "n=9", cwd=project, check_code=1)
    state_id = latest_id(project)
    out = flowexec("states", "show", state_id[:6], cwd=project, check_code=0).stdout
    assert f"state    {state_id}" in out
    assert 'inputs   {"n": 9}' in out
    row = next(line for line in out.splitlines() if "broken/boom" in line)
    assert "failed" in row and "builtins.ValueError: bad n 9" in row


def test_diff_exits_0_for_matching_runs_and_1_naming_what_differs(project):
    flowexec("run", "flows.py:flow", "-i", "n=3", cwd=project, check_code=0)
    a = latest_id(project)
    flowexec("run", "flows.py:flow", "-i", "n=3", cwd=project, check_code=0)
    b = latest_id(project)
    flowexec("run", "flows.py:flow", "-i", "n=4", cwd=project, check_code=0)
    c = latest_id(project)
    same = flowexec("states", "diff", a, b, cwd=project, check_code=0).stdout
    assert same.strip() == f"runs {a[:12]} and {b[:12]} match"
    out = flowexec("states", "diff", a, c, cwd=project, check_code=1).stdout
    assert "input n: 3 -> 4" in out
    assert "demo/squares[3]: only in b" in out
    assert "demo/report: output changed" in out
    assert '-"total=10"\n+"total=21"' in out


def test_delete_forgets_the_run_and_its_attempts(project):
    flowexec("run", "flows.py:flow", "-i", "n=2", cwd=project, check_code=0)
    state_id = latest_id(project)
    kept = project / ".flowexec" / "attempts" / f"{state_id}.json"
    assert kept.is_file()
    out = flowexec("states", "delete", state_id, cwd=project, check_code=0).stdout
    assert out.strip() == f"deleted state {state_id}"
    assert not kept.exists()
    assert flowexec("states", "show", state_id, cwd=project).returncode == 2


def test_validate_passes_a_deterministic_run_and_fails_one_that_is_not(project):
    flowexec("run", "flows.py:flow", "-i", "n=3", cwd=project, check_code=0)
    ok = flowexec(
        "states", "validate", latest_id(project), "flows.py:flow", cwd=project, check_code=0
    ).stdout
    assert ok.startswith("deterministic: 11 steps re-run")
    flowexec("run", "flows.py:clock", "-i", "n=1", cwd=project, check_code=0)
    bad = flowexec(
        "states", "validate", latest_id(project), "flows.py:clock", cwd=project, check_code=1
    ).stdout
    assert bad.startswith("not deterministic: 1 of 1 steps differ")
    assert "clock/stamp" in bad


def test_a_stored_run_never_makes_the_command_import_the_file_it_names(project):
    """Stored data is data: the target a run was started with is shown, not imported."""
    (project / "loud.py").write_text(
        "import pathlib\npathlib.Path('imported.txt').write_text('yes')\nfrom flows import flow\n"
    )
    flowexec("run", "loud.py:flow", "-i", "n=2", cwd=project, check_code=0)
    marker = project / "imported.txt"
    marker.unlink()
    state_id = latest_id(project)
    for command in ("validate", "resume"):
        done = flowexec("states", command, state_id, cwd=project, check_code=2)
        assert f"give the flow to {command}: flowexec states {command} {state_id} loud.py:flow" in (
            done.stderr
        )
        assert not marker.exists()
