"""doozer-core installs alone, with nothing else, and gives the whole core API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHECK = """
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


@pytest.mark.slow
def test_core_installs_alone(repo_root: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(repo_root / "packages" / "doozer-core")],
        check=True,
    )
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    names = sorted(line.split("==")[0].lower() for line in listed)
    assert [name for name in names if name not in {"pip", "setuptools", "wheel"}] == ["doozer-core"]
    result = subprocess.run(
        [str(python), "-c", CHECK], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("core 2.")
