"""Start-up, in fresh processes: imports, the first message, and the quickstart's end.

Like is compared with like:

- ``import``: what each program imports before its loop can run: ``doozer``
  and ``asyncio`` for Doozer (``import doozer`` leaves asyncio until it is
  needed), ``asyncio`` for the hand-written loop, ``henson`` (which imports
  asyncio itself) for Henson;
- ``framework``: the framework module alone, ``import doozer`` against
  ``import henson`` (issue 7's target is on ``import doozer``);
- the quickstart run end to end by each implementation's own command, timed
  from process start to the first message printed and to exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
QUICKSTART = EXAMPLES / "file_printer.py"

# What each implementation's program imports before it runs its loop.
IMPORTS = {
    "doozer": ("doozer", "asyncio"),
    "baseline": ("asyncio",),
    "henson": ("henson", "asyncio"),
}
FRAMEWORKS = {"doozer": "doozer", "henson": "henson"}  # the baseline has none
PRINTED = " received: "  # every implementation's quickstart prints this per message


def import_seconds(name: str) -> float:
    """What *name*'s program imports (:data:`IMPORTS`), in a fresh process."""
    return modules_seconds(IMPORTS[name])


def framework_seconds(name: str) -> float:
    """``import doozer`` or ``import henson`` alone, in a fresh process."""
    return modules_seconds((FRAMEWORKS[name],))


def modules_seconds(modules: tuple[str, ...]) -> float:
    """``python -X importtime -c "import a, b"``: the cumulative time of *modules*.

    A module that an earlier one already imported has no top-level line and
    adds nothing (its cost is inside the earlier one's).
    """
    completed = subprocess.run(
        # -W ignore: henson's import of pkg_resources warns, and warnings cost time.
        [sys.executable, "-W", "ignore", "-X", "importtime", "-c", f"import {', '.join(modules)}"],
        capture_output=True,
        text=True,
        check=True,
    )
    total = _cumulative(completed.stderr, modules[0])
    for module in modules[1:]:
        try:
            total += _cumulative(completed.stderr, module)
        except ValueError:
            if not _imported_inside(completed.stderr, module):
                raise
    return total


def _imported_inside(report: str, module: str) -> bool:
    return any(line.rstrip().endswith(f" {module}") for line in report.splitlines())


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


def quickstart_run(name: str) -> dict[str, float]:
    """Run the quickstart once: seconds from process start to the first message, and to exit.

    The child's output is unbuffered (for every implementation alike), so a
    line is seen when it is printed.
    """
    command, cwd = quickstart_command(name)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONUNBUFFERED": "1"}
    first = None
    with tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        with subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=errors, text=True
        ) as process:
            assert process.stdout is not None
            output = []
            for line in process.stdout:
                if first is None and PRINTED in line:
                    first = time.perf_counter() - started
                output.append(line)
            returncode = process.wait()
        elapsed = time.perf_counter() - started
        if returncode != 0 or first is None or "# Done processing" not in "".join(output):
            errors.seek(0)
            raise RuntimeError(f"the {name} quickstart failed:\n{errors.read()}")
    return {"first": first, "seconds": elapsed}


def quickstart_seconds(name: str) -> float:
    """Wall time of running the quickstart from process start to exit."""
    return quickstart_run(name)["seconds"]
