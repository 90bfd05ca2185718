"""The ``doozersettings`` directive: a table of settings, from the code that reads them."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

from doozer.config import MASK, is_secret, mask_url

__all__ = ["DoozerSettingsDirective", "Setting", "documented_settings", "import_path"]

#: How wide the Setting, Default and Meaning columns are, relative to each other.
DEFAULT_WIDTHS = (28, 20, 52)


class RequiredSetting:
    """The default of a setting that must be set: shown as *required*."""


class UnsetSetting:
    """The default of a setting read only when it is set: shown as *not set*."""


REQUIRED = RequiredSetting()
NOT_SET = UnsetSetting()


@dataclass(frozen=True)
class Setting:
    """One row of the table: a setting's name, default and meaning (reStructuredText)."""

    name: str
    default: Any
    meaning: str


def import_path(path: str) -> Any:
    """Import ``package.module.Name``, ``package.module:Name`` or a module.

    :raises ImportError: if no module of the path can be imported.
    :raises AttributeError: if the module has no such attribute.
    """
    module_name, colon, attribute = path.partition(":")
    if colon:
        return _attribute(importlib.import_module(module_name), attribute, path)
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            # Only "this prefix is no module" moves on; a module that exists
            # but fails to import is reported as it is.
            if error.name and (module_name + ".").startswith(error.name + "."):
                continue
            raise
        return _attribute(module, ".".join(parts[cut:]), path)
    raise ImportError(f"no module named {parts[0]!r}")


def _attribute(module: Any, dotted: str, path: str) -> Any:
    found = module
    for name in filter(None, dotted.split(".")):
        if not hasattr(found, name):
            raise AttributeError(f"{found.__name__!r} has no attribute {name!r} (in {path!r})")
        found = getattr(found, name)
    return found


def documented_settings(source: Any) -> list[Setting]:
    """The settings *source* declares, with their defaults and meanings.

    *source* is an extension class (or a module, such as :mod:`doozer.base`)
    with ``SETTINGS_DOCS`` next to ``DEFAULT_SETTINGS``, ``REQUIRED_SETTINGS``
    and ``OPTIONAL_SETTINGS``. Rows come in the order of ``SETTINGS_DOCS``.

    :raises LookupError: if *source* has no ``SETTINGS_DOCS``, or if its
        documented names are not exactly the declared ones, or a meaning is empty.
    """
    docs: Mapping[str, str] | None = getattr(source, "SETTINGS_DOCS", None)
    if not isinstance(docs, Mapping):
        raise LookupError(
            "has no SETTINGS_DOCS: declare one (setting name -> meaning) next to its "
            "DEFAULT_SETTINGS"
        )
    defaults: Mapping[str, Any] = getattr(source, "DEFAULT_SETTINGS", {})
    required: Iterable[str] = getattr(source, "REQUIRED_SETTINGS", ())
    optional: Iterable[str] = getattr(source, "OPTIONAL_SETTINGS", ())
    declared: dict[str, Any] = {name: REQUIRED for name in required}
    declared.update({name: NOT_SET for name in optional})
    declared.update({name: value for name, value in defaults.items() if name not in declared})
    undocumented = [name for name in declared if name not in docs]
    if undocumented:
        raise LookupError(
            f"declares settings that SETTINGS_DOCS does not explain: {', '.join(undocumented)}"
        )
    undeclared = [name for name in docs if name not in declared]
    if undeclared:
        raise LookupError(
            f"documents settings it does not declare in DEFAULT_SETTINGS, REQUIRED_SETTINGS "
            f"or OPTIONAL_SETTINGS: {', '.join(undeclared)}"
        )
    empty = [name for name, meaning in docs.items() if not str(meaning).strip()]
    if empty:
        raise LookupError(f"has an empty meaning in SETTINGS_DOCS for: {', '.join(empty)}")
    return [Setting(name, declared[name], meaning) for name, meaning in docs.items()]


def show_default(name: str, value: Any) -> str:
    """The default of setting *name* as Python source, with secrets masked."""
    if is_secret(name) and value is not None:
        return MASK
    if inspect.isclass(value) or inspect.isfunction(value):
        return f"{value.__module__}.{value.__qualname__}"
    return mask_url(repr(value))


class DoozerSettingsDirective(SphinxDirective):
    """``.. doozersettings:: package.module.ExtensionClass``: a table of its settings.

    One row per setting: its name, its default (a Python literal,
    *required*, or *not set* when the code has its own fallback) and its
    meaning, all read from the class (``SETTINGS_DOCS`` beside
    ``DEFAULT_SETTINGS``); a module such as ``doozer.base`` works too.
    ``:widths:`` sets the relative widths of the three columns.
    """

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {"widths": directives.positive_int_list}

    def run(self) -> list[nodes.Node]:
        """Import the target and render its settings, or fail naming it."""
        path = self.arguments[0]
        try:
            source = import_path(path)
        except (ImportError, AttributeError) as error:
            raise self.error(f"doozersettings: cannot import {path!r}: {error}") from error
        try:
            settings = documented_settings(source)
        except LookupError as error:
            raise self.error(f"doozersettings: {path!r} {error}") from error
        if not settings:
            return [nodes.paragraph("", f"{path.rpartition('.')[2]} reads no settings.")]
        widths = self.options.get("widths", DEFAULT_WIDTHS)
        if len(widths) != len(DEFAULT_WIDTHS):
            raise self.error(
                f"doozersettings: :widths: needs {len(DEFAULT_WIDTHS)} numbers "
                f"(Setting, Default, Meaning), got {len(widths)}"
            )
        return [self._table(settings, widths)]

    def _table(self, settings: list[Setting], widths: Iterable[int]) -> nodes.table:
        table = nodes.table(classes=["doozer-settings", "colwidths-given"])
        group = nodes.tgroup(cols=len(DEFAULT_WIDTHS))
        table += group
        for width in widths:
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        head += _row([[nodes.paragraph("", text)] for text in ("Setting", "Default", "Meaning")])
        group += head
        body = nodes.tbody()
        for setting in settings:
            body += _row(
                [
                    [nodes.paragraph("", "", nodes.literal(setting.name, setting.name))],
                    [_default_cell(setting)],
                    self._parse(setting.meaning),
                ]
            )
        group += body
        return table

    def _parse(self, text: str) -> list[nodes.Node]:
        # state.nested_parse rather than parse_text_to_nodes(): Sphinx 7.3 has no such method.
        holder = nodes.Element()
        self.state.nested_parse(StringList(text.splitlines()), self.content_offset, holder)
        return list(holder.children)


def _row(cells: list[list[nodes.Node]]) -> nodes.row:
    row = nodes.row()
    for content in cells:
        entry = nodes.entry()
        entry.extend(content)
        row += entry
    return row


def _default_cell(setting: Setting) -> nodes.paragraph:
    if setting.default is REQUIRED:
        return nodes.paragraph("", "", nodes.emphasis("required", "required"))
    if setting.default is NOT_SET:
        return nodes.paragraph("", "", nodes.emphasis("not set", "not set"))
    shown = show_default(setting.name, setting.default)
    return nodes.paragraph("", "", nodes.literal(shown, shown))
