"""The ``doozer`` program: its parser, :func:`main` and :func:`register_commands`."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

from doozer import Application

from .commands import HANDLER, add_commands
from .discovery import UsageError, UserCodeError, load_app
from .run import add_run_command

__all__ = ["guarded", "main", "parser", "register_commands"]


def installed_versions() -> str:
    """One ``name version`` line per installed Doozer distribution."""
    import importlib.metadata  # ~20 ms: only for --version, not for every start

    versions: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"] or "").lower()
        if name == "doozer" or name.startswith("doozer-"):
            versions.setdefault(name, dist.version)  # the first one on sys.path wins
    return "".join(f"{name} {version}\n" for name, version in sorted(versions.items()))


class _VersionAction(argparse.Action):
    # Like action="version", but the text is computed only when asked for.
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show program's version number and exit")
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> NoReturn:
        sys.stdout.write(installed_versions())  # on stdout, as argparse's version action
        parser.exit()


#: The ``doozer`` command line. Extensions add their commands to it with
#: :func:`register_commands`.
parser = argparse.ArgumentParser(
    prog="doozer",
    description="Run Doozer applications, and the commands their extensions add.",
)
parser.add_argument("--version", action=_VersionAction, default=argparse.SUPPRESS)
parser.add_argument(
    "-a",
    "--app",
    help="the application whose extensions add commands (MODULE or MODULE:NAME), for "
    "'doozer --app APP NAMESPACE COMMAND'; 'doozer run' takes its application as argument",
)
_subcommands = parser.add_subparsers(title="commands", required=True)
add_run_command(_subcommands)


def register_commands(
    namespace: str,
    functions: Iterable[Callable[..., Any]],
    namespace_kwargs: Mapping[str, Any] | None = None,
    func_kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Add each function in *functions* as a command ``doozer NAMESPACE NAME``.

    The signature of each function is mapped to its command's interface.
    Positional parameters become required positional arguments; parameters
    with a default become positional arguments that take that default when
    omitted; keyword-only parameters become ``--name`` options (underscores
    become dashes), with a short ``-n`` flag when no other option of the
    command starts with the same letter. Parameters named ``quiet`` or
    ``verbose`` become counting flags (``-q``, ``-vv``...), mutually
    exclusive when both exist, and are None when not given. A string
    annotation is a parameter's help; a type annotation (or else the type
    of the default) converts its value. The docstring is the command's help.
    A parameter named ``app`` receives the application given by ``--app``.
    The command's name is the function's, with dashes for underscores.

    Commands are reached through ``doozer --app APP_PATH NAMESPACE COMMAND``:
    the application is imported first, and :meth:`doozer.Extension.init_app`
    calls an extension's ``register_cli()``, where this function belongs.

    :param namespace: the name grouping the commands, required to reach them.
    :param functions: a list of callables, one command each. A function may
        be a coroutine function; an ``int`` it returns is the exit status.
    :param namespace_kwargs: keyword arguments for the namespace's parser
        (``help``, ``description``...), used when the namespace is created.
    :param func_kwargs: keyword arguments for each command's parser,
        overriding those derived from the docstring.
    :raises TypeError: if *functions* is not a list of functions, or a
        signature cannot be mapped.
    :raises ValueError: if *namespace* is a built-in command, or a command
        of the same name is registered already for another function.
    """
    add_commands(_subcommands, namespace, functions, namespace_kwargs, func_kwargs)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``doozer`` command line; return its exit status.

    0: the application stopped normally (its consumer ended, or SIGINT or
    SIGTERM); 1: it stopped on an unhandled exception, or the user's code
    raised while it was loaded; 2: the command line or the application
    path is wrong (one line on stderr says why).

    :param argv: the arguments, without the program name (default:
        ``sys.argv[1:]``).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    return guarded(lambda: _main(arguments))


def guarded(function: Callable[[], int]) -> int:
    """Call *function*; turn the errors it raises into messages and exit statuses.

    The exit statuses are those of :func:`main`.
    """
    try:
        return function()
    except UsageError as error:
        print(f"doozer: error: {error}", file=sys.stderr)
        return 2
    except UserCodeError as error:
        sys.stderr.write(error.format())
        return 1
    except SystemExit as exit_:  # argparse (--help, errors) or sys.exit() in a command
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the application handles signals
        return 130


def _main(arguments: list[str]) -> int:
    app_path, command = _peek(arguments)
    loaded: list[Application] = []

    def get_app() -> Application:
        if not loaded:
            if app_path is None:
                raise UsageError(
                    f"this command needs the application: doozer --app APP_PATH "
                    f"{' '.join(arguments)}"
                )
            loaded.append(load_app(app_path))
        return loaded[0]

    known = _subcommands.choices or {}
    if app_path is not None and command not in known:
        # Importing the application runs its extensions' register_cli(),
        # which adds the commands that the rest of the line may name.
        get_app()
    elif command is not None and command not in known:
        raise UsageError(
            f"unknown command {command!r} (choose from {', '.join(known)}); commands "
            f"added by extensions need the application first: doozer --app APP_PATH {command} ..."
        )
    args = parser.parse_args(arguments)
    handler: Callable[[argparse.Namespace, Callable[[], Application]], int] = getattr(args, HANDLER)
    return handler(args, get_app)


class _PeekError(Exception):
    pass


class _Peeker(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _PeekError(message)


def _peek(arguments: list[str]) -> tuple[str | None, str | None]:
    """Find ``--app`` and the command word without knowing every command yet.

    Only the options before the command are looked at (a command's own
    ``-a`` is not ``--app``). Anything odd is left to the real parser,
    which reports it properly.
    """
    peeker = _Peeker(prog="doozer", add_help=False)
    peeker.add_argument("-a", "--app")
    peeker.add_argument("-h", "--help", action="store_true")
    peeker.add_argument("--version", action="store_true")
    peeker.add_argument("rest", nargs=argparse.REMAINDER)
    try:
        found, _ = peeker.parse_known_args(arguments)
    except _PeekError:
        return None, None
    rest: list[str] = found.rest
    return found.app, rest[0] if rest else None
