"""The service of the per-key ordering tests over a real broker.

``python -m doozer run tests.support.ordering_service:make --ordering-key
tests.support.ordering_service:key`` with ``DOOZER_TEST_TRANSPORT`` (``amqp``, ``redis``
or ``nats``), ``DOOZER_TEST_URL``, ``DOOZER_TEST_SOURCE`` (the queue, or the
stream) and ``DOOZER_TEST_OUTPUT``. Messages are ``KEY:SEQUENCE``; each takes a
random few milliseconds, so that without an ordering key a key's messages
overlap and finish out of order. It appends ``start KEY SEQUENCE`` and
``end KEY SEQUENCE`` to the output file, which ``tests.support.ordering`` reads.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

from doozer import Application

from .service import announce_consuming, record


def key(message: Any) -> str:
    """The ordering key: the part of the body before the colon."""
    return str(message.body.decode().partition(":")[0])


async def process(app: Application, message: Any) -> None:
    name, _, sequence = message.body.decode().partition(":")
    record(f"start {name} {sequence}")
    await asyncio.sleep(random.random() * 0.004)
    record(f"end {name} {sequence}")


def make() -> Application:
    """The application, on the transport ``DOOZER_TEST_TRANSPORT`` names."""
    transport, url = os.environ["DOOZER_TEST_TRANSPORT"], os.environ["DOOZER_TEST_URL"]
    source = os.environ["DOOZER_TEST_SOURCE"]
    app = Application(f"ordering-{transport}", callback=process)
    if transport == "amqp":
        from doozer.amqp import AMQP

        app.settings.update(AMQP_URL=url, AMQP_INBOUND_QUEUE=source)
        app.consumer = AMQP(app).consumer()
    elif transport == "redis":
        from doozer.redis import RedisStreams

        app.settings.update(REDIS_URL=url, REDIS_INBOUND_STREAM=source)
        app.consumer = RedisStreams(app).consumer()
    else:
        from doozer.nats import JetStream

        app.settings.update(
            NATS_URL=url,
            NATS_STREAM=source,
            NATS_SUBJECTS=[f"{source}.in", f"{source}.out"],
            NATS_INBOUND_SUBJECT=f"{source}.in",
            NATS_DURABLE="ordering",
        )
        app.consumer = JetStream(app).consumer()
    announce_consuming(app)
    return app
