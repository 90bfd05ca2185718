"""The quickstart example from the docs runs and skips comment lines."""

from __future__ import annotations

from pathlib import Path

from ..process import Process


def test_quickstart_prints_every_line_but_comments(repo_root: Path) -> None:
    example = repo_root / "docs" / "examples" / "file_printer.py"
    process = Process([str(example)], cwd=repo_root)
    assert process.finish() == 0, process.stderr
    lines = example.read_text().splitlines()
    printed = [line.removeprefix("__main__ received: ") for line in process.stdout[1:-1]]
    assert process.stdout[0] == f"# Begin processing {example}"
    assert process.stdout[-1] == f"# Done processing {example}"
    assert printed == [line for line in lines if not line.strip().startswith("#")]
    assert any(line.strip().startswith("#") for line in lines)
    assert process.stderr == []
