"""The built wheels in fresh virtual environments: doozer-core alone, then the meta-package.

Both install with pip from the release build (``dist``); the Doozer
distributions come from there, third-party ones from the package index.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    ALL,
    CODE,
    OWNS,
    RELEASED,
    ROOT,
    installed,
    make_venv,
    run,
    version,
)

pytestmark = pytest.mark.slow

APP = """
    import asyncio

    from doozer import Abort, Application


    class Once:
        sent = False

        async def read(self):
            if self.sent:
                raise Abort("consumer.done", None)
            self.sent = True
            return "hello"


    async def callback(app, message):
        loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
        print("got", message, "on", loop, flush=True)


    app = Application("installed", consumer=Once(), callback=callback)

    if __name__ == "__main__":
        app.run_forever()
"""

CORE_API = """
import importlib.util
from doozer import Abort, Application, Extension, __version__
from doozer.base import Application as A
from doozer.config import Config
from doozer.exceptions import Abort as B
from doozer.extensions import Extension as E
from doozer.types import Consumer
assert importlib.util.find_spec("doozer.cli") is None
print("core", __version__)
"""

# What an installed doozer-core alone must not have: every other distribution's modules.
MISSING = """
import importlib.util, sys

for name in sys.argv[1:]:
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:  # its parent package (doozer.contrib) is missing too
        spec = None
    if spec is not None:
        print(name, "is installed:", spec.origin)
"""

PUBLIC_API = """
import argparse

import doozer, doozer.base, doozer.config, doozer.exceptions, doozer.extensions, doozer.types
import doozer.cli, doozer.contrib.retry, doozer.contrib.sphinx
import doozer.redis, doozer.nats, doozer.testing
import doozer.contrib.prometheus, doozer.contrib.database, doozer.contrib.otel
import doozer.contrib.logging
from doozer import Abort, Application, Extension
from doozer.config import Config
from doozer.cli import main, register_commands
from doozer.contrib.retry import Retry, RetryableException
from doozer.contrib.sphinx import DoozerCLIDirective, setup
from doozer.redis import RedisStreams
from doozer.nats import JetStream
from doozer.contrib.prometheus import Prometheus
from doozer.contrib.database import Database, run_migrations
from doozer.contrib.otel import OpenTelemetry
from doozer.contrib.logging import Logging
from doozer.amqp import AMQP

for extension in (AMQP, RedisStreams, JetStream, Prometheus, Database, OpenTelemetry, Logging):
    assert issubclass(extension, Extension), extension

assert doozer.base.Application is Application
assert doozer.exceptions.Abort is Abort
assert doozer.extensions.Extension is Extension
assert isinstance(doozer.cli.parser, argparse.ArgumentParser)
print("ok")
"""

# Every module of the doozer package, imported, with its public names and its file.
# pkgutil.walk_packages skips namespace packages (doozer.contrib): list directories.
SURFACE = """
import importlib, inspect, json, os

import doozer


def public(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and not (inspect.ismodule(value) and value.__name__ == f"{module.__name__}.{name}")
        ]
    return sorted(names)


def walk(package, found):
    children = set()
    for entry in package.__path__:
        for name in os.listdir(entry):
            if name.endswith(".py") and name != "__init__.py":
                children.add(f"{package.__name__}.{name[:-3]}")
            elif os.path.isdir(os.path.join(entry, name)) and name.isidentifier():
                if name != "__pycache__":
                    children.add(f"{package.__name__}.{name}")
    for name in sorted(children):
        module = importlib.import_module(name)
        found[name] = module
        if hasattr(module, "__path__"):
            walk(module, found)
    return found


modules = walk(doozer, {"doozer": doozer})
print(json.dumps({
    name: {"names": public(module), "file": getattr(module, "__file__", None)}
    for name, module in modules.items()
}))
"""


PUBLIC_MODULES = (
    *("doozer", "doozer.base", "doozer.config", "doozer.exceptions", "doozer.extensions"),
    *("doozer.types", "doozer.outcomes", "doozer.testing", "doozer.cli", "doozer.__main__"),
    *("doozer.contrib.retry", "doozer.contrib.sphinx", "doozer.redis", "doozer.nats"),
    *("doozer.contrib.prometheus", "doozer.contrib.database", "doozer.contrib.otel"),
    *("doozer.contrib.logging", "doozer.amqp"),
)
#: The module each distribution but doozer-core adds to the doozer package.
ADDED = {
    name: ".".join(OWNS[name][0].removesuffix(".py").split("/"))
    for name in CODE
    if name != "doozer-core"
}
#: The third-party distributions ``doozer[all]`` brings (directly or through a sibling).
THIRD_PARTY = {
    *("uvloop", "watchdog", "sphinx", "sphinxcontrib-autoprogram", "redis", "hiredis"),
    *("nats-py", "prometheus-client", "sqlalchemy", "greenlet", "alembic"),
    *("opentelemetry-api", "structlog", "aio-pika", "aiormq", "yarl"),
}


def surface(python: Path | str, cwd: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(run(python, "-c", SURFACE, cwd=cwd).stdout)
    return result


@pytest.fixture(scope="module")
def core_venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with doozer-core installed from its wheel, alone."""
    python = make_venv(tmp_path_factory.mktemp("core") / "venv")
    core = f"doozer_core-{version('doozer-core')}-py3-none-any.whl"
    run(python, "-m", "pip", "install", "-q", dist / core)
    return python


@pytest.fixture(scope="module")
def full_venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with everything: ``pip install doozer[all]==<version>``."""
    python = make_venv(tmp_path_factory.mktemp("full") / "venv")
    meta = f"doozer[{ALL}]=={version('doozer')}"
    run(python, "-m", "pip", "install", "-q", "--find-links", dist, meta)
    return python


@pytest.fixture
def service(tmp_path: Path) -> Path:
    """A directory holding ``service.py``, a tiny application."""
    (tmp_path / "service.py").write_text(textwrap.dedent(APP))
    return tmp_path


# -- doozer-core alone -----------------------------------------------------------


def test_core_installs_alone(core_venv: Path, tmp_path: Path) -> None:
    assert installed(core_venv) == {"doozer-core": version("doozer-core")}
    assert run(core_venv, "-c", CORE_API, cwd=tmp_path).stdout == f"core {version('doozer-core')}\n"


def test_core_has_no_cli(core_venv: Path, tmp_path: Path) -> None:
    result = run(core_venv, "-c", "import doozer.cli", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "ModuleNotFoundError: No module named 'doozer.cli'"
    result = run(core_venv, "-c", "import doozer.contrib.retry", cwd=tmp_path, check=False)
    assert "ModuleNotFoundError: No module named 'doozer.contrib'" in result.stderr
    assert not (core_venv.parent / "doozer").exists()  # no script


def test_python_m_doozer_without_the_cli_says_what_to_install(
    core_venv: Path, tmp_path: Path
) -> None:
    result = run(core_venv, "-m", "doozer", "run", "service", cwd=tmp_path, check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "doozer: error: the doozer command line is not installed: "
        "python -m pip install doozer-cli (or doozer)\n"
    )


def test_core_has_no_other_module(core_venv: Path, tmp_path: Path) -> None:
    assert set(ADDED.values()) >= {"doozer.cli", "doozer.redis", "doozer.contrib.logging"}
    assert run(core_venv, "-c", MISSING, *ADDED.values(), cwd=tmp_path).stdout == ""


def test_core_runs_an_application(core_venv: Path, service: Path) -> None:
    result = run(core_venv, "service.py", cwd=service)
    assert (result.stdout, result.stderr) == ("got hello on asyncio\n", "")


# -- the meta-package ----------------------------------------------------------


def test_meta_package_installs_everything(full_venv: Path) -> None:
    versions = installed(full_venv)
    ours = {name: v for name, v in versions.items() if name.startswith("doozer")}
    assert ours == {name: version(name) for name in RELEASED}
    missing = THIRD_PARTY - set(versions)
    assert not missing
    run(full_venv, "-m", "pip", "check")


def test_every_public_module_imports(full_venv: Path, tmp_path: Path) -> None:
    assert run(full_venv, "-c", PUBLIC_API, cwd=tmp_path).stdout == "ok\n"


def test_each_distribution_installs_its_files_only(full_venv: Path) -> None:
    # `pip show -f`: one block per distribution, separated by "---".
    blocks = run(full_venv, "-m", "pip", "show", "-f", *CODE).stdout.split("\n---\n")
    shipped: dict[str, list[str]] = {}
    for block in blocks:
        lines = block.splitlines()
        (name,) = [line.removeprefix("Name: ") for line in lines if line.startswith("Name: ")]
        shipped[name] = sorted(
            line.strip()
            for line in lines
            if line.strip().startswith("doozer/") and "__pycache__" not in line
        )
    assert sorted(shipped) == sorted(CODE)
    for name, files in shipped.items():
        prefixes = tuple(p if p.endswith(".py") else f"{p}/" for p in OWNS[name])
        assert all(path.startswith(prefixes) for path in files), name
        # Never the core's doozer/__init__.py, never a doozer/contrib/__init__.py.
        assert ("doozer/__init__.py" in files) == (name == "doozer-core"), name
        assert "doozer/contrib/__init__.py" not in files
        if name != "doozer-core":
            assert f"{OWNS[name][0]}/py.typed" in files, name
    assert "doozer/__main__.py" in shipped["doozer-core"]


def test_version_lists_every_distribution(full_venv: Path) -> None:
    versions = run(full_venv.parent / "doozer", "--version").stdout
    assert versions.splitlines() == [f"{name} {version(name)}" for name in sorted(RELEASED)]


def test_python_m_doozer_help(full_venv: Path, tmp_path: Path) -> None:
    result = run(full_venv, "-m", "doozer", "--help", cwd=tmp_path)
    assert result.stdout.startswith("usage: doozer ")
    assert " run " in result.stdout


@pytest.mark.parametrize("how", ["script", "module"])
def test_doozer_run(full_venv: Path, service: Path, how: str) -> None:
    # With uvloop installed, the runtime uses it.
    command = [full_venv.parent / "doozer"] if how == "script" else [full_venv, "-m", "doozer"]
    result = run(*command, "run", "service", cwd=service, check=False)
    assert (result.returncode, result.stdout) == (0, "got hello on uvloop\n"), result.stderr
    # stderr holds the service's log (what it logs at INFO is the CLI's business): no error.
    assert not [line for line in result.stderr.splitlines() if "ERROR" in line or "Trace" in line]


# -- editable workspace and wheels -----------------------------------------------


def test_editable_and_wheel_installs_have_the_same_surface(full_venv: Path, tmp_path: Path) -> None:
    wheels = surface(full_venv, tmp_path)
    assert set(PUBLIC_MODULES) <= set(wheels)
    venv = full_venv.parent.parent
    assert all(m["file"] is None or Path(m["file"]).is_relative_to(venv) for m in wheels.values())

    # This suite runs in the hatch-test env: editable installs of packages/*.
    editable = surface(sys.executable, tmp_path)
    files = {name: Path(m["file"]) for name, m in editable.items() if m["file"]}
    assert all(path.is_relative_to(ROOT / "packages") for path in files.values()), files
    origins = {name: path.relative_to(ROOT / "packages").parts for name, path in files.items()}
    assert all(parts[1] == "src" and parts[0] in RELEASED for parts in origins.values())
    # Every workspace member is released and doozer[all] installs them all: the same
    # modules, with the same public names.
    assert {name: m["names"] for name, m in editable.items()} == {
        name: m["names"] for name, m in wheels.items()
    }
