"""The quickstart written for Henson 2.2.0 (``henson run henson_file_printer:app``).

Prints every line of Doozer's quickstart example that is not a comment, like
``doozer run file_printer`` does.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

with warnings.catch_warnings():  # henson imports pkg_resources, which warns
    warnings.filterwarnings("ignore", message="pkg_resources", category=UserWarning)
    from henson import Abort, Application

QUICKSTART = Path(__file__).resolve().parents[2] / "docs" / "examples" / "file_printer.py"


class FileConsumer:
    def __init__(self, filename: Path) -> None:
        self.filename = filename
        self.lines = iter(filename.read_text().splitlines(keepends=True))

    async def read(self) -> str:
        try:
            return next(self.lines)
        except StopIteration:
            raise Abort("Reached end of file", None) from None


async def callback(app: Any, message: str) -> list[str]:
    print(app.name, "received:", message, end="")
    return [message]


app = Application(__name__, callback=callback, consumer=FileConsumer(QUICKSTART))


@app.startup
async def print_header(app: Any) -> None:
    print("# Begin processing", app.consumer.filename)


@app.teardown
async def print_footer(app: Any) -> None:
    print("# Done processing", app.consumer.filename)


@app.message_preprocessor
async def remove_comments(app: Any, line: str) -> str:
    if line.strip().startswith("#"):
        raise Abort("Line is a comment", line)
    return line
