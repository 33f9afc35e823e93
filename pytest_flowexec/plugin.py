"""The flowexec pytest plugin.

Loaded by pytest through the ``pytest11`` entry point named ``flowexec``. It stays
thin and lazy: nothing of the engine is imported until a hook needs it.
"""

from __future__ import annotations

import pytest


def pytest_report_header(config: pytest.Config) -> str:
    from executor import __version__

    return f"flowexec {__version__}"
