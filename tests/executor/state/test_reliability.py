import os
import signal
import subprocess
import sys
import time

import pytest

from executor.state import StateStatus
from tests.executor.state import state_steps as ss
from tests.executor.state.runner import open_store


@pytest.mark.parametrize("kind", ["sqlite", "files"])
def test_kill_9_mid_run_then_resume(kind, tmp_path, monkeypatch):
    path = str(tmp_path / ("state.db" if kind == "sqlite" else "states"))
    marks, slow = tmp_path / "marks", tmp_path / "slow"
    slow.touch()
    env = {**os.environ, "FLOWEXEC_TEST_MARKS": str(marks), "FLOWEXEC_TEST_SLOW": str(slow)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.executor.state.runner", kind, path, "items"], env=env
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if marks.exists() and len(marks.read_text().split()) >= 4:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)

    store = open_store(kind, path)  # opens cleanly after the kill
    (running,) = store.list_states(status=StateStatus.RUNNING)
    done_before = {e.address for e in store.load(running.state_id).events if e.completed}
    assert len(done_before) >= 3

    slow.unlink()
    marks.write_text("")
    monkeypatch.setattr(ss, "MARKS", str(marks))
    result = ss.items().resume(running.state_id, store=store)
    assert result["each"] == [i * 10 for i in range(10)]
    ran_again = {f"items/each[{line[4:]}]" for line in marks.read_text().split()}
    assert not ran_again & done_before, "a step that had completed was called again"
    assert ran_again | done_before >= {f"items/each[{i}]" for i in range(10)}
    assert store.load(running.state_id).status is StateStatus.COMPLETED


def test_two_processes_writing_one_sqlite_store_lose_nothing(tmp_path):
    path = str(tmp_path / "state.db")
    open_store("sqlite", path)
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.executor.state.runner", "sqlite", path, "reports", "15"]
        )
        for _ in range(2)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    store = open_store("sqlite", path)
    states = store.list_states(flow="report")
    assert len(states) == 30
    assert all(s.status is StateStatus.COMPLETED for s in states)
    assert all(len(store.load(s.state_id).events) == 3 for s in states)
