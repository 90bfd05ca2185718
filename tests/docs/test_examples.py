"""The runnable examples under docs/examples/ work as the docs say."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from doozer import Abort, Application

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sqlite_extension_connects_for_the_run(tmp_path: Path) -> None:
    sqlite_extension = load("sqlite_extension")
    database = tmp_path / "example.db"
    rows: list[Any] = []

    class Once:
        done = False

        async def read(self) -> str:
            if self.done:
                raise Abort("example.done", None)
            self.done = True
            return "hello"

    async def callback(app: Application, message: str) -> None:
        connection = app.extensions["sqlite"].connection
        connection.execute("CREATE TABLE IF NOT EXISTS messages (body TEXT)")
        connection.execute("INSERT INTO messages VALUES (?)", (message,))
        connection.commit()
        rows.extend(connection.execute("SELECT body FROM messages"))

    app = Application("example", {"SQLITE_DATABASE": str(database)}, consumer=Once())
    app.callback = callback
    extension = sqlite_extension.SQLite(app)
    assert app.settings["SQLITE_DATABASE"] == str(database)
    app.run_forever()
    assert rows == [("hello",)]
    assert extension.connection is None  # closed by its teardown callback


def test_sqlite_extension_default_database() -> None:
    app = Application("example")
    load("sqlite_extension").SQLite(app)
    assert app.settings["SQLITE_DATABASE"] == ":memory:"


def test_retrying_example_succeeds_on_the_third_attempt(capsys: Any) -> None:
    load("retrying").app.run_forever(num_workers=2)
    assert sorted(capsys.readouterr().out.splitlines()) == [
        "message 1 succeeded on attempt 3",
        "message 2 succeeded on attempt 3",
    ]


def test_fraggle_commands_from_the_command_line() -> None:
    def doozer(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "doozer", "--app", "fraggle_app", "fraggle", *args],
            cwd=EXAMPLES,
            capture_output=True,
            text=True,
            check=False,
        )

    trash = doozer("trash", "--times", "2")
    assert (trash.returncode, trash.stderr) == (0, "")
    assert trash.stdout == "The answer is in the radishes.\n" * 2
    count = doozer("count", "-r", "turnips")
    assert count.stdout == "fraggle-rock: 3 turnips\n"


def test_the_testing_page_example_passes() -> None:
    # The example is itself a pytest module: run it as a user would.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_orders.py"],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_embedding_example_serves_in_its_own_loop() -> None:
    result = subprocess.run(
        [sys.executable, "embedding.py"], cwd=EXAMPLES, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "processed 1",
        "processed 2",
        "processed 3",
        "stopped after 3 message(s)",
    ]
