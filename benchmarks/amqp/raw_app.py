"""The raw aio-pika loop, the reference: ``python -m benchmarks.amqp.raw_app``.

``BENCH_ACK_EVERY=1`` acknowledges each message as it is handled (the simple
loop); ``BENCH_ACK_EVERY=32`` acknowledges with ``multiple=True`` every 32
messages (and what is left at the end), the fastest correct loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import aio_pika

from .common import PREFETCH, QUEUE, URL, Tally, wait_for_go

ACK_EVERY = int(os.environ.get("BENCH_ACK_EVERY", "1"))

tally = Tally()


async def consume(queue: aio_pika.abc.AbstractQueue) -> None:
    last: aio_pika.abc.AbstractIncomingMessage | None = None
    unacked = 0
    try:
        async with queue.iterator() as messages:
            async for message in messages:
                tally.add()
                if ACK_EVERY == 1:
                    await message.ack()
                    continue
                last, unacked = message, unacked + 1
                if unacked >= ACK_EVERY:
                    await message.ack(multiple=True)
                    last, unacked = None, 0
    finally:
        if last is not None:
            with contextlib.suppress(Exception):
                await last.ack(multiple=True)


async def main() -> None:
    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=PREFETCH)
    queue = await channel.declare_queue(QUEUE, durable=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await wait_for_go()
    task = asyncio.create_task(consume(queue))
    await stop.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await connection.close()
    tally.write()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
