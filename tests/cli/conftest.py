"""Fixtures for the command-line tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from doozer.cli import program
from tests.support.processes import Process
from tests.support.processes import doozer as start_doozer


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a dedented source file under tmp_path; return its path."""

    def write(name: str, source: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return path

    return write


@pytest.fixture
def doozer(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start ``python -m doozer *args`` in tmp_path; every process is killed at the end."""
    started: list[Process] = []

    def start(*args: str, new_session: bool = False, env: dict[str, str] | None = None) -> Process:
        process = start_doozer(*args, cwd=tmp_path, env=env, new_session=new_session)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def run_doozer(doozer: Callable[..., Process]) -> Callable[..., Process]:
    """Run ``python -m doozer *args`` to its end."""

    def run(*args: str) -> Process:
        process = doozer(*args)
        process.finish()
        return process

    return run


@pytest.fixture(autouse=True)
def _restore_parser() -> Iterator[None]:
    """Undo commands registered during a test on the module-level parser.

    Namespaces live in the top-level sub-command action: restoring its
    choices (and the list its help is made from) removes them.
    """
    action = program._subcommands
    choices = dict(action.choices or {})
    shown = list(action._choices_actions)
    yield
    assert action.choices is not None
    action.choices.clear()
    action.choices.update(choices)
    action._choices_actions[:] = shown
