import subprocess
import sys

import pytest

from executor import __version__
from executor.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"flowexec {__version__}"


def test_help_without_arguments(capsys):
    assert main([]) == 0
    assert "usage: flowexec" in capsys.readouterr().out


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "executor.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"flowexec {__version__}"


def test_the_flowexec_command_is_on_the_path():
    import shutil

    command = shutil.which("flowexec") or str(
        __import__("pathlib").Path(sys.executable).with_name("flowexec")
    )
    out = subprocess.run([command, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"flowexec {__version__}"
