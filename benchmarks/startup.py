"""Start-up: import time, and running the quickstart to its end, in fresh processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
QUICKSTART = EXAMPLES / "file_printer.py"

# What each implementation's user imports: the hand-written loop only needs asyncio.
IMPORTS = {"doozer": "doozer", "baseline": "asyncio", "henson": "henson"}


def import_seconds(name: str) -> float:
    """``python -X importtime -c "import <module>"``: the module's cumulative time."""
    module = IMPORTS[name]
    completed = subprocess.run(
        # -W ignore: henson's import of pkg_resources warns, and warnings cost time.
        [sys.executable, "-W", "ignore", "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return _cumulative(completed.stderr, module)


def _cumulative(report: str, module: str) -> float:
    """Seconds from the top-level line ``import time: self | cumulative | module``."""
    for line in report.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[2].rstrip() == f" {module}":  # top level: one space
            return int(fields[1]) / 1e6
    raise ValueError(f"no top-level import of {module!r} in:\n{report}")


def quickstart_command(name: str) -> tuple[list[str], Path]:
    """The command that runs the quickstart with *name*, and its working directory."""
    if name == "doozer":
        return [sys.executable, "-m", "doozer", "run", "file_printer"], EXAMPLES
    if name == "baseline":
        module = "benchmarks.apps.baseline_file_printer"
        return [sys.executable, "-m", module, str(QUICKSTART)], ROOT
    henson = Path(sys.executable).with_name("henson")  # the console script next to python
    return [str(henson), "run", "henson_file_printer:app"], ROOT / "benchmarks" / "apps"


def quickstart_seconds(name: str) -> float:
    """Wall time of running the quickstart from process start to exit."""
    command, cwd = quickstart_command(name)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0 or "# Done processing" not in completed.stdout:
        raise RuntimeError(f"the {name} quickstart failed:\n{completed.stderr}")
    return elapsed
