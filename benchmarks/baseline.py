"""The hand-written asyncio loop Doozer is measured against.

What a developer would write without a framework: one reader task feeds N
worker tasks through an ``asyncio.Queue(maxsize=N)``, and each worker awaits
the preprocessors, the callback, the postprocessors (per result) and the
acknowledgements.  No error handling, logging or shutdown logic: the least a
correct loop can cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

_STOP = object()


class Abort(Exception):  # noqa: N818 - mirrors doozer.Abort and henson.Abort
    """Raised by a consumer's ``read()`` to end consumption."""

    def __init__(self, reason: str, message: Any) -> None:
        super().__init__(reason, message)


async def serve(
    app: Any,
    consumer: Any,
    callback: Any,
    *,
    workers: int,
    preprocessors: Sequence[Any] = (),
    postprocessors: Sequence[Any] = (),
    acknowledgements: Sequence[Any] = (),
) -> None:
    """Consume until ``consumer.read()`` raises :class:`Abort`, with *workers* workers."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=workers)

    async def read() -> None:
        try:
            while True:
                await queue.put(await consumer.read())
        except Abort:
            pass
        for _ in range(workers):
            await queue.put(_STOP)

    async def work() -> None:
        while (message := await queue.get()) is not _STOP:
            original = message
            for preprocess in preprocessors:
                message = await preprocess(app, message)
            results = await callback(app, message)
            if results is not None:
                for result in results:
                    for postprocess in postprocessors:
                        result = await postprocess(app, result)
            for acknowledge in acknowledgements:
                await acknowledge(app, original)

    await asyncio.gather(read(), *(work() for _ in range(workers)))
