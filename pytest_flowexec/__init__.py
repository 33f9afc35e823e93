"""pytest plugin for flowexec: registered through the ``pytest11`` entry point as ``flowexec``."""

from executor import __version__

__all__ = ["__version__"]
