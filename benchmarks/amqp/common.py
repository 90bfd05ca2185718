"""What the AMQP benchmark's consumers share; each runs in its own process.

Each is configured by environment variables: ``BENCH_AMQP_URL``,
``BENCH_QUEUE``, ``BENCH_PREFETCH`` and ``BENCH_RESULT`` (where the process
writes ``count first_time last_time`` when it stops). A process prints
``ready`` once connected, then waits for SIGUSR1, which the benchmark sends
to every process at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
QUEUE = os.environ.get("BENCH_QUEUE", "")
PREFETCH = int(os.environ.get("BENCH_PREFETCH", "64"))
RESULT = Path(os.environ.get("BENCH_RESULT", "/dev/null"))


class Tally:
    """How many messages were handled, and when the first and the last were."""

    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    def add(self) -> None:
        now = time.perf_counter()
        if not self.count:
            self.first = now
        self.count += 1
        self.last = now

    def write(self) -> None:
        RESULT.write_text(f"{self.count} {self.first!r} {self.last!r}\n")


async def wait_for_go() -> None:
    """Say ``ready`` and wait for SIGUSR1 (a start barrier, outside the timed part)."""
    go = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, go.set)
    print("ready", flush=True)
    await go.wait()
    loop.remove_signal_handler(signal.SIGUSR1)
