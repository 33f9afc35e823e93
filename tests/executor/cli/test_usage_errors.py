"""Every bad argument: exit status 2, one line naming the bad value and the fix,
no traceback unless --debug."""

import pytest

from .conftest import flowexec, latest_id

RUN = ["run", "flows.py:flow", "-i", "n=2"]


def _setup(project):
    (project / "syntax.py").write_text("def broken(:\n")
    (project / "list.json").write_text("[1, 2]")
    (project / "bad.json").write_text("{nope")
    (project / "junk.db").write_bytes(b"this is not a database, just bytes" * 40)
    (project / "folder").mkdir()
    (project / "twice.json").write_text('{"n": 1, "n": 2}')
    (project / "notes").write_text("a file, not a folder\n")


CASES = {
    "target without a colon": (["run", "flows.py"], "'flows.py' must be FILE.py:NAME"),
    "missing file": (["run", "nope.py:flow"], "'nope.py' does not exist"),
    "unknown flow": (["run", "flows.py:nope"], "has no name 'nope'; flows there: broken, clock"),
    "not a flow": (["run", "flows.py:load"], "'load' is a Step, not a Flow"),
    "unknown module": (["run", "no_such_mod:flow"], "no module named 'no_such_mod'"),
    "a file that fails to import": (["run", "syntax.py:flow"], "importing syntax.py raised"),
    "input without =": ([*RUN, "-i", "oops"], "-i 'oops': write NAME=VALUE"),
    "input name not an identifier": ([*RUN, "-i", "a-b=1"], "-i 'a-b=1': write NAME=VALUE"),
    "input file missing": ([*RUN, "-i", "@gone.json"], "-i @gone.json: cannot read 'gone.json'"),
    "input file not an object": ([*RUN, "-i", "@list.json"], "holds a list; it must hold"),
    "input file not JSON": ([*RUN, "-i", "@bad.json"], "'bad.json' is not valid JSON"),
    "input given twice": ([*RUN, "-i", "n=3"], "input 'n' is given twice"),
    "input NaN": (
        ["run", "flows.py:flow", "-i", "n=NaN"],
        "-i 'n=NaN': input 'n' would be NaN, which is not a finite number",
    ),
    "input Infinity": (
        ["run", "flows.py:flow", "-i", "n=-Infinity"],
        "-i 'n=-Infinity': input 'n' would be -Infinity, which is not a finite number",
    ),
    "input nested NaN": (
        ["run", "flows.py:flow", "-i", "n=[NaN]"],
        "-i 'n=[NaN]': input 'n' holds NaN, which is not a finite number",
    ),
    "input rounded by a float": (
        ["run", "flows.py:flow", "-i", "n=1e-400"],
        "the number 1e-400 has more precision than a float holds (it would become 0.0)",
    ),
    "input file names a key twice": (
        ["run", "flows.py:flow", "-i", "@twice.json"],
        "-i @twice.json: the key 'n' is given twice in one JSON object",
    ),
    # A store path through a regular file is a write the file system refuses: exit 1
    # (test_store_write_errors.py), not a usage error.
    "missing input": (
        ["run", "flows.py:flow"],
        "missing required input(s): n; give inputs with -i",
    ),
    "unknown input": ([*RUN, "-i", "m=1"], "unknown input(s): m (the flow's inputs are: n)"),
    "mistyped input": (
        [*RUN, "-i", "nn=1"],
        "unknown input(s): nn (did you mean 'n'?) (the flow's inputs are: n)",
    ),
    "bad executor": ([*RUN, "--executor", "gpu"], "argument --executor: invalid choice: 'gpu'"),
    "zero concurrency": ([*RUN, "--max-concurrency", "0"], "must be a whole number >= 1, got '0'"),
    "store is a folder": ([*RUN, "--store", "folder"], "--store 'folder' is a folder"),
    "store is not a store": (
        [*RUN, "--store", "junk.db"],
        "--store 'junk.db': state file 'junk.db': cannot be opened (not a file flowexec made: "
        "file is not a database: it starts with b'this is not a da'); nothing was read or "
        "written. Give a path where no file is",
    ),
    "list without a store": (["states", "list", "--store", "none.db"], "no state store there"),
    "list bad status": (["states", "list", "--status", "great"], "invalid choice: 'great'"),
    "list bad limit": (["states", "list", "--limit", "x"], "must be a whole number >= 1, got 'x'"),
    "show unknown id": (["states", "show", "ffff"], "state id 'ffff': no such run"),
    "diff unknown id": (["states", "diff", "ffff", "eeee"], "first state id 'ffff': no such run"),
    "delete unknown id": (["states", "delete", "ffff"], "state id 'ffff': no such run"),
    "resume unknown id": (["states", "resume", "ffff"], "state id 'ffff': no such run"),
    "validate unknown id": (["states", "validate", "ffff"], "state id 'ffff': no such run"),
    "report unknown id": (["report", "ffff"], "state id 'ffff': no such run"),
    "graph bad format": (["graph", "flows.py:flow", "--format", "png"], "invalid choice: 'png'"),
    "graph bad target": (["graph", "flows.py:nope"], "has no name 'nope'"),
    "unknown command": (["launch"], "invalid choice: 'launch'"),
    # Before: "flowexec: error: unrecognized arguments: ...; see: flowexec --help".
    "show unknown option": (
        ["states", "show", "ffff", "--bogus"],
        "flowexec states show: error: unrecognized arguments: --bogus; "
        "see: flowexec states show --help",
    ),
    "run extra argument": (
        [*RUN, "extra"],
        "flowexec run: error: unrecognized arguments: extra; see: flowexec run --help",
    ),
    "top-level unknown option": (
        ["--bogus"],
        "flowexec: error: unrecognized arguments: --bogus; see: flowexec --help",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_argument_is_one_line_and_exit_2(project, case):
    _setup(project)
    args, expected = CASES[case]
    if args[0] in ("states", "report"):  # a store to look in
        flowexec("run", "flows.py:broken", "-i", "n=1", cwd=project, check_code=1)
    done = flowexec(*args, cwd=project, check_code=2)
    assert done.stderr.count("\n") == 1, done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["flows.py:flow", "--from", "demo/nope"], "--from 'demo/nope': flow 'demo' has no step"),
        (
            ["flows.py:flow", "--from", "demo/totl"],
            "--from 'demo/totl': flow 'demo' has no step 'totl' (did you mean 'total'?); "
            "its steps are: load, squares, flaky, bounds, total, report",
        ),
        (["flows.py:broken"], "flow target 'flows.py:broken' is flow 'broken', but state"),
        (["flows.py:flow", "-i", "oops"], "-i 'oops': write NAME=VALUE"),
        ([], "give the flow to resume: flowexec states resume "),
    ],
)
def test_bad_resume_arguments(project, args, expected):
    flowexec("run", "flows.py:flow", "-i", "n=2", cwd=project, check_code=0)
    done = flowexec("states", "resume", latest_id(project), *args, cwd=project, check_code=2)
    assert expected in done.stderr and done.stderr.count("\n") == 1


def test_an_ambiguous_id_prefix_asks_for_more(project):
    for _ in range(18):  # 18 ids over 16 hex digits: two share a first digit
        flowexec("run", "flows.py:clock", "-i", "n=1", cwd=project, check_code=0)
    ids = flowexec("states", "list", "-q", cwd=project, check_code=0).stdout.split()
    firsts = [i[0] for i in ids]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    done = flowexec("states", "show", shared, cwd=project, check_code=2)
    assert f"state id '{shared}' is ambiguous" in done.stderr


def test_report_into_a_missing_folder(project):
    flowexec("run", "flows.py:flow", "-i", "n=2", cwd=project, check_code=0)
    done = flowexec("report", latest_id(project), "-o", "no/such/dir/r.html", cwd=project)
    assert done.returncode == 2
    assert "-o 'no/such/dir/r.html': cannot write there" in done.stderr


def test_debug_shows_the_traceback(project):
    done = flowexec("run", "--debug", "flows.py:nope", cwd=project, check_code=2)
    assert "Traceback (most recent call last)" in done.stderr
    last = done.stderr.rstrip().splitlines()[-1]
    assert last.startswith("flowexec: error: flow target 'flows.py:nope': flows.py has no name")


def test_no_arguments_prints_help_and_states_alone_too(project):
    assert "usage: flowexec" in flowexec(cwd=project, check_code=0).stdout
    assert "usage: flowexec states" in flowexec("states", cwd=project, check_code=0).stdout
