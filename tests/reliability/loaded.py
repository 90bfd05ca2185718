"""A busy application for the signal and soak tests, run with ``python -m doozer``.

Its consumer produces numbered messages as fast as they are read; its callback
takes a random 0-5 ms; its teardown prints a summary line the tests check:
``summary read=N acknowledged=M duplicates=D outcomes=O once=E``.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter

from doozer import Abort, Application
from doozer.outcomes import Outcome

LIMIT = int(os.environ.get("LOADED_LIMIT", "0"))  # 0: no end
TEARDOWN_SECONDS = float(os.environ.get("LOADED_TEARDOWN_SECONDS", "0"))


class Numbers:
    def __init__(self) -> None:
        self.count = 0

    async def read(self) -> int:
        if LIMIT and self.count == LIMIT:
            raise Abort("numbers.done", None)
        self.count += 1
        if self.count == 1000:
            print("flowing", flush=True)
        return self.count


acknowledged: Counter[int] = Counter()
outcomes: Counter[int] = Counter()
consumer = Numbers()


async def callback(app: Application, message: int) -> list[int]:
    await asyncio.sleep(random.random() * 0.005)
    return [message]


app = Application("loaded", consumer=consumer, callback=callback)


@app.message_acknowledgement
async def acknowledge(app: Application, message: int) -> None:
    acknowledged[message] += 1


@app.message_outcome
async def count_outcome(app: Application, message: int, outcome: Outcome) -> None:
    outcomes[message] += 1


@app.teardown
async def summarize(app: Application) -> None:
    print("teardown started", flush=True)
    await asyncio.sleep(TEARDOWN_SECONDS)
    duplicates = sum(count - 1 for count in acknowledged.values())
    # Outcome callbacks run after acknowledgement: every message read has had
    # its outcome by teardown, exactly once.
    once = sum(count == 1 for count in outcomes.values())
    print(
        f"summary read={consumer.count} acknowledged={len(acknowledged)} duplicates={duplicates}"
        f" outcomes={len(outcomes)} once={once}",
        flush=True,
    )
