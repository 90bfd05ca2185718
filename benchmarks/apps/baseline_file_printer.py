"""The quickstart as a hand-written asyncio program: print the non-comment lines of a file.

Usage: ``python -m benchmarks.apps.baseline_file_printer FILE``.  Same output as
``doozer run file_printer``, on the same loop kind, through the baseline loop;
it imports nothing from Doozer.
"""

from __future__ import annotations

import asyncio
import sys
from types import SimpleNamespace
from typing import Any

from benchmarks.baseline import Abort, serve


class LineConsumer:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines = iter(open(filename).readlines())  # noqa: SIM115 - a small file, read at once

    async def read(self) -> str:
        try:
            return next(self.lines)
        except StopIteration:
            raise Abort("Reached end of file", None) from None


async def skip_comments(app: Any, line: str) -> str | None:
    return None if line.strip().startswith("#") else line


async def callback(app: Any, line: str | None) -> list[str] | None:
    if line is None:  # a comment: nothing to print
        return None
    print(app.name, "received:", line, end="")
    return [line]


async def main(filename: str) -> None:
    print("# Begin processing", filename)
    app = SimpleNamespace(name="file_printer")
    await serve(app, LineConsumer(filename), callback, workers=1, preprocessors=[skip_comments])
    print("# Done processing", filename)


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


if __name__ == "__main__":
    loop = new_loop()
    try:
        loop.run_until_complete(main(sys.argv[1]))
    finally:
        loop.close()
