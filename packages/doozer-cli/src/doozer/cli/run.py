"""``doozer run``: import an application and run it, or supervise copies of it."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from .commands import HANDLER
from .discovery import AppPath, UsageError, UserCodeError, load_app

if TYPE_CHECKING:
    from doozer import Application

__all__ = ["PROCESSES_ENV", "add_run_command", "configure_logging", "run_app", "run_command"]

LOG_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
#: The environment variable that gives ``--processes`` its default.
PROCESSES_ENV = "DOOZER_PROCESSES"

logger = logging.getLogger("doozer.cli")


def add_run_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run`` to the top-level parser's *subparsers*."""
    run = subparsers.add_parser(
        "run", help="import and run an application", description="Import and run an application."
    )
    verbosity = run.add_mutually_exclusive_group()
    verbosity.add_argument(
        "--verbose", "-v", action="count", default=0, help="verbose mode: log at DEBUG"
    )
    verbosity.add_argument(
        "--quiet",
        "-q",
        action="count",
        default=0,
        help="quiet mode (-q: WARNING, -qq: ERROR, -qqq: CRITICAL; default: INFO)",
    )
    run.add_argument(
        "-r", "--reloader", action="store_true", help="reload the application on changes"
    )
    run.add_argument(
        "-w",
        "--workers",
        type=_at_least_one,
        default=1,
        help="the number of asynchronous tasks to run (default: 1)",
    )
    run.add_argument(
        "-d", "--debug", action="store_true", help="enable debug mode (implies --reloader)"
    )
    run.add_argument(
        "--processes",
        type=_at_least_one,
        metavar="N",
        help=f"run N copies of the application in child processes, restarted when they fail "
        f"(default: ${PROCESSES_ENV}, or 1)",
    )
    run.add_argument(
        "--max-messages-per-child",
        type=_at_least_one,
        metavar="M",
        help="replace a child process after it finished M messages (default: never)",
    )
    run.add_argument(
        "--log-format",
        choices=("json", "console"),
        help="log through doozer-logging: one JSON object per line on stdout, or console "
        "lines (sets LOG_FORMAT and initializes Logging(app) if the application did not)",
    )
    run.add_argument(
        "--ordering-key",
        metavar="MODULE:FUNCTION",
        help="process messages with equal keys one at a time, in the order read: "
        "FUNCTION(message) returns a message's key, or None (see the Ordering docs)",
    )
    reload = run.add_argument_group("reloader options (with --reloader or --debug)")
    reload.add_argument(
        "--reload-dir",
        action="append",
        metavar="DIR",
        help="a directory to watch, instead of the application's (repeatable)",
    )
    reload.add_argument(
        "--reload-include",
        action="append",
        metavar="GLOB",
        help="also restart when files matching GLOB change "
        "(.py and .ini files always do; repeatable)",
    )
    reload.add_argument(
        "--reload-exclude",
        action="append",
        metavar="GLOB",
        help="ignore files or directories matching GLOB (besides hidden ones; repeatable)",
    )
    run.add_argument(
        "application_path",
        metavar="application-path",
        help="the path to the application to run: MODULE or MODULE:NAME",
    )
    run.set_defaults(**{HANDLER: run_command})


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def configure_logging(verbose: int = 0, quiet: int = 0) -> None:
    """Log to stderr at INFO, lowered by *verbose* and raised by *quiet* steps.

    INFO by default, so a service says when it started, what it consumes and
    why it stopped. Called before the application is imported, so messages
    logged while it loads are already formatted and filtered.
    """
    level = logging.INFO + 10 * (quiet - verbose)
    level = max(logging.DEBUG, min(level, logging.CRITICAL + 1))  # past CRITICAL: silence
    logging.basicConfig(level=level, format=LOG_FORMAT)
    logging.getLogger().setLevel(level)  # also when logging was configured already


def run_command(args: argparse.Namespace, get_app: Callable[[], Application]) -> int:
    """Run the application named by ``args.application_path``; return the exit status.

    With ``--processes``, ``--max-messages-per-child``, ``--reloader`` or
    ``--debug``, a supervisor runs it in child processes instead, without
    importing it.
    """
    configure_logging(args.verbose, args.quiet)
    args.processes = _processes(args.processes)
    reloading = args.reloader or args.debug
    _check_reload_options(args, reloading)
    app_path = AppPath(args.application_path)
    if args.ordering_key is not None:
        _split_function_path(args.ordering_key)  # a typo is reported before supervising
    if reloading or args.processes > 1 or args.max_messages_per_child is not None:
        from ._supervisor import Supervisor

        root = app_path.root()  # a missing module is reported before supervising
        changes = None
        if reloading:
            from .reloader import FileFilter, Reloader  # watchdog is needed only here

            files = FileFilter(
                args.reload_dir or [root], args.reload_include or (), args.reload_exclude or ()
            )
            changes = Reloader(files)
        return Supervisor(args, args.processes, args.max_messages_per_child, changes).run()
    return run_app(load_app(app_path), args)


def _processes(given: int | None) -> int:
    if given is not None:
        return given
    text = os.environ.get(PROCESSES_ENV, "").strip()
    if not text:
        return 1
    try:
        return _at_least_one(text)
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"{PROCESSES_ENV}: {error}; set it to a number or unset it") from None


def _check_reload_options(args: argparse.Namespace, reloading: bool) -> None:
    for option in ("reload_dir", "reload_include", "reload_exclude"):
        if getattr(args, option) and not reloading:
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} is for the reloader: add --reloader, or drop {flag}")
    for directory in args.reload_dir or ():
        if not os.path.isdir(directory):
            raise UsageError(
                f"--reload-dir {directory!r} is not a directory: check the path "
                "(relative paths start from the current directory)"
            )


def run_app(app: Application, args: argparse.Namespace, message_limit: int | None = None) -> int:
    """Run *app* in this process with the ``run`` options *args*; return the exit status.

    :param message_limit: stop gracefully after this many finished messages
        and return :data:`~doozer.cli._handoff.RECYCLED`, for a supervisor to
        replace this process.
    """
    ordering_key = None if args.ordering_key is None else load_ordering_key(args.ordering_key)
    if args.log_format is not None:
        _log_through_doozer_logging(app, args.log_format)
    limit = None if message_limit is None else _MessageLimit(app, message_limit)
    try:
        app.run_forever(num_workers=args.workers, debug=args.debug, ordering_key=ordering_key)
    except Exception as error:
        # The application logged it (with its traceback) already: one line.
        lines = str(error).strip().splitlines()
        detail = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
        print(f"doozer: error: the application {app.name!r} stopped: {detail}", file=sys.stderr)
        return 1
    if limit is not None and limit.reached:
        from ._handoff import RECYCLED

        return RECYCLED
    return 0


def _log_through_doozer_logging(app: Application, log_format: str) -> None:
    try:
        from doozer.contrib.logging import Logging
    except ModuleNotFoundError as error:
        if error.name is not None and "doozer.contrib.logging".startswith(error.name):
            raise UsageError(
                "--log-format needs doozer-logging: python -m pip install doozer-logging "
                "(or 'doozer[logging]')"
            ) from None
        raise
    app.settings["LOG_FORMAT"] = log_format
    if "logging" not in app.extensions:
        Logging(app)


def _split_function_path(text: str) -> tuple[str, str]:
    module, _, name = text.partition(":")
    if not module or not name or ":" in name or "/" in module or module.endswith(".py"):
        raise UsageError(
            f"--ordering-key {text!r}: write MODULE:FUNCTION, e.g. 'service:account_of'"
        )
    return module, name


def load_ordering_key(text: str) -> Callable[[Any], Hashable]:
    """Import the ordering key function ``MODULE:FUNCTION`` (after the application loaded).

    :raises UsageError: if it cannot be found or is not a plain function.
    :raises UserCodeError: if importing its module raised.
    """
    from doozer.types import is_async_callable

    module_name, name = _split_function_path(text)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and (module_name + ".").startswith(error.name + "."):
            raise UsageError(
                f"--ordering-key {text!r}: no module named {error.name!r}; "
                "check the spelling (it is imported from the current directory)"
            ) from None
        raise UserCodeError(error) from error
    except Exception as error:
        raise UserCodeError(error) from error
    function = getattr(module, name, None)
    if function is None:
        raise UsageError(f"--ordering-key {text!r}: module {module_name!r} has no {name!r}")
    if not callable(function) or is_async_callable(function):
        raise UsageError(
            f"--ordering-key {text!r} must name a plain function (not async) that "
            "returns a message's key"
        )
    key: Callable[[Any], Hashable] = function
    return key


class _MessageLimit:
    """Stop *app* gracefully once it finished *limit* messages."""

    def __init__(self, app: Application, limit: int) -> None:
        self.limit = limit
        self.finished = 0
        app.message_outcome(self._count)

    @property
    def reached(self) -> bool:
        return self.finished >= self.limit

    async def _count(self, app: Application, message: object, outcome: object) -> None:
        self.finished += 1
        if self.finished == self.limit:
            logger.info("Finished %d messages: stopping, to be replaced", self.limit)
            app.stop()
