"""Document the commands and the settings of Doozer extensions.

Add ``"doozer.contrib.sphinx"`` to the ``extensions`` of a Sphinx project's
``conf.py``, then document an extension with:

.. code-block:: rst

   .. doozercli:: my_package.my_module:MyExtension

   .. doozersettings:: my_package.my_module.MyExtension

``doozercli`` imports the extension class, instantiates it without an
application, calls its ``register_cli()`` and renders the commands it
registered from :data:`doozer.cli.parser` with ``sphinxcontrib-autoprogram``.
Every option of ``autoprogram`` is accepted. ``:prog:`` defaults to
``doozer --app APP_PATH``, and unless ``:start_command:`` is given, each
namespace the extension registered is documented on its own.

``doozersettings`` imports the class (or a module, such as ``doozer.base``)
and renders a table of its settings, with their defaults and meanings, from
``DEFAULT_SETTINGS``, ``REQUIRED_SETTINGS``, ``OPTIONAL_SETTINGS`` and
``SETTINGS_DOCS`` (see :class:`doozer.extensions.Extension`).
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util.typing import ExtensionMetadata
from sphinxcontrib.autoprogram import AutoprogramDirective

from doozer.cli import parser

from .__about__ import __version__
from ._settings import DoozerSettingsDirective, Setting, documented_settings

__all__ = [
    "DoozerCLIDirective",
    "DoozerSettingsDirective",
    "Setting",
    "__version__",
    "documented_settings",
    "setup",
]

#: The style sheet of the doozersettings tables, added to every HTML page.
STYLE_SHEET = "doozer-sphinx.css"
_STATIC = Path(__file__).parent / "static"

#: What ``:prog:`` is when the directive does not set it.
DEFAULT_PROG = "doozer --app APP_PATH"

# Namespaces each extension registered, remembered for the next build in
# the same process (registering again adds nothing new to the parser).
_namespaces_of: dict[str, list[str]] = {}


class DoozerCLIDirective(AutoprogramDirective):  # type: ignore[misc]
    """``.. doozercli:: module:ExtensionClass``: document an extension's commands.

    A wrapper around ``autoprogram`` that documents :data:`doozer.cli.parser`
    after the extension registered its commands, invoked as
    ``doozer --app APP_PATH NAMESPACE COMMAND``.
    """

    arguments: list[str]  # set per instance by docutils
    options: dict[str, Any]

    def run(self) -> list[nodes.Node]:
        """Register the extension's commands, then render them with autoprogram."""
        target = self.arguments[0]
        namespaces = self._register(target)
        prog = self.options.pop("prog", DEFAULT_PROG)
        # docutils sets self.arguments per instance, so it is set here, not
        # on the class: autoprogram documents the parser the commands are in.
        self.arguments = ["doozer.cli:parser"]
        # Show every parser as invoked with --app, then put the real names back.
        progs = {command_parser: command_parser.prog for command_parser in _parsers()}
        program = parser.prog
        for command_parser, real_prog in progs.items():
            command_parser.prog = prog + real_prog.removeprefix(program)
        try:
            if "start_command" in self.options or not namespaces:
                return list(super().run())
            rendered: list[nodes.Node] = []
            for namespace in namespaces:
                self.options["start_command"] = namespace
                rendered.extend(super().run())
            return rendered
        finally:
            for command_parser, real_prog in progs.items():
                command_parser.prog = real_prog

    def _register(self, target: str) -> list[str]:
        module_name, _, class_name = target.partition(":")
        if not module_name or not class_name:
            raise self.error(
                f"doozercli: {target!r} is not an extension path: write it as module:ExtensionClass"
            )
        try:
            extension_class: Any = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as error:
            raise self.error(f"doozercli: cannot import {target!r}: {error}") from error
        register_cli = getattr(extension_class, "register_cli", None)
        if not callable(register_cli):
            raise self.error(
                f"doozercli: {target!r} has no register_cli() method, so it adds no commands"
            )
        before = set(_commands())
        try:
            extension_class().register_cli()
        except Exception as error:
            raise self.error(
                f"doozercli: {class_name}() could not register its commands: "
                f"{type(error).__name__}: {error}"
            ) from error
        added = [name for name in _commands() if name not in before]
        return _namespaces_of.setdefault(target, added) or added


def _subcommands(command_parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in command_parser._actions:  # argparse has no public way to list them
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _commands() -> list[str]:
    return list(_subcommands(parser))


def _parsers(command_parser: argparse.ArgumentParser = parser) -> list[argparse.ArgumentParser]:
    found = [command_parser]
    for subparser in _subcommands(command_parser).values():
        found.extend(_parsers(subparser))
    return found


def _add_static_path(app: Sphinx, config: Config) -> None:
    config.html_static_path = [*config.html_static_path, str(_STATIC)]


def setup(app: Sphinx) -> ExtensionMetadata:
    """Register the ``doozercli`` and ``doozersettings`` directives.

    ``sphinxcontrib.autoprogram``, which ``doozercli`` builds on, is set up
    too, and the style sheet of the settings tables is added to HTML pages.
    """
    app.setup_extension("sphinxcontrib.autoprogram")
    app.add_directive("doozercli", DoozerCLIDirective)
    app.add_directive("doozersettings", DoozerSettingsDirective)
    app.connect("config-inited", _add_static_path)
    app.add_css_file(STYLE_SHEET)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
