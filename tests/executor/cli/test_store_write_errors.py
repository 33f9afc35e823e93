"""A store the file system will not write is not a usage error: `flowexec run`
exits 1 with one line naming the store's path, the reason, the fix and, for a run
already begun, the command that goes on with it. Exit status 2 stays for a command
line used wrongly.

The tests run as root in CI, where chmod stops nothing: an immutable file
(``chattr +i``, which stops root too) makes a real failure where the file system
supports it; a store path through a regular file makes one everywhere.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.executor.cli.conftest import flowexec

LOCKING = textwrap.dedent(
    """
    import subprocess
    from pathlib import Path

    from executor import Flow, step

    @step
    def lock(n: int) -> int:
        # Once: the store's write-ahead log becomes immutable, so the next write fails.
        marker = Path("locked.once")
        if not marker.exists():
            marker.write_text("1")
            subprocess.run(["chattr", "+i", ".flowexec/state.db-wal"], check=True)
        return n

    @step
    def after(lock: int) -> int:
        return lock + 1

    flow = Flow("locked", [lock, after])
    """
)


def _chattr_works(folder: Path) -> bool:
    probe = folder / "probe"
    probe.write_text("")
    if shutil.which("chattr") is None:
        return False
    made = subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode == 0
    if made:
        subprocess.run(["chattr", "-i", str(probe)], check=True)
    return made


def test_a_store_that_fails_mid_run_exits_1_naming_the_path_and_how_to_go_on(tmp_path):
    if not _chattr_works(tmp_path):
        pytest.skip("this file system (or user) cannot make a file immutable")
    (tmp_path / "flows.py").write_text(LOCKING)
    wal = tmp_path / ".flowexec" / "state.db-wal"
    try:
        done = flowexec("run", "flows.py:flow", "-i", "n=1", cwd=tmp_path)
    finally:
        subprocess.run(["chattr", "-i", str(wal)], check=False)  # pytest must delete it
    assert done.returncode == 1, (done.stdout, done.stderr)
    line = done.stderr
    assert line.count("\n") == 1 and "Traceback" not in line, line
    assert line.startswith("flowexec: error: state '")
    assert "cannot write '.flowexec/state.db'" in line
    assert "the event of 'locked/lock' was not stored" in line
    state_id = line.split("'")[1]
    go_on = f"`flowexec states resume {state_id} flows.py:flow`"
    assert go_on in line
    # The hint is right: with the file writable again, the run goes on and completes.
    resumed = flowexec("states", "resume", state_id, "flows.py:flow", cwd=tmp_path, check_code=0)
    assert "completed" in resumed.stdout


def test_a_store_path_through_a_regular_file_exits_1_naming_the_file(tmp_path):
    (tmp_path / "flows.py").write_text(LOCKING)
    (tmp_path / "notes").write_text("a file, not a folder\n")
    done = flowexec("run", "flows.py:flow", "-i", "n=1", "--store", "notes/state.db", cwd=tmp_path)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "cannot write 'notes/state.db'" in done.stderr
    assert "'notes' is a file, not a folder" in done.stderr
    assert not (tmp_path / "locked.once").exists()  # no step ran


def test_a_foreign_store_file_is_still_a_usage_error(tmp_path):
    (tmp_path / "flows.py").write_text(LOCKING)
    (tmp_path / "junk.db").write_bytes(b"x")
    done = flowexec("run", "flows.py:flow", "-i", "n=1", "--store", "junk.db", cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "file is not a database: it starts with b'x'" in done.stderr
    assert (tmp_path / "junk.db").read_bytes() == b"x"
