"""The documentation builds, with warnings as errors and every reference resolved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_docs_build_without_warnings(repo_root: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "sphinx", "-E", "-W", "-n", "--keep-going", "-q"),
            *("-b", "html", str(repo_root / "docs"), str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for page in ("index", "cli", "extending-cli", "retry", "sphinx", "api"):
        assert (tmp_path / f"{page}.html").exists()
    extending = (tmp_path / "extending-cli.html").read_text()
    assert "doozer --app APP_PATH fraggle trash" in extending
    cli = (tmp_path / "cli.html").read_text()
    assert "application-path" in cli
    assert "--reloader" in cli
