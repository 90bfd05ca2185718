"""doozer-cli from a fresh, non-editable install: its files, its script, ``python -m doozer``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

APP = """
    from doozer import Abort, Application


    class Once:
        sent = False

        async def read(self):
            if self.sent:
                raise Abort("consumer.done", None)
            self.sent = True
            return "hello"


    async def callback(app, message):
        print("got", message, flush=True)


    app = Application("installed", consumer=Once(), callback=callback)
"""


@pytest.mark.slow
def test_core_and_cli_install_and_run(repo_root: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    packages = repo_root / "packages"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            str(packages / "doozer-core"),
            str(packages / "doozer-cli"),
        ],
        check=True,
    )
    files = subprocess.run(
        [str(python), "-m", "pip", "show", "-f", "doozer-cli"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    shipped = sorted(
        line.strip()
        for line in files.splitlines()
        if line.strip().startswith("doozer/") and "__pycache__" not in line
    )
    # The cli package and __main__, never the core's doozer/__init__.py.
    assert "doozer/__main__.py" in shipped
    assert "doozer/cli/__init__.py" in shipped
    assert "doozer/cli/py.typed" in shipped
    assert "doozer/__init__.py" not in shipped
    assert all(path.startswith(("doozer/cli/", "doozer/__main__.py")) for path in shipped)

    (tmp_path / "service.py").write_text(textwrap.dedent(APP))
    for command in ([str(venv / "bin" / "doozer")], [str(python), "-m", "doozer"]):
        result = subprocess.run(
            [*command, "run", "service"], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert (result.returncode, result.stdout, result.stderr) == (0, "got hello\n", "")
    versions = subprocess.run(
        [str(venv / "bin" / "doozer"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert versions.splitlines() == ["doozer-cli 2.0.0", "doozer-core 2.0.0"]
