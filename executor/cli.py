"""The ``flowexec`` command line: run flows, inspect stored runs, draw and report them.

This module only parses arguments; each command's code lives in ``executor/_cli/``
and is imported when that command runs, so ``import executor`` and ``flowexec
--help`` stay fast. Exit status: 0 ok, 1 a run failed (or runs differ, or the store
could not be written), 2 a usage error (one line naming the bad value and the fix),
3 a run paused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from executor._version import __version__

if TYPE_CHECKING:
    from executor._cli._run import RunOptions

EXIT_USAGE = 2
EXECUTORS = ("sequential", "threaded", "async", "parallel")
STATUSES = ("running", "paused", "awaiting", "failed", "completed")
FORMATS = ("mermaid", "dot", "svg")
DEFAULT_STORE = ".flowexec/state.db"
Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line: what is wrong and where to look."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; see: {self.prog} --help\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _debug_option(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="show the traceback of an error, not one line",
    )


def _store_option(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--store",
        default=default,
        metavar="PATH",
        help=f"the SQLite state store (default: {DEFAULT_STORE})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, subcommands included."""
    # --debug and --store are global: taken before the command (`flowexec --debug run
    # ...`, as `git -C` or `docker --debug run`) and after it. Where a command takes
    # them their default is SUPPRESS, so a value given before the command is not
    # overwritten by the command's default; given in both places, the later one wins.
    common = _Parser(add_help=False)
    _debug_option(common, argparse.SUPPRESS)
    store = _Parser(add_help=False)
    _store_option(store, argparse.SUPPRESS)
    running = _Parser(add_help=False)
    running.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a flow input; VALUE is JSON where it parses (n=4), a string otherwise "
        "(name=Ada); @FILE.json for a JSON object of inputs, which a later -i "
        "overrides; repeat for more",
    )
    running.add_argument("--executor", choices=EXECUTORS, default="sequential")
    running.add_argument(
        "--max-concurrency", type=_positive, metavar="N", help="steps that may run at once"
    )
    running.add_argument(
        "--json", action="store_true", help="print the result as typed JSON, nothing else"
    )

    parser = _Parser(
        prog="flowexec",
        description="flowexec: a step/flow execution engine you can test.",
        epilog="Docs: docs/cli.md and docs/getting-started.md in the project repository.",
    )
    parser.add_argument("--version", action="version", version=f"flowexec {__version__}")
    _debug_option(parser, False)
    _store_option(parser, DEFAULT_STORE)
    parser.set_defaults(handler=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser(
        "run",
        parents=[common, store, running],
        help="run a flow from a file or module",
        description="Run a flow; live progress on a terminal, then a summary table. "
        "Exit status: 0 completed, 1 failed, 3 paused (the message says how to resume).",
    )
    run.add_argument("target", metavar="TARGET", help="FILE.py:FLOW or package.module:FLOW")
    run.add_argument(
        "--no-store", action="store_true", help="keep no state (the run cannot be resumed)"
    )
    run.add_argument("--tag", action="append", default=[], help="a tag stored with the run")
    run.set_defaults(handler=_run)

    states = commands.add_parser(
        "states", help="list, show, compare, delete, resume and validate stored runs"
    )
    _debug_option(states, argparse.SUPPRESS)
    _store_option(states, argparse.SUPPRESS)
    states.set_defaults(handler=_help(states))
    on_states = states.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    listing = on_states.add_parser(
        "list", parents=[common, store], help="stored runs, newest first"
    )
    listing.add_argument("--flow", help="only runs of this flow")
    listing.add_argument("--tag", action="append", default=[], help="only runs with this tag")
    listing.add_argument("--status", choices=STATUSES, help="only runs that ended so")
    listing.add_argument("--limit", type=_positive, metavar="N", help="at most N runs")
    listing.add_argument("-q", "--quiet", action="store_true", help="print the ids only")
    listing.set_defaults(handler=_list)
    show = on_states.add_parser(
        "show", parents=[common, store], help="a run and its events as a table"
    )
    show.add_argument("state_id", metavar="ID", help="a state id or a unique prefix of one")
    show.add_argument(
        "--json",
        action="store_true",
        help="print the run and its events as JSON (values exact, in their order), nothing else",
    )
    show.set_defaults(handler=_show)
    diff = on_states.add_parser(
        "diff", parents=[common, store], help="how two runs differ (exit 1 when they do)"
    )
    diff.add_argument("first", metavar="ID1")
    diff.add_argument("second", metavar="ID2")
    diff.set_defaults(handler=_diff)
    delete = on_states.add_parser("delete", parents=[common, store], help="forget a run")
    delete.add_argument("state_id", metavar="ID")
    delete.set_defaults(handler=_delete)
    resume = on_states.add_parser(
        "resume",
        parents=[common, store, running],
        help="continue a paused, failed or interrupted run",
        description="Continue a stored run: completed steps are reused, not called again.",
    )
    resume.add_argument("state_id", metavar="ID")
    resume.add_argument(
        "target",
        metavar="TARGET",
        nargs="?",
        help="FILE.py:FLOW (default: the one `flowexec run` stored with the run)",
    )
    resume.add_argument(
        "--from",
        dest="resume_from",
        metavar="ADDRESS",
        help="run this address and everything downstream again, as a new run",
    )
    resume.set_defaults(handler=_resume)
    validate = on_states.add_parser(
        "validate",
        parents=[common, store],
        help="re-run every step on its recorded inputs; exit 1 if an output differs",
    )
    validate.add_argument("state_id", metavar="ID")
    validate.add_argument("target", metavar="TARGET", nargs="?", help="FILE.py:FLOW")
    validate.set_defaults(handler=_validate)

    graph = commands.add_parser(
        "graph", parents=[common], help="draw a flow's DAG as Mermaid, dot or SVG"
    )
    graph.add_argument("target", metavar="TARGET", help="FILE.py:FLOW or package.module:FLOW")
    graph.add_argument("--format", dest="form", choices=FORMATS, default="mermaid")
    graph.add_argument("-o", "--output", metavar="FILE", help="write to FILE, not stdout")
    graph.set_defaults(handler=_graph)

    report = commands.add_parser(
        "report",
        parents=[common, store],
        help="one self-contained HTML report of a run, or of two runs compared",
    )
    report.add_argument("first", metavar="ID")
    report.add_argument("second", metavar="ID2", nargs="?", help="a second run to compare with")
    report.add_argument("-o", "--output", metavar="FILE", default="report.html")
    report.set_defaults(handler=_report)
    _name_commands(parser)
    return parser


def _name_commands(parser: argparse.ArgumentParser) -> None:
    """Let every (sub)command's parser put itself in the namespace, the innermost
    last, so that an error found after parsing (an argument no command takes) is
    reported by the command the user typed, pointing at that command's --help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                command.set_defaults(command_parser=command)
                _name_commands(command)


def _help(parser: argparse.ArgumentParser) -> Handler:
    def show(args: argparse.Namespace) -> int:
        parser.print_help()
        return 0

    return show


def _options(args: argparse.Namespace) -> RunOptions:
    from executor._cli._run import RunOptions

    return RunOptions(args.executor, args.max_concurrency, args.json, bool(vars(args).get("debug")))


def _run(args: argparse.Namespace) -> int:
    from executor._cli._run import run_command

    store = None if args.no_store else args.store
    return run_command(args.target, args.input, _options(args), store, args.tag)


def _resume(args: argparse.Namespace) -> int:
    from executor._cli._run import resume_command

    return resume_command(
        args.state_id, args.target, args.input, args.resume_from, _options(args), args.store
    )


def _list(args: argparse.Namespace) -> int:
    from executor._cli._states import list_command

    return list_command(args.store, args.flow, args.tag, args.status, args.limit, args.quiet)


def _show(args: argparse.Namespace) -> int:
    from executor._cli._states import show_command

    return show_command(args.store, args.state_id, args.json)


def _diff(args: argparse.Namespace) -> int:
    from executor._cli._states import diff_command

    return diff_command(args.store, args.first, args.second)


def _delete(args: argparse.Namespace) -> int:
    from executor._cli._states import delete_command

    return delete_command(args.store, args.state_id)


def _validate(args: argparse.Namespace) -> int:
    from executor._cli._states import validate_command

    return validate_command(args.store, args.state_id, args.target)


def _graph(args: argparse.Namespace) -> int:
    from executor._cli._draw import graph_command

    return graph_command(args.target, args.form, args.output)


def _report(args: argparse.Namespace) -> int:
    from executor._cli._draw import report_command

    return report_command(args.store, args.first, args.second, args.output)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flowexec`` console script; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # argparse would blame the top level; blame the command given
        command: argparse.ArgumentParser = getattr(args, "command_parser", parser)
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    handler: Handler | None = args.handler
    if handler is _graph and args.store != DEFAULT_STORE:  # a global option it cannot use
        args.command_parser.error(f"--store {args.store!r}: graph reads no state store; drop it")
    if handler is None:
        parser.print_help()
        return 0
    try:
        return handler(args)
    except KeyboardInterrupt:
        sys.stderr.write("flowexec: interrupted\n")
        return 130
    except Exception as error:
        # A run that could not be checkpointed can go on later: from its flow target.
        target = vars(args).get("target") if handler in (_run, _resume) else None
        return _report_error(error, debug=bool(vars(args).get("debug")), target=target)


def _report_error(error: Exception, *, debug: bool, target: str | None = None) -> int:
    from executor._errors import FlowInputError, UsageError
    from executor.state._model import StateError, StateWriteFailed

    if debug:
        import traceback

        traceback.print_exception(type(error), error, error.__traceback__)
    if isinstance(error, StateWriteFailed):
        # Not a usage error: the command was right, the file system refused the store
        # (a full disk, a read-only file). The message names the store's path and fix.
        resumable = (
            f"; the run stays resumable: once the store can be written, go on with "
            f"`flowexec states resume {error.state_id} {target}`"
            if error.state_id and target
            else ""
        )
        sys.stderr.write(f"flowexec: error: {error}{resumable}\n")
        return 1
    usage = isinstance(error, UsageError | StateError)
    if isinstance(error, FlowInputError):
        usage = True
        if error.missing or error.unknown:
            error = UsageError(f"{error}; give inputs with -i NAME=VALUE")
    if usage:
        sys.stderr.write(f"flowexec: error: {error}\n")
        return EXIT_USAGE
    hint = "" if debug else " (run with --debug for the traceback)"
    sys.stderr.write(f"flowexec: {type(error).__name__}: {error}{hint}\n")
    return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
