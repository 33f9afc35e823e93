"""A process pool that breaks says why it likely broke: the __main__ guard, a killed worker."""

import subprocess
import sys
import textwrap

import pytest

from executor import Flow, StepFailed, step

SCRIPT = """
from executor import Flow, step

@step
def double(x: int) -> int:
    return 2 * x

flow = Flow("f", [double])
{run}
"""


def _run_script(tmp_path, run: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(run=run))
    return subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_a_script_without_the_main_guard_is_told_to_add_it(tmp_path):
    done = _run_script(tmp_path, 'print(flow.run(x=2, executor="parallel")["double"])')
    assert done.returncode == 1
    last = done.stderr.rstrip().splitlines()[-1]
    assert last.startswith("executor._errors.StepFailed: step 'f/double' failed: BrokenProcessPool")
    assert 'without `if __name__ == "__main__":` around the run' in last
    assert "see docs/usage.md, Executors" in last


def test_the_same_script_with_the_guard_runs(tmp_path):
    guarded = textwrap.dedent(
        """
        if __name__ == "__main__":
            print(flow.run(x=2, executor="parallel")["double"])
        """
    )
    done = _run_script(tmp_path, guarded)
    assert (done.returncode, done.stdout, done.stderr) == (0, "4\n", "")


@step
def dies(x: int) -> int:
    import os

    os._exit(9)  # as a worker killed by the system (out of memory) ends


def test_a_killed_worker_names_that_cause_too():
    with pytest.raises(StepFailed) as info:
        Flow("f", [dies]).run(x=1, executor="parallel")
    message = str(info.value)
    assert "BrokenProcessPool" in message
    assert "a worker killed by the system (out of memory" in message
