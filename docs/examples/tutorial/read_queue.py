"""Print (and remove) what waits in a queue: ``python read_queue.py QUEUE [URL]``."""

from __future__ import annotations

import asyncio
import sys

import aio_pika


async def main(queue_name: str, url: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        while (message := await queue.get(fail=False)) is not None:
            body = message.body.decode(errors="replace")
            error = (message.headers or {}).get("x-doozer-error")  # set on dead letters
            print(body if error is None else f"{body}  <- {error}")
            await message.ack()


if __name__ == "__main__":
    url = sys.argv[2] if len(sys.argv) > 2 else "amqp://guest:guest@localhost:5672/"
    asyncio.run(main(sys.argv[1], url))
