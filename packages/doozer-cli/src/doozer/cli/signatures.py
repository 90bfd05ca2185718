"""How a function's signature becomes a command's arguments.

The mapping, parameter by parameter:

* a parameter named ``app`` is not on the command line: it receives the
  application given with ``doozer --app``;
* ``quiet`` and ``verbose`` become counting flags ``-q/--quiet`` and
  ``-v/--verbose`` (mutually exclusive when both exist), None when absent;
* positional parameters without a default become required positional
  arguments, those with a default optional ones (``nargs="?"``);
* ``*args`` becomes a positional argument taking any number of values;
* keyword-only parameters become ``--name`` options (underscores become
  dashes), required when they have no default, with a ``-n`` short flag
  when no other option of the command starts with the same character;
  a boolean one is a switch (``--name``, or ``--name/--no-name`` when it
  defaults to True);
* a string annotation is the help text; any other annotation, or else the
  type of the default, converts the value (``int``, ``float``,
  ``pathlib.Path``...); ``**kwargs`` is ignored.
"""

from __future__ import annotations
import __future__

import argparse
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Argument", "add_arguments", "arguments"]

_COUNTERS = ("quiet", "verbose")
_P = inspect.Parameter


@dataclass
class Argument:
    """One ``add_argument()`` call: its flags (or name) and keyword arguments."""

    flags: list[str]
    settings: dict[str, Any]
    exclusive: bool = False  # in the quiet/verbose group


def arguments(
    func: Callable[..., Any], signature: inspect.Signature, title: str, add_help: bool = True
) -> list[Argument]:
    """Map *func*'s *signature* to the arguments of its command *title*.

    Nothing is added to a parser yet, so a signature that cannot be mapped
    fails before anything was registered.

    :param add_help: whether the command has ``-h/--help`` (its initial is taken).
    :raises TypeError: naming the parameter and the fix.
    """
    parameters = [
        parameter
        for parameter in signature.parameters.values()
        if parameter.name != "app" and parameter.kind is not _P.VAR_KEYWORD
    ]
    options = [p.name for p in parameters if p.kind is _P.KEYWORD_ONLY or p.name in _COUNTERS]
    long_names = [name.replace("_", "-") for name in options]
    if add_help:
        long_names.append("help")
    initials = [name[:1] for name in long_names]
    counters = [p for p in parameters if p.name in _COUNTERS]
    arguments: list[Argument] = []
    for parameter in counters:
        kind, annotation = _annotation(func, title, parameter)
        arguments.append(
            Argument(
                [f"-{parameter.name[0]}", f"--{parameter.name}"],
                {
                    "action": "count",
                    "dest": parameter.name,
                    "help": _help(annotation if kind == "help" else f"{parameter.name} mode"),
                },
                exclusive=len(counters) == 2,
            )
        )
    for parameter in parameters:
        if parameter.name in _COUNTERS:
            continue
        kind, annotation = _annotation(func, title, parameter)
        convert = annotation if kind == "type" else _type_of_default(parameter.default)
        has_default = parameter.default is not _P.empty
        shown_default = has_default and convert is not bool and parameter.default is not None
        settings: dict[str, Any] = {
            "help": _help(
                annotation if kind == "help" else None,
                parameter.default if shown_default else _P.empty,
            )
        }
        if parameter.kind is _P.KEYWORD_ONLY:
            flag = parameter.name.replace("_", "-")
            flags = [f"--{flag}"]
            if flag[:1].isalnum() and initials.count(flag[:1]) == 1:
                flags.insert(0, f"-{flag[0]}")
            settings["dest"] = parameter.name
            if convert is bool:
                settings["default"] = parameter.default if has_default else False
                settings["action"] = (
                    argparse.BooleanOptionalAction if settings["default"] else "store_true"
                )
            else:
                settings.update(type=convert, required=not has_default)
                if has_default:
                    settings["default"] = parameter.default
            arguments.append(Argument(flags, settings))
            continue
        settings["type"] = _to_bool if convert is bool else convert
        if parameter.kind is _P.VAR_POSITIONAL:
            settings["nargs"] = "*"
        elif has_default:
            settings.update(nargs="?", default=parameter.default)
        arguments.append(Argument([parameter.name], settings))
    return arguments


def add_arguments(parser: argparse.ArgumentParser, arguments: list[Argument]) -> None:
    """Add *arguments* (from :func:`arguments`) to *parser*."""
    group: Any = None
    for argument in arguments:
        target: Any = parser
        if argument.exclusive:
            group = group or parser.add_mutually_exclusive_group()
            target = group
        target.add_argument(*argument.flags, **argument.settings)


def _annotation(
    func: Callable[..., Any], title: str, parameter: inspect.Parameter
) -> tuple[str, Any]:
    """Classify an annotation: ("help", text), ("type", callable) or ("none", None)."""
    annotation = parameter.annotation
    if annotation is _P.empty:
        return "none", None
    if isinstance(annotation, str):
        if not _postponed(func):
            return "help", annotation
        # Under `from __future__ import annotations` every annotation is a
        # string of source code: evaluate it to learn what it was.
        try:
            annotation = eval(annotation, _globals(func))
        except Exception as error:
            raise TypeError(
                f"cannot evaluate the annotation {parameter.annotation!r} of parameter "
                f"{parameter.name!r} of {title!r} ({error}): make the name "
                "importable at run time, or use a help string"
            ) from None
        if isinstance(annotation, str):
            return "help", annotation
    annotation = _strip_optional(annotation)
    if annotation is Any or annotation is None:
        return "none", None
    if not callable(annotation):
        raise TypeError(
            f"the annotation {annotation!r} of parameter {parameter.name!r} of "
            f"{title!r} cannot convert a command-line value: annotate it with a "
            "type such as int, float or pathlib.Path, or with a help string"
        )
    return "type", annotation


def _postponed(func: Callable[..., Any]) -> bool:
    code = getattr(inspect.unwrap(getattr(func, "__func__", func)), "__code__", None)
    flag: int = __future__.annotations.compiler_flag
    return code is not None and bool(code.co_flags & flag)


def _globals(func: Callable[..., Any]) -> dict[str, Any]:
    function = inspect.unwrap(getattr(func, "__func__", func))
    return dict(getattr(function, "__globals__", {}))


def _strip_optional(annotation: Any) -> Any:
    # `int | None` / Optional[int]: None is the default, int converts.
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _help(text: str | None, default: Any = _P.empty) -> str | None:
    # argparse %-formats help strings: a literal % must be doubled.
    escaped = text.replace("%", "%%") if text else text
    if default is _P.empty:
        return escaped
    return f"{escaped} (default: %(default)s)" if escaped else "default: %(default)s"


def _type_of_default(default: Any) -> Any:
    if default is _P.empty or default is None or isinstance(default, str):
        return None
    return type(default)


_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise argparse.ArgumentTypeError(f"expected yes or no (true/false, 1/0), got {text!r}")
