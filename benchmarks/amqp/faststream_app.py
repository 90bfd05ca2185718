"""FastStream's RabbitMQ subscriber: ``python -m benchmarks.amqp.faststream_app``."""

from __future__ import annotations

import asyncio
import signal

from faststream.rabbit import Channel, RabbitBroker, RabbitQueue

from .common import PREFETCH, QUEUE, URL, Tally, wait_for_go

tally = Tally()


async def main() -> None:
    broker = RabbitBroker(URL, default_channel=Channel(prefetch_count=PREFETCH), logger=None)

    @broker.subscriber(RabbitQueue(QUEUE, durable=True))
    async def handle(body: bytes) -> None:
        tally.add()

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await wait_for_go()
    async with broker:
        await broker.start()
        await stop.wait()
    tally.write()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
