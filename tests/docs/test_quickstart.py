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
    # doozer run says (at INFO) that it started and stopped; run as a script, nothing.
    expected = 2 if command[0] == "-m" else 0
    assert len(process.stderr) == expected, process.stderr
    assert all(" INFO " in line for line in process.stderr)


def test_the_readme_example_runs_as_shown(repo_root: Path, tmp_path: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "readme_example.py"
    script.write_text(code)
    process = Process([script.name], cwd=tmp_path)
    assert process.finish() == 0, process.stderr
    printed = [line.removeprefix("__main__ received: ") for line in process.stdout]
    assert printed == [line for line in code.splitlines() if not line.strip().startswith("#")]
    assert process.stderr == []
