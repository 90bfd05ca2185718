"""The quickstart example runs, both ways the docs show, and skips comment lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support.processes import Process


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["-m", "doozer", "run", "file_printer"], "file_printer"),
        (["file_printer.py"], "__main__"),
    ],
)
def test_quickstart_prints_every_line_but_comments(
    repo_root: Path, command: list[str], name: str
) -> None:
    examples = repo_root / "docs" / "examples"
    example = examples / "file_printer.py"
    process = Process(command, cwd=examples)
    assert process.finish() == 0, process.stderr
    lines = example.read_text().splitlines()
    printed = [line.removeprefix(f"{name} received: ") for line in process.stdout[1:-1]]
    assert process.stdout[0] == f"# Begin processing {example}"
    assert process.stdout[-1] == f"# Done processing {example}"
    assert printed == [line for line in lines if not line.strip().startswith("#")]
    assert any(line.strip().startswith("#") for line in lines)
    assert process.stderr == []
