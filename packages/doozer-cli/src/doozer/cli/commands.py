"""Commands made from Python functions, grouped in namespaces.

How a signature maps to arguments is described in :mod:`doozer.cli.signatures`.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .signatures import Argument, add_arguments, arguments

if TYPE_CHECKING:
    from doozer import Application

__all__ = ["HANDLER", "Command", "add_commands"]

#: The namespace attribute under which every leaf parser stores its handler:
#: ``handler(args, get_app) -> exit status``.
HANDLER = "_doozer_handler"

_P = inspect.Parameter

# The sub-command action of every namespace parser made here, so a second
# registration in the same namespace adds to it instead of replacing it.
_namespaces: weakref.WeakKeyDictionary[
    argparse.ArgumentParser, argparse._SubParsersAction[argparse.ArgumentParser]
] = weakref.WeakKeyDictionary()


@dataclass
class Command:
    """A registered function and how to call it from parsed arguments."""

    func: Callable[..., Any]
    signature: inspect.Signature
    title: str  # "namespace command", for messages

    def __call__(self, args: argparse.Namespace, get_app: Callable[[], Application]) -> int:
        """Call the function with its arguments from *args*; return an exit status.

        An ``int`` return value is the exit status, anything else but None
        is printed. Coroutine functions are run to completion.
        """
        positional: list[Any] = []
        keyword: dict[str, Any] = {}
        for parameter in self.signature.parameters.values():
            if parameter.kind is _P.VAR_KEYWORD:
                continue
            value: Any = get_app() if parameter.name == "app" else getattr(args, parameter.name)
            if parameter.kind is _P.KEYWORD_ONLY:
                keyword[parameter.name] = value
            elif parameter.kind is _P.VAR_POSITIONAL:
                positional.extend(value)
            else:
                positional.append(value)
        result = self.func(*positional, **keyword)
        if inspect.isawaitable(result):
            result = asyncio.run(_wait(result))
        if result is None:
            return 0
        if isinstance(result, int) and not isinstance(result, bool):
            return result
        print(result)
        return 0

    def same_function(self, func: Callable[..., Any]) -> bool:
        """Whether *func* is this command's function, or the same one re-created.

        Registering again from a fresh extension instance (a bound method)
        or a fresh application is then harmless.
        """
        return _qualified_name(func) == _qualified_name(self.func)


async def _wait(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def add_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    namespace: str,
    functions: Iterable[Callable[..., Any]],
    namespace_kwargs: Mapping[str, Any] | None = None,
    func_kwargs: Mapping[str, Any] | None = None,
) -> argparse.ArgumentParser:
    """Add *functions* as commands under *namespace* to *subparsers*.

    This is :func:`doozer.cli.register_commands` for any parser (tests use
    it on parsers of their own).

    :returns: the namespace's parser.
    :raises TypeError: if *functions* is not a list of functions, or a
        signature cannot be mapped.
    :raises ValueError: if *namespace* is taken by something else, or a
        command of that name is already registered for another function.
    """
    functions = _check_functions(namespace, functions)
    namespace_parser = _existing_namespace(subparsers, namespace)
    registered = (_namespaces[namespace_parser].choices or {}) if namespace_parser else {}
    # Everything is checked before anything is added, so a mistake leaves
    # the command line as it was.
    new: dict[str, tuple[Command, dict[str, Any], list[Argument]]] = {}
    for func in functions:
        name = func.__name__.replace("_", "-")
        title = f"{namespace} {name}"
        command = Command(func, _signature(func, title), title)
        previous = registered[name].get_default(HANDLER) if name in registered else None
        if name in new:
            previous = new[name][0]
        if previous is not None and not (
            isinstance(previous, Command) and previous.same_function(func)
        ):
            raise ValueError(
                f"the command {title!r} is already registered for "
                f"{_qualified_name(getattr(previous, 'func', previous))}: register "
                f"{_qualified_name(func)} under another name or namespace"
            )
        doc = inspect.getdoc(func)
        options: dict[str, Any] = {
            # argparse %-formats help strings: a literal % must be doubled.
            "help": doc.splitlines()[0].replace("%", "%%") if doc else None,
            "description": doc,
            # Keep the docstring's own line breaks and paragraphs.
            "formatter_class": argparse.RawDescriptionHelpFormatter,
        }
        options.update(func_kwargs or {})
        mapped = arguments(func, command.signature, title, options.get("add_help", True))
        new[name] = (command, options, mapped)

    if namespace_parser is None:
        namespace_parser = subparsers.add_parser(namespace, **dict(namespace_kwargs or {}))
        _namespaces[namespace_parser] = namespace_parser.add_subparsers(
            title="commands", required=True, metavar="COMMAND"
        )
    commands = _namespaces[namespace_parser]
    for name, (command, options, mapped) in new.items():
        if name in registered:
            # The same function again (a new extension instance, say): the
            # newest one is called.
            registered[name].set_defaults(**{HANDLER: command})
            continue
        parser = commands.add_parser(name, **options)
        add_arguments(parser, mapped)
        parser.set_defaults(**{HANDLER: command})
    return namespace_parser


def _check_functions(namespace: object, functions: object) -> list[Callable[..., Any]]:
    if not isinstance(namespace, str) or not namespace or namespace.startswith("-"):
        raise TypeError(
            f"the namespace must be a non-empty string not starting with '-', got {namespace!r}"
        )
    if (
        callable(functions)
        or isinstance(functions, (str, bytes))
        or not isinstance(functions, Iterable)
    ):
        raise TypeError(
            f"register_commands() takes a list of functions, got {functions!r}: "
            f"write register_commands({namespace!r}, [{getattr(functions, '__name__', '...')}])"
        )
    checked: list[Callable[..., Any]] = list(functions)
    for index, func in enumerate(checked):
        if not callable(func) or not isinstance(getattr(func, "__name__", None), str):
            raise TypeError(
                f"functions[{index}] of namespace {namespace!r} is {func!r}: "
                "commands must be functions (something with a __name__)"
            )
    return checked


def _existing_namespace(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], namespace: str
) -> argparse.ArgumentParser | None:
    existing = (subparsers.choices or {}).get(namespace)
    if existing is not None and existing not in _namespaces:
        raise ValueError(f"{namespace!r} is a built-in doozer command: choose another namespace")
    return existing


def _qualified_name(func: object) -> str:
    func = getattr(func, "__func__", func)  # bound methods: the function
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', func)}"


def _signature(func: Callable[..., Any], title: str) -> inspect.Signature:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError) as error:
        raise TypeError(f"cannot read the signature of {title!r}: {error}") from None
