"""Publish a few orders to the tutorial's queue: ``python publish_orders.py [URL] [QUEUE]``."""

from __future__ import annotations

import asyncio
import json
import sys

import aio_pika

ORDERS = [
    {"id": 1, "customer": "ada", "quantity": 3, "unit_price": 2.5},
    {"id": 2, "customer": "grace", "quantity": 1, "unit_price": 99.0},
    {"id": 3, "customer": "linus", "quantity": 0, "unit_price": 5.0},  # empty: skipped
    {"id": 4, "customer": "barbara", "quantity": 12, "unit_price": 0.75},
]


async def main(url: str, queue: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        bodies = [json.dumps(order).encode() for order in ORDERS]
        bodies.append(b"{this is not json")  # goes to the dead letters
        for body in bodies:
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await channel.default_exchange.publish(message, routing_key=queue)
        print(f"published {len(bodies)} messages to {queue!r}")


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "amqp://guest:guest@localhost:5672/"
    asyncio.run(main(url, sys.argv[2] if len(sys.argv) > 2 else "orders"))
