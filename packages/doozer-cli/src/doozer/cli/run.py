"""``doozer run``: import an application and run it, or supervise it with the reloader."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from .commands import HANDLER
from .discovery import AppPath, load_app
from .lifeline import CHILD_ENV, watch_supervisor

if TYPE_CHECKING:
    from doozer import Application

__all__ = ["add_run_command", "configure_logging", "run_command"]

LOG_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


def add_run_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run`` to the top-level parser's *subparsers*."""
    run = subparsers.add_parser(
        "run", help="import and run an application", description="Import and run an application."
    )
    verbosity = run.add_mutually_exclusive_group()
    verbosity.add_argument(
        "--verbose", "-v", action="count", default=0, help="verbose mode (-v: INFO, -vv: DEBUG)"
    )
    verbosity.add_argument(
        "--quiet", "-q", action="count", default=0, help="quiet mode (-q: ERROR, -qq: CRITICAL)"
    )
    run.add_argument(
        "-r", "--reloader", action="store_true", help="reload the application on changes"
    )
    run.add_argument(
        "-w",
        "--workers",
        type=_workers,
        default=1,
        help="the number of asynchronous tasks to run (default: 1)",
    )
    run.add_argument(
        "-d", "--debug", action="store_true", help="enable debug mode (implies --reloader)"
    )
    run.add_argument(
        "application_path",
        metavar="application-path",
        help="the path to the application to run: MODULE or MODULE:NAME",
    )
    run.set_defaults(**{HANDLER: run_command})


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def configure_logging(verbose: int = 0, quiet: int = 0) -> None:
    """Log to stderr at WARNING, lowered by *verbose* and raised by *quiet* steps.

    Called before the application is imported, so messages logged while it
    loads are already formatted and filtered.
    """
    level = logging.WARNING + 10 * (quiet - verbose)
    level = max(logging.DEBUG, min(level, logging.CRITICAL + 1))  # past CRITICAL: silence
    logging.basicConfig(level=level, format=LOG_FORMAT)
    logging.getLogger().setLevel(level)  # also when logging was configured already


def run_command(args: argparse.Namespace, get_app: Callable[[], Application]) -> int:
    """Run the application named by ``args.application_path``; return the exit status."""
    configure_logging(args.verbose, args.quiet)
    app_path = AppPath(args.application_path)
    lifeline = os.environ.pop(CHILD_ENV, None)  # not for the application's own children
    if lifeline is None and (args.reloader or args.debug):
        from .reloader import Supervisor  # watchdog is needed only here

        return Supervisor(_child_command(args), app_path.root()).run()
    if lifeline is not None and lifeline.isdigit():
        watch_supervisor(int(lifeline))
    app = load_app(app_path)
    try:
        app.run_forever(num_workers=args.workers, debug=args.debug)
    except Exception as error:
        # The application logged it (with its traceback) already: one line.
        lines = str(error).strip().splitlines()
        detail = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
        print(f"doozer: error: the application {app.name!r} stopped: {detail}", file=sys.stderr)
        return 1
    return 0


def _child_command(args: argparse.Namespace) -> list[str]:
    # -B: a child must not write bytecode, or the next child could load it for
    # a file edited within the same second to the same size (the .pyc check
    # compares only those) and run the old code.
    command = [sys.executable, "-B", "-m", "doozer", "run", args.application_path]
    command += ["--workers", str(args.workers)]
    if args.verbose:
        command.append("-" + "v" * args.verbose)
    if args.quiet:
        command.append("-" + "q" * args.quiet)
    if args.debug:
        command.append("--debug")
    return command
