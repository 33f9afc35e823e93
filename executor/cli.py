"""The ``flowexec`` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from executor._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowexec",
        description="flowexec: a step/flow execution engine you can test.",
        epilog="Docs: README.md and docs/ in the project repository.",
    )
    parser.add_argument("--version", action="version", version=f"flowexec {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flowexec`` console script."""
    build_parser().parse_args(argv)
    build_parser().print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
