"""The README's code must run as printed."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_quick_start_runs_and_prints_what_it_says(tmp_path):
    block = python_blocks((ROOT / "README.md").read_text())[0]
    script = tmp_path / "report.py"
    script.write_text(block)
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    lines = out.stdout.splitlines()
    assert lines[0] == "61"
    assert lines[1] == "1"
    assert lines[2].startswith("completed ")


def test_install_and_test_commands_lead_the_readme():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands == ['python -m pip install -e ".[dev]"', "python -m pytest -n 2 --cov"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert all(command in ci for command in commands)


def test_persisted_run_section_runs_on_sqlite_under_dot_flowexec(tmp_path):
    quick_start, persisted = python_blocks((ROOT / "README.md").read_text())
    (tmp_path / "report.py").write_text(quick_start)
    (tmp_path / "approve.py").write_text(persisted)
    out = subprocess.run(
        [sys.executable, "approve.py"], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.splitlines() == ["awaiting approval", "sent replayed", "completed"]
    assert (tmp_path / ".flowexec" / "state.db").exists()
