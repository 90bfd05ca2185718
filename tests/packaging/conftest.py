"""Fixtures for the packaging tests: one release build, fresh virtual environments."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (hatch.toml lists it for the test envs).
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]

#: The distributions of a release, in the order of the release env's build script:
#: each one after what it depends on, the meta-package last.
RELEASED = (
    *("doozer-core", "doozer-cli", "doozer-retry", "doozer-sphinx", "doozer-amqp"),
    *("doozer-redis", "doozer-prometheus", "doozer-nats", "doozer-database", "doozer-otel"),
    *("doozer-logging", "doozer"),
)
#: Distributions the meta-package offers as extras instead of installing them.
EXTRAS = {
    "doozer-amqp": "amqp",
    "doozer-redis": "redis",
    "doozer-prometheus": "prometheus",
    "doozer-nats": "nats",
    "doozer-database": "database",
    "doozer-otel": "otel",
    "doozer-logging": "logging",
}
#: The meta-package's extra that installs every one of EXTRAS.
ALL = "all"
#: The part of the ``doozer`` package each distribution ships (paths under its ``src/``).
OWNS = {
    "doozer-core": ("doozer",),
    "doozer-cli": ("doozer/cli",),
    "doozer-retry": ("doozer/contrib/retry",),
    "doozer-sphinx": ("doozer/contrib/sphinx",),
    "doozer-amqp": ("doozer/amqp",),
    "doozer-redis": ("doozer/redis",),
    "doozer-prometheus": ("doozer/contrib/prometheus",),
    "doozer-nats": ("doozer/nats",),
    "doozer-database": ("doozer/contrib/database",),
    "doozer-otel": ("doozer/contrib/otel",),
    "doozer-logging": ("doozer/contrib/logging",),
    "doozer": (),  # the meta-package: metadata only
}
#: The distributions that ship code (all but the meta-package).
CODE = tuple(name for name in RELEASED if name != "doozer")
#: The Pythons every distribution supports, doozer-core's. (doozer-amqp too: with
#: aio-pika 10 / aiormq 7 on 3.11+, with aio-pika 9 / aiormq 6 on 3.10.)
REQUIRES_PYTHON = ">=3.10"


def pyproject(name: str) -> dict[str, Any]:
    """The parsed ``pyproject.toml`` of ``packages/<name>``."""
    return tomllib.loads((ROOT / "packages" / name / "pyproject.toml").read_text())


def version_file(name: str) -> Path:
    """The file a distribution's version is read from (its ``__about__.py``)."""
    path: str = pyproject(name)["tool"]["hatch"]["version"]["path"]
    return ROOT / "packages" / name / path


def version(name: str) -> str:
    """A distribution's version, as its ``__about__.py`` says."""
    found = re.search(r'^__version__ = "([^"]+)"$', version_file(name).read_text(), re.MULTILINE)
    assert found, f"no __version__ in {version_file(name)}"
    return found[1]


def run(
    *args: str | Path, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end; on failure, show what it printed."""
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited with {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def _clean_env() -> dict[str, str]:
    # As from a shell: not inside the hatch-test environment this suite runs in.
    return {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "HATCH_ENV_ACTIVE"}}


def hatch(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run hatch (the one that runs this suite) in the repository root."""
    executable = shutil.which("hatch")
    assert executable is not None, "hatch is not on PATH (python3 -m pip install hatch)"
    return run(executable, *args, cwd=ROOT)


def make_venv(path: Path) -> Path:
    """A fresh virtual environment with pip; return its python."""
    run(sys.executable, "-m", "venv", path)
    return path / "bin" / "python"


def installed(python: Path) -> dict[str, str]:
    """``{normalized name: version}`` of what is installed, besides pip itself."""
    listed = run(python, "-m", "pip", "list", "--format=freeze").stdout.split()
    versions = dict(line.split("==") for line in listed)
    return {
        name.lower().replace("_", "-"): version
        for name, version in versions.items()
        if name.lower() not in {"pip", "setuptools", "wheel"}
    }


def release_build_dirs() -> list[str]:
    """The package directories the release env's ``build`` script builds, in order."""
    config = tomllib.loads((ROOT / "hatch.toml").read_text())
    commands = config["envs"]["release"]["scripts"]["build"]
    return [command.split("&&")[0].split("packages/")[1].strip() for command in commands]


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every wheel and sdist of a release, built by ``hatch run release:build``."""
    directory = tmp_path_factory.mktemp("dist")
    hatch("run", "release:build", directory)
    return directory
