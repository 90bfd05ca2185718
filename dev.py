"""Run the project's tasks from a fresh clone: ``python3 dev.py quickstart | test [ARGS]``.

Needs only Python 3 and pip, also where the system pip refuses to install
packages (PEP 668, "externally-managed-environment"): everything goes into a
virtual environment in ``.venv/`` (made with the standard library's venv, or
with virtualenv when the system Python has no ensurepip), hatch is installed
there, and the task runs through it:

* ``quickstart``: ``hatch run quickstart`` (the example in docs/examples/);
* ``test [ARGS]``: ``hatch test [ARGS]``, the whole suite (what CI runs);
* ``hatch ARGS``: any other hatch command, e.g. ``python3 dev.py hatch run lint:check``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BOOTSTRAP = ROOT / ".venv-bootstrap"
HATCH = "hatch>=1.16"
TASKS = {"quickstart": ["run", "quickstart"], "test": ["test"], "hatch": []}


def bin_path(name: str) -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    return VENV / scripts / (f"{name}.exe" if os.name == "nt" else name)


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(arg) for arg in args], check=True, env=env)


def make_venv() -> None:
    try:
        venv.create(VENV, with_pip=True, clear=True)
        return
    except (subprocess.CalledProcessError, OSError) as exc:
        # Debian and Ubuntu ship venv without ensurepip unless python3-venv is installed.
        print(f"dev.py: venv could not install pip ({exc}); using virtualenv", file=sys.stderr)
    run(sys.executable, "-m", "pip", "install", "-q", "--target", BOOTSTRAP, "virtualenv")
    env = {**os.environ, "PYTHONPATH": str(BOOTSTRAP)}
    run(sys.executable, "-m", "virtualenv", "-q", "--clear", VENV, env=env)


def ensure_hatch() -> None:
    python = bin_path("python")
    if not python.exists():
        print(f"dev.py: creating {VENV.name}/ with hatch", file=sys.stderr)
        make_venv()
    has_hatch = (
        subprocess.run(
            [str(python), "-c", "import hatch"], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not has_hatch:
        run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", HATCH)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in TASKS:
        print(__doc__, file=sys.stderr)
        return 2
    ensure_hatch()
    command = [str(bin_path("hatch")), *TASKS[argv[0]], *argv[1:]]
    return subprocess.run(command, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
