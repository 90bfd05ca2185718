"""Every setting of every distribution is documented: name, default and meaning from one source.

Adding a setting without its meaning in ``SETTINGS_DOCS`` fails here, and so
does reading a setting the extension does not declare.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import doozer.base
from doozer.contrib.sphinx import documented_settings
from doozer.extensions import Extension

PACKAGES = Path(__file__).resolve().parents[2] / "packages"
#: The extensions the configuration reference must cover, at least.
EXPECTED = {
    "doozer.amqp.AMQP",
    "doozer.redis.RedisStreams",
    "doozer.nats.JetStream",
    "doozer.contrib.retry.Retry",
    "doozer.contrib.prometheus.Prometheus",
    "doozer.contrib.database.Database",
    "doozer.contrib.otel.OpenTelemetry",
    "doozer.contrib.logging.Logging",
}


def _source_files() -> Iterator[Path]:
    yield from sorted(PACKAGES.glob("*/src/doozer/**/*.py"))


def _module_name(path: Path) -> str:
    src = next(parent for parent in path.parents if parent.name == "src")
    return ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")


def _import_everything() -> list[ModuleType]:
    # __main__ runs the command line when imported.
    names = [_module_name(path) for path in _source_files()]
    return [importlib.import_module(name) for name in names if not name.endswith("__main__")]


def _subclasses(cls: type) -> Iterator[type]:
    subclass: type
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


def _public_name(extension: type) -> str:
    # The path users import it from: the package's, not its private module's.
    package = extension.__module__.split("._")[0]
    return f"{package}.{extension.__qualname__}"


def _extensions() -> dict[str, type[Extension]]:
    _import_everything()
    found = {}
    for extension in _subclasses(Extension):
        module = importlib.import_module(extension.__module__)
        if Path(module.__file__ or "").is_relative_to(PACKAGES):
            found[_public_name(extension)] = extension
    return found


EXTENSIONS = _extensions()


def _declared(source: Any) -> set[str]:
    return (
        set(getattr(source, "DEFAULT_SETTINGS", {}))
        | set(getattr(source, "REQUIRED_SETTINGS", ()))
        | set(getattr(source, "OPTIONAL_SETTINGS", ()))
    )


def _distribution_sources(extension: type) -> list[Path]:
    path = Path(importlib.import_module(extension.__module__).__file__ or "")
    src = next(parent for parent in path.parents if parent.name == "src")
    return sorted(src.rglob("*.py"))


def _string_constants(path: Path) -> Iterator[str]:
    """String constants of a module, leaving out the names listed in ``__all__``."""
    tree = ast.parse(path.read_text())
    exported: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            exported.update(id(item) for item in ast.walk(node.value))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in exported
        ):
            yield node.value


def _settings_read_by_name(path: Path) -> Iterator[str]:
    """Keys of ``...settings["NAME"]`` and ``...settings.get("NAME")`` in a module."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Subscript) and _is_settings(node.value):
            key = node.slice
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "setdefault", "pop")
            and _is_settings(node.func.value)
            and node.args
        ):
            key = node.args[0]
        else:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.isupper():
            yield key.value


def _is_settings(node: ast.expr) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name == "settings"


def test_every_expected_extension_is_found() -> None:
    assert set(EXTENSIONS) >= EXPECTED


@pytest.mark.parametrize("name", sorted(EXTENSIONS))
def test_documented_names_are_exactly_the_declared_settings(name: str) -> None:
    extension = EXTENSIONS[name]
    docs: Mapping[str, str] = extension.SETTINGS_DOCS
    assert set(docs) == _declared(extension), name
    for setting, meaning in docs.items():
        assert isinstance(meaning, str), setting
        assert meaning.strip(), f"{name}: {setting} has an empty meaning"
    # What the directive renders agrees (it raises on any mismatch).
    assert [row.name for row in documented_settings(extension)] == list(docs)


@pytest.mark.parametrize("name", sorted(EXTENSIONS))
def test_every_setting_named_in_the_code_is_declared(name: str) -> None:
    """A ``PREFIX_...`` string in the distribution's code is one of its documented settings."""
    extension = EXTENSIONS[name]
    declared = _declared(extension)
    prefixes = {setting.split("_")[0] + "_" for setting in declared}
    if not prefixes:
        return  # reads no settings; nothing of its own to look for
    pattern = re.compile(rf"(?:{'|'.join(map(re.escape, prefixes))})[A-Z0-9_]+")
    named = {
        text
        for path in _distribution_sources(extension)
        for text in _string_constants(path)
        if pattern.fullmatch(text)
    }
    assert named, f"no setting of {name} found in its code: is the scan still right?"
    assert named <= declared, f"{name} reads undocumented settings: {sorted(named - declared)}"


def test_the_core_documents_exactly_its_settings() -> None:
    declared = set(doozer.base.DEFAULT_SETTINGS) | set(doozer.base.OPTIONAL_SETTINGS)
    assert (
        set(doozer.base.SETTINGS_DOCS)
        == declared
        == {
            "DEBUG",
            "SHUTDOWN_TIMEOUT",
            "ORDERING_RETRIES",
        }
    )
    assert all(meaning.strip() for meaning in doozer.base.SETTINGS_DOCS.values())
    assert [row.name for row in documented_settings(doozer.base)] == list(doozer.base.SETTINGS_DOCS)


def test_every_setting_read_by_name_anywhere_is_documented() -> None:
    documented = set(doozer.base.SETTINGS_DOCS)
    for extension in EXTENSIONS.values():
        documented |= set(extension.SETTINGS_DOCS)
    read = {
        (key, path.relative_to(PACKAGES).as_posix())
        for path in _source_files()
        for key in _settings_read_by_name(path)
    }
    assert {key for key, _ in read} >= {"DEBUG", "SHUTDOWN_TIMEOUT", "ORDERING_RETRIES"}
    assert not [(key, where) for key, where in read if key not in documented]


def test_the_scans_catch_an_undocumented_setting(tmp_path: Path) -> None:
    """The checks above can fail: a module reading a new setting is caught by both."""
    module = tmp_path / "module.py"
    module.write_text(
        "def start(app):\n"
        '    return app.settings.get("AMQP_SOMETHING_NEW"), app.settings["DEBUG"]\n'
    )
    assert set(_settings_read_by_name(module)) == {"AMQP_SOMETHING_NEW", "DEBUG"}
    assert "AMQP_SOMETHING_NEW" in set(_string_constants(module))
    assert "AMQP_SOMETHING_NEW" not in _declared(EXTENSIONS["doozer.amqp.AMQP"])
