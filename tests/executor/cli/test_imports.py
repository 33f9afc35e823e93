"""The command must not slow ``import executor``: its parts load only when it runs."""

import subprocess
import sys

PROBE = (
    "import sys; import executor; import executor.cli; "
    "print(sorted(m for m in sys.modules if m.startswith(('executor._cli', 'rich'))))"
)


def test_import_executor_loads_neither_the_commands_nor_rich():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_parsing_arguments_loads_no_command_module():
    probe = (
        "import sys; from executor.cli import build_parser; "
        "build_parser().parse_args(['run', 'x.py:f']); "
        "print(sorted(m for m in sys.modules if m.startswith(('executor._cli', 'rich'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_without_rich_the_command_says_how_to_install_it(tmp_path):
    (tmp_path / "one.py").write_text(
        "from executor import Flow, step\n@step\ndef one() -> int:\n    return 1\n"
        "flow = Flow('one', [one])\n"
    )
    probe = (
        "import sys; sys.modules['rich'] = None; sys.modules['rich.console'] = None; "
        "from executor.cli import main; raise SystemExit(main(['run', 'one.py:flow']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr == (
        "flowexec: error: flowexec's terminal output needs the 'rich' package (a dependency of "
        "flowexec), which is missing here; install it with: python -m pip install 'rich>=13'\n"
    )
