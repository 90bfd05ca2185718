"""A long run with random failures: ``python -m tests.reliability.soak MESSAGES WORKERS``.

Prints ``rss_start=... rss_end=... read=... acknowledged=... twice=... errors=...``
(resident memory in KiB once 100,000 messages were read, and at the end).
"""

from __future__ import annotations

import os
import random
import sys

from doozer import Abort, Application
from doozer.outcomes import Outcome

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def resident_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_KIB


def main(total: int, num_workers: int) -> None:
    acknowledged = bytearray(total)  # one counter per message, without growing
    errors = 0
    outcomes = bytearray(total)
    rss: dict[str, int] = {}
    randomly = random.Random(7)

    class Numbers:
        count = 0

        async def read(self) -> int:
            if self.count == total:
                raise Abort("soak.done", None)
            self.count += 1
            if self.count == 100_000:
                rss["start"] = resident_kib()
            return self.count - 1

    async def callback(app: Application, message: int) -> list[bytes]:
        if randomly.random() < 0.01:
            raise ValueError(message)
        return [b"x" * 64]

    consumer = Numbers()
    app = Application("soak", consumer=consumer, callback=callback)

    @app.result_postprocessor
    async def sometimes_drop(app: Application, result: bytes) -> bytes:
        if randomly.random() < 0.01:
            raise Abort("result.dropped", result)
        return result

    @app.error
    async def count_errors(app: Application, message: int, exc: Exception) -> None:
        nonlocal errors
        errors += 1

    @app.message_acknowledgement
    async def acknowledge(app: Application, message: int) -> None:
        acknowledged[message] += 1

    @app.message_outcome
    async def count_outcome(app: Application, message: int, outcome: Outcome) -> None:
        outcomes[message] += 1

    app.run_forever(num_workers=num_workers)
    print(
        f"rss_start={rss['start']} rss_end={resident_kib()} read={consumer.count} "
        f"acknowledged={sum(1 for count in acknowledged if count)} "
        f"twice={sum(1 for count in acknowledged if count > 1)} errors={errors} "
        f"outcomes={sum(1 for count in outcomes if count == 1)}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
