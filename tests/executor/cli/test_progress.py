"""Live progress: drawn on a terminal (a pseudo-terminal here), absent when piped."""

import os
import pty
import re
import select
import subprocess
import time

from .conftest import SCRIPT, flowexec, measured

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _run_on_a_terminal(args, cwd):
    """Run the script with stdout and stderr on a pty; return everything it drew."""
    leader, follower = pty.openpty()
    env = measured({**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"})
    for name in ("NO_COLOR", "FORCE_COLOR", "CI", "GITHUB_ACTIONS", "TF_BUILD"):
        env.pop(name, None)  # rich treats CI as 'no terminal'; this test is one
    process = subprocess.Popen(
        [str(SCRIPT), *args], cwd=cwd, stdin=follower, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    os.close(leader)
    return process.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_progress_is_drawn_on_a_terminal(project):
    code, drawn = _run_on_a_terminal(["run", "flows.py:watched", "-i", "n=1"], project)
    assert code == 0
    text = ESCAPE.sub("", drawn)
    assert "0/3 done" in text  # before anything finished
    assert "running 1: watched/slow" in text  # the step running now, by address
    assert re.search(r"[1-6]/6 items of watched/items", text)  # map items done/total
    assert "retries 0" in text and "cache hits 0" in text
    assert "flow watched: completed" in text  # then the summary table
    assert "\x1b[" in drawn  # drawn with terminal control codes


def test_retries_show_in_the_progress(project):
    code, drawn = _run_on_a_terminal(["run", "flows.py:flow", "-i", "n=3"], project)
    assert code == 0
    assert "retries 1" in ESCAPE.sub("", drawn)


def test_no_progress_when_piped(project):
    done = flowexec("run", "flows.py:watched", "-i", "n=1", cwd=project, check_code=0)
    assert "running" not in done.stdout and "done" not in done.stdout
    assert "\x1b[" not in done.stdout and done.stderr == ""
    assert done.stdout.splitlines()[0].startswith("flow watched: completed")
