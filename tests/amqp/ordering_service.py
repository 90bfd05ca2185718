"""A service for the ordering test: ``doozer run tests.amqp.ordering_service:app``.

Messages are ``KEY:SEQUENCE``; each takes a random few milliseconds, so that
without an ordering key a key's messages overlap and finish out of order.
It appends ``start KEY SEQUENCE`` and ``end KEY SEQUENCE`` to the file named by
``DOOZER_TEST_OUTPUT`` (unbuffered: each line is one write).
"""

from __future__ import annotations

import asyncio
import os
import random

from doozer import Application
from doozer.amqp import AMQP, Message

OUTPUT = os.open(os.environ["DOOZER_TEST_OUTPUT"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)


def key(message: Message) -> str:
    """The ordering key: the part of the body before the colon."""
    return message.body.decode().partition(":")[0]


async def process(app: Application, message: Message) -> None:
    name, _, sequence = message.body.decode().partition(":")
    os.write(OUTPUT, f"start {name} {sequence}\n".encode())
    await asyncio.sleep(random.random() * 0.004)
    os.write(OUTPUT, f"end {name} {sequence}\n".encode())


app = Application(
    "ordering-service",
    {
        "AMQP_URL": os.environ["DOOZER_TEST_AMQP_URL"],
        "AMQP_INBOUND_QUEUE": os.environ["DOOZER_TEST_QUEUE"],
    },
    callback=process,
)
app.consumer = AMQP(app).consumer()
