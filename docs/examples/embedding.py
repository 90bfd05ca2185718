"""Embedding Doozer in a program that owns its event loop (see docs/embedding.rst)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from doozer import Application
from doozer.outcomes import Outcome


async def callback(app: Application, message: Any) -> None:
    print("processed", message)


async def main() -> None:
    inbox: asyncio.Queue[int] = asyncio.Queue()

    class Inbox:
        """A consumer reading what the rest of the program puts in a queue."""

        async def read(self) -> int:
            return await inbox.get()

    app = Application("embedded", consumer=Inbox(), callback=callback)
    finished = 0

    @app.message_outcome
    async def count(app: Application, message: Any, outcome: Outcome) -> None:
        nonlocal finished
        finished += 1
        if finished == 3:
            app.stop()  # graceful: what was read is finished, teardown runs

    # The program owns the loop, so it owns the signals: route them to stop().
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, app.stop)

    for number in (1, 2, 3):
        inbox.put_nowait(number)
    await app.serve(num_workers=1)
    print(f"stopped after {finished} message(s)")


if __name__ == "__main__":
    asyncio.run(main())
