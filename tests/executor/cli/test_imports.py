"""The command must not slow ``import executor``: its parts load only when it runs."""

import subprocess
import sys

PROBE = (
    "import sys; import executor; import executor.cli; "
    "print(sorted(m for m in sys.modules if m.startswith(('executor._cli', 'rich'))))"
)


def test_import_executor_loads_neither_the_commands_nor_rich():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_parsing_arguments_loads_no_command_module():
    probe = (
        "import sys; from executor.cli import build_parser; "
        "build_parser().parse_args(['run', 'x.py:f']); "
        "print(sorted(m for m in sys.modules if m.startswith(('executor._cli', 'rich'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
