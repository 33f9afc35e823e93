"""--debug and --store are global: they work before the command, as users type them
(`flowexec --debug run ...`, like `git -C` or `docker --debug run`), between
`states` and its command, and after the command; given twice, the later one wins."""

from __future__ import annotations

import pytest

from executor.cli import DEFAULT_STORE, build_parser
from tests.executor.cli.conftest import flowexec

RUN = ["run", "flows.py:broken", "-i", "n=1"]


@pytest.mark.parametrize(
    ("argv", "debug", "store"),
    [
        (RUN, False, DEFAULT_STORE),
        (["--debug", *RUN], True, DEFAULT_STORE),
        ([*RUN, "--debug"], True, DEFAULT_STORE),
        (["--store", "a.db", *RUN], False, "a.db"),
        ([*RUN, "--store", "a.db"], False, "a.db"),
        (["--store", "a.db", *RUN, "--store", "b.db"], False, "b.db"),
        (["states", "list"], False, DEFAULT_STORE),
        (["--debug", "--store", "a.db", "states", "list"], True, "a.db"),
        (["states", "--store", "a.db", "--debug", "list"], True, "a.db"),
        (["states", "list", "--store", "a.db"], False, "a.db"),
        (["--store", "a.db", "states", "--store", "b.db", "list"], False, "b.db"),
        (["--store", "a.db", "report", "abc"], False, "a.db"),
        (["--debug", "graph", "flows.py:flow"], True, DEFAULT_STORE),
    ],
)
def test_global_options_are_taken_before_and_after_the_command(argv, debug, store):
    args = build_parser().parse_args(argv)
    assert args.debug is debug
    assert args.store == store


def test_debug_before_the_command_shows_the_traceback(project):
    done = flowexec("--debug", "run", "flows.py:nope", "-i", "n=1", cwd=project, check_code=2)
    assert "Traceback (most recent call last)" in done.stderr
    plain = flowexec("run", "flows.py:nope", "-i", "n=1", cwd=project, check_code=2)
    assert "Traceback" not in plain.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_a_failed_steps_own_traceback(project, where):
    debug = ["--debug", "run"] if where == "before" else ["run", "--debug"]
    done = flowexec(*debug, "flows.py:broken", "-i", "n=3", cwd=project, check_code=1)
    assert 'raise ValueError(f"bad n {n}")' in done.stderr  # the step's line, as stored
    assert done.stderr.rstrip().endswith(
        "flowexec: see it with: flowexec states show " + done.stderr.rsplit(" ", 1)[-1].strip()
    )
    plain = flowexec("run", "flows.py:broken", "-i", "n=3", cwd=project, check_code=1)
    assert "raise ValueError" not in plain.stderr
    assert "flowexec: step 'broken/boom' failed: builtins.ValueError: bad n 3" in plain.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_store_before_or_after_the_command_is_the_one_used(project, where):
    store = ["--store", "mine.db"]
    run = ["run", "flows.py:broken", "-i", "n=1"]
    flowexec(*(store + run if where == "before" else run + store), cwd=project, check_code=1)
    assert (project / "mine.db").is_file()
    assert not (project / ".flowexec" / "state.db").exists()
    listing = ["states", "list", "-q"]
    listed = flowexec(
        *(store + listing if where == "before" else listing + store), cwd=project, check_code=0
    )
    assert len(listed.stdout.split()) == 1
    shown = flowexec(
        *store, "states", "show", listed.stdout.strip(), "--json", cwd=project, check_code=0
    )
    assert '"flow":"broken"' in shown.stdout.replace(" ", "")


def test_store_before_graph_is_refused_not_ignored(project):
    done = flowexec("--store", "mine.db", "graph", "flows.py:flow", cwd=project, check_code=2)
    assert "--store 'mine.db': graph reads no state store" in done.stderr
    assert "see: flowexec graph --help" in done.stderr
