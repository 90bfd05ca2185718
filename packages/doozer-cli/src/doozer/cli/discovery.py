"""Find the application an application path (``module[:name]``) refers to."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import reprlib
import sys
import traceback
from types import ModuleType

from doozer import Application

__all__ = ["AppPath", "DiscoveryError", "UsageError", "UserCodeError", "load_app"]


class UsageError(Exception):
    """A mistake on the command line: reported as one line, exit status 2."""


class DiscoveryError(UsageError):
    """An application path that does not lead to an application."""


class UserCodeError(Exception):
    """The user's code raised while the application was being loaded.

    It is reported with the user's traceback (without the frames of the
    import machinery and of doozer), with exit status 1.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error

    def format(self) -> str:
        """The traceback of the user's error, as Python would print it."""
        report = traceback.TracebackException.from_exception(self.error)
        report.stack = traceback.StackSummary.from_list(
            [frame for frame in report.stack if not _is_internal(frame.filename)]
        )
        return "".join(report.format())


def _is_internal(filename: str) -> bool:
    return (
        filename.startswith("<frozen importlib")
        or os.path.dirname(filename) == os.path.dirname(importlib.__file__)
        or os.path.dirname(filename) == os.path.dirname(__file__)
    )


class AppPath:
    """A parsed application path: ``module`` or ``module:name``.

    :param text: the path as given on the command line.
    :raises DiscoveryError: if it is not of that form.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        module, colon, name = text.partition(":")
        if module.endswith(".py") or "/" in module or os.sep in module:
            # The most common slip: a file name instead of a module name.
            suggestion = os.path.splitext(module)[0].strip("./" + os.sep)
            suggestion = suggestion.replace("/", ".").replace(os.sep, ".")
            raise DiscoveryError(
                f"{text!r} is a file path, not a module: pass the module name, "
                f"e.g. {suggestion + colon + name!r}, from the directory that contains it"
            )
        if not module or (colon and not name) or ":" in name:
            raise DiscoveryError(
                f"invalid application path {text!r}: "
                "write MODULE or MODULE:NAME, e.g. 'service:app'"
            )
        self.module = module
        self.name = name or None

    def __str__(self) -> str:
        return self.text

    def root(self) -> str:
        """The directory that holds the module's top-level package, or the cwd.

        Only the top-level name is looked up, so none of the user's code runs:
        the reloader's supervisor uses this before it starts the application.

        :raises DiscoveryError: if the top-level module cannot be found.
        """
        _make_cwd_importable()
        top = self.module.partition(".")[0]
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            raise _not_found(self.module, top)
        if spec.submodule_search_locations:  # a package: its parent directory
            package = next(iter(spec.submodule_search_locations))
            return os.path.dirname(os.path.abspath(package))
        if spec.origin and os.path.isfile(spec.origin):
            return os.path.dirname(os.path.abspath(spec.origin))
        return os.getcwd()


def load_app(path: str | AppPath) -> Application:
    """Import the application that *path* refers to.

    ``module:name`` takes the attribute *name* of *module*; if it is
    callable it is called with no arguments and must return the
    application. A bare ``module`` must contain exactly one
    :class:`~doozer.Application` instance. The current directory is
    importable.

    :raises DiscoveryError: when the path leads to no application.
    :raises UserCodeError: when the user's code raised while loading.
    """
    app_path = path if isinstance(path, AppPath) else AppPath(path)
    module = _import(app_path.module)
    if app_path.name is None:
        return _detect(module, app_path)
    try:
        target = getattr(module, app_path.name)
    except AttributeError:
        found = _applications(module)
        hint = (
            f"use one of: {', '.join(f'{app_path.module}:{name}' for name in found)}"
            if found
            else f"it defines no Application; check the name in {app_path.module!r}"
        )
        raise DiscoveryError(
            f"module {app_path.module!r} has no attribute {app_path.name!r}: {hint}"
        ) from None
    if isinstance(target, Application):
        return target
    if callable(target):
        return _call_factory(target, app_path)
    raise DiscoveryError(
        f"{app_path.text!r} is {_describe(target)}, not a doozer Application: "
        "point it at an Application or at a function that returns one"
    )


def _make_cwd_importable() -> None:
    # `python -m` puts the cwd on sys.path but the console script does not.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _not_found(module: str, missing: str) -> DiscoveryError:
    wanted = "" if missing == module else f" (needed for {module!r})"
    return DiscoveryError(
        f"no module named {missing!r}{wanted}: run doozer from the directory that "
        f"contains it, or check the spelling"
    )


def _import(name: str) -> ModuleType:
    _make_cwd_importable()
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        # Only "the module itself (or a parent package) is missing" is our
        # concern; a missing import *inside* the user's code is their error.
        missing = error.name
        if missing is not None and (name == missing or name.startswith(missing + ".")):
            raise _not_found(name, missing) from None
        raise UserCodeError(error) from error
    except Exception as error:
        raise UserCodeError(error) from error


def _applications(module: ModuleType) -> dict[str, Application]:
    found: dict[str, Application] = {}
    for name, value in vars(module).items():
        # One application bound to several names is still one application.
        if isinstance(value, Application) and all(value is not seen for seen in found.values()):
            found[name] = value
    return found


def _detect(module: ModuleType, app_path: AppPath) -> Application:
    found = _applications(module)
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise DiscoveryError(
            f"no Application found in module {app_path.module!r}: create one there, "
            f"or name a function that returns one with {app_path.module}:FUNCTION"
        )
    names = ", ".join(found)
    first = next(iter(found))
    raise DiscoveryError(
        f"module {app_path.module!r} has several Applications ({names}): "
        f"pick one with {app_path.module}:{first}"
    )


def _call_factory(factory: object, app_path: AppPath) -> Application:
    assert callable(factory)
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: just try
        signature = None
    if signature is not None:
        try:
            signature.bind()
        except TypeError:
            needed = ", ".join(
                name
                for name, parameter in signature.parameters.items()
                if parameter.default is parameter.empty
                and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
            )
            raise DiscoveryError(
                f"{app_path.text!r} is {_describe(factory)} that needs arguments ({needed}): "
                "name an Application, or a factory that takes no arguments"
            ) from None
    try:
        app = factory()
    except Exception as error:
        raise UserCodeError(error) from error
    if not isinstance(app, Application):
        raise DiscoveryError(
            f"{app_path.text!r} returned {_describe(app)}, not a doozer Application: "
            "the factory must return an Application"
        )
    return app


def _describe(value: object) -> str:
    kind = type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    if inspect.ismodule(value):
        return f"a module ({value.__name__})"
    if inspect.isclass(value):
        return f"a class ({value.__qualname__})"
    if inspect.isroutine(value):
        return f"a function ({getattr(value, '__qualname__', value)})"
    if type(value).__repr__ is object.__repr__:  # its address says nothing
        return f"{article} {kind} object"
    return f"{article} {kind} ({_repr.repr(value)})"


_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60
